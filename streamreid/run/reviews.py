"""A user's reviews of persons, made in the report: merge two, keep two apart, undo a merge.

A review (:class:`Review`) is the user's word on two groups of tracklets; it is not the ReID stage's
same-person verdict (:class:`~streamreid.decide.reid_stage.ReidDecision`) nor the rule that makes it
(:class:`~streamreid.decide.calibration.DecisionRule`). Its file keeps the name users know, ``decisions.json``.

The report collects reviews into a ``decisions.json`` the user saves;
``streamreid apply RUN_DIR decisions.json`` checks it, adds it to the decisions the
run already holds (``RUN_DIR/decisions.json``; a later decision about the same two
groups of tracklets replaces an earlier one) and redoes the end-of-stream stages
(``streamreid/apply.py``), which honour every decision as a tracklet constraint:

* ``merge``: the two persons are one: their tracklets are must-linked.
* ``reject``: the two persons are different: their tracklets are cannot-linked, and
  the pair is never recommended again.
* ``split``: undo a merge: the two sides of it are cannot-linked.

Decisions name tracklets (tracker ids), which stay the same however persons are
renumbered; person ids are kept for messages only. File format::

    {"format": "streamreid-decisions", "version": 1,
     "run": {"name": "street", "started_at": "2026-01-15T10:00:00+00:00"},
     "decisions": [{"action": "merge", "persons": [3, 7], "tracklets": [[4, 9], [12]]}, ...]}
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamreid import rundir
from streamreid.errors import StreamReidError

FORMAT = "streamreid-decisions"
VERSION = 1
ACTIONS = ("merge", "reject", "split")


class ReviewError(StreamReidError):
    """A decisions file that cannot be applied (one line, names the problem)."""


@dataclass(frozen=True)
class Review:
    """One review: the user's word on two groups of tracklets (merge, reject or split).

    Attributes:
        action: ``merge``, ``reject`` or ``split`` (see the module docstring).
        groups: Tracker ids of the two sides.
        persons: The person ids the user saw, or ``None``.
    """

    action: str
    groups: tuple[tuple[int, ...], tuple[int, ...]]
    persons: tuple[int, ...] | None = None

    @property
    def key(self) -> frozenset[frozenset[int]]:
        """What the decision is about, whatever its action and side order."""
        return frozenset((frozenset(self.groups[0]), frozenset(self.groups[1])))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, as in the file."""
        data: dict[str, Any] = {"action": self.action, "tracklets": [list(g) for g in self.groups]}
        if self.persons is not None:
            data["persons"] = list(self.persons)
        return data


def parse_reviews(data: Any, *, name: str) -> tuple[Review, ...]:
    """Decisions from the parsed JSON of a decisions file.

    Args:
        data: The parsed document.
        name: The file's name, for messages.

    Raises:
        DecisionError: The document is not a decisions file or an entry is malformed.
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ReviewError(f'{name} is not a streamreid decisions file (no "format": "{FORMAT}")')
    if data.get("version") != VERSION:
        version = rundir.brief(repr(data.get("version")), 40)
        raise ReviewError(f"{name} has version {version}; this streamreid reads version {VERSION}")
    if not isinstance(data.get("run", {}), dict):
        raise ReviewError(f'{name}: "run" must be an object (the run\'s name and start time)')
    entries = data.get("decisions")
    if not isinstance(entries, list):
        raise ReviewError(f'{name} has no "decisions" list')
    return tuple(_review(entry, number, name) for number, entry in enumerate(entries, start=1))


def _review(entry: Any, number: int, name: str) -> Review:
    where = f"{name}, decision {number}"
    if not isinstance(entry, dict):
        raise ReviewError(f"{where} is not an object")
    action = entry.get("action")
    if action not in ACTIONS:
        raise ReviewError(f"{where}: action {rundir.brief(repr(action), 40)} is not one of {', '.join(ACTIONS)}")
    groups = entry.get("tracklets")
    if not (isinstance(groups, list) and len(groups) == 2 and all(isinstance(g, list) and g for g in groups)):
        raise ReviewError(f'{where}: "tracklets" must be two non-empty lists of tracker ids')
    try:
        sides = tuple(tuple(_whole(t) for t in group) for group in groups)
        persons = entry.get("persons")
        persons = tuple(_whole(p) for p in persons) if persons is not None else None
    except (TypeError, ValueError):
        raise ReviewError(f"{where}: ids must be whole numbers") from None
    if set(sides[0]) & set(sides[1]):
        raise ReviewError(f"{where}: a tracklet is on both sides")
    return Review(action=action, groups=(sides[0], sides[1]), persons=persons)


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(value)
    return value


def combine(earlier: Iterable[Review], later: Iterable[Review]) -> tuple[Review, ...]:
    """``earlier`` then ``later``, where a decision replaces any earlier one about the same two groups."""
    kept: dict[frozenset[frozenset[int]], Review] = {}
    for review in (*earlier, *later):
        kept.pop(review.key, None)
        kept[review.key] = review
    return tuple(kept.values())


def constraints(reviews: Iterable[Review], known: Iterable[int]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Tracklet must-links and cannot-links that carry out ``decisions`` in order.

    A merge keeps each side whole and links the two (one pair), lifting earlier
    cannot-links between them; a reject or split cannot-links every tracklet of one side with every one of
    the other and lifts earlier must-links across. Tracklets not in ``known`` are left out.

    Returns:
        ``(must_link, cannot_link)`` as sorted tracker id pairs.
    """
    known = set(known)
    must: set[frozenset[int]] = set()
    cannot: set[frozenset[int]] = set()
    for review in reviews:
        first, second = ({t for t in group if t in known} for group in review.groups)
        if not first or not second:
            continue
        across = {frozenset((a, b)) for a in first for b in second}
        if review.action == "merge":
            cannot -= across
            # each side stays whole, and one link joins the sides (unmet if they were seen at the same time)
            for side in (sorted(first), sorted(second)):
                must |= {frozenset(pair) for pair in zip(side, side[1:], strict=False)}
            must.add(frozenset((min(first), min(second))))
        else:
            must = {pair for pair in must if not _crosses(pair, first, second)}
            cannot |= across
    return _pairs(must), _pairs(cannot)


def _crosses(pair: frozenset[int], first: set[int], second: set[int]) -> bool:
    a, b = tuple(pair)
    return (a in first and b in second) or (a in second and b in first)


def _pairs(pairs: Iterable[frozenset[int]]) -> list[tuple[int, int]]:
    return sorted((min(p), max(p)) for p in pairs)


def apart(groups: Sequence[Sequence[int]], cannot_link: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Index pairs of ``groups`` (persons' tracklets) that a cannot-link keeps apart."""
    owner = {t: index for index, group in enumerate(groups) for t in group}
    found = set()
    for a, b in cannot_link:
        if a in owner and b in owner and owner[a] != owner[b]:
            found.add((min(owner[a], owner[b]), max(owner[a], owner[b])))
    return found


def read_reviews(path: Path) -> tuple[Review, ...]:
    """The decisions in a file (none when it does not exist).

    Raises:
        DecisionError: The file is not valid JSON or not a decisions file.
    """
    path = Path(path)
    if not path.is_file():
        return ()
    try:
        data = rundir.read_json(path)
    except StreamReidError as exc:
        raise ReviewError(str(exc)) from None
    return parse_reviews(data, name=path.name)


def run_constraints(run_dir: Path, known: Iterable[int]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The must- and cannot-links of the decisions a run directory holds (none without a file)."""
    return constraints(read_reviews(Path(run_dir) / rundir.DECISIONS), known)


def reviews_payload(reviews: Sequence[Review], *, run: Mapping[str, Any]) -> dict[str, Any]:
    """The decisions document for ``decisions`` of a run (``run`` as in the file: name, started_at)."""
    return {"format": FORMAT, "version": VERSION, "run": dict(run),
            "decisions": [d.to_dict() for d in reviews]}  # fmt: skip


def check_against_run(reviews: Sequence[Review], data: Any, *, run_meta: Mapping[str, Any], tracklets: set[int],
                      name: str) -> None:  # fmt: skip
    """Refuse decisions made on another run, or naming tracklets this run does not have.

    Raises:
        DecisionError: With the first problem found.
    """
    started = (data.get("run") or {}).get("started_at") if isinstance(data, dict) else None
    if started and run_meta.get("started_at") and started != run_meta["started_at"]:
        raise ReviewError(
            f"{name} was saved from the report of a run started at {rundir.brief(started, 40)}, not this one "
            f"(started at {run_meta['started_at']})"
        )
    for number, review in enumerate(reviews, start=1):
        unknown = sorted({t for group in review.groups for t in group} - tracklets)
        if unknown:
            raise ReviewError(f"{name}, decision {number}: this run has no tracklet {unknown[0]}")


@dataclass(frozen=True)
class Edit:
    """What applying decisions to a run's persons did.

    Attributes:
        groups: The persons afterwards, as tracker ids (each group in time order, groups by first appearance).
        changes: One line per decision, saying what it changed (or that it changed nothing, and why).
        unmet: Tracklet pairs a merge could not join (seen at the same time).
    """

    groups: tuple[tuple[int, ...], ...]
    changes: tuple[str, ...]
    unmet: tuple[tuple[int, int], ...] = ()


def new_reviews(held: Sequence[Review], saved: Sequence[Review]) -> tuple[Review, ...]:
    """The decisions of ``saved`` not already held (the report saves the held ones again with the new ones)."""
    known = {(d.action, d.key) for d in held}
    return tuple(d for d in saved if (d.action, d.key) not in known)


def edit_groups(
    groups: Sequence[Sequence[int]], reviews: Sequence[Review], *, spans: Mapping[int, tuple[int, int]],
    max_overlap: int = 0, seen_together: Collection[tuple[int, int]] = (),
) -> Edit:  # fmt: skip
    """Carry out ``decisions`` on the persons ``groups``, changing nothing else.

    A merge joins the persons holding its two sides (unless they were seen at the same
    time for more than ``max_overlap`` frames); a reject keeps two persons apart as they
    are (or splits them, if they are one); a split cuts the person holding both sides in
    two, each tracklet of it that neither side names going with the side nearest in time.
    Every other person stays exactly as it was.

    Args:
        groups: The persons now, as tracker ids.
        reviews: The reviews to carry out, in order.
        spans: ``(start_frame, end_frame)`` of every tracklet.
        max_overlap: Frames two tracklets of one person may share (a track handed one last faint box).
        seen_together: Tracklet pairs ``(a, b)``, ``a < b``, seen in one frame at different places
            (:func:`streamreid.persons.person_tracks.seen_together`): never one person, however short the overlap.

    Returns:
        The persons afterwards, what each decision changed, and the merges that could not be made.
    """
    current = [tuple(g) for g in groups if g]
    changes: list[str] = []
    unmet: list[tuple[int, int]] = []
    for review in reviews:
        owner = {t: i for i, g in enumerate(current) for t in g}
        first, second = ({owner[t] for t in side if t in owner} for side in review.groups)
        what = _described(review)
        if not first or not second:
            changes.append(f"{what}: changed nothing (its tracklets are not in this run's persons)")
        elif review.action == "merge":
            clash = _clash([t for i in first for t in current[i]], [t for i in second for t in current[i]],
                           spans, max_overlap, set(seen_together))  # fmt: skip
            if first == second:
                changes.append(f"{what}: already one person")
            elif clash is not None:
                unmet.append(clash)
                changes.append(f"{what}: not merged, tracklets {clash[0]} and {clash[1]} are seen at the same time")
            else:
                joined = tuple(t for i in sorted(first | second) for t in current[i])
                current = [g for i, g in enumerate(current) if i not in first | second] + [joined]
                changes.append(f"{what}: now one person")
        elif not first & second:
            changes.append(f"{what}: {'kept apart' if review.action == 'reject' else 'already apart'}"
                           f"{', not suggested again' if review.action == 'reject' else ''}")  # fmt: skip
        else:
            for index in sorted(first & second, reverse=True):
                parts = _cut(current[index], review.groups, spans)
                current[index : index + 1] = list(parts)
            changes.append(f"{what}: now two persons")
    ordered = sorted((tuple(sorted(g, key=lambda t: (spans.get(t, (0, 0)), t))) for g in current),
                     key=lambda g: (spans.get(g[0], (0, 0)), g[0]))  # fmt: skip
    return Edit(groups=tuple(ordered), changes=tuple(changes), unmet=tuple(unmet))


def _described(review: Review) -> str:
    """The decision in words, naming the persons the user saw and the tracklets."""
    sides = " with ".join("+".join(str(t) for t in side) for side in review.groups)
    named = " and ".join(f"P{p}" for p in review.persons or ())
    if review.action == "merge":
        return f"merge {named} (tracklets {sides})" if named else f"merge tracklets {sides}"
    if review.action == "reject":
        return f"keep {named} apart (tracklets {sides})" if named else f"keep tracklets {sides} apart"
    return f"undo the merge in {named} (tracklets {sides})" if named else f"undo the merge of tracklets {sides}"


def _clash(first: Sequence[int], second: Sequence[int], spans: Mapping[int, tuple[int, int]],
           max_overlap: int, seen: Collection[tuple[int, int]] = ()) -> tuple[int, int] | None:  # fmt: skip
    """A pair of tracklets, one per side, seen together, or on screen together over ``max_overlap`` frames."""
    for a in first:
        for b in second:
            if (min(a, b), max(a, b)) in seen:
                return (min(a, b), max(a, b))
            (s1, e1), (s2, e2) = spans.get(a, (0, -1)), spans.get(b, (0, -1))
            if min(e1, e2) - max(s1, s2) + 1 > max_overlap:
                return (min(a, b), max(a, b))
    return None


def _cut(group: Sequence[int], sides: Sequence[Sequence[int]], spans: Mapping[int, tuple[int, int]]) -> tuple[
        tuple[int, ...], tuple[int, ...]]:  # fmt: skip
    """``group`` in two: each side's tracklets, and every other tracklet with the side nearest to it in time."""
    parts = [[t for t in group if t in set(side)] for side in sides]
    for t in group:
        if t in parts[0] or t in parts[1]:
            continue
        start, end = spans.get(t, (0, 0))

        def distance(part: list[int], start: int = start, end: int = end) -> int:
            return min(max(0, spans.get(o, (0, 0))[0] - end, start - spans.get(o, (0, 0))[1]) for o in part)

        parts[0 if distance(parts[0]) <= distance(parts[1]) else 1].append(t)
    return tuple(parts[0]), tuple(parts[1])

"""The merges that made each person, for the report: grouping's links, auto-merge's merges and the user's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from streamreid import rundir
from streamreid.decide.reid_stage import recorded_merges
from streamreid.report.reading import finite_float, optional_json
from streamreid.report.views import Link
from streamreid.run.reviews import Review
from streamreid.types import Person


def person_links(run_dir: Path, persons: Sequence[Person], reviews: Sequence[Review], *,
           fps: float) -> dict[int, list[Link]]:  # fmt: skip
    """Per person, the merges that made it: grouping's links, auto-merge's merges and the user's.

    Grouping's links (``grouping_log.json``, chosen and not forced) join two tracklets; their sides
    are the two stretches of the chain they join. Auto-merge's (``merge_recommendations.json``
    ``applied_merge_details``) and the user's (``decisions.json``) join two groups of tracklets,
    shown as they were joined. Only links inside one of today's persons are shown.
    """
    owner = {t: p for p in persons for t in p.tracklet_ids}
    found: dict[int, list[Link]] = {}

    def add(person: Person, link: Link) -> None:
        found.setdefault(person.person_id, []).append(link)

    log = optional_json(run_dir / rundir.GROUPING_LOG) or {}
    chain = {
        int(p["earlier"]): int(p["later"]) for p in log.get("pairs", []) if p.get("chosen") and not p.get("forced")
    }
    for pair in log.get("pairs", []):
        earlier, later = int(pair["earlier"]), int(pair["later"])
        person = owner.get(later)
        if not pair.get("chosen") or pair.get("forced") or person is None or owner.get(earlier) is not person:
            continue
        cost, checks = finite_float(pair.get("cost")), pair.get("checks") or {}
        add(person, Link(groups=_chain_sides(person, earlier, later, chain), reason="space-time",
                         confidence=None if cost is None else round(1.0 - cost, 3),
                         detail=checks_detail(checks, moved_on=True, fps=fps)))  # fmt: skip
    for merge in recorded_merges(run_dir):
        for index in range(1, len(merge.tracklets)):
            before = tuple(t for side in merge.tracklets[:index] for t in side)
            similarity = merge.similarities[index - 1] if index - 1 < len(merge.similarities) else None
            _add_group_link(owner, add, (before, merge.tracklets[index]), reason="appearance",
                            similarity=similarity, line=merge.line)  # fmt: skip
    for review in reviews:
        if review.action == "merge":
            _add_group_link(owner, add, review.groups, reason="decision")
    for person in persons:  # joins no record explains (a run from before they were recorded)
        for groups in _unexplained(person, found.get(person.person_id, ())):
            add(person, Link(groups=groups, reason="appearance", confidence=None, detail=""))
    return found


def _unexplained(person: Person, links: Sequence[Link]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Joins that tie together the stretches of ``person`` its ``links`` leave apart, in time order."""
    root = {t: t for t in person.tracklet_ids}

    def find(t: int) -> int:
        while root[t] != t:
            t = root[t]
        return t

    for link in links:
        members = [t for side in link.groups for t in side if t in root]
        for t in members[1:]:
            root[find(t)] = find(members[0])
    parts: dict[int, list[int]] = {}
    for t in person.tracklet_ids:
        parts.setdefault(find(t), []).append(t)
    pieces = list(parts.values())
    return [(tuple(t for part in pieces[:i] for t in part), tuple(pieces[i])) for i in range(1, len(pieces))]


def _add_group_link(owner: Mapping[int, Person], add: Any, groups: Sequence[Sequence[int]], *, reason: str,
                    similarity: float | None = None, line: float | None = None) -> None:  # fmt: skip
    """Add the link joining two groups of tracklets, to the person holding both (as much of them as it holds)."""
    holders = {id(owner[t]): owner[t] for side in groups for t in side if t in owner}
    for person in holders.values():
        sides = [tuple(t for t in person.tracklet_ids if t in set(side)) for side in groups]
        if all(sides):
            detail = "" if similarity is None else f"appearance similarity {similarity:.2f}"
            add(person, Link(groups=(sides[0], sides[1]), reason=reason, confidence=None, detail=detail,
                             similarity=similarity, line=line))  # fmt: skip


def _chain_sides(person: Person, earlier: int, later: int, chain: Mapping[int, int]) -> tuple[
        tuple[int, ...], tuple[int, ...]]:  # fmt: skip
    """The two stretches a grouping link joins: the tracklets chained to ``earlier``, and those to ``later``."""
    members = set(person.tracklet_ids)
    back = {b: a for a, b in chain.items()}
    first, node = [earlier], earlier
    while back.get(node) in members and back[node] not in first:
        node = back[node]
        first.append(node)
    second, node = [later], later
    while chain.get(node) in members and chain[node] not in second:
        node = chain[node]
        second.append(node)
    order = {t: i for i, t in enumerate(person.tracklet_ids)}
    return tuple(sorted(first, key=order.get)), tuple(sorted(second, key=order.get))


def checks_detail(checks: Mapping[str, Any], *, moved_on: bool, fps: float = 0.0) -> str:
    """The grouping evidence in words: gap, distance, size ratio.

    The distance is where the earlier tracklet's motion predicts the person, so it is shown only
    for links that space and time made (``moved_on``): across the long gap of a merge by
    appearance or by the user, that prediction runs off the frame and means nothing.
    """

    def value(name: str) -> float | None:
        return finite_float((checks.get(name) or {}).get("value"))

    bits = []
    if (gap := value("temporal_gap")) is not None:
        bits.append(f"{gap:.0f} frame gap" + (f" ({gap / fps:.1f} s)" if fps > 0 else ""))
    if moved_on and (distance := value("spatial_distance")) is not None:
        bits.append(f"{distance:.0f} px apart")
    if (ratio := value("area_ratio")) is not None:
        bits.append(f"size ratio {ratio:.2f}")
    return ", ".join(bits)

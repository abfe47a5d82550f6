"""What the report shows, read once from the records a run directory holds.

:func:`load_report_data` turns the files the stages wrote into one typed
:class:`ReportData`. It decides nothing a stage already decided: persons come from
``canonical_persons.json`` (as :class:`~streamreid.types.Person`), ranks, scores
and coverage from ``ranking_results.json``, the merges inside each person from
``grouping_log.json`` (and from ``merge_recommendations.json`` ``merges`` that name
their tracklets), recommendations and their levels from
``merge_recommendations.json`` (pairs seen together are already left out there),
the user's earlier decisions from ``decisions.json``. Missing optional files
become notes; broken ones raise one :class:`~streamreid.errors.StoreError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from streamreid import rundir
from streamreid.decide.reid_stage import recorded_merges
from streamreid.errors import StoreError
from streamreid.redact import redact
from streamreid.report.crops import crops_path_for, tracklets_strip_path
from streamreid.report.webp import evenly_spaced, webp_path_for
from streamreid.run.decisions import Decision, DecisionError, read_decisions
from streamreid.run.store_reader import open_store
from streamreid.run.tracklet_stats import load_tracklet_stats
from streamreid.types import Person

#: Most points of a person's path drawn over the scene.
PATH_POINTS = 48


@dataclass(frozen=True)
class Visit:
    """One tracklet's stay on screen: when, in seconds."""

    tracker_id: int
    start_time: float
    end_time: float


@dataclass(frozen=True)
class Side:
    """Some of a person's tracklets, as the report pictures them: a piece of a person, or one side of a merge.

    Attributes:
        tracklet_ids: Tracker ids, in time order.
        start_time: First sighting, seconds.
        end_time: Last sighting, seconds.
        picture: Best-crops strip relative to the run directory, or ``None``.
        path: Foot points ``(x, y)`` in source pixels, thinned, in time order.
    """

    tracklet_ids: tuple[int, ...]
    start_time: float
    end_time: float
    picture: str | None = None
    path: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Link:
    """A merge already applied inside a person: two groups of its tracklets judged to be one human.

    Attributes:
        groups: Tracker ids of the two sides (earlier side first).
        reason: ``space-time`` (the five grouping checks), ``appearance`` (ReID) or ``decision`` (the user).
        confidence: How sure the stage was, 0-1, or ``None`` when it does not say.
        detail: The evidence, in words.
        similarity: The two sides' appearance similarity when merged, or ``None``.
        line: The video's line that similarity was judged against, or ``None``.
        sides: The two sides pictured (filled by :func:`load_report_data`).
    """

    groups: tuple[tuple[int, ...], tuple[int, ...]]
    reason: str
    confidence: float | None
    detail: str
    similarity: float | None = None
    line: float | None = None
    sides: tuple[Side, ...] = ()


@dataclass(frozen=True)
class PersonView:
    """A person as the report shows it: the stage's :class:`Person` and what other stages said about it.

    Attributes:
        person: The canonical person.
        rank: 1-based rank, or ``None`` when unranked.
        score: Ranking score, or ``None``.
        coverage: Ranking's coverage component (share of detected frames), or ``None``.
        quality: Mean score of the person's kept crops, or ``None``.
        animation: WebP path relative to the run directory, or ``None``.
        crops: Best-crops strip relative to the run directory, or ``None``.
        visits: Each tracklet's time span, in time order.
        path: Foot points ``(x, y)`` in source pixels, thinned, in time order.
        links: The merges that made this person.
        pieces: Each tracklet of a person made of several, pictured, in time order.
    """

    person: Person
    rank: int | None = None
    score: float | None = None
    coverage: float | None = None
    quality: float | None = None
    animation: str | None = None
    crops: str | None = None
    visits: tuple[Visit, ...] = ()
    path: tuple[tuple[float, float], ...] = ()
    links: tuple[Link, ...] = ()
    pieces: tuple[Side, ...] = ()

    @property
    def person_id(self) -> int:
        """Id of the person."""
        return self.person.person_id

    @property
    def seconds(self) -> float:
        """Seconds from the first to the last sighting."""
        return max(0.0, self.person.end_time - self.person.start_time)


@dataclass(frozen=True)
class Recommendation:
    """A pair the ReID stage says may be one person, as it wrote it."""

    persons: tuple[int, int]
    similarity: float | None
    confidence: float | None
    level: str


@dataclass(frozen=True)
class SimilarityView:
    """The similarity matrix, its lines and the appearance clusters.

    Attributes:
        person_ids: Person id of each row and column.
        matrix: ``(P, P)`` similarities (NaN where unknown).
        threshold: The fixed reference line.
        near_threshold: Lower end of the "near" band.
        calibrated_threshold: The line calibrated on this video, or ``None``.
        method: How person similarity was computed.
        clusters: Appearance clusters (person ids), or ``()`` when unknown.
    """

    person_ids: tuple[int, ...]
    matrix: np.ndarray = field(repr=False)
    threshold: float
    near_threshold: float
    calibrated_threshold: float | None
    method: str = ""
    clusters: tuple[tuple[int, ...], ...] = ()

    @property
    def line(self) -> float:
        """The line that decides for this video: the calibrated one when known, else the fixed one."""
        return self.calibrated_threshold if self.calibrated_threshold is not None else self.threshold

    def value(self, a: int, b: int) -> float:
        """Similarity of persons ``a`` and ``b`` (NaN when either is not in the matrix)."""
        index = {pid: i for i, pid in enumerate(self.person_ids)}
        if a not in index or b not in index:
            return math.nan
        return float(self.matrix[index[a], index[b]])


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, read from one run directory.

    Attributes:
        run_dir: The run directory.
        run: Contents of run.json.
        source: The source as shown to people (the one place it is displayed from).
        persons: Persons in rank order.
        similarity: The matrix, or ``None`` when ReID did not run.
        recommendations: Pairs to check, ranked by the stage; ``None`` when there are none to read.
        decisions: Decisions the user already applied (``streamreid apply``).
        scene: The scene still relative to the run directory, or ``None``.
        frame_size: ``(width, height)`` of the source frames.
        duration: Seconds of video covered.
        notes: Notes about the run and about missing inputs.
    """

    run_dir: Path
    run: Mapping[str, Any]
    source: str
    persons: tuple[PersonView, ...]
    similarity: SimilarityView | None
    recommendations: tuple[Recommendation, ...] | None
    decisions: tuple[Decision, ...] = ()
    scene: str | None = None
    frame_size: tuple[int, int] = (640, 360)
    duration: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def tracklets(self) -> int:
        """Tracklets that make up the persons."""
        return sum(len(p.person.tracklet_ids) for p in self.persons)

    @property
    def links(self) -> tuple[tuple[PersonView, Link], ...]:
        """Every merge applied, with the person it made."""
        return tuple((p, link) for p in self.persons for link in p.links)


def display_source(run: Mapping[str, Any], run_dir: Path) -> str:
    """The source as the report displays it (heading, title and run table all use this one)."""
    return redact(run.get("source") or (run.get("video") or {}).get("source") or Path(run_dir).name)


@contextmanager
def _reading(*paths: Path) -> Iterator[None]:
    """Turn a missing field or a wrong type in the files being read into one StoreError naming them."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        names = " or ".join(path.name for path in paths)
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else (str(exc).splitlines() or [""])[0]
        raise StoreError(f"{names} in {paths[0].parent} is malformed: {detail}") from None


def _optional(path: Path) -> Any:
    return rundir.read_json(path) if path.is_file() else None


def load_report_data(run_dir: Path, *, animations: set[int] | None = None) -> ReportData:
    """Read what the report shows from a run directory.

    Args:
        run_dir: The run directory.
        animations: The persons whose WebP was just written for these persons; ``None``: any WebP present.

    Raises:
        StoreError: run.json is missing, or a file is not valid JSON or lacks fields the report needs.
    """
    run_dir = Path(run_dir)
    run = rundir.read_json(run_dir / rundir.RUN_JSON)
    if not isinstance(run, dict):
        raise StoreError(f"{run_dir / rundir.RUN_JSON} does not hold a JSON object")
    notes = _run_notes(run)
    persons_path = run_dir / rundir.CANONICAL_PERSONS
    raw = _optional(persons_path)
    if raw is None:
        notes.append(
            f"{rundir.CANONICAL_PERSONS} is missing: persons were not computed (the run may have stopped before its"
            " end-of-stream stages)."
        )
    with _reading(persons_path):
        persons = [Person.from_dict(item) for item in (raw or {}).get("persons", [])]
    try:
        decisions = read_decisions(run_dir / rundir.DECISIONS)
    except DecisionError as exc:
        decisions = ()
        notes.append(f"your earlier decisions could not be read: {exc}")
    merge_path = run_dir / rundir.MERGE_RECOMMENDATIONS
    merge = _optional(merge_path)
    with _reading(run_dir / rundir.SIMILARITY):
        similarity = _similarity(run_dir, run, merge)
    video = run.get("video") or {}
    fps = float(video.get("fps") or 0.0) if isinstance(video, dict) else 0.0
    views = _person_views(run_dir, persons, decisions, animations=animations, fps=fps)
    recommendations = None
    if isinstance(merge, dict):
        with _reading(merge_path):
            recommendations = _recommendations(merge, {p.person_id for p in persons})
    elif similarity is not None:
        notes.append(f"{rundir.MERGE_RECOMMENDATIONS} is missing: no pairs to check.")
    return ReportData(
        run_dir=run_dir,
        run=run,
        source=display_source(run, run_dir),
        persons=tuple(views),
        similarity=similarity,
        recommendations=recommendations,
        decisions=decisions,
        scene=rundir.SCENE if (run_dir / rundir.SCENE).is_file() else None,
        frame_size=(int(video.get("width") or 640), int(video.get("height") or 360)),
        duration=_duration(run, persons),
        notes=tuple(notes),
    )


def _run_notes(run: Mapping[str, Any]) -> list[str]:
    """The run's own notes, minus the fallback-embedder one (the report has its own notice for that)."""
    fallback = (run.get("embedder") or {}).get("kind") == "fallback"
    notes = [str(note) for note in run.get("notes") or [] if note]
    return [note for note in notes if not (fallback and "fallback" in note.lower())]


def _duration(run: Mapping[str, Any], persons: Sequence[Person]) -> float:
    counts = run.get("counts") or {}
    seen = max((p.end_time for p in persons), default=0.0)
    known = counts.get("seconds_of_video") or (run.get("video") or {}).get("duration") or 0.0
    return max(float(known), seen)


def _person_views(run_dir: Path, persons: Sequence[Person], decisions: Sequence[Decision], *,
                  animations: set[int] | None, fps: float) -> list[PersonView]:  # fmt: skip
    ranking = _optional(run_dir / rundir.RANKING)
    with _reading(run_dir / rundir.RANKING):
        ranks = {int(e["person_id"]): e for e in (ranking or {}).get("rankings", [])}
    with _reading(run_dir / rundir.GROUPING_LOG, run_dir / rundir.MERGE_RECOMMENDATIONS):
        links = _links(run_dir, persons, decisions, fps=fps)
    spans = _visits(run_dir)
    paths = _paths(run_dir)
    feet = _tracklet_feet(run_dir)
    qualities = _crop_quality(run_dir, persons)
    views = []
    for person in persons:
        pid = person.person_id
        entry = ranks.get(pid, {})
        animation = webp_path_for(run_dir, pid)
        crops = crops_path_for(run_dir, pid)
        animated = animation.is_file() and (animations is None or pid in animations)

        def side(ids: Sequence[int], person: Person = person) -> Side:
            return _side(run_dir, ids, spans, feet, fallback=person)

        views.append(
            PersonView(
                person=person,
                rank=_int(entry.get("rank")),
                score=_float(entry.get("score")),
                coverage=_float((entry.get("components") or {}).get("coverage")),
                quality=qualities.get(pid),
                animation=animation.relative_to(run_dir).as_posix() if animated else None,
                crops=crops.relative_to(run_dir).as_posix() if crops.is_file() else None,
                visits=tuple(spans[t] for t in person.tracklet_ids if t in spans)
                or (Visit(person.tracklet_ids[0] if person.tracklet_ids else -1, person.start_time, person.end_time),),
                path=paths.get(pid, ()),
                links=tuple(
                    replace(link, sides=(side(link.groups[0]), side(link.groups[1]))) for link in links.get(pid, ())
                ),
                pieces=tuple(side((t,)) for t in person.tracklet_ids) if len(person.tracklet_ids) > 1 else (),
            )  # fmt: skip
        )
    views.sort(key=lambda v: (v.rank is None, v.rank or 0, v.person_id))
    return views


def _side(run_dir: Path, ids: Sequence[int], spans: Mapping[int, Visit],
          feet: Mapping[int, tuple[np.ndarray, np.ndarray]], *, fallback: Person) -> Side:  # fmt: skip
    """Tracklets ``ids`` of a person as a :class:`Side`: when seen, their strip (if written) and their path."""
    visits = [spans[t] for t in ids if t in spans]
    start = min((v.start_time for v in visits), default=fallback.start_time)
    end = max((v.end_time for v in visits), default=fallback.end_time)
    picture = tracklets_strip_path(run_dir, ids)
    rows = [feet[t] for t in ids if t in feet]
    path: tuple[tuple[float, float], ...] = ()
    if rows:
        frames = np.concatenate([r[0] for r in rows])
        points = np.concatenate([r[1] for r in rows])[np.argsort(frames, kind="stable")]
        points = smooth(points)[evenly_spaced(len(points), PATH_POINTS)]
        path = tuple((round(float(x), 1), round(float(y), 1)) for x, y in points)
    return Side(tracklet_ids=tuple(ids), start_time=start, end_time=end,
                picture=picture.relative_to(run_dir).as_posix() if picture.is_file() else None, path=path)  # fmt: skip


def _tracklet_feet(run_dir: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Each tracklet's frames and foot points (bottom centre of the box), from the store (empty without one)."""
    if not (run_dir / rundir.STORE).exists():
        return {}
    try:
        detections = open_store(run_dir / rundir.STORE).detections()
        ids = np.asarray(detections["tracker_id"])
        frames = np.asarray(detections["frame_index"])
        boxes = np.asarray(detections["xyxy"], dtype=np.float64).reshape(-1, 4)
    except (ImportError, StoreError, KeyError, OSError, ValueError):
        return {}
    feet = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1)
    order = np.argsort(ids, kind="stable")
    found = {}
    for tid, rows in zip(*np.unique(ids[order], return_index=True), strict=True):
        found[int(tid)] = rows
    bounds = list(found.values()) + [len(order)]
    return {
        tid: (frames[order[lo:hi]], feet[order[lo:hi]]) for (tid, lo), hi in zip(found.items(), bounds[1:], strict=True)
    }


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _links(run_dir: Path, persons: Sequence[Person], decisions: Sequence[Decision], *,
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

    log = _optional(run_dir / rundir.GROUPING_LOG) or {}
    chain = {
        int(p["earlier"]): int(p["later"]) for p in log.get("pairs", []) if p.get("chosen") and not p.get("forced")
    }
    for pair in log.get("pairs", []):
        earlier, later = int(pair["earlier"]), int(pair["later"])
        person = owner.get(later)
        if not pair.get("chosen") or pair.get("forced") or person is None or owner.get(earlier) is not person:
            continue
        cost, checks = _float(pair.get("cost")), pair.get("checks") or {}
        add(person, Link(groups=_chain_sides(person, earlier, later, chain), reason="space-time",
                         confidence=None if cost is None else round(1.0 - cost, 3),
                         detail=_checks_detail(checks, moved_on=True, fps=fps)))  # fmt: skip
    for merge in recorded_merges(run_dir):
        for index in range(1, len(merge.tracklets)):
            before = tuple(t for side in merge.tracklets[:index] for t in side)
            similarity = merge.similarities[index - 1] if index - 1 < len(merge.similarities) else None
            _add_group_link(owner, add, (before, merge.tracklets[index]), reason="appearance",
                            similarity=similarity, line=merge.line)  # fmt: skip
    for decision in decisions:
        if decision.action == "merge":
            _add_group_link(owner, add, decision.groups, reason="decision")
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


def _checks_detail(checks: Mapping[str, Any], *, moved_on: bool, fps: float = 0.0) -> str:
    """The grouping evidence in words: gap, distance, size ratio.

    The distance is where the earlier tracklet's motion predicts the person, so it is shown only
    for links that space and time made (``moved_on``): across the long gap of a merge by
    appearance or by the user, that prediction runs off the frame and means nothing.
    """

    def value(name: str) -> float | None:
        return _float((checks.get(name) or {}).get("value"))

    bits = []
    if (gap := value("temporal_gap")) is not None:
        bits.append(f"{gap:.0f} frame gap" + (f" ({gap / fps:.1f} s)" if fps > 0 else ""))
    if moved_on and (distance := value("spatial_distance")) is not None:
        bits.append(f"{distance:.0f} px apart")
    if (ratio := value("area_ratio")) is not None:
        bits.append(f"size ratio {ratio:.2f}")
    return ", ".join(bits)


def _visits(run_dir: Path) -> dict[int, Visit]:
    """Each tracklet's time span, from the statistics the stream wrote."""
    try:
        stats = load_tracklet_stats(run_dir)
    except (StoreError, KeyError, TypeError, ValueError):
        return {}
    return {s.tracker_id: Visit(s.tracker_id, s.start_time, s.end_time) for s in stats}


def _paths(run_dir: Path) -> dict[int, tuple[tuple[float, float], ...]]:
    """Each person's foot points (bottom centre of the box), thinned to :data:`PATH_POINTS`."""
    path = run_dir / rundir.CANONICAL_PERSONS_NPZ
    if not path.is_file():
        return {}
    try:
        with np.load(path) as arrays:
            found = {}
            for pid in arrays["person_ids"].tolist():
                boxes = np.asarray(arrays[f"bboxes_{pid}"], dtype=np.float64).reshape(-1, 4)
                if len(boxes) == 0:
                    continue
                feet = smooth(np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1))
                feet = feet[evenly_spaced(len(feet), PATH_POINTS)]
                found[int(pid)] = tuple((round(float(x), 1), round(float(y), 1)) for x, y in feet)
            return found
    except (OSError, KeyError, ValueError):
        return {}


def smooth(points: np.ndarray, *, window: int = 9) -> np.ndarray:
    """Running mean of ``(N, 2)`` points over ``window`` detections (shorter at the ends): box jitter off a path."""
    count = len(points)
    half = max(0, min(window, count) // 2)
    if half == 0:
        return points
    sums = np.vstack([np.zeros((1, 2)), np.cumsum(points, axis=0)])
    index = np.arange(count)
    low, high = np.maximum(index - half, 0), np.minimum(index + half + 1, count)
    return (sums[high] - sums[low]) / (high - low)[:, None]


def _crop_quality(run_dir: Path, persons: Sequence[Person]) -> dict[int, float]:
    """Mean crop score per person from the store's crop metadata (empty when the store is unreadable)."""
    if not persons or not (run_dir / rundir.STORE).exists():
        return {}
    try:
        metadata = open_store(run_dir / rundir.STORE).crop_metadata()
        tracker_ids = np.asarray(metadata["tracker_id"])
        scores = np.asarray(metadata["score"], dtype=np.float64)
    except (ImportError, StoreError, KeyError, OSError, ValueError):
        return {}
    qualities = {}
    for person in persons:
        mask = np.isin(tracker_ids, list(person.tracklet_ids))
        if mask.any():
            qualities[person.person_id] = float(scores[mask].mean())
    return qualities


def _similarity(run_dir: Path, run: Mapping[str, Any], merge: Any) -> SimilarityView | None:
    path = run_dir / rundir.SIMILARITY
    if not path.is_file():
        return None
    data = rundir.read_json(path)
    rows = data.get("similarity_matrix") or []
    matrix = np.asarray([[math.nan if v is None else float(v) for v in row] for row in rows], dtype=np.float64)
    if matrix.size == 0:
        matrix = matrix.reshape(0, 0)
    person_ids = tuple(int(p) for p in data.get("person_ids", []))
    if matrix.shape != (len(person_ids), len(person_ids)):
        raise StoreError(f"{path} holds a {matrix.shape} matrix for {len(person_ids)} person ids")
    section = (run.get("config") or {}).get("reid") or {}
    clusters = (merge or {}).get("clusters") or [] if isinstance(merge, dict) else []
    return SimilarityView(
        person_ids=person_ids,
        matrix=matrix,
        threshold=float(data.get("threshold") or section.get("threshold") or 0.7),
        near_threshold=float(data.get("near_threshold") or section.get("near_threshold") or 0.6),
        calibrated_threshold=_float(data.get("calibrated_threshold")),
        method=str(data.get("method", "")),
        clusters=tuple(tuple(int(p) for p in cluster) for cluster in clusters),
    )


def _recommendations(merge: Mapping[str, Any], known: set[int]) -> tuple[Recommendation, ...]:
    """The stage's pairs, in its order; pairs already merged (``applied``) and unknown persons left out."""
    found = []
    for entry in merge.get("recommendations") or []:
        persons = tuple(int(p) for p in entry["persons"])
        if len(persons) != 2 or entry.get("applied") or not set(persons) <= known:
            continue
        found.append(
            Recommendation(
                persons=(persons[0], persons[1]),
                similarity=_float(entry.get("similarity")),
                confidence=_float(entry.get("confidence")),
                level=str(entry.get("level", "")),
            )
        )
    return tuple(found)

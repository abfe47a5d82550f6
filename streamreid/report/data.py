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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streamreid import rundir
from streamreid.decisions import Decision, DecisionError, read_decisions
from streamreid.errors import StoreError
from streamreid.redact import redact
from streamreid.report.webp import webp_path_for
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
class Link:
    """A merge already applied inside a person: two groups of its tracklets judged to be one human.

    Attributes:
        groups: Tracker ids of the two sides (earlier side first).
        reason: ``space-time`` (the five grouping checks), ``appearance`` (ReID) or ``decision`` (the user).
        confidence: How sure the stage was, 0-1, or ``None`` when it does not say.
        detail: The evidence, in words.
    """

    groups: tuple[tuple[int, ...], tuple[int, ...]]
    reason: str
    confidence: float | None
    detail: str


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


def load_report_data(run_dir: Path) -> ReportData:
    """Read what the report shows from a run directory.

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
    views = _person_views(run_dir, persons, merge, decisions)
    with _reading(run_dir / rundir.SIMILARITY):
        similarity = _similarity(run_dir, run, merge)
    recommendations = None
    if isinstance(merge, dict):
        with _reading(merge_path):
            recommendations = _recommendations(merge, {p.person_id for p in persons})
    elif similarity is not None:
        notes.append(f"{rundir.MERGE_RECOMMENDATIONS} is missing: no pairs to check.")
    video = run.get("video") or {}
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


def _person_views(run_dir: Path, persons: Sequence[Person], merge: Any,
                  decisions: Sequence[Decision]) -> list[PersonView]:  # fmt: skip
    ranking = _optional(run_dir / rundir.RANKING)
    with _reading(run_dir / rundir.RANKING):
        ranks = {int(e["person_id"]): e for e in (ranking or {}).get("rankings", [])}
    with _reading(run_dir / rundir.GROUPING_LOG, run_dir / rundir.MERGE_RECOMMENDATIONS):
        links = _links(run_dir, persons, merge, decisions)
    spans = _visits(run_dir)
    paths = _paths(run_dir)
    qualities = _crop_quality(run_dir, persons)
    views = []
    for person in persons:
        pid = person.person_id
        entry = ranks.get(pid, {})
        animation = webp_path_for(run_dir, pid)
        crops = run_dir / rundir.CROPS_DIR / f"person_{pid}.jpg"
        views.append(
            PersonView(
                person=person,
                rank=_int(entry.get("rank")),
                score=_float(entry.get("score")),
                coverage=_float((entry.get("components") or {}).get("coverage")),
                quality=qualities.get(pid),
                animation=animation.relative_to(run_dir).as_posix() if animation.is_file() else None,
                crops=crops.relative_to(run_dir).as_posix() if crops.is_file() else None,
                visits=tuple(spans[t] for t in person.tracklet_ids if t in spans)
                or (Visit(person.tracklet_ids[0] if person.tracklet_ids else -1, person.start_time, person.end_time),),
                path=paths.get(pid, ()),
                links=tuple(links.get(pid, ())),
            )
        )
    views.sort(key=lambda v: (v.rank is None, v.rank or 0, v.person_id))
    return views


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _links(run_dir: Path, persons: Sequence[Person], merge: Any,
           decisions: Sequence[Decision]) -> dict[int, list[Link]]:  # fmt: skip
    """Per person, the merges the stages recorded: grouping's chosen links, and ReID merges naming tracklets."""
    owner = {t: p for p in persons for t in p.tracklet_ids}
    user = {frozenset((a, b)) for d in decisions if d.action == "merge" for a in d.groups[0] for b in d.groups[1]}
    found: dict[int, list[Link]] = {}
    log = _optional(run_dir / rundir.GROUPING_LOG) or {}
    for pair in log.get("pairs", []):
        earlier, later = int(pair["earlier"]), int(pair["later"])
        person = owner.get(later)
        if not pair.get("chosen") or person is None or owner.get(earlier) is not person:
            continue
        cut = person.tracklet_ids.index(later)
        groups = (person.tracklet_ids[:cut], person.tracklet_ids[cut:])
        if pair.get("forced"):
            by_user = any(frozenset((a, b)) in user for a in groups[0] for b in groups[1])
            reason, confidence = ("decision" if by_user else "appearance"), None
        else:
            cost = _float(pair.get("cost"))
            reason, confidence = "space-time", None if cost is None else round(1.0 - cost, 3)
        found.setdefault(person.person_id, []).append(
            Link(
                groups=groups,
                reason=reason,
                confidence=confidence,
                detail=_checks_detail(pair.get("checks") or {}, moved_on=reason == "space-time"),
            )  # fmt: skip
        )
    for entry in (merge or {}).get("merges", []) if isinstance(merge, dict) else []:
        tracklets = entry.get("tracklets")
        if not entry.get("merged") or not tracklets:
            continue  # a merge that names no tracklets cannot be shown or undone from here
        groups = (tuple(int(t) for t in tracklets[0]), tuple(int(t) for t in tracklets[1]))
        person = owner.get(groups[0][0])
        if person is None:
            continue
        similarity = _float(entry.get("similarity"))
        detail = f"appearance similarity {similarity:.2f}" if similarity is not None else "appearance"
        found.setdefault(person.person_id, []).append(
            Link(groups=groups, reason="appearance", confidence=_float(entry.get("confidence")), detail=detail)
        )
    return found


def _checks_detail(checks: Mapping[str, Any], *, moved_on: bool) -> str:
    """The grouping evidence in words: gap, distance, size ratio.

    The distance is where the earlier tracklet's motion predicts the person, so it is shown only
    for links that space and time made (``moved_on``): across the long gap of a merge by
    appearance or by the user, that prediction runs off the frame and means nothing.
    """

    def value(name: str) -> float | None:
        return _float((checks.get(name) or {}).get("value"))

    bits = []
    if (gap := value("temporal_gap")) is not None:
        bits.append(f"{gap:.0f} frame gap")
    if moved_on and (distance := value("spatial_distance")) is not None:
        bits.append(f"{distance:.0f} px apart")
    if (ratio := value("area_ratio")) is not None:
        bits.append(f"size ratio {ratio:.2f}")
    return ", ".join(bits)


def _visits(run_dir: Path) -> dict[int, Visit]:
    """Each tracklet's time span, from the statistics the stream wrote."""
    from streamreid.analysis import load_tracklet_stats

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
    from streamreid.report.webp import evenly_spaced

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
        from streamreid.store import open_store

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

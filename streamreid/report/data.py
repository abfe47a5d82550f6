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

The records are :mod:`~streamreid.report.views`; the merges inside each person,
:mod:`~streamreid.report.links`; visits and paths, :mod:`~streamreid.report.paths`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from streamreid import rundir
from streamreid.errors import StoreError
from streamreid.report.crops import crops_path_for
from streamreid.report.links import person_links
from streamreid.report.paths import person_paths, side_of, tracklet_feet, visits
from streamreid.report.reading import display_source, finite_float, int_or_none, optional_json, reading
from streamreid.report.views import PersonView, Recommendation, ReportData, Side, SimilarityView, Visit
from streamreid.report.webp import webp_path_for
from streamreid.run.reviews import Review, ReviewError, read_reviews
from streamreid.run.store_reader import open_store
from streamreid.types import Person


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
    raw = optional_json(persons_path)
    if raw is None:
        notes.append(
            f"{rundir.CANONICAL_PERSONS} is missing: persons were not computed (the run may have stopped before its"
            " end-of-stream stages)."
        )
    with reading(persons_path):
        persons = [Person.from_dict(item) for item in (raw or {}).get("persons", [])]
    try:
        reviews = read_reviews(run_dir / rundir.DECISIONS)
    except ReviewError as exc:
        reviews = ()
        notes.append(f"your earlier decisions could not be read: {exc}")
    merge_path = run_dir / rundir.MERGE_RECOMMENDATIONS
    merge = optional_json(merge_path)
    with reading(run_dir / rundir.SIMILARITY):
        similarity = _similarity(run_dir, run, merge)
    video = run.get("video") or {}
    fps = float(video.get("fps") or 0.0) if isinstance(video, dict) else 0.0
    views = _person_views(run_dir, persons, reviews, animations=animations, fps=fps)
    recommendations = None
    if isinstance(merge, dict):
        with reading(merge_path):
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
        reviews=reviews,
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


def _person_views(run_dir: Path, persons: Sequence[Person], reviews: Sequence[Review], *,
                  animations: set[int] | None, fps: float) -> list[PersonView]:  # fmt: skip
    ranking = optional_json(run_dir / rundir.RANKING)
    with reading(run_dir / rundir.RANKING):
        ranks = {int(e["person_id"]): e for e in (ranking or {}).get("rankings", [])}
    with reading(run_dir / rundir.GROUPING_LOG, run_dir / rundir.MERGE_RECOMMENDATIONS):
        links = person_links(run_dir, persons, reviews, fps=fps)
    spans = visits(run_dir)
    paths = person_paths(run_dir)
    feet = tracklet_feet(run_dir)
    qualities = _crop_quality(run_dir, persons)
    views = []
    for person in persons:
        pid = person.person_id
        entry = ranks.get(pid, {})
        animation = webp_path_for(run_dir, pid)
        crops = crops_path_for(run_dir, pid)
        animated = animation.is_file() and (animations is None or pid in animations)

        def side(ids: Sequence[int], person: Person = person) -> Side:
            return side_of(run_dir, ids, spans, feet, fallback=person)

        views.append(
            PersonView(
                person=person,
                rank=int_or_none(entry.get("rank")),
                score=finite_float(entry.get("score")),
                coverage=finite_float((entry.get("components") or {}).get("coverage")),
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
        calibrated_threshold=finite_float(data.get("calibrated_threshold")),
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
                similarity=finite_float(entry.get("similarity")),
                confidence=finite_float(entry.get("confidence")),
                level=str(entry.get("level", "")),
            )
        )
    return tuple(found)

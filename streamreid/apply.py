"""``streamreid apply``: the user's decisions from the report carried out on a run's persons, then reported again.

The decisions file and the pure rules that edit persons are :mod:`streamreid.run.reviews`; here they meet the
run: its tracklets, its stored boxes, and the end of the stream (:func:`streamreid.end_of_stream.analyse`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streamreid import rundir
from streamreid.end_of_stream import analyse
from streamreid.errors import StreamReidError
from streamreid.persons.pair_checks import scaled_grouping_config
from streamreid.persons.person_tracks import seen_together
from streamreid.run.reviews import (
    ReviewError,
    check_against_run,
    combine,
    edit_groups,
    new_reviews,
    parse_reviews,
    read_reviews,
    reviews_payload,
)
from streamreid.run.store_reader import open_store
from streamreid.run.tracklet_stats import load_tracklet_stats


def apply_reviews(run_dir: Path, path: Path, *, config: Any) -> dict[str, Any]:
    """Carry out the new decisions in ``path`` on the run's persons, changing nothing else, and report again.

    The persons the run holds are edited (:func:`~streamreid.run.reviews.edit_groups`): every merge
    nobody decided about, automatic or earlier, stays as it is, and nothing new is merged automatically.
    Similarity, pairs to check, pictures and the report are then redone for the edited persons.

    Args:
        run_dir: The run directory.
        path: A decisions file saved from the report.
        config: The configuration for the end-of-stream stages.

    Returns:
        The summary of :func:`streamreid.end_of_stream.analyse` (as a dict), plus ``persons_before``, ``applied``
        (new decisions), ``changes`` (one line per new decision) and ``unmet`` (tracklet pairs a merge could
        not join: seen at the same time).

    Raises:
        DecisionError: The file is missing, broken, or does not fit the run.
        StoreError: ``run_dir`` is not a run directory.
    """
    run_dir = rundir.require_run_dir(run_dir)
    path = Path(path)
    if not path.is_file():
        raise ReviewError(f"decisions file not found: {path}")
    try:
        data = rundir.read_json(path)
    except StreamReidError as exc:
        raise ReviewError(str(exc)) from None
    saved = parse_reviews(data, name=path.name)
    meta = rundir.read_json_object(run_dir / rundir.RUN_JSON)
    stats = load_tracklet_stats(run_dir)
    check_against_run(saved, data, run_meta=meta, tracklets={s.tracker_id for s in stats}, name=path.name)
    persons = _current_persons(run_dir)
    held = read_reviews(run_dir / rundir.DECISIONS)
    new = new_reviews(held, saved)
    groups = [tuple(int(t) for t in p.get("tracklet_ids") or ()) for p in persons]
    edit = edit_groups(groups, new, spans={s.tracker_id: (s.start_frame, s.end_frame) for s in stats},
                       max_overlap=_max_overlap(config, meta),
                       seen_together=_tracklets_seen_together(run_dir, config) if new else ())  # fmt: skip
    run = {"name": run_dir.resolve().name, "started_at": meta.get("started_at")}
    rundir.write_json(run_dir / rundir.DECISIONS, reviews_payload(combine(held, new), run=run))
    # without persons to edit (a run stopped before them), the whole analysis is redone with the decisions
    summary = analyse(run_dir, config=config, groups=edit.groups if persons else None).to_dict()
    return {**summary, "persons_before": len(persons), "applied": len(new), "changes": list(edit.changes),
            "unmet": [list(pair) for pair in edit.unmet]}  # fmt: skip


def _tracklets_seen_together(run_dir: Path, config: Any) -> set[tuple[int, int]]:
    """Tracklet pairs seen in one frame at different places, from the run's stored boxes."""
    detections = open_store(run_dir / rundir.STORE).detections()
    return seen_together(detections["frame_index"], detections["tracker_id"], detections["xyxy"],
                         detections["confidence"], min_confidence=config.tracker.high_conf_det_threshold)  # fmt: skip


def _max_overlap(config: Any, meta: Mapping[str, Any]) -> int:
    """Frames two tracklets of one person may share, as the grouping allows (half its scaled gap)."""
    video = meta.get("video") or {}
    scaled = scaled_grouping_config(
        config.grouping,
        fps=float(video.get("fps") or 25.0),
        frame_size=(int(video.get("width") or 640), int(video.get("height") or 360)),
    )
    return scaled.max_temporal_gap // 2


def _current_persons(run_dir: Path) -> list[Any]:
    path = run_dir / rundir.CANONICAL_PERSONS
    if not path.is_file():
        return []
    return list(rundir.read_json(path).get("persons") or [])

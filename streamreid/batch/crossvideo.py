"""The same person across videos: read runs, match their persons, write ``cross_video_matches.json``.

Works from the files every run directory already has (``crop_features.npz``,
``canonical_persons.npz``, the embedder recorded in ``run.json``); the decisions are in
:mod:`streamreid.batch.match`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streamreid import rundir
from streamreid.batch.match import VideoPersons, match_all
from streamreid.config import Config, TrackerConfig
from streamreid.decide.calibration import RuleOptions
from streamreid.decide.similarity import utc_timestamp
from streamreid.errors import StoreError
from streamreid.persons.person_tracks import PersonTrack, co_visible_pairs

CROSS_VIDEO_MATCHES = "cross_video_matches.json"


def run_label(run_dir: Path, out_dir: Path) -> str:
    """How a run is named in the outputs of ``out_dir``: its path relative to ``out_dir``."""
    return Path(os.path.relpath(run_dir.resolve(), out_dir.resolve())).as_posix()


def embedder_identity(embedder: dict[str, Any] | None) -> tuple[Any, ...]:
    """What must be equal for two runs' features to be comparable: kind, name, size and weights."""
    embedder = embedder or {}
    weights = embedder.get("weights") or {}
    return (embedder.get("kind"), embedder.get("name"), embedder.get("dim"), weights.get("sha256"))


def load_video_persons(run_dir: Path, *, name: str) -> tuple[VideoPersons, dict[str, Any]]:
    """A run's persons with their crop features and same-frame pairs, and its embedder record.

    Raises:
        StoreError: The run has no ReID features (one line saying what to do).
    """
    features_path = run_dir / rundir.CROP_FEATURES
    if not features_path.is_file():
        raise StoreError(f"{run_dir} has no {rundir.CROP_FEATURES} (was it run with --no-reid or without persons?)")
    meta = rundir.read_json(run_dir / rundir.RUN_JSON)
    embedder = meta.get("embedder") or {}
    tracker = (meta.get("config") or {}).get("tracker") or {}
    firm = float(tracker.get("high_conf_det_threshold", TrackerConfig().high_conf_det_threshold))
    with np.load(features_path) as data:
        features, owners = data["features"].astype(np.float32), data["person_id"]
        crop_tracklets, crop_frames = data["tracker_id"], data["frame_index"]
    with np.load(run_dir / rundir.CANONICAL_PERSONS_NPZ) as tracks:
        person_ids = [int(p) for p in tracks["person_ids"]]
        seen = [PersonTrack(tracks[f"frame_numbers_{p}"], tracks[f"bboxes_{p}"], tracks[f"confidences_{p}"])
                for p in person_ids]  # fmt: skip
    rows = [owners == pid for pid in person_ids]
    video = VideoPersons(name=name, person_ids=tuple(person_ids), features=tuple(features[r] for r in rows),
                         different=frozenset(co_visible_pairs(seen, min_confidence=firm)),
                         crop_tracklets=tuple(crop_tracklets[r] for r in rows),
                         crop_frames=tuple(crop_frames[r] for r in rows))  # fmt: skip
    return video, embedder


def match_runs(run_dirs: Sequence[str | Path], *, out_dir: str | Path, config: Config) -> tuple[Path, list[str]]:
    """Match persons across ``run_dirs`` and write ``out_dir/cross_video_matches.json``.

    Args:
        run_dirs: Two or more run directories made with the same embedder.
        out_dir: Where the matches file goes; runs are named relative to it.
        config: ``reid.method``, ``top_k``, ``cross_video_percentile``, ``near_threshold`` (the
            floor), ``threshold`` (used when neither video of a pair saw two persons together), and
            ``min_calibration_pairs`` and ``min_separation`` (when the embedder is trusted at all).

    Returns:
        The file written, and notes for the user.

    Raises:
        StoreError: Fewer than two runs, a run without features, or runs made with
            different embedders.
    """
    out = Path(out_dir)
    runs = [rundir.require_run_dir(r) for r in run_dirs]
    if len(runs) < 2:
        raise StoreError("cross-video matching needs at least two run directories")
    labels = [run_label(r, out) for r in runs]
    loaded = [load_video_persons(r, name=label) for r, label in zip(runs, labels, strict=True)]
    first = embedder_identity(loaded[0][1])
    for (_, embedder), run in zip(loaded[1:], runs[1:], strict=True):
        if embedder_identity(embedder) != first:
            raise StoreError(
                f"cannot compare runs made with different embedders: {runs[0]} used "
                f"{loaded[0][1].get('name')}, {run} used {embedder.get('name')}"
            )
    options = config.reid
    rule_options = RuleOptions(min_pairs=options.min_calibration_pairs, min_auc=options.min_separation)
    matches, calibrations = match_all([v for v, _ in loaded], method=options.method, top_k=options.top_k,
                                      percentile=options.cross_video_percentile, floor=options.near_threshold,
                                      fallback=options.threshold, rule_options=rule_options)  # fmt: skip
    notes = [f"{a} and {b}: {c.rule.reason}" for (a, b), c in calibrations.items() if c.rule and not c.rule.trusted]
    if loaded[0][1].get("kind") != "osnet":
        notes.append("cross-video matches come from the weights-free fallback embedder: treat them as hints")
    pairs = [
        {"runs": list(key), "threshold": round(c.threshold, 6),
         "calibrated_threshold": None if c.calibrated is None else round(c.calibrated, 6), "null_pairs": c.null_pairs,
         "decision": c.rule.to_dict() if c.rule else None}
        for key, c in calibrations.items()
    ]  # fmt: skip
    payload = {
        "matches": [m.to_dict() for m in matches],
        "runs": [{"name": label, "persons": len(v.person_ids)} for label, (v, _) in zip(labels, loaded, strict=True)],
        "pairs": pairs,
        "method": options.method,
        "percentile": options.cross_video_percentile,
        "floor": options.near_threshold,
        "embedder": loaded[0][1],
        "notes": notes,
        "timestamp": utc_timestamp(),
    }
    out.mkdir(parents=True, exist_ok=True)
    return rundir.write_json(out / CROSS_VIDEO_MATCHES, payload), notes

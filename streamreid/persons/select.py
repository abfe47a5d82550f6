"""Export chosen persons of a run: their tracks, crops and embeddings, optionally merged into one.

``streamreid select RUN_DIR --persons 0,5,7 [--merge] [--out DIR]`` writes, to
``DIR`` (default ``RUN_DIR/selection``):

``selection.json``
    ``{"format": "streamreid-selection", "version": 1, "source_run": absolute run dir,
    "source": the video, "merged": bool, "requested_person_ids": [ids as given],
    "seen_together": [[id, id], ...], "persons": [...], "files": {name: file or null},
    "created_at": ISO time}``. ``seen_together`` lists the chosen persons seen in one frame at
    different places (:func:`streamreid.persons.person_tracks.seen_together`): ``--merge`` refuses to
    join them unless ``--force`` is given, so it is empty for a merge made without ``--force``.
    One entry per exported person (one in all when merged), in the order given:
    ``person_id`` (the merged identity takes the first id given),
    ``source_person_ids``, ``tracklet_ids`` (time order), ``start_frame``,
    ``end_frame``, ``start_time``, ``end_time``, ``detection_count`` (rows in
    tracks.csv), ``crop_count`` (rows in crops.npz).
``tracks.csv``
    Every tracked detection of the chosen persons, one row each, with header
    ``person_id,source_person_id,tracker_id,frame_index,time,x1,y1,x2,y2,confidence``
    (pixels of the source frame; floats written so they read back exactly),
    sorted by exported person, then frame, then tracker id.
``crops.npz``
    The crops kept in the store for those tracklets (best and animation buffers):
    ``images`` ``(N, H, W, 3)`` uint8 BGR, and per crop ``person_id``,
    ``source_person_id``, ``store_index`` (row in the store) and the store's
    metadata (``tracker_id``, ``frame_index``, ``time``, ``xyxy``, ``confidence``,
    ``size``, ``aspect``, ``truncation``, ``occlusion``, ``sharpness``, ``score``,
    ``rank``, ``buffers`` with BEST = 1, ANIMATION = 2), in the same order as the persons, each in time order.
``embeddings.npy`` (when the run has embeddings)
    ``(K, D)`` float32, one row per exported person in ``persons`` order; a merged
    identity gets the unit-length mean of its members' embeddings.
``crop_features.npz`` (when the run has per-crop features)
    ``features (M, D)``, ``person_id``, ``source_person_id``, ``tracker_id``,
    ``frame_index`` of the chosen persons' crops.

Errors name the one problem: an unknown, negative, repeated or non-integer id
(:class:`SelectionError`), or a directory that is not a run with a crop store
(:class:`StoreError`).
"""

from __future__ import annotations

import csv
import io
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from streamreid import rundir
from streamreid.config import TrackerConfig
from streamreid.errors import SelectionError, StoreError
from streamreid.persons.person_tracks import seen_together
from streamreid.run.store_reader import open_store

SELECTION_DIR = "selection"
SELECTION_JSON = "selection.json"
TRACKS_CSV = "tracks.csv"
CROPS_NPZ = "crops.npz"
EMBEDDINGS_NPY = "embeddings.npy"
CROP_FEATURES_NPZ = "crop_features.npz"
TRACK_COLUMNS = ("person_id", "source_person_id", "tracker_id", "frame_index", "time", "x1", "y1", "x2", "y2",
                 "confidence")  # fmt: skip
_EXAMPLE = "expected e.g. --persons 0,5,7"


def select_command(run_dir: str | Path, persons: Iterable[int], *, merge: bool = True) -> str:
    """The shell command that exports (and optionally merges) ``persons`` of ``run_dir``, safely quoted."""
    ids = ",".join(str(int(p)) for p in persons)
    return f"streamreid select {shlex.quote(str(run_dir))} --persons {ids}" + (" --merge" if merge else "")


@dataclass(frozen=True)
class _Chosen:
    """One exported identity: its id, the run's persons it is made of and their tracklets in time order."""

    person_id: int
    members: tuple[Mapping[str, Any], ...]
    tracklet_ids: tuple[int, ...]


def _choose(person_id: int, members: Sequence[Mapping[str, Any]], first_frame: Mapping[int, int]) -> _Chosen:
    tracklets = {int(t) for member in members for t in member.get("tracklet_ids", ())}
    ordered = sorted(tracklets, key=lambda t: (first_frame.get(t, 1 << 62), t))
    return _Chosen(person_id=person_id, members=tuple(members), tracklet_ids=tuple(ordered))


def parse_person_ids(text: str) -> list[int]:
    """Parse ``--persons``: ids separated by commas (or spaces), e.g. ``0,5,7``; ``P5`` also reads as 5.

    Args:
        text: What the user typed.

    Returns:
        The ids, in the order given.

    Raises:
        SelectionError: Nothing given, a part that is not a whole number, a negative id, or an id given twice.
    """
    parts = [part for part in re.split(r"[,\s]+", str(text).strip()) if part]
    if not parts:
        raise SelectionError(f"no person ids given ({_EXAMPLE})")
    ids = []
    for part in parts:
        match = re.fullmatch(r"[pP]?(-?\d+)", part)
        if match is None:
            raise SelectionError(f"person id {part!r} is not a whole number ({_EXAMPLE})")
        ids.append(int(match.group(1)))
    return validate_person_ids(ids)


def validate_person_ids(person_ids: Sequence[Any]) -> list[int]:
    """Check ids are non-negative integers, none repeated, at least one.

    Raises:
        SelectionError: The first problem found, in one line.
    """
    if isinstance(person_ids, (str, bytes)):
        raise SelectionError(f"person ids must be a list of integers, got the text {person_ids!r}")
    ids: list[int] = []
    for value in person_ids:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise SelectionError(f"person id {value!r} is not a whole number ({_EXAMPLE})")
        number = int(value)
        if number < 0:
            raise SelectionError(f"person id {number} is negative (person ids start at 0)")
        if number in ids:
            raise SelectionError(f"person id {number} is given twice")
        ids.append(number)
    if not ids:
        raise SelectionError(f"no person ids given ({_EXAMPLE})")
    return ids


def describe_ids(ids: Sequence[int]) -> str:
    """Compact ranges: ``[0, 1, 2, 3, 7, 9, 10]`` -> ``"0-3, 7, 9-10"``."""
    values = sorted(set(ids))
    runs: list[str] = []
    start = previous = None
    for value in [*values, None]:
        if start is not None and (value is None or value != previous + 1):
            runs.append(f"{start}-{previous}" if previous != start else f"{start}")
            start = None
        if value is not None and start is None:
            start = value
        previous = value
    return ", ".join(runs)


def select_persons(
    run_dir: Path, person_ids: Sequence[int], *, merge: bool = False, out: Path | None = None, force: bool = False
) -> Path:
    """Export the chosen persons of a run (format in the module docstring).

    Args:
        run_dir: The run directory.
        person_ids: Persons to export, in the order wanted.
        merge: Export them as one identity (id of the first given).
        out: Output directory; default ``RUN_DIR/selection``. Existing selection files there are replaced.
        force: Merge even persons seen together at different places.

    Returns:
        The output directory.

    Raises:
        SelectionError: A bad or unknown person id, an output path that is a file, or a merge of
            persons seen together without ``force``.
        StoreError: ``run_dir`` is not a run directory, has no persons or no crop store.
    """
    ids = validate_person_ids(person_ids)
    run_dir = rundir.require_run_dir(run_dir)
    known = _persons_by_id(run_dir)
    for person_id in ids:
        if person_id not in known:
            have = f"persons {describe_ids(list(known))}" if known else "no persons"
            raise SelectionError(f"unknown person id {person_id} (this run has {have})")
    store = open_store(run_dir / rundir.STORE)
    out_dir = Path(out) if out is not None else run_dir / SELECTION_DIR
    if out_dir.exists() and not out_dir.is_dir():
        raise SelectionError(f"output path {out_dir} is a file, not a directory")

    detections = store.detections()
    seen = _seen_together(run_dir, ids, known, detections)
    if merge and seen and not force:
        a, b = seen[0]
        raise SelectionError(f"persons {a} and {b} were seen together at different places, so they are two people: "
                             f"not merged (--force merges them anyway)")  # fmt: skip
    first_frame = _first_frames(detections)
    if merge:
        chosen = [_choose(ids[0], [known[i] for i in ids], first_frame)]
    else:
        chosen = [_choose(i, [known[i]], first_frame) for i in ids]
    owner = {int(t): int(member["person_id"]) for c in chosen for member in c.members for t in member["tracklet_ids"]}

    try:
        _write_selection(out_dir, run_dir, chosen, owner, detections, store, ids=ids, merge=merge, seen=seen)
    except OSError as exc:  # a folder that takes no files (/proc/self), a full disk, no permission
        raise SelectionError(f"cannot write the selection into {out_dir}: {exc.strerror or exc}") from None
    return out_dir


def _write_selection(out_dir: Path, run_dir: Path, chosen: list[_Chosen], owner: dict[int, int],
                     detections: Mapping[str, np.ndarray], store: Any, *, ids: list[int],
                     merge: bool, seen: Sequence[tuple[int, int]]) -> None:  # fmt: skip
    """Write the selection's files into ``out_dir`` (format in the module docstring)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    track_counts = _write_tracks(out_dir / TRACKS_CSV, chosen, owner, detections)
    crop_counts = _write_crops(out_dir / CROPS_NPZ, chosen, owner, store)
    files: dict[str, str | None] = {"tracks": TRACKS_CSV, "crops": CROPS_NPZ, "embeddings": None, "crop_features": None}
    if _write_embeddings(out_dir / EMBEDDINGS_NPY, run_dir, chosen):
        files["embeddings"] = EMBEDDINGS_NPY
    else:
        (out_dir / EMBEDDINGS_NPY).unlink(missing_ok=True)
    if _write_crop_features(out_dir / CROP_FEATURES_NPZ, run_dir, chosen, owner):
        files["crop_features"] = CROP_FEATURES_NPZ
    else:
        (out_dir / CROP_FEATURES_NPZ).unlink(missing_ok=True)

    run = rundir.read_json(run_dir / rundir.RUN_JSON)
    rundir.write_json(
        out_dir / SELECTION_JSON,
        {
            "format": "streamreid-selection",
            "version": 1,
            "source_run": str(run_dir.resolve()),
            "source": run.get("source") if isinstance(run, dict) else None,
            "merged": bool(merge),
            "requested_person_ids": ids,
            "seen_together": [list(pair) for pair in seen],
            "persons": [_person_entry(c, track_counts, crop_counts) for c in chosen],
            "files": files,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )


def _seen_together(
    run_dir: Path, ids: Sequence[int], known: Mapping[int, Mapping[str, Any]], detections: Mapping[str, np.ndarray]
) -> list[tuple[int, int]]:
    """Pairs of the chosen persons seen in one frame at different places (the run's firm boxes), in id order."""
    meta = rundir.read_json(run_dir / rundir.RUN_JSON)
    config = meta.get("config") if isinstance(meta, dict) else None
    tracker = config.get("tracker") if isinstance(config, dict) else None
    firm = tracker.get("high_conf_det_threshold") if isinstance(tracker, dict) else None
    if isinstance(firm, bool) or not isinstance(firm, (int, float)):
        firm = TrackerConfig().high_conf_det_threshold
    owner = {int(t): person_id for person_id in ids for t in known[person_id].get("tracklet_ids", ())}
    tracker_ids = np.asarray(detections["tracker_id"], dtype=np.int64)
    rows = np.flatnonzero(np.isin(tracker_ids, list(owner)))
    owners = np.array([owner[int(t)] for t in tracker_ids[rows]], dtype=np.int64)
    pairs = seen_together(np.asarray(detections["frame_index"])[rows], owners,
                          np.asarray(detections["xyxy"], dtype=np.float32).reshape(-1, 4)[rows],
                          np.asarray(detections["confidence"])[rows], min_confidence=float(firm))  # fmt: skip
    return sorted(pairs)


def _first_frames(detections: Mapping[str, np.ndarray]) -> dict[int, int]:
    """First frame of each tracker id among the detections."""
    tracker_ids = np.asarray(detections["tracker_id"], dtype=np.int64)
    frames = np.asarray(detections["frame_index"], dtype=np.int64)
    if len(tracker_ids) == 0:
        return {}
    order = np.lexsort((frames, tracker_ids))
    unique, starts = np.unique(tracker_ids[order], return_index=True)
    return {int(t): int(f) for t, f in zip(unique, frames[order][starts], strict=True)}


def _persons_by_id(run_dir: Path) -> dict[int, Mapping[str, Any]]:
    path = run_dir / rundir.CANONICAL_PERSONS
    if not path.is_file():
        raise StoreError(
            f"{run_dir} has no {rundir.CANONICAL_PERSONS}: persons were not computed"
            f" (run `streamreid report {run_dir}`)"
        )
    data = rundir.read_json(path)
    persons = data.get("persons") if isinstance(data, dict) else None
    if not isinstance(persons, list):
        raise StoreError(f"{path} has no list of persons")
    return {int(p["person_id"]): p for p in persons}


def _person_entry(chosen: _Chosen, track_counts: Mapping[int, int], crop_counts: Mapping[int, int]) -> dict:
    members = chosen.members
    return {
        "person_id": chosen.person_id,
        "source_person_ids": [int(m["person_id"]) for m in members],
        "tracklet_ids": list(chosen.tracklet_ids),
        "start_frame": min(int(m["start_frame"]) for m in members),
        "end_frame": max(int(m["end_frame"]) for m in members),
        "start_time": min(float(m["start_time"]) for m in members),
        "end_time": max(float(m["end_time"]) for m in members),
        "detection_count": int(track_counts.get(chosen.person_id, 0)),
        "crop_count": int(crop_counts.get(chosen.person_id, 0)),
    }


def _write_tracks(
    path: Path, chosen: Sequence[_Chosen], owner: Mapping[int, int], detections: Mapping[str, np.ndarray]
) -> dict[int, int]:
    tracker_ids = np.asarray(detections["tracker_id"], dtype=np.int64)
    frames = np.asarray(detections["frame_index"], dtype=np.int64)
    times = np.asarray(detections["time"], dtype=np.float64)
    boxes = np.asarray(detections["xyxy"], dtype=np.float32).reshape(-1, 4)
    confidences = np.asarray(detections["confidence"], dtype=np.float32)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TRACK_COLUMNS)
    counts = {}
    for identity in chosen:
        rows = np.flatnonzero(np.isin(tracker_ids, list(identity.tracklet_ids)))
        rows = rows[np.lexsort((tracker_ids[rows], frames[rows]))]
        counts[identity.person_id] = len(rows)
        for row in rows:
            tracker_id = int(tracker_ids[row])
            writer.writerow(
                (
                    identity.person_id,
                    owner[tracker_id],
                    tracker_id,
                    int(frames[row]),
                    repr(float(times[row])),
                    *(str(v) for v in boxes[row]),
                    str(confidences[row]),
                )
            )
    text = buffer.getvalue()
    rundir.replace_atomically(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), suffix=".tmp")
    return counts


def _write_crops(path: Path, chosen: Sequence[_Chosen], owner: Mapping[int, int], store: Any) -> dict[int, int]:
    images, columns, person, source, counts = [], {}, [], [], {}
    for identity in chosen:
        crops, meta = store.crops_for(list(identity.tracklet_ids), buffer="any", order="time")
        counts[identity.person_id] = len(crops)
        images.append(np.asarray(crops))
        person.append(np.full(len(crops), identity.person_id, dtype=np.int64))
        source.append(np.array([owner[int(t)] for t in meta["tracker_id"]], dtype=np.int64))
        for name, values in meta.items():
            columns.setdefault("store_index" if name == "index" else name, []).append(np.asarray(values))
    arrays = {
        "images": np.concatenate(images) if images else np.empty((0, store.crop_height, store.crop_width, 3), np.uint8),
        "person_id": np.concatenate(person),
        "source_person_id": np.concatenate(source),
        **{name: np.concatenate(parts) for name, parts in columns.items()},
    }
    rundir.replace_atomically(path, lambda tmp: _savez(tmp, arrays), suffix=".npz")
    return counts


def _savez(path: str, arrays: Mapping[str, np.ndarray]) -> None:
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def _embedding_rows(run_dir: Path) -> tuple[np.ndarray, list[int]] | None:
    npy = run_dir / rundir.EMBEDDINGS_NPY
    if not npy.is_file():
        return None
    matrix = np.load(npy)
    ids: list[int] | None = None
    if (run_dir / rundir.EMBEDDINGS).is_file():
        data = rundir.read_json(run_dir / rundir.EMBEDDINGS)
        if isinstance(data, dict) and isinstance(data.get("person_ids"), list):
            ids = [int(p) for p in data["person_ids"]]
    if ids is None:
        ids = list(_persons_by_id(run_dir))
    if matrix.ndim != 2 or len(ids) != matrix.shape[0]:
        raise StoreError(f"{npy} has {matrix.shape[0]} rows for {len(ids)} persons")
    return matrix, ids


def _write_embeddings(path: Path, run_dir: Path, chosen: Sequence[_Chosen]) -> bool:
    found = _embedding_rows(run_dir)
    if found is None:
        return False
    matrix, ids = found
    row_of = {pid: i for i, pid in enumerate(ids)}
    rows = []
    for identity in chosen:
        members = [matrix[row_of[int(m["person_id"])]] for m in identity.members if int(m["person_id"]) in row_of]
        finite = [v for v in members if np.all(np.isfinite(v))]
        if len(identity.members) == 1 and members:
            rows.append(members[0])
        elif finite:
            mean = np.mean(finite, axis=0)
            norm = float(np.linalg.norm(mean))
            rows.append(mean / norm if norm > 0 else mean)
        else:
            rows.append(np.full(matrix.shape[1], np.nan))
    result = np.asarray(rows, dtype=np.float32).reshape(len(chosen), matrix.shape[1])
    rundir.replace_atomically(path, lambda tmp: _save_npy(tmp, result), suffix=".npy")
    return True


def _save_npy(path: str, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array)


def _write_crop_features(path: Path, run_dir: Path, chosen: Sequence[_Chosen], owner: Mapping[int, int]) -> bool:
    source = run_dir / rundir.CROP_FEATURES
    if not source.is_file():
        return False
    with np.load(source) as data:
        features = data["features"]
        tracker_ids = data["tracker_id"].astype(np.int64)
        frames = data["frame_index"].astype(np.int64)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("features", "person_id", "source_person_id", "tracker_id",
                                                           "frame_index")}  # fmt: skip
    for identity in chosen:
        rows = np.flatnonzero(np.isin(tracker_ids, list(identity.tracklet_ids)))
        parts["features"].append(features[rows])
        parts["person_id"].append(np.full(len(rows), identity.person_id, dtype=np.int64))
        parts["source_person_id"].append(np.array([owner[int(t)] for t in tracker_ids[rows]], dtype=np.int64))
        parts["tracker_id"].append(tracker_ids[rows])
        parts["frame_index"].append(frames[rows])
    arrays = {name: np.concatenate(values) for name, values in parts.items()}
    arrays["features"] = arrays["features"].reshape(-1, features.shape[1] if features.ndim == 2 else 0)
    rundir.replace_atomically(path, lambda tmp: _savez(tmp, arrays), suffix=".npz")
    return True

"""Where and when people were seen, as the report draws them: tracklets' visits and foot points, persons' paths."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from streamreid import rundir
from streamreid.errors import StoreError
from streamreid.report.crops import tracklets_strip_path
from streamreid.report.views import Side, Visit
from streamreid.report.webp import evenly_spaced
from streamreid.run.store_reader import open_store
from streamreid.run.tracklet_stats import load_tracklet_stats
from streamreid.types import Person

#: Most points of a person's path drawn over the scene.
PATH_POINTS = 48


def side_of(run_dir: Path, ids: Sequence[int], spans: Mapping[int, Visit],
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


def tracklet_feet(run_dir: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
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


def visits(run_dir: Path) -> dict[int, Visit]:
    """Each tracklet's time span, from the statistics the stream wrote."""
    try:
        stats = load_tracklet_stats(run_dir)
    except (StoreError, KeyError, TypeError, ValueError):
        return {}
    return {s.tracker_id: Visit(s.tracker_id, s.start_time, s.end_time) for s in stats}


def person_paths(run_dir: Path) -> dict[int, tuple[tuple[float, float], ...]]:
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

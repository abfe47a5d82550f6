"""Online per-tracklet statistics, O(1) work and memory per detection.

Each live tracker id keeps running means and co-moments (centre, time, area),
a confidence sum and its first and last boxes. When the tracker drops
the id, :meth:`TrackletStatsAccumulator.finish` turns the sums into a frozen
:class:`~streamreid.types.TrackletStats` and forgets the id, so memory follows
the number of people on screen, not the length of the video.

Definitions (pixels of the source frame, frames counted in decoded-frame indices):

* ``center_jitter`` = sqrt(E[|c - mean(c)|^2]), the RMS distance of the box centre
  from its mean. Means, variances and co-moments are updated with Welford's method,
  which stays exact over hours of a tracklet where E[x^2] - E[x]^2 would cancel.
* ``mean_velocity`` = (last centre - first centre) / (end_frame - start_frame): the
  mean of the per-frame centre displacements, which telescopes to this.
* ``area_variance`` is the population variance of the box area.
* ``motion_residual`` = RMS distance of the centre from its least-squares line
  ``c(t) = a + b t`` (per axis), from the running co-moments of x, y and t:
  Var(x) - Cov(x, t)^2 / Var(t), summed over both axes. It is the jitter with the
  walk removed, which tells a walker from a dancer better than ``center_jitter``.
* A *gap* is a run of expected frames with no detection; the expected step is
  ``frame_step`` (source stride x detection stride), so a strided run has no gaps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import supervision as sv

from streamreid.types import TrackletStats


@dataclass
class _Running:
    start_frame: int
    start_time: float
    first_bbox: tuple[float, float, float, float]
    first_center: tuple[float, float]
    end_frame: int = 0
    end_time: float = 0.0
    last_bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    last_center: tuple[float, float] = (0.0, 0.0)
    count: int = 0
    # Welford means and sums of squared deviations (co-moments), stable over hours of a tracklet
    mean_x: float = 0.0
    mean_y: float = 0.0
    mean_t: float = 0.0
    mean_area: float = 0.0
    m2_x: float = 0.0
    m2_y: float = 0.0
    m2_t: float = 0.0
    m2_area: float = 0.0
    co_xt: float = 0.0
    co_yt: float = 0.0
    sum_conf: float = 0.0
    gap_count: int = 0
    gap_frames: int = 0
    max_gap: int = 0


def _welford_add(run: _Running, x: float, y: float, t: float, area: float) -> None:
    """Add one centre, time and area to the running means and co-moments (Welford / Chan)."""
    run.count += 1
    n = run.count
    dx, dy, dt, da = x - run.mean_x, y - run.mean_y, t - run.mean_t, area - run.mean_area
    run.mean_x += dx / n
    run.mean_y += dy / n
    run.mean_t += dt / n
    run.mean_area += da / n
    run.m2_x += dx * (x - run.mean_x)
    run.m2_y += dy * (y - run.mean_y)
    run.m2_t += dt * (t - run.mean_t)
    run.m2_area += da * (area - run.mean_area)
    run.co_xt += dx * (t - run.mean_t)
    run.co_yt += dy * (t - run.mean_t)


class TrackletStatsAccumulator:
    """Running statistics for every live tracklet.

    Args:
        frame_step: Frame-index distance between two frames that are both processed
            (source stride x detection stride); larger distances count as gaps.
    """

    def __init__(self, *, frame_step: int = 1) -> None:
        if frame_step < 1:
            raise ValueError(f"frame_step must be >= 1, got {frame_step}")
        self._frame_step = frame_step
        self._live: dict[int, _Running] = {}

    @property
    def live_ids(self) -> list[int]:
        """Tracker ids with statistics still open."""
        return list(self._live)

    def update(self, frame_index: int, time: float, detections: sv.Detections) -> None:
        """Add one frame's tracked detections (``tracker_id`` < 0 is ignored)."""
        if len(detections) == 0 or detections.tracker_id is None:
            return
        xyxy = detections.xyxy.astype(np.float64)
        confidence = (
            detections.confidence.astype(np.float64)
            if detections.confidence is not None
            else np.ones(len(detections), dtype=np.float64)
        )
        centers_x = (xyxy[:, 0] + xyxy[:, 2]) * 0.5
        centers_y = (xyxy[:, 1] + xyxy[:, 3]) * 0.5
        areas = np.clip(xyxy[:, 2] - xyxy[:, 0], 0, None) * np.clip(xyxy[:, 3] - xyxy[:, 1], 0, None)
        for i, tracker_id in enumerate(detections.tracker_id.tolist()):
            if tracker_id < 0:
                continue
            box = (float(xyxy[i, 0]), float(xyxy[i, 1]), float(xyxy[i, 2]), float(xyxy[i, 3]))
            cx, cy, area = float(centers_x[i]), float(centers_y[i]), float(areas[i])
            run = self._live.get(tracker_id)
            if run is None:
                run = _Running(start_frame=frame_index, start_time=time, first_bbox=box, first_center=(cx, cy))
                self._live[tracker_id] = run
            elif frame_index <= run.end_frame:
                continue  # a second box for the same id in one frame: keep the first
            else:
                missing = frame_index - run.end_frame - self._frame_step
                if missing > 0:
                    run.gap_count += 1
                    run.gap_frames += missing
                    run.max_gap = max(run.max_gap, missing)
            run.end_frame = frame_index
            run.end_time = time
            run.last_bbox = box
            run.last_center = (cx, cy)
            run.sum_conf += float(confidence[i])
            _welford_add(run, cx, cy, float(frame_index - run.start_frame), area)

    def finish(self, tracker_id: int) -> TrackletStats | None:
        """Close a tracklet: return its final statistics and forget it (``None`` if unknown)."""
        run = self._live.pop(tracker_id, None)
        return None if run is None else _summary(tracker_id, run)

    def snapshot(self) -> list[TrackletStats]:
        """Statistics of every live tracklet so far, leaving them open (for periodic results)."""
        return [_summary(tracker_id, run) for tracker_id, run in self._live.items() if run.count]


def _summary(tracker_id: int, run: _Running) -> TrackletStats:
    """The statistics of one tracklet from its running moments."""
    n = run.count
    mean_x, mean_y, mean_area = run.mean_x, run.mean_y, run.mean_area
    variance = (run.m2_x + run.m2_y) / n
    var_t = run.m2_t / n
    residual = variance
    if var_t > 1e-12:
        cov_x, cov_y = run.co_xt / n, run.co_yt / n
        residual = max(variance - (cov_x * cov_x + cov_y * cov_y) / var_t, 0.0)
    span = run.end_frame - run.start_frame
    if span > 0:
        velocity = (
            (run.last_center[0] - run.first_center[0]) / span,
            (run.last_center[1] - run.first_center[1]) / span,
        )
    else:
        velocity = (0.0, 0.0)
    return TrackletStats(
        tracker_id=int(tracker_id),
        start_frame=run.start_frame,
        end_frame=run.end_frame,
        start_time=run.start_time,
        end_time=run.end_time,
        duration=span + 1,
        detection_count=n,
        mean_center=(mean_x, mean_y),
        center_jitter=math.sqrt(variance),
        mean_area=mean_area,
        area_variance=run.m2_area / n,
        mean_velocity=velocity,
        velocity_magnitude=math.hypot(*velocity),
        first_bbox=run.first_bbox,
        last_bbox=run.last_bbox,
        mean_confidence=run.sum_conf / n,
        gap_count=run.gap_count,
        gap_frames=run.gap_frames,
        max_gap=run.max_gap,
        motion_residual=math.sqrt(residual),
    )

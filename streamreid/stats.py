"""Online per-tracklet statistics, O(1) work and memory per detection.

Each live tracker id keeps running sums (count, centre, squared centre, area,
squared area, confidence) plus its first and last boxes. When the tracker drops
the id, :meth:`TrackletStatsAccumulator.finish` turns the sums into a frozen
:class:`~streamreid.types.TrackletStats` and forgets the id, so memory follows
the number of people on screen, not the length of the video.

Definitions (pixels of the source frame, frames counted in decoded-frame indices):

* ``center_jitter`` = sqrt(E[|c - mean(c)|^2]), the RMS distance of the box centre
  from its mean, from the running sums of x, y, x^2 and y^2.
* ``mean_velocity`` = (last centre - first centre) / (end_frame - start_frame): the
  mean of the per-frame centre displacements, which telescopes to this.
* ``area_variance`` is the population variance of the box area.
* ``motion_residual`` = RMS distance of the centre from its least-squares line
  ``c(t) = a + b t`` (per axis), from the running sums of t, t^2, x t and y t:
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
    sum_x: float = 0.0
    sum_y: float = 0.0
    sum_xx: float = 0.0
    sum_yy: float = 0.0
    sum_area: float = 0.0
    sum_area_sq: float = 0.0
    sum_conf: float = 0.0
    sum_t: float = 0.0
    sum_tt: float = 0.0
    sum_xt: float = 0.0
    sum_yt: float = 0.0
    gap_count: int = 0
    gap_frames: int = 0
    max_gap: int = 0


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
            run.count += 1
            run.sum_x += cx
            run.sum_y += cy
            run.sum_xx += cx * cx
            run.sum_yy += cy * cy
            run.sum_area += area
            run.sum_area_sq += area * area
            run.sum_conf += float(confidence[i])
            t = float(frame_index - run.start_frame)
            run.sum_t += t
            run.sum_tt += t * t
            run.sum_xt += cx * t
            run.sum_yt += cy * t

    def finish(self, tracker_id: int) -> TrackletStats | None:
        """Close a tracklet: return its final statistics and forget it (``None`` if unknown)."""
        run = self._live.pop(tracker_id, None)
        return None if run is None else _summary(tracker_id, run)

    def snapshot(self) -> list[TrackletStats]:
        """Statistics of every live tracklet so far, leaving them open (for periodic results)."""
        return [_summary(tracker_id, run) for tracker_id, run in self._live.items() if run.count]

    def finish_all(self) -> list[TrackletStats]:
        """Close every live tracklet (end of stream)."""
        return [stats for tracker_id in list(self._live) if (stats := self.finish(tracker_id)) is not None]


def _summary(tracker_id: int, run: _Running) -> TrackletStats:
    """The statistics of one tracklet from its running sums."""
    n = run.count
    mean_x, mean_y = run.sum_x / n, run.sum_y / n
    variance = max(run.sum_xx / n - mean_x * mean_x, 0.0) + max(run.sum_yy / n - mean_y * mean_y, 0.0)
    mean_area = run.sum_area / n
    mean_t = run.sum_t / n
    var_t = run.sum_tt / n - mean_t * mean_t
    residual = variance
    if var_t > 1e-12:
        cov_x = run.sum_xt / n - mean_x * mean_t
        cov_y = run.sum_yt / n - mean_y * mean_t
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
        area_variance=max(run.sum_area_sq / n - mean_area * mean_area, 0.0),
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

"""A hand-over in a crowd made to order: two tracklets' statistics and the boxes of everyone near."""

from __future__ import annotations

import math

import numpy as np

from streamreid.persons.handover import Neighbours
from streamreid.types import TrackletStats


def handover_stats(tid: int, start: int, end: int, first: tuple, last: tuple, velocity=(2.0, 0.0)) -> TrackletStats:
    area = (first[2] - first[0]) * (first[3] - first[1])
    return TrackletStats(
        tracker_id=tid, start_frame=start, end_frame=end, start_time=start / 25, end_time=end / 25,
        duration=end - start + 1, detection_count=end - start + 1, mean_center=((first[0] + last[2]) / 2, 150.0),
        center_jitter=1.0, mean_area=float(area), area_variance=0.0, mean_velocity=velocity,
        velocity_magnitude=float(math.hypot(*velocity)), first_bbox=first, last_bbox=last, mean_confidence=0.9,
        motion_residual=1.0,
    )  # fmt: skip


def walk_box(x: float, y: float = 100.0, scale: float = 1.0) -> tuple[float, float, float, float]:
    return (x * scale, y * scale, (x + 40) * scale, (y + 100) * scale)


def neighbour_rows(*rows: tuple[int, int, tuple]) -> Neighbours:
    frames, owners, boxes = zip(*rows, strict=True)
    return Neighbours.of(np.array(frames), np.array(owners), np.array(boxes))

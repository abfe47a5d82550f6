"""The nearest other person to a hand-over, in box heights, during the hand-over's frames only."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streamreid.persons.handover import Neighbours, nearest_other
from streamreid.types import TrackletStats


def _stats(tid: int, start: int, end: int, first: tuple, last: tuple, velocity=(2.0, 0.0)) -> TrackletStats:
    area = (first[2] - first[0]) * (first[3] - first[1])
    return TrackletStats(
        tracker_id=tid, start_frame=start, end_frame=end, start_time=start / 25, end_time=end / 25,
        duration=end - start + 1, detection_count=end - start + 1, mean_center=((first[0] + last[2]) / 2, 150.0),
        center_jitter=1.0, mean_area=float(area), area_variance=0.0, mean_velocity=velocity,
        velocity_magnitude=float(math.hypot(*velocity)), first_bbox=first, last_bbox=last, mean_confidence=0.9,
        motion_residual=1.0,
    )  # fmt: skip


def _box(x: float, y: float = 100.0, scale: float = 1.0) -> tuple[float, float, float, float]:
    return (x * scale, y * scale, (x + 40) * scale, (y + 100) * scale)


def _rows(*rows: tuple[int, int, tuple]) -> Neighbours:
    frames, owners, boxes = zip(*rows, strict=True)
    return Neighbours.of(np.array(frames), np.array(owners), np.array(boxes))


def test_nearest_other_is_in_box_heights_whatever_the_resolution():
    """The same scene at 3x the pixels gives the same distance; the hand-over's own tracklets never count."""
    for scale in (1.0, 3.0):
        earlier = _stats(1, 0, 10, _box(0, scale=scale), _box(100, scale=scale))
        later = _stats(2, 20, 30, _box(140, scale=scale), _box(200, scale=scale))
        others = _rows((10, 1, _box(100, scale=scale)), (20, 2, _box(140, scale=scale)),
                       (15, 3, _box(120, y=150, scale=scale)))  # fmt: skip
        # at frame 15 the hand-over is half way (x 120), its box 100 px tall: 3 is 50 px below = 0.5 heights
        assert nearest_other(others, earlier, later) == pytest.approx(0.5)
        assert nearest_other(others, earlier, later, exclude=(3,)) == math.inf


def test_only_the_frames_of_the_hand_over_count():
    """Someone at the very spot before the earlier tracklet ended or after the later began is not at the hand-over."""
    earlier, later = _stats(1, 0, 10, _box(0), _box(100)), _stats(2, 20, 30, _box(140), _box(200))
    assert nearest_other(_rows((9, 3, _box(100)), (21, 3, _box(140))), earlier, later) == math.inf
    assert nearest_other(_rows((10, 3, _box(100))), earlier, later) == pytest.approx(0.0)


def test_neighbours_between_two_frames_and_their_owners():
    rows = _rows((3, 7, _box(0)), (5, 8, _box(50)), (5, 7, _box(10)), (9, 9, _box(90)))
    assert rows.frame_index.tolist() == [3, 5, 5, 9]  # sorted by frame, stable
    assert rows.owners(4, 5) == {7, 8}
    assert rows.owners(6, 8) == set()
    assert rows.center[rows.between(5, 5)].tolist() == [[70.0, 150.0], [30.0, 150.0]]

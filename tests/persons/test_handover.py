"""The nearest other person to a hand-over, in box heights, during the hand-over's frames only."""

from __future__ import annotations

import math

import pytest
from handover_records import handover_stats, neighbour_rows, walk_box

from streamreid.persons.handover import nearest_other


def test_nearest_other_is_in_box_heights_whatever_the_resolution():
    """The same scene at 3x the pixels gives the same distance; the hand-over's own tracklets never count."""
    for scale in (1.0, 3.0):
        earlier = handover_stats(1, 0, 10, walk_box(0, scale=scale), walk_box(100, scale=scale))
        later = handover_stats(2, 20, 30, walk_box(140, scale=scale), walk_box(200, scale=scale))
        others = neighbour_rows((10, 1, walk_box(100, scale=scale)), (20, 2, walk_box(140, scale=scale)),
                       (15, 3, walk_box(120, y=150, scale=scale)))  # fmt: skip
        # at frame 15 the hand-over is half way (x 120), its box 100 px tall: 3 is 50 px below = 0.5 heights
        assert nearest_other(others, earlier, later) == pytest.approx(0.5)
        assert nearest_other(others, earlier, later, exclude=(3,)) == math.inf


def test_only_the_frames_of_the_hand_over_count():
    """Someone at the very spot before the earlier tracklet ended or after the later began is not at the hand-over."""
    earlier, later = (
        handover_stats(1, 0, 10, walk_box(0), walk_box(100)),
        handover_stats(2, 20, 30, walk_box(140), walk_box(200)),
    )
    assert nearest_other(neighbour_rows((9, 3, walk_box(100)), (21, 3, walk_box(140))), earlier, later) == math.inf
    assert nearest_other(neighbour_rows((10, 3, walk_box(100))), earlier, later) == pytest.approx(0.0)


def test_neighbours_between_two_frames_and_their_owners():
    rows = neighbour_rows((3, 7, walk_box(0)), (5, 8, walk_box(50)), (5, 7, walk_box(10)), (9, 9, walk_box(90)))
    assert rows.frame_index.tolist() == [3, 5, 5, 9]  # sorted by frame, stable
    assert rows.owners(4, 5) == {7, 8}
    assert rows.owners(6, 8) == set()
    assert rows.center[rows.between(5, 5)].tolist() == [[70.0, 150.0], [30.0, 150.0]]

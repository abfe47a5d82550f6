"""ByteTrack's second association (faint boxes) in :class:`streamreid.stream.track.PersonTracker`."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import supervision as sv

from streamreid.config import TrackerConfig
from streamreid.stream.track import PersonTracker


def _frame(*boxes: tuple[tuple[float, float, float, float], float]) -> sv.Detections:
    if not boxes:
        return sv.Detections.empty()
    return sv.Detections(xyxy=np.array([b for b, _ in boxes], dtype=np.float32),
                         confidence=np.array([c for _, c in boxes], dtype=np.float32),
                         class_id=np.zeros(len(boxes), dtype=int))  # fmt: skip


def _walk(tracker: PersonTracker, frames: list[sv.Detections]) -> list[sv.Detections]:
    return [tracker.update(detections, time=index / 25.0)[0] for index, detections in enumerate(frames)]


def _person(x: float) -> tuple[float, float, float, float]:
    return (x, 100.0, x + 40.0, 200.0)


@pytest.mark.parametrize(("shift", "taken"), [(4.0, True), (22.0, False)])
def test_a_faint_box_goes_to_a_track_only_where_it_overlaps_its_prediction_well(shift, taken):
    """A person stands still for 6 frames, then only a faint box is seen near where they were.

    Shifted 4 px (IoU 0.82) it is the same person, faintly detected: the track takes it. Shifted 22 px
    (IoU 0.29: half a body away, a neighbour's box as the person disappears behind them) the paper's
    second association (IoU >= 0.5) leaves it; the first association's 0.1 would hand it to the track.
    """
    tracker = PersonTracker(fps=25.0, config=TrackerConfig())
    frames = [_frame((_person(100.0), 0.9)) for _ in range(6)] + [_frame((_person(100.0 + shift), 0.15))]
    last = _walk(tracker, frames)[-1]
    assert (len(last) == 1) is taken


def test_the_first_association_keeps_its_own_threshold():
    """A firm box 22 px away (IoU 0.29) still continues the track: only faint boxes need 0.5."""
    tracker = PersonTracker(fps=25.0, config=TrackerConfig())
    frames = [_frame((_person(100.0), 0.9)) for _ in range(6)] + [_frame((_person(122.0), 0.9))]
    tracked = _walk(tracker, frames)
    assert len(tracked[-1]) == 1
    assert tracked[-1].tracker_id[0] == tracked[1].tracker_id[0]


def test_second_iou_threshold_at_the_first_associations_value_gives_the_librarys_behaviour():
    """``second_iou_threshold`` equal to ``minimum_iou_threshold``: the faint neighbour's box is taken."""
    config = dataclasses.replace(TrackerConfig(), second_iou_threshold=TrackerConfig().minimum_iou_threshold)
    tracker = PersonTracker(fps=25.0, config=config)
    frames = [_frame((_person(100.0), 0.9)) for _ in range(6)] + [_frame((_person(122.0), 0.15))]
    assert len(_walk(tracker, frames)[-1]) == 1


@pytest.mark.parametrize(("confidence", "starts"), [(0.3, False), (0.4, True)])
def test_a_track_starts_only_on_a_box_surer_than_one_that_continues_a_track(confidence, starts):
    """ByteTrack's rule: a new track needs the high/low split + 0.1 (0.35); a 0.3 box continues tracks only."""
    tracker = PersonTracker(fps=25.0, config=TrackerConfig())
    tracked = _walk(tracker, [_frame((_person(100.0), confidence)) for _ in range(6)])
    assert (len(tracked[-1]) == 1) is starts
    config = TrackerConfig()
    assert config.high_conf_det_threshold < 0.3 < config.track_activation_threshold


def test_a_box_too_unsure_to_start_a_track_still_continues_one():
    tracker = PersonTracker(fps=25.0, config=TrackerConfig())
    frames = [_frame((_person(100.0), 0.9)) for _ in range(4)] + [_frame((_person(102.0), 0.3)) for _ in range(4)]
    tracked = _walk(tracker, frames)
    assert len(tracked[-1]) == 1 and tracked[-1].tracker_id[0] == tracked[1].tracker_id[0]

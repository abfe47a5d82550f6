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


def _velocity(tracker: PersonTracker) -> np.ndarray:
    (track,) = [t for t in tracker._tracker.tracks if t.time_since_update == 0]
    return track.state_estimator.kf.state[4:6].ravel()  # x1 and y1 velocity, px per frame


def test_a_track_found_again_takes_the_velocity_its_observations_imply():
    """Walking right 4 px a frame, unseen for 3 frames, found again having turned down (2 px a frame, no x motion).

    The re-update (``observation_reupdate``) re-runs the filter over the straight line between the two observations:
    its x velocity falls nearer the observed 0 than the blind prediction leaves it.
    """
    errors = {}
    for reupdate in (False, True):
        tracker = PersonTracker(fps=25.0, config=dataclasses.replace(TrackerConfig(), observation_reupdate=reupdate))
        frames = [_frame((_person(100.0 + 4 * i), 0.9)) for i in range(10)] + [_frame()] * 3
        _walk(tracker, frames)
        moved = _frame(((136.0, 108.0, 176.0, 208.0), 0.9))
        tracker.update(moved, time=13 / 25.0)
        errors[reupdate] = abs(_velocity(tracker)[0])
    assert errors[True] < errors[False] - 0.05


def test_noise_in_proportion_to_the_box_steadies_the_velocity_of_a_jittery_walker():
    """4 px a frame to the right, the box's corners jittering by ±3 px (a detector's frame-to-frame scatter).

    With the library's fixed noise (a fraction of a pixel) the filter takes every jitter as motion; with noise in
    proportion to a 100 px tall box (``scaled_noise``) its velocity stays near the walker's.
    """
    rng = np.random.default_rng(0)
    jitter = rng.choice([-3.0, 3.0], size=(30, 4))
    spread = {}
    for scaled in (False, True):
        tracker = PersonTracker(fps=25.0, config=dataclasses.replace(TrackerConfig(), scaled_noise=scaled))
        velocities = []
        for i in range(30):
            box = np.array(_person(100.0 + 4 * i)) + jitter[i]
            tracker.update(_frame((tuple(box), 0.9)), time=i / 25.0)
            if i >= 10:
                velocities.append(_velocity(tracker)[0])
        spread[scaled] = float(np.std(np.array(velocities) - 4.0) + abs(np.mean(velocities) - 4.0))
    assert spread[True] < 0.5 * spread[False]


@pytest.mark.parametrize(("weight", "follows_ahead"), [(0.0, False), (0.2, True)])
def test_the_direction_term_sends_a_slow_walker_to_the_box_ahead_of_them(weight, follows_ahead):
    """A walker drifts right 1 px a frame; two firm boxes appear, 6 px ahead and 5 px behind the prediction.

    By IoU alone the box behind wins (0.78 vs 0.74); with ``direction_weight`` the one ahead, along the walker's
    seen direction, does (OC-SORT's direction consistency).
    """
    config = dataclasses.replace(TrackerConfig(), direction_weight=weight)
    tracker = PersonTracker(fps=25.0, config=config)
    tracked = _walk(tracker, [_frame((_person(100.0 + i), 0.9)) for i in range(8)])
    ahead, behind = _person(108.0 + 6.0), _person(108.0 - 5.0)
    last, _ = tracker.update(_frame((ahead, 0.9), (behind, 0.9)), time=8 / 25.0)
    followed = last.xyxy[last.tracker_id == tracked[-1].tracker_id[0]]
    assert len(followed) == 1
    assert bool(followed[0][0] == ahead[0]) is follows_ahead

"""Seconds per stage: a ``with`` block charges its stage, the decoder and the detector only their own time."""

import time

import pytest

from streamreid.run.timings import StageClock, iter_timed_detections, iter_timed_frames


def test_a_stage_adds_up_over_blocks_and_counts_a_block_that_raises():
    clock = StageClock()
    for _ in range(2):
        with clock.stage("track"):
            time.sleep(0.01)
    with pytest.raises(RuntimeError), clock.stage("reid"):
        time.sleep(0.01)
        raise RuntimeError("boom")
    seconds = clock.to_dict()
    assert list(seconds) == ["track", "reid"]
    assert seconds["track"] >= 0.02 and seconds["reid"] >= 0.01


def test_to_dict_rounds_to_four_digits():
    clock = StageClock()
    clock.add("decode", 0.123456)
    clock.add("decode", 1.0)
    assert clock.to_dict() == {"decode": 1.1235}


def _slow(items, delay):
    for item in items:
        time.sleep(delay)
        yield item


def test_frames_pass_through_and_their_arrival_time_goes_to_decode():
    clock = StageClock()
    assert list(iter_timed_frames(_slow(range(3), 0.01), clock)) == [0, 1, 2]
    assert clock.seconds["decode"] >= 0.03


class _Frames:
    """A decoded-frame source that says how long its consumer waited on it."""

    def __init__(self):
        self.waited = 0.0


def test_the_detector_is_not_charged_for_its_wait_on_decoded_frames():
    frames, clock = _Frames(), StageClock()

    def detections():
        for index in range(3):
            time.sleep(0.02)  # waiting for a decoded frame...
            frames.waited += 0.02
            yield index

    assert list(iter_timed_detections(detections(), frames, clock)) == [0, 1, 2]
    assert clock.seconds["detect"] < 0.02


def test_stopping_early_closes_the_detector():
    closed = []

    def detections():
        try:
            yield from range(10)
        finally:
            closed.append(True)

    timed = iter_timed_detections(detections(), _Frames(), StageClock())
    next(timed)
    timed.close()
    assert closed == [True]

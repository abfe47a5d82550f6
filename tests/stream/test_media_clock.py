"""Frame times across reconnects: monotonic, an outage a gap of its length, frames without a pts one step on."""

from fractions import Fraction

import av
import pytest

from streamreid.stream.media_clock import DecodePosition, MediaClock, frames_lost


def _frame(pts: int | None, time_base: Fraction | None = Fraction(1, 25)) -> av.VideoFrame:
    frame = av.VideoFrame(16, 16, "yuv420p")
    frame.pts = pts
    if time_base is not None:
        frame.time_base = time_base
    return frame


def test_times_start_at_zero_whatever_the_first_pts():
    clock = MediaClock(25.0)
    assert [clock.time_of(_frame(pts)) for pts in (100, 101, 103)] == [0.0, 0.04, 0.12]


def test_a_repeated_or_backward_pts_still_moves_time_on_by_one_frame():
    clock = MediaClock(25.0)
    times = [clock.time_of(_frame(pts)) for pts in (10, 11, 11, 5)]
    assert times == pytest.approx([0.0, 0.04, 0.08, 0.12])


def test_frames_without_a_pts_follow_by_one_interval_and_unknown_fps_means_25():
    clock = MediaClock(None)
    assert [clock.time_of(_frame(None, None)) for _ in range(3)] == pytest.approx([0.0, 0.04, 0.08])


def test_a_reconnect_continues_after_the_outage_even_when_timestamps_restart():
    clock = MediaClock(10.0)
    for pts in (0, 1, 2):
        clock.time_of(_frame(pts, Fraction(1, 10)))
    assert clock.connection_span() == pytest.approx(0.2)
    clock.resume(gap_seconds=3.0)
    assert clock.connection_span() is None
    assert clock.time_of(_frame(0, Fraction(1, 10))) == pytest.approx(0.2 + 3.0)
    assert clock.time_of(_frame(1, Fraction(1, 10))) == pytest.approx(3.3)


def test_a_short_reconnect_gap_is_at_least_one_frame():
    clock = MediaClock(10.0)
    clock.time_of(_frame(0, Fraction(1, 10)))
    clock.resume(gap_seconds=0.0)
    assert clock.time_of(_frame(50, Fraction(1, 10))) == pytest.approx(0.1)


def test_a_reopened_file_skips_the_frames_already_delivered_then_stops_skipping():
    position = DecodePosition(last_frame_wall=0.0, seen_until=0.08)
    assert [position.seen(_frame(pts)) for pts in (0, 2, 3)] == [True, True, False]
    assert position.seen_until is None
    assert not position.seen(_frame(0))


@pytest.mark.parametrize(("before", "after", "lost"), [(1.0, 1.1, 0), (1.0, 1.5, 4), (1.0, 1.0, 0), (2.0, 1.0, 0)])
def test_frames_lost_counts_the_steps_beyond_the_normal_one(before, after, lost):
    assert frames_lost(before, after, 0.1) == lost

"""The pacing of live sources and the bounded working set of the periodic analysis, on a clock of our own."""

import numpy as np
import pytest

from streamreid.config import Config
from streamreid.persons.working_set import working_set
from streamreid.stream.realtime import RealTimePacer, realtime_enabled
from streamreid.types import Frame, TrackletStats, VideoInfo

IMAGE = np.zeros((2, 2, 3), np.uint8)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_pacer_passes_over_late_frames_and_keeps_latency_bounded():
    clock = FakeClock()
    pacer = RealTimePacer(max_latency=0.5, clock=clock)
    fps, detect_seconds = 25.0, 0.1  # the camera is 2.5x faster than the detector

    def camera():
        for index in range(250):  # 10 s
            clock.now = max(clock.now, 100.0 + index / fps)  # a frame cannot arrive before the camera makes it
            yield Frame(index=index, time=index / fps, image=IMAGE)

    for frame in pacer.pace(camera()):
        clock.now += detect_seconds  # the detector's time
        pacer.detected(frame)
    figures = pacer.to_dict()
    assert figures["frames_seen"] == 250
    assert figures["detection_fps"] == pytest.approx(1 / detect_seconds, rel=0.05)
    assert figures["frames_detected"] + figures["frames_passed_over"] == 250
    assert 80 <= figures["frames_detected"] <= 110
    assert figures["latency_max_s"] <= 0.5 + detect_seconds + 1e-6


def test_pacer_detects_every_frame_when_the_machine_keeps_up():
    clock = FakeClock()
    pacer = RealTimePacer(max_latency=0.5, clock=clock)
    for index in range(100):
        clock.now = 100.0 + index / 25.0
        frame = Frame(index=index, time=index / 25.0, image=IMAGE)
        assert list(pacer.pace([frame])) == [frame]
        clock.now += 0.01
        pacer.detected(frame)
    assert pacer.frames_passed_over == 0 and pacer.latency(0.95) < 0.02


@pytest.mark.parametrize(("setting", "source", "is_live", "expected"), [
    (None, "rtsp://***@cam/live", True, True), (None, "-", True, False), (None, "video.mp4", False, False),
    (True, "video.mp4", False, True), (False, "rtsp://cam/live", True, False),
])  # fmt: skip
def test_realtime_is_on_for_cameras_and_off_for_files_unless_asked(setting, source, is_live, expected):
    info = VideoInfo(source=source, width=2, height=2, is_live=is_live)
    assert realtime_enabled(setting, info) is expected


def _tracklet(tracker_id, start, end):
    return TrackletStats(tracker_id=tracker_id, start_frame=int(start * 25), end_frame=int(end * 25), start_time=start,
                         end_time=end, duration=int((end - start) * 25) + 1, detection_count=10,
                         mean_center=(0.0, 0.0), center_jitter=0.0, mean_area=1.0, area_variance=0.0,
                         mean_velocity=(0.0, 0.0), velocity_magnitude=0.0, first_bbox=(0, 0, 1, 1),
                         last_bbox=(0, 0, 1, 1), mean_confidence=0.9)  # fmt: skip


def test_the_working_set_is_bounded_by_the_window_the_gallery_cap_and_retention():
    day = [_tracklet(i, 60.0 * i, 60.0 * i + 30) for i in range(24 * 60)]  # a tracklet a minute for a day
    config = Config().with_overrides({"report.max_tracklets": 50})
    live, since = working_set(day, config=config, is_live=True)
    assert [s.tracker_id for s in live] == list(range(24 * 60 - 50, 24 * 60)), "the gallery cap keeps the newest"
    assert since == live[0].start_time
    hour, _ = working_set(day, config=config.with_overrides({"report.max_tracklets": 5000}), is_live=True)
    assert len(hour) == 61, "live sources: the last hour"
    files, since = working_set(day[:40], config=config, is_live=False)
    assert len(files) == 40 and since is None, "files: everything (under the cap)"
    kept, _ = working_set(day[:40], config=config, is_live=False, dropped_until=600.0)
    assert min(s.tracker_id for s in kept) == 10, "nothing whose data retention dropped"

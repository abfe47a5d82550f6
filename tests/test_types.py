"""The records between stages: JSON round trips, and a frame's size in the source's pixels however it was scaled."""

import json

import numpy as np
import pytest

from streamreid.types import Frame, Person, TrackletStats, VideoInfo


def _stats(**changes):
    values = dict(tracker_id=3, start_frame=10, end_frame=19, start_time=0.4, end_time=0.76, duration=10,
                  detection_count=9, mean_center=(50.0, 60.0), center_jitter=1.5, mean_area=800.0,
                  area_variance=4.0, mean_velocity=(1.0, 0.0), velocity_magnitude=1.0,
                  first_bbox=(40.0, 20.0, 60.0, 100.0), last_bbox=(49.0, 20.0, 69.0, 100.0), mean_confidence=0.8,
                  gap_count=1, gap_frames=1, max_gap=1, motion_residual=0.5)  # fmt: skip
    return TrackletStats(**{**values, **changes})


def test_tracklet_stats_survive_json():
    stats = _stats()
    data = json.loads(json.dumps(stats.to_dict()))
    assert data["first_bbox"] == [40.0, 20.0, 60.0, 100.0]
    assert TrackletStats.from_dict(data) == stats
    assert TrackletStats.from_dict(_stats(motion_residual=None).to_dict()).motion_residual is None


def test_a_person_survives_json_and_ignores_the_reports_extra_keys():
    person = Person(person_id=2, tracklet_ids=(3, 8), start_frame=10, end_frame=90, start_time=0.4, end_time=3.6,
                    detection_count=70, mean_center=(1.0, 2.0), center_jitter=1.0, mean_area=900.0,
                    mean_confidence=0.7)  # fmt: skip
    data = json.loads(json.dumps(person.to_dict()))
    assert data["num_tracklets_merged"] == 2 and data["tracklet_ids"] == [3, 8]
    assert Person.from_dict({**data, "rank": 1, "frames_seen": 70}) == person
    del data["mean_area"]
    with pytest.raises(KeyError):
        Person.from_dict(data)


def test_video_info_as_a_dict():
    info = VideoInfo(source="a.mp4", width=640, height=360, fps=25.0, rotation=90)
    assert info.to_dict() == {"source": "a.mp4", "width": 640, "height": 360, "fps": 25.0, "frame_count": None,
                              "duration": None, "codec": "", "is_live": False, "rotation": 90}  # fmt: skip


def test_a_frame_scaled_for_the_detector_keeps_the_sources_size():
    full = np.zeros((720, 1280, 3), np.uint8)
    small = np.zeros((360, 640, 3), np.uint8)
    scaled = Frame(index=0, time=0.0, image=small, full=full)
    assert (scaled.width, scaled.height, scaled.image_scale) == (1280, 720, (2.0, 2.0))
    assert scaled.pixels is full
    plain = Frame(index=1, time=0.04, image=small)
    assert (plain.width, plain.height, plain.image_scale) == (640, 360, (1.0, 1.0))
    assert plain.pixels is small

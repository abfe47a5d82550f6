"""What an analysis works on: the frames detected, the persons' arrays (the stats log: run/test_tracklet_stats.py)."""

import numpy as np

from streamreid.persons.person_tracks import PersonTrack
from streamreid.persons.working_set import Analysis, frames_detected, person_track_columns
from streamreid.reid.features import EmbedderInfo
from streamreid.stream.stats import TrackletStatsAccumulator
from streamreid.types import Person


def _stats(tracker_id):
    import supervision as sv

    accumulator = TrackletStatsAccumulator()
    for frame in range(3):
        box = np.array([[10.0 + frame, 10.0, 50.0 + frame, 90.0]], dtype=np.float32)
        accumulator.update(frame, frame / 10, sv.Detections(xyxy=box, confidence=np.array([0.9], np.float32),
                                                            tracker_id=np.array([tracker_id])))  # fmt: skip
    return accumulator.finish(tracker_id)


def test_frames_detected_from_counts_processed_frames_or_the_last_stored_detection():
    meta = {"config": {"source": {"stride": 2}, "detector": {"detect_stride": 3}}}
    never = lambda: (_ for _ in ()).throw(AssertionError("not asked"))  # noqa: E731
    assert frames_detected({**meta, "counts": {"frames_detected": 17}}, 99, last_frame_index=never) == 17
    assert frames_detected(meta, 10, last_frame_index=never) == 4  # every third processed frame, rounded up
    assert frames_detected(meta, None, last_frame_index=lambda: 59) == 10  # 60 decoded / (2 x 3)
    assert frames_detected(meta, None, last_frame_index=lambda: None) == 1


def test_person_track_columns_name_each_persons_arrays():
    person = Person(person_id=4, tracklet_ids=(2, 7), start_frame=0, end_frame=3, start_time=0.0, end_time=0.3,
                    detection_count=2, mean_center=(0.0, 0.0), center_jitter=0.0, mean_area=1.0,
                    mean_confidence=0.5)  # fmt: skip
    track = PersonTrack(np.array([0, 3]), np.zeros((2, 4), np.float32), np.ones(2, np.float32), np.array([2, 7]))
    columns = person_track_columns([person], [track])
    assert columns["person_ids"].tolist() == [4] and columns["num_tracklets_merged"].tolist() == [2]
    assert columns["frame_numbers_4"].tolist() == [0, 3] and columns["original_tracklet_ids_4"].tolist() == [2, 7]


def test_analysis_as_a_dict():
    info = EmbedderInfo(name="fallback", kind="fallback", dim=8)
    summary = Analysis(persons=3, embedder=info, report=None, notes=("a",)).to_dict()
    assert summary == {"persons": 3, "embedder": info.to_dict(), "report": None, "notes": ["a"]}

"""Where and when people were seen, as the report draws them: visits, foot points, smoothed and thinned paths."""

import json

import numpy as np
import pytest
import supervision as sv

from streamreid import rundir
from streamreid.report.paths import PATH_POINTS, person_paths, side_of, smooth, tracklet_feet, visits
from streamreid.report.views import Visit
from streamreid.run.store import CropStore
from streamreid.stream.stats import TrackletStatsAccumulator
from streamreid.types import Person


def test_smooth_is_a_running_mean_shorter_at_the_ends():
    points = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 0.0], [3.0, 0.0], [0.0, 0.0]])
    smoothed = smooth(points, window=3)
    np.testing.assert_allclose(smoothed[:, 0], [1.5, 1.0, 2.0, 1.0, 1.5])
    assert smooth(points[:1]).tolist() == [[0.0, 0.0]]


def test_tracklet_feet_are_the_bottom_centres_per_tracklet_in_store_order(tmp_path):
    with CropStore(tmp_path / rundir.STORE, crop_height=8, crop_width=4) as store:
        store.append_detections(frame_index=np.array([0, 0, 1]), time=np.array([0.0, 0.0, 0.1]),
                                tracker_id=np.array([5, 2, 5]),
                                xyxy=np.array([[0, 0, 10, 20], [4, 4, 8, 30], [2, 0, 12, 22]], np.float32),
                                confidence=np.ones(3, np.float32))  # fmt: skip
    feet = tracklet_feet(tmp_path)
    assert sorted(feet) == [2, 5]
    assert feet[5][0].tolist() == [0, 1] and feet[5][1].tolist() == [[5.0, 20.0], [7.0, 22.0]]
    assert feet[2][1].tolist() == [[6.0, 30.0]]
    assert tracklet_feet(tmp_path / "elsewhere") == {}


def test_visits_come_from_the_tracklet_statistics_and_are_empty_without_them(tmp_path):
    assert visits(tmp_path) == {}
    accumulator = TrackletStatsAccumulator()
    for frame in (3, 4, 9):
        accumulator.update(frame, frame / 10, sv.Detections(xyxy=np.array([[0, 0, 4, 8]], np.float32),
                                                            tracker_id=np.array([7])))  # fmt: skip
    line = json.dumps(accumulator.finish(7).to_dict())
    (tmp_path / rundir.TRACKLET_STATS_LOG).write_text(line + "\n")
    assert visits(tmp_path) == {7: Visit(7, pytest.approx(0.3), pytest.approx(0.9))}


def test_person_paths_are_thinned_and_a_person_without_boxes_has_none(tmp_path):
    boxes = np.array([[x, 0.0, x + 10.0, 50.0] for x in range(200)])
    np.savez(tmp_path / rundir.CANONICAL_PERSONS_NPZ, person_ids=np.array([0, 1]), bboxes_0=boxes,
             bboxes_1=np.zeros((0, 4)))  # fmt: skip
    paths = person_paths(tmp_path)
    assert list(paths) == [0]
    assert len(paths[0]) == PATH_POINTS and paths[0][0][1] == 50.0
    assert [x for x, _ in paths[0]] == sorted(x for x, _ in paths[0])
    (tmp_path / rundir.CANONICAL_PERSONS_NPZ).write_bytes(b"damaged")
    assert person_paths(tmp_path) == {}


def test_a_side_spans_its_visits_and_falls_back_to_the_person(tmp_path):
    person = Person(person_id=0, tracklet_ids=(1, 2), start_frame=0, end_frame=50, start_time=0.0, end_time=5.0,
                    detection_count=40, mean_center=(0.0, 0.0), center_jitter=0.0, mean_area=1.0,
                    mean_confidence=0.9)  # fmt: skip
    spans = {1: Visit(1, 0.5, 1.5), 2: Visit(2, 2.0, 4.0)}
    feet = {2: (np.array([20, 21]), np.array([[1.0, 2.0], [3.0, 4.0]]))}
    side = side_of(tmp_path, [1, 2], spans, feet, fallback=person)
    assert (side.tracklet_ids, side.start_time, side.end_time, side.picture) == ((1, 2), 0.5, 4.0, None)
    assert side.path == ((2.0, 3.0), (2.0, 3.0))
    unknown = side_of(tmp_path, [9], spans, {}, fallback=person)
    assert (unknown.start_time, unknown.end_time, unknown.path) == (0.0, 5.0, ())

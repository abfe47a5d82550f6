import numpy as np

from streamreid.person_tracks import co_visible_pairs, co_visible_tracklets, person_tracks
from streamreid.types import Person


def _detections(rows):
    """rows: (frame_index, tracker_id)."""
    array = np.asarray(rows, dtype=np.int64)
    count = len(array)
    return {
        "frame_index": array[:, 0],
        "tracker_id": array[:, 1],
        "xyxy": np.tile(np.arange(4, dtype=np.float32), (count, 1)),
        "confidence": np.full(count, 0.5, dtype=np.float32),
    }


def _person(person_id, tracklet_ids):
    return Person(person_id=person_id, tracklet_ids=tracklet_ids, start_frame=0, end_frame=6, start_time=0.0,
                  end_time=0.6, detection_count=2, mean_center=(0.0, 0.0), center_jitter=0.0, mean_area=1.0,
                  mean_confidence=0.5)  # fmt: skip


def test_persons_seen_in_one_frame_are_pairs_and_visits_apart_are_not():
    # tracklet 1 then 3 (one person who came back), tracklet 2 overlaps 1 only
    detections = _detections([(0, 1), (1, 1), (1, 2), (2, 2), (5, 3), (6, 3)])
    persons = [_person(0, (1, 3)), _person(1, (2,))]
    tracks = person_tracks(persons, detections)
    assert tracks[0].frame_numbers.tolist() == [0, 1, 5, 6]
    assert tracks[0].tracker_ids.tolist() == [1, 1, 3, 3]
    assert co_visible_pairs(tracks) == {(0, 1)}
    assert co_visible_tracklets(tracks) == {(1, 2)}
    assert co_visible_pairs(tracks[:1]) == set() and co_visible_tracklets([]) == set()

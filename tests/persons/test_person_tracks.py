import numpy as np

from streamreid.persons.person_tracks import (
    PersonTrack,
    co_visible_pairs,
    co_visible_tracklets,
    person_tracks,
    seen_together,
)
from streamreid.types import Person


def _detections(rows):
    """rows: (frame_index, tracker_id[, x]): a 40x100 box at x (default: 100 x the tracker id, each in its place)."""
    array = np.asarray([(*row, row[1] * 100)[:3] for row in rows], dtype=np.int64)
    count = len(array)
    x = array[:, 2].astype(np.float32)
    return {
        "frame_index": array[:, 0],
        "tracker_id": array[:, 1],
        "xyxy": np.stack([x, np.zeros(count), x + 40, np.full(count, 100)], axis=1).astype(np.float32),
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


def test_two_boxes_on_one_spot_are_not_evidence_of_two_people():
    # tracklet 2 restarts on tracklet 1's person before 1 ends (frames 1-2, same spot); 3 walks beside them at x=300
    detections = _detections([(0, 1, 0), (1, 1, 0), (2, 1, 2), (1, 2, 5), (2, 2, 4), (3, 2, 8), (2, 3, 300)])
    tracks = person_tracks([_person(0, (1,)), _person(1, (2,)), _person(2, (3,))], detections)
    assert co_visible_pairs(tracks) == {(0, 2), (1, 2)}
    assert co_visible_tracklets(tracks) == {(1, 3), (2, 3)}
    # people who cross stand apart in some other frame: still seen together
    crossing = _detections([(0, 1, 0), (0, 2, 200), (1, 1, 100), (1, 2, 105)])
    assert co_visible_pairs(person_tracks([_person(0, (1,)), _person(1, (2,))], crossing)) == {(0, 1)}
    assert seen_together(np.array([0, 0]), np.array([0, 1])) == {(0, 1)}  # without boxes: every shared frame


def test_a_faint_box_is_no_evidence_of_two_people():
    # tracklet 1's last box (frame 1) is a faint one handed over by ByteTrack, beside tracklet 2
    detections = _detections([(0, 1), (1, 1), (1, 2), (2, 2)])
    detections["confidence"][1] = 0.15
    tracks = person_tracks([_person(0, (1,)), _person(1, (2,))], detections)
    assert co_visible_pairs(tracks) == set() and co_visible_tracklets(tracks) == set()
    assert co_visible_pairs(tracks, min_confidence=0.1) == {(0, 1)}


def _seen(frames, boxes):
    return [
        PersonTrack(f, np.asarray(b, np.float32), np.ones(len(f), np.float32))
        for f, b in zip(frames, boxes, strict=True)
    ]


def test_people_apart_in_one_frame_are_different_but_one_human_tracked_twice_is_not():
    frames = [np.array([0, 1, 2]), np.array([1, 2]), np.array([2, 3]), np.array([5])]
    boxes = [
        np.array([[0, 0, 10, 20], [0, 0, 10, 20], [0, 0, 10, 20]]),
        np.array([[1, 0, 11, 20], [50, 0, 60, 20]]),  # on top of person 0 in frame 1, apart in frame 2
        np.array([[0, 1, 10, 21], [0, 0, 10, 20]]),  # on top of person 0 whenever both are seen: a double track
        np.array([[0, 0, 10, 20]]),
    ]
    assert co_visible_pairs(_seen(frames, boxes)) == {(0, 1), (1, 2)}
    assert co_visible_pairs(_seen(frames[:1], boxes[:1])) == set()


def test_a_pair_counts_only_in_frames_where_none_of_its_boxes_share_a_place():
    # person 0 has two boxes in frame 0 (two of its tracklets overlap): one on person 1's spot, one far away
    frames, owners = np.array([0, 0, 0]), np.array([0, 0, 1])
    boxes = np.array([[0, 0, 10, 20], [200, 0, 210, 20], [1, 0, 11, 20]], dtype=np.float32)
    assert seen_together(frames, owners, boxes) == set()
    # in frame 1 they stand apart: seen together after all
    later = np.array([[0, 0, 10, 20], [300, 0, 310, 20]], dtype=np.float32)
    assert seen_together(np.r_[frames, 1, 1], np.r_[owners, 0, 1], np.r_[boxes, later]) == {(0, 1)}
    assert seen_together(np.zeros(0, int), np.zeros(0, int), np.zeros((0, 4))) == set()


def test_people_apart_for_several_frames_are_seen_together_even_when_one_is_faint():
    # issue 20 item 5 (the sample's pair 52/53): tracklet 1 ends with three faint boxes at its own spot while
    # tracklet 2, firm, stands 60 px away: two people, never one who left and came back
    detections = _detections([(0, 1), (1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (3, 2), (4, 2)])
    detections["confidence"][1:4] = 0.16
    tracks = person_tracks([_person(0, (1,)), _person(1, (2,))], detections)
    assert co_visible_pairs(tracks) == {(0, 1)} and co_visible_tracklets(tracks) == {(1, 2)}
    # one such frame is no evidence (a handed-over faint box); two are
    assert seen_together(np.array([1, 1]), np.array([0, 1]), confidences=np.array([0.16, 0.5])) == set()
    assert seen_together(np.array([1, 1, 2, 2]), np.array([0, 1, 0, 1]), confidences=np.full(4, 0.16)) == {(0, 1)}
    assert seen_together(np.array([1, 1, 2, 2]), np.array([0, 1, 0, 1]), confidences=np.full(4, 0.16),
                         faint_frames=3) == set()  # fmt: skip


def test_filled_rows_are_no_evidence_of_being_seen_together():
    frames = np.array([0, 0, 1, 1, 2, 2])
    owners = np.array([1, 2, 1, 2, 1, 2])
    boxes = np.array([[0, 0, 10, 20], [50, 0, 60, 20]] * 3, dtype=np.float32)
    filled = np.array([-1.0, 0.9, -1.0, 0.9, -1.0, 0.9])  # tracklet 1 only interpolated on these frames
    assert seen_together(frames, owners, boxes, filled) == set()
    assert seen_together(frames, owners, boxes, np.abs(filled)) == {(1, 2)}

import numpy as np
import pytest
from tracklet_records import CONFIG, box, walk

from streamreid.persons.gap_fill import fill_person_gaps, space_time_links
from streamreid.persons.grouping import group_tracklets
from streamreid.persons.person_tracks import PersonTrack
from streamreid.stream.filling import FILLED_CONFIDENCE


def _track(pieces):
    """One person's rows: ``pieces`` is ``[(tracker_id, frames, x_at(frame))]``, boxes 100 x 240 at y 400."""
    frames, boxes, ids = [], [], []
    for tid, span, x_at in pieces:
        for frame in span:
            frames.append(frame)
            boxes.append(box(x_at(frame), 400.0))
            ids.append(tid)
    count = len(frames)
    return PersonTrack(np.array(frames, np.int64), np.array(boxes, np.float32), np.full(count, 0.9, np.float32),
                       np.array(ids, np.int64))  # fmt: skip


def _hidden_for_a_moment():
    """Tracklet 1 walks right on frames 10-12 (x 100, 110, 120), is hidden, tracklet 2 goes on from frame 16 (x 160)."""
    return _track([(1, range(10, 13), lambda f: 10.0 * f), (2, range(16, 19), lambda f: 10.0 * f)])


def _gap_rows(track):
    filled = track.confidences == FILLED_CONFIDENCE
    return track.frame_numbers[filled].tolist(), track.bboxes[filled], track.tracker_ids[filled].tolist()


def test_the_frames_between_two_linked_tracklets_get_boxes_on_the_line_between_them():
    (filled,) = fill_person_gaps([_hidden_for_a_moment()], {(1, 2)}, max_gap=30)
    frames, boxes, owners = _gap_rows(filled)
    assert frames == [13, 14, 15] and owners == [1, 1, 1]
    np.testing.assert_allclose(boxes, [box(130.0, 400.0), box(140.0, 400.0), box(150.0, 400.0)], atol=1e-3)
    assert filled.frame_numbers.tolist() == list(range(10, 19))  # in frame order, among the detections
    assert filled.confidences[filled.confidences != FILLED_CONFIDENCE].tolist() == pytest.approx([0.9] * 6)


def test_with_a_source_stride_only_the_processed_frames_are_filled():
    track = _track([(1, range(10, 13, 2), lambda f: 10.0 * f), (2, range(18, 21, 2), lambda f: 10.0 * f)])
    (filled,) = fill_person_gaps([track], {(1, 2)}, max_gap=30, frame_step=2)
    frames, boxes, _ = _gap_rows(filled)
    assert frames == [14, 16]
    np.testing.assert_allclose(boxes, [box(140.0, 400.0), box(160.0, 400.0)], atol=1e-3)


def test_no_gap_is_filled_across_a_shot_cut():
    for cut in (13, 14, 16):  # the later tracklet starting the next shot is across the cut too
        (across,) = fill_person_gaps([_hidden_for_a_moment()], {(1, 2)}, max_gap=30, shot_cuts=[5, cut, 40])
        assert _gap_rows(across)[0] == []
    (elsewhere,) = fill_person_gaps([_hidden_for_a_moment()], {(1, 2)}, max_gap=30, shot_cuts=[5, 17, 40])
    assert _gap_rows(elsewhere)[0] == [13, 14, 15]


def test_no_gap_longer_than_the_grouping_limit_is_filled():
    (longer,) = fill_person_gaps([_hidden_for_a_moment()], {(1, 2)}, max_gap=3)
    (at_limit,) = fill_person_gaps([_hidden_for_a_moment()], {(1, 2)}, max_gap=4)  # frame 12 to 16
    assert _gap_rows(longer)[0] == []
    assert _gap_rows(at_limit)[0] == [13, 14, 15]


def test_only_tracklets_linked_by_position_are_filled_not_those_joined_by_appearance():
    earlier = walk(1, 0, 40, (200.0, 400.0), (2.0, 0.0))
    carried_on = walk(2, 46, 90, (292.0, 400.0), (2.0, 0.0))  # where 1 would be: linked by position
    elsewhere = walk(3, 46, 90, (1500.0, 400.0), (2.0, 0.0))  # across the frame: only appearance joins it
    by_position = group_tracklets([earlier, carried_on], config=CONFIG)
    by_appearance = group_tracklets([earlier, elsewhere], config=CONFIG, must_link=[(1, 3)])
    assert by_position.groups == ((1, 2),) and by_appearance.groups == ((1, 3),)
    assert space_time_links(by_position) == {(1, 2)} and space_time_links(by_appearance) == frozenset()

    def person(later):
        return _track([(1, range(0, 41), lambda f: 200.0 + 2 * f), (later, range(46, 91), lambda f: 200.0 + 2 * f)])

    (filled,) = fill_person_gaps([person(2)], space_time_links(by_position), max_gap=36)
    (left,) = fill_person_gaps([person(3)], space_time_links(by_appearance), max_gap=36)
    assert _gap_rows(filled)[0] == [41, 42, 43, 44, 45]
    assert _gap_rows(left)[0] == []


def test_near_also_fills_a_short_near_gap_that_appearance_linked_but_never_a_return_from_elsewhere():
    earlier = walk(1, 0, 40, (200.0, 400.0), (2.0, 0.0))
    carried_on = walk(2, 46, 90, (292.0, 400.0), (2.0, 0.0))
    elsewhere = walk(3, 46, 90, (1500.0, 400.0), (2.0, 0.0))
    joined_near = group_tracklets([earlier, carried_on], config=CONFIG, must_link=[(1, 2)])  # forced by ReID
    joined_far = group_tracklets([earlier, elsewhere], config=CONFIG, must_link=[(1, 3)])
    assert joined_near.forced == ((1, 2),)
    assert space_time_links(joined_near, mode="position") == frozenset()
    assert space_time_links(joined_near, mode="near") == {(1, 2)}
    assert space_time_links(joined_far, mode="near") == frozenset()
    assert space_time_links(group_tracklets([earlier, carried_on], config=CONFIG), mode="off") == frozenset()
    with pytest.raises(ValueError, match="fill mode"):
        space_time_links(joined_near, mode="all")


def test_a_track_without_a_linked_gap_is_returned_as_it_is():
    track = _hidden_for_a_moment()
    assert fill_person_gaps([track], {(2, 1), (1, 7)}, max_gap=30)[0] is track
    with pytest.raises(ValueError, match="tracker id"):
        fill_person_gaps([PersonTrack(track.frame_numbers, track.bboxes, track.confidences)], {(1, 2)}, max_gap=30)

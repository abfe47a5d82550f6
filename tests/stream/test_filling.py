"""A box on every frame of a track's life (streamreid/stream/filling.py), alone and in a run with a detection stride."""

import json

import numpy as np
import pytest
import supervision as sv
from synthetic import ScriptedDetector, scenario_reentry_crossing, write_video

from streamreid import evaluation
from streamreid.config import Config
from streamreid.pipeline import process
from streamreid.run.store_reader import open_store
from streamreid.stream.filling import FILLED_CONFIDENCE, BoxRows, GapFiller, interpolate_boxes, is_filled


def _tracked(ids, boxes, confidence=0.9):
    return sv.Detections(xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
                         confidence=np.full(len(ids), confidence, np.float32),
                         tracker_id=np.asarray(ids, int))  # fmt: skip


def _feed(filler, plan, *, last_frame):
    """Frames 0..last_frame; ``plan[i]`` = (ids, boxes) on detected frames. Returns every row released."""
    out = []
    for index in range(last_frame + 1):
        filler.frame(index, index / 10)
        if index in plan:
            out.append(filler.detected(index, index / 10, _tracked(*plan[index])))
    out.append(filler.finish())
    return BoxRows.concat(out)


def test_boxes_are_interpolated_linearly_in_time():
    boxes = interpolate_boxes((0.0, [0, 0, 10, 20]), (1.0, [10, 0, 20, 40]), [0.25, 0.5])
    np.testing.assert_allclose(boxes, [[2.5, 0, 12.5, 25], [5, 0, 15, 30]])
    assert interpolate_boxes((1.0, [0, 0, 1, 1]), (1.0, [5, 5, 6, 6]), [1.0]).tolist() == [[0, 0, 1, 1]]


def test_every_frame_between_two_detections_gets_a_filled_box_in_frame_order():
    plan = {0: ([0, 1], [[0, 0, 10, 10], [50, 0, 60, 10]]), 3: ([0, 1], [[3, 0, 13, 10], [50, 0, 60, 10]])}
    rows = _feed(GapFiller(), plan, last_frame=3)
    assert rows.frame_index.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert rows.tracker_id.tolist() == [0, 1] * 4
    assert rows.filled.tolist() == [False, False, True, True, True, True, False, False]
    assert np.all(rows.confidence[rows.filled] == FILLED_CONFIDENCE)
    np.testing.assert_allclose(rows.xyxy[rows.tracker_id == 0][:, 0], [0, 1, 2, 3])
    assert rows.time[2] == pytest.approx(0.1)


def test_rows_wait_for_a_lost_track_and_nothing_is_filled_after_a_track_ends():
    filler = GapFiller()
    released = []
    for index in range(7):
        filler.frame(index, float(index))
        if index in (0, 2, 4, 6):
            ids = [0, 1] if index in (0, 6) else [0]  # track 1 is lost on frames 2 and 4
            released.append(filler.detected(index, float(index), _tracked(ids, [[index, 0, index + 1, 1]] * len(ids))))
    assert [r.frame_index.max(initial=-1) for r in released] == [0, -1, -1, 6]  # held until track 1 came back
    everything = BoxRows.concat(released)
    assert sorted(everything.frame_index[everything.tracker_id == 1].tolist()) == list(range(7))
    assert np.all(np.diff(everything.frame_index) >= 0)

    filler = GapFiller()
    filler.frame(0, 0.0)
    first = filler.detected(0, 0.0, _tracked([5], [[0, 0, 1, 1]]))
    for index in (1, 2):
        filler.frame(index, float(index))
    assert first.frame_index.tolist() == [0]
    assert len(filler.end([5])) == len(filler.finish()) == 0


def test_the_filler_holds_only_the_pending_gap():
    filler = GapFiller()
    for index in range(0, 600):
        filler.frame(index, index / 25)
        if index % 2 == 0:
            filler.detected(index, index / 25, _tracked([0, 1], [[0, 0, 1, 1], [5, 5, 6, 6]]))
    assert len(filler._frames) <= 2 and sum(len(r) for r in filler._held) <= 2


def _tracked_with(ids, boxes, confidences):
    return sv.Detections(xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
                         confidence=np.asarray(confidences, np.float32), tracker_id=np.asarray(ids, int))  # fmt: skip


def _run(filler, plan, *, last_frame, ends=()):
    """Frames 0..last_frame; ``plan[i]`` = [(id, x, confidence)]; ``ends``: (frame, id) the tracker ends."""
    out = []
    for index in range(last_frame + 1):
        filler.frame(index, index / 10)
        if index in plan:
            ids, xs, confs = zip(*plan[index], strict=True)
            out.append(filler.detected(index, index / 10, _tracked_with(ids, [[x, 0, x + 10, 20] for x in xs], confs)))
        out.append(filler.end([t for f, t in ends if f == index]))
    out.append(filler.finish())
    return BoxRows.concat(out)


#: Track 0 firm on frames 0-4, then faint boxes on 6 and 8 (another person's, taken as its own was lost),
#: ended at frame 9; track 1 firm on every even frame throughout.
_TAIL = {i: [(0, i, 0.9 if i <= 4 else 0.15), (1, 100, 0.9)] for i in range(0, 9, 2)} | {10: [(1, 100, 0.9)]}


def test_a_faint_tail_is_dropped_when_the_track_ends():
    rows = _run(GapFiller(firm=0.25, max_faint_seconds=1.0), _TAIL, last_frame=10, ends=[(9, 0)])
    assert rows.frame_index[rows.tracker_id == 0].tolist() == [0, 1, 2, 3, 4]  # ends at its last firm box
    assert rows.frame_index[rows.tracker_id == 1].tolist() == list(range(11))  # the others untouched
    assert np.all(np.diff(rows.frame_index) >= 0), "rows in frame order"
    untrimmed = _run(GapFiller(), _TAIL, last_frame=10, ends=[(9, 0)])
    assert untrimmed.frame_index[untrimmed.tracker_id == 0].tolist() == list(range(9))  # before: the tail kept


def test_a_faint_run_that_a_firm_box_follows_or_that_lasts_is_the_person():
    confirmed = _TAIL | {10: [(0, 10, 0.9), (1, 100, 0.9)]}
    rows = _run(GapFiller(firm=0.25, max_faint_seconds=1.0), confirmed, last_frame=10)
    assert rows.frame_index[rows.tracker_id == 0].tolist() == list(range(11))
    assert np.all(np.diff(rows.frame_index) >= 0)
    lasting = {i: [(0, i, 0.9 if i <= 4 else 0.15)] for i in range(0, 21, 2)}  # 1.6 s faint, then the track ends
    rows = _run(GapFiller(firm=0.25, max_faint_seconds=1.0), lasting, last_frame=21, ends=[(21, 0)])
    assert rows.frame_index.tolist() == list(range(21))
    short = {i: boxes for i, boxes in lasting.items() if i <= 14}  # 0.8 s of faint boxes (6-14): a tail
    rows = _run(GapFiller(firm=0.25, max_faint_seconds=1.0), short, last_frame=21, ends=[(21, 0)])
    assert rows.frame_index.max() == 4


def test_trimmed_ends_end_a_tracklet_at_its_last_stored_detection():
    from streamreid.stream.filling import trimmed_ends
    from streamreid.types import TrackletStats

    def stats(tid, start, end):
        return TrackletStats(tracker_id=tid, start_frame=start, end_frame=end, start_time=start / 10,
                             end_time=end / 10, duration=end - start + 1, detection_count=end - start + 1,
                             mean_center=(5.0, 10.0), center_jitter=0.0, mean_area=200.0, area_variance=0.0,
                             mean_velocity=(1.0, 0.0), velocity_magnitude=1.0, first_bbox=(0, 0, 10, 20),
                             last_bbox=(8, 0, 18, 20), mean_confidence=0.5)  # fmt: skip

    rows = _run(GapFiller(firm=0.25, max_faint_seconds=1.0), _TAIL, last_frame=10, ends=[(9, 0)])
    columns = {"frame_index": rows.frame_index, "time": rows.time, "tracker_id": rows.tracker_id, "xyxy": rows.xyxy,
               "confidence": rows.confidence}  # fmt: skip
    zero, one, gone = trimmed_ends([stats(0, 0, 8), stats(1, 0, 10), stats(7, 3, 5)], columns)
    assert (zero.end_frame, zero.end_time, zero.last_bbox, zero.duration) == (4, pytest.approx(0.4), (4, 0, 14, 20), 5)
    assert one == stats(1, 0, 10) and gone == stats(7, 3, 5)


def test_is_filled_reads_the_confidence():
    assert is_filled(np.array([0.5, -1.0, np.nan])).tolist() == [False, True, False]


@pytest.fixture(scope="module")
def scenario():
    return scenario_reentry_crossing()


@pytest.fixture(scope="module")
def video(scenario, tmp_path_factory):
    return write_video(scenario, tmp_path_factory.mktemp("video") / "scene.mp4")


@pytest.mark.parametrize("stride", [2, 3])
def test_with_a_detection_stride_every_frame_of_a_track_has_a_box(scenario, video, tmp_path, stride):
    config = Config().with_overrides({"detector.detect_stride": stride, "reid.enabled": False,
                                      "report.enabled": False})  # fmt: skip
    result = process(str(video), out_dir=tmp_path / "r", config=config, detector=ScriptedDetector(scenario),
                     progress=False)  # fmt: skip
    rows = evaluation.read_mot(tmp_path / "r" / "tracks.mot.txt", visible_only=False)
    coverage = evaluation.box_coverage(rows)
    assert coverage and min(coverage.values()) >= 0.98
    filled = rows[:, 6] == FILLED_CONFIDENCE
    assert np.all((rows[~filled, 0] - 1) % stride == 0)  # real detections only on the detected frames
    assert filled.sum() > 0 and (~filled).sum() == result.detections
    assert np.all(np.diff(rows[:, 0]) >= 0), "rows in frame order"

    store = open_store(tmp_path / "r" / "store.zarr").detections()
    assert len(store["frame_index"]) == len(rows)
    stats = json.loads((tmp_path / "r" / "tracklet_stats.json").read_text())["tracklets"]
    assert sum(s["detection_count"] for s in stats) == result.detections  # filled boxes are no detections

    persons = json.loads((tmp_path / "r" / "canonical_persons.json").read_text())["persons"]
    life = {s["tracker_id"]: (s["start_frame"], s["end_frame"]) for s in stats}
    with np.load(tmp_path / "r" / "canonical_persons.npz") as npz:
        for person in persons:
            pid = person["person_id"]
            frames, flags = npz[f"frame_numbers_{pid}"], npz[f"filled_{pid}"]
            assert np.array_equal(flags, npz[f"confidences_{pid}"] == FILLED_CONFIDENCE) and flags.any()
            for tracklet in person["tracklet_ids"]:
                start, end = life[tracklet]
                assert set(range(start, end + 1)) <= set(frames.tolist())


def test_box_coverage_counts_the_frames_of_each_track_life():
    rows = np.array([[1, 7, 0, 0, 1, 1, 1, -1, -1, -1], [3, 7, 0, 0, 1, 1, 1, -1, -1, -1],
                     [2, 8, 0, 0, 1, 1, 1, -1, -1, -1]], float)  # fmt: skip
    assert evaluation.box_coverage(rows) == {7: pytest.approx(2 / 3), 8: 1.0}
    assert evaluation.box_coverage(rows, frame_step=2) == {7: 1.0, 8: 1.0}

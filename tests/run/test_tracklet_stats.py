"""A run's tracklet statistics read back: the final JSON, else the log a kill leaves plus the live checkpoint."""

import json

import numpy as np
import pytest
import supervision as sv

from streamreid import rundir
from streamreid.errors import StoreError
from streamreid.run.live_tracklets import write_checkpoint
from streamreid.run.tracklet_stats import load_tracklet_stats, read_stats_log
from streamreid.stream.stats import TrackletStatsAccumulator


def _stats(tracker_id, start=0, frames=5):
    accumulator = TrackletStatsAccumulator()
    for frame in range(start, start + frames):
        box = np.array([[10.0 + frame, 10.0, 50.0 + frame, 90.0]], dtype=np.float32)
        accumulator.update(frame, frame / 10, sv.Detections(xyxy=box, confidence=np.array([0.9], np.float32),
                                                            tracker_id=np.array([tracker_id])))  # fmt: skip
    return accumulator.finish(tracker_id)


def test_the_final_json_wins_over_the_log(tmp_path):
    rundir.write_json(tmp_path / rundir.TRACKLET_STATS, {"tracklets": [_stats(4).to_dict()]})
    (tmp_path / rundir.TRACKLET_STATS_LOG).write_text(json.dumps(_stats(9).to_dict()) + "\n")
    assert [s.tracker_id for s in load_tracklet_stats(tmp_path)] == [4]


def test_a_killed_run_has_its_log_and_the_tracklets_still_on_screen_in_start_order(tmp_path):
    log = [_stats(5, start=10), _stats(2, start=0)]
    (tmp_path / rundir.TRACKLET_STATS_LOG).write_text("".join(json.dumps(s.to_dict()) + "\n" for s in log))
    write_checkpoint(tmp_path, [_stats(5, start=10), _stats(8, start=3)], {}, crop_shape=(8, 4))
    assert [s.tracker_id for s in load_tracklet_stats(tmp_path)] == [2, 8, 5]


def test_a_run_without_any_statistics_is_an_error(tmp_path):
    with pytest.raises(StoreError, match="its persons cannot be computed"):
        load_tracklet_stats(tmp_path)


def test_the_stats_log_is_read_up_to_a_line_cut_by_a_kill(tmp_path):
    lines = [json.dumps(_stats(t).to_dict()) for t in (1, 2, 3)]
    path = tmp_path / "tracklet_stats.jsonl"
    path.write_text(lines[0] + "\n" + lines[1] + "\n" + lines[2][:40], encoding="utf-8")
    assert [s.tracker_id for s in read_stats_log(path)] == [1, 2]
    assert read_stats_log(tmp_path / "missing.jsonl") == []

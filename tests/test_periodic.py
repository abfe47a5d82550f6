"""Periodic results of a live run: when they are due, what run.json says of them, a failed one not ending the run."""

import logging
import time

import pytest

from streamreid import rundir
from streamreid.config import Config
from streamreid.periodic import LIVE_EVERY_S, PeriodicResults, Progress, read_persons, refresh_interval
from streamreid.types import VideoInfo

INFO = VideoInfo(source="rtsp://cam/live", width=64, height=48, fps=25.0, is_live=True)


@pytest.mark.parametrize(
    ("every_s", "is_live", "expected"),
    [(None, True, LIVE_EVERY_S), (None, False, None), (0, True, None), (0, False, None), (5, False, 5.0)],
)
def test_refresh_interval(every_s, is_live, expected):
    assert refresh_interval(every_s, is_live=is_live) == expected


def test_never_due_without_an_interval_and_due_once_it_passed(tmp_path):
    assert not PeriodicResults(tmp_path, config=Config(), info=INFO, every_s=None).due()
    periodic = PeriodicResults(tmp_path, config=Config(), info=INFO, every_s=0.05)
    assert not periodic.due()
    time.sleep(0.06)
    assert periodic.due()


def test_run_json_says_how_recent_the_results_are(tmp_path):
    rundir.write_json(tmp_path / rundir.RUN_JSON, {"video": {"width": 64, "height": 48}, "counts": {"persons": 2}})
    periodic = PeriodicResults(tmp_path, config=Config(), info=INFO, every_s=30.0)
    periodic._record("2026-01-01T00:00:00+00:00", Progress(100, 50, 25, 4.0004, {"latency_s": 0.2}))
    meta = rundir.read_json(tmp_path / rundir.RUN_JSON)
    assert meta["status"] == "running"
    assert meta["counts"] == {"persons": 2, "frames_decoded": 100, "frames_processed": 50, "frames_detected": 25,
                              "seconds_of_video": 4.0}  # fmt: skip
    assert meta["live"] == {"as_of": "2026-01-01T00:00:00+00:00", "seconds_of_video": 4.0, "latency_s": 0.2,
                            "every_s": 30.0, "refreshes": 0, "seconds_last": None, "seconds_max": None}  # fmt: skip


def test_a_failed_refresh_is_a_warning_and_is_not_counted(tmp_path, caplog):
    periodic = PeriodicResults(tmp_path / "gone", config=Config(), info=INFO, every_s=1.0)
    with caplog.at_level(logging.WARNING, logger="streamreid"):
        periodic.start(finished=[], live=[], crops={}, progress=Progress(1, 1, 1, 0.04))
        periodic.wait()
    assert periodic.refreshes == 0 and not periodic.busy
    assert "periodic results failed (the run goes on)" in caplog.text


def test_read_persons_in_id_order_and_none_before_the_first_analysis(tmp_path):
    assert read_persons(tmp_path) == ()
    person = {"tracklet_ids": [4], "start_frame": 0, "end_frame": 9, "start_time": 0.0, "end_time": 0.36,
              "detection_count": 10, "mean_center": [1.0, 2.0], "center_jitter": 0.5, "mean_area": 10.0,
              "mean_confidence": 0.9, "rank": 1, "num_tracklets_merged": 1}  # fmt: skip
    persons = [{**person, "person_id": 1}, {**person, "person_id": 0, "tracklet_ids": [2, 3]}]
    rundir.write_json(tmp_path / rundir.CANONICAL_PERSONS, {"persons": persons})
    read = read_persons(tmp_path)
    assert [p.person_id for p in read] == [0, 1]
    assert read[0].tracklet_ids == (2, 3) and read[0].mean_center == (1.0, 2.0)

"""An edited video (two scenes, hard cuts): no track crosses a cut, no space-time link joins two shots."""

import json

import numpy as np
import pytest
from synthetic import ScriptedDetector, scenario_two_scenes_edited, write_video

from streamreid.config import Config
from streamreid.pipeline import process


@pytest.fixture(scope="module")
def edited():
    return scenario_two_scenes_edited()


@pytest.fixture(scope="module")
def video(edited, tmp_path_factory):
    return write_video(edited, tmp_path_factory.mktemp("video") / "edited.mp4")


def _run(edited, video, out, **overrides):
    config = Config().with_overrides({"reid.enabled": False, "report.enabled": False, **overrides})
    process(str(video), out_dir=out, config=config, detector=ScriptedDetector(edited), progress=False)
    stats = json.loads((out / "tracklet_stats.json").read_text())["tracklets"]
    persons = json.loads((out / "canonical_persons.json").read_text())["persons"]
    return json.loads((out / "run.json").read_text()), stats, persons


def _across(stats, cuts):
    return [s["tracker_id"] for s in stats if any(s["start_frame"] < c <= s["end_frame"] for c in cuts)]


def _shots(frame, cuts):
    return int(np.searchsorted(cuts, frame, side="right"))


@pytest.mark.parametrize("stride", [1, 2])
def test_no_tracklet_and_no_space_time_link_crosses_a_cut(edited, video, tmp_path, stride):
    meta, stats, persons = _run(edited, video, tmp_path / "r", **{"detector.detect_stride": stride})
    cuts = list(edited.cuts)
    assert meta["shot_cuts"] == [{"frame": c, "time": pytest.approx(c / edited.fps, abs=1e-3)} for c in cuts]
    assert stats and _across(stats, cuts) == []
    shot_of = {s["tracker_id"]: _shots(s["start_frame"], cuts) for s in stats}
    for person in persons:  # without ReID only position and timing link tracklets: never across a cut
        assert len({shot_of[t] for t in person["tracklet_ids"]}) == 1, person
    mot = np.loadtxt(tmp_path / "r" / "tracks.mot.txt", delimiter=",", ndmin=2)
    for track in np.unique(mot[:, 1]):
        assert len({_shots(f - 1, cuts) for f in mot[mot[:, 1] == track, 0]}) == 1  # filled boxes too


def test_without_cut_detection_the_same_video_is_bridged(edited, video, tmp_path):
    """The control: the scene is built so that a tracker not told about the cuts hands tracks over."""
    meta, stats, persons = _run(edited, video, tmp_path / "r", **{"tracker.shot_cuts": False})
    cuts = list(edited.cuts)
    assert meta["shot_cuts"] == []
    assert _across(stats, cuts)


def test_a_live_refresh_records_the_cuts_so_far(tmp_path):
    from streamreid import rundir
    from streamreid.periodic import PeriodicResults, Progress
    from streamreid.types import VideoInfo

    rundir.write_json(tmp_path / rundir.RUN_JSON, {"status": "running"})
    info = VideoInfo(source="cam", width=64, height=48, fps=25.0, frame_count=None, duration=None, is_live=True)
    periodic = PeriodicResults(tmp_path, config=Config(), info=info, every_s=None)
    periodic._record("now", Progress(10, 10, 5, 0.4, {}, ({"frame": 7, "time": 0.28},)))
    assert rundir.read_json(tmp_path / rundir.RUN_JSON)["shot_cuts"] == [{"frame": 7, "time": 0.28}]


def test_a_restarted_tracker_ends_every_track_and_numbers_on():
    import supervision as sv

    from streamreid.config import TrackerConfig
    from streamreid.stream.track import PersonTracker

    tracker = PersonTracker(fps=25.0, config=TrackerConfig())
    person = sv.Detections(xyxy=np.array([[10, 10, 50, 100]], np.float32), confidence=np.array([0.9], np.float32),
                           class_id=np.array([0]))  # fmt: skip
    for index in range(3):
        tracked, _ = tracker.update(person, time=index / 25)
    assert tracked.tracker_id.tolist() == [0]
    assert tracker.restart() == [0]
    for index in range(3, 6):  # the same box right after the cut: a new track, not the old one
        tracked, ended = tracker.update(person, time=index / 25)
        assert ended == []
    assert tracked.tracker_id.tolist() == [1]

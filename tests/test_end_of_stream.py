"""The end of the stream over a run directory: persons as decided, stale similarities gone, the report last."""

import dataclasses

import pytest
from fake_run import build_fake_run
from synthetic import Actor, ScriptedDetector, scenario_reentry_crossing, write_video

from streamreid import rundir
from streamreid.config import Config, load_config
from streamreid.end_of_stream import analyse
from streamreid.pipeline import process
from streamreid.run.timings import StageClock


@pytest.fixture
def fake(tmp_path):
    return build_fake_run(tmp_path / "run", num_persons=3, with_webps=False, embedding_dim=16)


def _persons(run_dir):
    return [tuple(p["tracklet_ids"]) for p in rundir.read_json(run_dir / rundir.CANONICAL_PERSONS)["persons"]]


def test_given_groups_are_the_persons_as_they_are(fake):
    ids = [t for p in fake.persons for t in p.tracklet_ids]
    groups = [ids[:2], ids[2:]]
    clock = StageClock()
    config = load_config(None, {"reid.enabled": False, "report.enabled": False})
    analysis = analyse(fake.run_dir, config=config, groups=groups, clock=clock)
    assert (analysis.persons, analysis.embedder, analysis.report) == (2, None, None)
    assert sorted(_persons(fake.run_dir)) == sorted(tuple(g) for g in groups)
    assert "grouping" in clock.seconds and "reid" not in clock.seconds


def test_similarities_of_an_older_analysis_that_this_one_did_not_redo_are_removed(fake):
    assert (fake.run_dir / rundir.SIMILARITY).exists()
    analyse(fake.run_dir, config=load_config(None, {"reid.enabled": False, "report.enabled": False}))
    assert not (fake.run_dir / rundir.SIMILARITY).exists()
    assert not (fake.run_dir / rundir.MERGE_RECOMMENDATIONS).exists()
    assert (fake.run_dir / rundir.CANONICAL_PERSONS).exists()


def test_the_report_is_written_with_an_animation_per_person(fake):
    config = load_config(None, {"reid.enabled": False})
    analysis = analyse(fake.run_dir, config=config)
    assert analysis.report == fake.run_dir / rundir.REPORT and analysis.report.is_file()
    webps = sorted(p.name for p in (fake.run_dir / rundir.WEBP_DIR).glob("person_*.webp"))
    assert webps == [f"person_{i}.webp" for i in range(analysis.persons)]


def test_the_auto_merge_note_counts_the_persons_after_the_merges_before_brief_ones_go(tmp_path):
    """Five people, one of them back after leaving (one merge), and a passer-by seen for 0.32 s.

    Six persons are merged into five by appearance; the passer-by then goes as too brief, leaving four.
    The note is about the merges, so it says five, not four.
    """
    passer = Actor(identity=9, top_bgr=(230, 230, 60), bottom_bgr=(20, 20, 20), width=44, height=100,
                   keyframes=((40, 80.0, 300.0), (48, 90.0, 300.0)), visible=((40, 48),))  # fmt: skip
    scene = scenario_reentry_crossing()
    scene = dataclasses.replace(scene, actors=(*scene.actors, passer))
    video = write_video(scene, tmp_path / "scene.mp4")
    config = Config().with_overrides({"reid.embedder": "fallback", "report.enabled": False,
                                      "detector.detect_stride": 1})  # fmt: skip
    result = process(str(video), out_dir=tmp_path / "run", config=config, detector=ScriptedDetector(scene),
                     progress=False)  # fmt: skip
    notes = rundir.read_json(result.run_dir / rundir.RUN_JSON)["notes"]
    assert result.persons == 4 and result.brief_tracklets == 1
    assert "auto-merge joined 6 persons into 5 by appearance" in notes


@pytest.mark.parametrize(("mode", "gap"), [("near", [41, 42, 43, 44, 45]), ("off", [])])
def test_the_persons_rows_fill_the_gap_between_two_tracklets_linked_by_position(mode, gap):
    """Issue 19: one walker lost for 5 frames behind someone; the person's rows (canonical_persons.npz) fill them."""
    import numpy as np
    from tracklet_records import box, walk

    from streamreid.end_of_stream import _find_persons
    from streamreid.persons.working_set import WorkingSet
    from streamreid.types import VideoInfo

    frames = np.r_[0:41, 46:91]
    boxes = np.array([box(200.0 + 2 * f, 400.0, width=100.8) for f in frames], np.float32)
    detections = {"frame_index": frames, "time": frames / 30.0, "tracker_id": np.where(frames < 41, 1, 2),
                  "xyxy": boxes, "confidence": np.full(len(frames), 0.9, np.float32)}  # fmt: skip
    walks = (walk(1, 0, 40, (200.0, 400.0), (2.0, 0.0)), walk(2, 46, 90, (292.0, 400.0), (2.0, 0.0)))
    work = WorkingSet(tracklets=walks, detections=detections, info=VideoInfo("v.mp4", 1920, 1080, fps=30.0),
                      frames_detected=86)  # fmt: skip
    config = Config().with_overrides({"grouping.fill_person_gaps": mode})
    (track,) = _find_persons(work, config=config, clock=StageClock()).tracks
    filled = track.confidences == -1
    assert track.frame_numbers[filled].tolist() == gap
    assert len(track) == 86 + len(gap) and (np.diff(track.frame_numbers) > 0).all()

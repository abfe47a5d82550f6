"""A person needs enough confident evidence (issue 19): persons seen firmly for a blink are left out."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import Actor, Scenario, ScriptedDetector, write_video

from streamreid import rundir
from streamreid.config import Config
from streamreid.persons.evidence import enough_evidence, firm_seconds
from streamreid.pipeline import process


def _rows():
    # tracklet 1: firm boxes at 0.0 and 0.4 s, then faint (0.2) and filled (-1) ones later on
    # tracklet 2: firm at 1.0 and 1.3 s; tracklet 3: faint only
    times = np.array([0.0, 0.4, 0.9, 1.5, 1.0, 1.3, 2.0, 2.5])
    owners = np.array([1, 1, 1, 1, 2, 2, 3, 3])
    confidences = np.array([0.9, 0.3, 0.2, -1.0, 0.8, 0.7, 0.2, 0.1])
    return times, owners, confidences


def test_firm_seconds_spans_the_firm_boxes_of_the_whole_person():
    times, owners, confidences = _rows()
    spans = firm_seconds([(1,), (2,), (3,), (1, 2)], times, owners, confidences, firm=0.25)
    assert spans == pytest.approx([0.4, 0.3, 0.0, 1.3])  # faint and filled boxes count for nothing


def test_brief_persons_are_left_out_and_zero_keeps_everyone():
    times, owners, confidences = _rows()
    groups = [(1,), (2,), (3,), (1, 2)]
    assert enough_evidence(groups, times, owners, confidences, firm=0.25, min_seconds=0.35) == [(1,), (1, 2)]
    assert enough_evidence(groups, times, owners, confidences, firm=0.25, min_seconds=0.0) == groups


def _scene() -> Scenario:
    """A walker crossing the picture in 3 s, and a passer-by in view for 0.24 s (6 frames at 25 fps)."""
    walker = Actor(identity=0, top_bgr=(40, 40, 205), bottom_bgr=(130, 60, 20), width=40, height=100,
                   keyframes=((0, 40.0, 180.0), (74, 280.0, 180.0)), visible=((0, 75),))  # fmt: skip
    passer = Actor(identity=1, top_bgr=(60, 175, 60), bottom_bgr=(35, 35, 35), width=40, height=100,
                   keyframes=((30, 280.0, 120.0), (36, 270.0, 120.0)), visible=((30, 36),))  # fmt: skip
    return Scenario(width=320, height=240, fps=25.0, num_frames=75, actors=(walker, passer))


def _blink_run(tmp_path, seconds: float):
    """The walker and the passer-by, processed with ``grouping.min_person_seconds`` = ``seconds``."""
    scene = _scene()
    video = write_video(scene, tmp_path / "blink.mp4")
    config = Config().with_overrides({"reid.embedder": "fallback", "report.enabled": False,
                                      "detector.detect_stride": 1, "grouping.min_person_seconds": seconds})  # fmt: skip
    result = process(str(video), out_dir=tmp_path / "run", config=config, detector=ScriptedDetector(scene),
                     progress=False)  # fmt: skip
    return result


@pytest.mark.parametrize(("seconds", "persons"), [(0.0, 2), (0.5, 1)])
def test_a_passer_by_seen_for_a_blink_is_no_person(tmp_path, seconds, persons):
    """With the rule off the 0.24 s passer-by is a person of its own; by default only the walker is."""
    result = _blink_run(tmp_path, seconds)
    found = rundir.read_json(result.run_dir / rundir.CANONICAL_PERSONS)["persons"]
    assert len(found) == persons
    assert Config().grouping.min_person_seconds == 0.5


@pytest.mark.parametrize(("seconds", "brief"), [(0.0, 0), (0.5, 1)])
def test_the_counts_say_which_tracklets_went_with_brief_persons(tmp_path, seconds, brief):
    """The summary, run.json and the persons agree: tracked = in persons + too short + of brief persons."""
    result = _blink_run(tmp_path, seconds)
    persons = rundir.read_json(result.run_dir / rundir.CANONICAL_PERSONS)["persons"]
    counts = rundir.read_json(result.run_dir / rundir.RUN_JSON)["counts"]
    in_persons = sum(len(p["tracklet_ids"]) for p in persons)
    assert result.brief_tracklets == counts["brief_tracklets"] == brief
    assert result.tracklets == counts["tracklets"] == in_persons + result.short_tracklets + brief

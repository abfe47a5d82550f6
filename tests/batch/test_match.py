"""Cross-video matching: the pure decisions (streamreid.batch.match) and reading runs (streamreid.batch.crossvideo)."""

import json

import numpy as np
import pytest
from fake_run import build_fake_run

from streamreid.batch.crossvideo import match_runs
from streamreid.batch.match import (
    VideoPersons,
    accept_matches,
    calibrate_pair,
    match_confidence,
    match_videos,
)
from streamreid.cli import main
from streamreid.config import Config
from streamreid.decide.calibration import RuleOptions
from streamreid.errors import StoreError


def _people(identities, *, seed, noise=0.35, crops=6, dim=64):
    """Crop features of persons whose identity is an index into shared random 'looks'."""
    looks = np.random.default_rng(123).normal(size=(20, dim))
    rng = np.random.default_rng(seed)
    features = []
    for identity in identities:
        rows = looks[identity] + noise * rng.normal(size=(crops, dim))
        features.append((rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32))
    return tuple(features)


def _video(name, identities, different, *, seed, noise=0.35, tracklets=False):
    """Persons of the given identities; with ``tracklets``, each person's crops are one tracklet in time order."""
    features = _people(identities, seed=seed, noise=noise)
    extra = {}
    if tracklets:
        extra = {"crop_tracklets": tuple(np.full(len(f), 100 * seed + i) for i, f in enumerate(features)),
                 "crop_frames": tuple(np.arange(len(f)) for f in features)}  # fmt: skip
    return VideoPersons(name=name, person_ids=tuple(range(len(identities))), features=features,
                        different=frozenset(different), **extra)  # fmt: skip


def test_a_person_is_one_human_only_once_in_the_other_video():
    # issue 20 item 10: one person of video b was matched with two persons of video a
    cross = np.array([[0.95, 0.90, 0.88], [0.20, 0.30, 0.10]])
    assert [(i, j) for i, j, _ in accept_matches(cross, 0.8)] == [(0, 0)]
    assert [(i, j) for i, j, _ in accept_matches(cross.T, 0.8)] == [(0, 0)]
    # most similar first: each takes its best partner still free
    cross = np.array([[0.90, 0.85], [0.88, 0.82], [np.nan, 0.99]])
    assert accept_matches(cross, 0.8) == [(2, 1, 0.99), (0, 0, 0.90)]


def test_threshold_is_calibrated_on_people_seen_together_in_either_video():
    a = _video("a", [0, 1, 2], {(0, 1), (0, 2), (1, 2)}, seed=1)
    b = _video("b", [3, 4], {(0, 1)}, seed=2)
    joint = np.eye(5)
    joint[0, 1] = joint[1, 0] = 0.2
    joint[0, 2] = joint[2, 0] = 0.3
    joint[1, 2] = joint[2, 1] = 0.4
    joint[3, 4] = joint[4, 3] = 0.9  # b's pair, offset by a's three persons
    calibration = calibrate_pair(joint, a, b, percentile=100.0, floor=0.6, fallback=0.7)
    assert calibration.null_pairs == 4 and calibration.threshold == pytest.approx(0.9)
    # people who look nothing alike: the floor holds
    assert calibrate_pair(joint, a, b, percentile=50.0, floor=0.6, fallback=0.7).threshold == 0.6
    lonely = _video("c", [5], set(), seed=3)
    assert calibrate_pair(np.eye(2), lonely, lonely, percentile=99.0, floor=0.6, fallback=0.7).threshold == 0.7


def test_match_videos_finds_the_shared_people_and_only_them():
    # video a: humans 0, 1, 2 together; video b: humans 1, 2 together, 5 alone later, and 0 again on a second visit
    a = _video("a", [0, 1, 2], {(0, 1), (0, 2), (1, 2)}, seed=1)
    b = _video("b", [1, 2, 5, 0], {(0, 1)}, seed=2)
    matches, calibration = match_videos(
        a, b, method="mean_embedding", top_k=5, percentile=95.0, floor=0.6, fallback=0.7
    )
    assert calibration.calibrated is not None
    assert sorted(m.persons for m in matches) == [(0, 3), (1, 0), (2, 1)]
    assert all(m.runs == ("a", "b") and 0.5 <= m.confidence <= 1.0 for m in matches)
    assert [m.similarity for m in matches] == sorted((m.similarity for m in matches), reverse=True)


def _all_pairs(count):
    return {(i, j) for i in range(count) for j in range(i + 1, count)}


def test_nothing_is_matched_where_the_embedder_cannot_separate_people():
    # issue 20 item 14: the fallback embedder on the black-and-white sample: everyone looks alike (similarity
    # 0.98+); within one video that is judged untrustworthy, and across videos the same judgement holds
    options = RuleOptions(min_pairs=8, min_auc=0.9)
    a = _video("a", [0, 1, 2, 3, 4], _all_pairs(5), seed=1, tracklets=True)
    b = _video("b", [3, 4, 5, 6, 7], _all_pairs(5), seed=2, tracklets=True)
    args = {"method": "mean_embedding", "top_k": 5, "percentile": 95.0, "floor": 0.6, "fallback": 0.7}
    matches, calibration = match_videos(a, b, **args, rule_options=options)
    assert calibration.trusted and calibration.rule.auc >= 0.9
    assert sorted(m.persons for m in matches) == [(3, 0), (4, 1)]
    # the same people, features drowned in noise: same-person stretches no longer outscore people seen together
    blurred = [_video(v.name, ids, _all_pairs(5), seed=s, noise=30.0, tracklets=True)
               for v, ids, s in ((a, [0, 1, 2, 3, 4], 1), (b, [3, 4, 5, 6, 7], 2))]  # fmt: skip
    matches, calibration = match_videos(*blurred, **args, rule_options=options)
    assert matches == [] and not calibration.trusted
    assert "cannot separate people in these two videos" in calibration.rule.reason
    assert calibration.rule.reason.endswith("no person matched across them")
    # too little evidence to judge (no tracklets known): the same
    matches, calibration = match_videos(_video("a", [0, 1], {(0, 1)}, seed=1), _video("b", [1], set(), seed=2),
                                        **args, rule_options=options)  # fmt: skip
    assert matches == [] and calibration.rule.reason.startswith("too few pairs to calibrate on these two videos")


def test_confidence_is_half_at_the_threshold_and_one_at_identity():
    assert match_confidence(0.8, 0.8) == 0.5
    assert match_confidence(1.0, 0.8) == 1.0
    assert match_confidence(0.9, 0.8) == pytest.approx(0.75)


def test_runs_with_different_embedders_are_refused_in_one_line(tmp_path, capsys):
    build_fake_run(tmp_path / "a", embedder_kind="osnet")
    build_fake_run(tmp_path / "b", embedder_kind="fallback", embedding_dim=114)
    with pytest.raises(StoreError, match="different embedders"):
        match_runs([tmp_path / "a", tmp_path / "b"], out_dir=tmp_path, config=Config())
    assert main(["match", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    error = capsys.readouterr().err
    assert (
        error.startswith("streamreid: error: cannot compare runs made with different embedders")
        and error.count("\n") == 1
    )


def test_match_command_writes_matches_and_index(tmp_path, capsys):
    build_fake_run(tmp_path / "a", seed=0, num_persons=6)
    build_fake_run(tmp_path / "b", seed=0, num_persons=6)  # the same people again
    assert main(["match", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    data = json.loads((tmp_path / "cross_video_matches.json").read_text())
    assert data["runs"] == [{"name": "a", "persons": 6}, {"name": "b", "persons": 6}]
    assert {tuple(m["persons"]) for m in data["matches"]} == {(i, i) for i in range(6)}  # one-to-one
    assert data["pairs"][0]["decision"]["trusted"] is True
    page = (tmp_path / "index.html").read_text()
    assert 'href="a/report.html"' in page or ">a<" in page
    assert 'src="a/webp/person_0.webp"' in page


def test_match_command_says_why_nothing_was_matched(tmp_path, capsys):
    # three persons a video: too few pairs to judge the embedder, so no match (as inside one video), and why
    build_fake_run(tmp_path / "a", seed=0)
    build_fake_run(tmp_path / "b", seed=0)
    assert main(["match", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    data = json.loads((tmp_path / "cross_video_matches.json").read_text())
    reason = data["pairs"][0]["decision"]["reason"]
    assert data["matches"] == [] and reason.startswith("too few pairs to calibrate on these two videos")
    assert data["notes"][0] == f"a and b: {reason}"
    assert "too few pairs to calibrate on these two videos" in (tmp_path / "index.html").read_text()

"""Cross-video matching: the pure decisions (streamreid.match) and reading runs (streamreid.crossvideo)."""

import json

import numpy as np
import pytest
from fake_run import build_fake_run

from streamreid.cli import main
from streamreid.config import Config
from streamreid.crossvideo import match_runs
from streamreid.errors import StoreError
from streamreid.match import (
    VideoPersons,
    accept_matches,
    calibrate_pair,
    match_confidence,
    match_videos,
)


def _people(identities, *, seed, noise=0.35, crops=6, dim=64):
    """Crop features of persons whose identity is an index into shared random 'looks'."""
    looks = np.random.default_rng(123).normal(size=(20, dim))
    rng = np.random.default_rng(seed)
    features = []
    for identity in identities:
        rows = looks[identity] + noise * rng.normal(size=(crops, dim))
        features.append((rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32))
    return tuple(features)


def _video(name, identities, different, *, seed):
    return VideoPersons(name=name, person_ids=tuple(range(len(identities))), features=_people(identities, seed=seed),
                        different=frozenset(different))  # fmt: skip


def test_one_human_cannot_be_two_people_seen_together():
    cross = np.array([[0.95, 0.90, 0.88], [0.20, 0.30, 0.10]])
    # in the second video, persons 0 and 1 stood side by side; person 2 is a later visit
    accepted = accept_matches(cross, 0.8, different_b=frozenset({(0, 1)}))
    assert [(i, j) for i, j, _ in accepted] == [(0, 0), (0, 2)]
    # without that knowledge all three pass
    assert len(accept_matches(cross, 0.8)) == 3
    # symmetric: two persons of the first video seen together cannot both be one person of the second
    accepted = accept_matches(cross.T, 0.8, different_a=frozenset({(0, 1)}))
    assert [(i, j) for i, j, _ in accepted] == [(0, 0), (2, 0)]


def test_matches_of_one_person_must_look_alike_in_their_own_video():
    cross = np.array([[0.95, 0.90]])
    alike = np.array([[1.0, 0.8], [0.8, 1.0]])
    unalike = np.array([[1.0, 0.3], [0.3, 1.0]])
    assert len(accept_matches(cross, 0.8, within_b=alike, floor=0.6)) == 2  # two visits of one human
    assert [(i, j) for i, j, _ in accept_matches(cross, 0.8, within_b=unalike, floor=0.6)] == [(0, 0)]


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
    build_fake_run(tmp_path / "a", seed=0)
    build_fake_run(tmp_path / "b", seed=0)  # the same people again
    assert main(["match", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    data = json.loads((tmp_path / "cross_video_matches.json").read_text())
    assert data["runs"] == [{"name": "a", "persons": 3}, {"name": "b", "persons": 3}]
    assert {tuple(m["persons"]) for m in data["matches"]} >= {(0, 0), (1, 1), (2, 2)}
    page = (tmp_path / "index.html").read_text()
    assert 'href="a/report.html"' in page or ">a<" in page
    assert 'src="a/webp/person_0.webp"' in page

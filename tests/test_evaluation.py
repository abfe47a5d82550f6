"""The ground-truth scoring helpers of benchmarks/identity.py, on hand-made tracks."""

import numpy as np
import pytest

from streamreid import evaluation


def rows(track_id, frames, x0, *, dx=5.0):
    return np.array([[f, track_id, x0 + dx * f, 100, 30, 80, 1, -1, -1, -1] for f in frames], dtype=float)


@pytest.fixture
def truth():
    # human 0 walks twice (gt tracks 1 and 3), human 1 once (gt track 2)
    return np.concatenate([rows(1, range(1, 21), 0), rows(2, range(1, 41), 300), rows(3, range(30, 41), 0)])


def test_a_perfect_run_scores_one_and_a_split_run_loses_idf1(truth):
    perfect = evaluation.mot_scores(truth, truth)
    assert perfect["IDF1"] == pytest.approx(1.0) and perfect["MOTA"] == pytest.approx(1.0)
    split = truth.copy()
    split[(split[:, 1] == 2) & (split[:, 0] > 20), 1] = 9  # our tracker broke human 1's track in two
    assert evaluation.mot_scores(truth, split)["IDF1"] < 0.9


def test_person_level_ids_join_the_visits_of_one_human(truth):
    humans = {1: 0, 3: 0, 2: 1}
    ours = truth.copy()  # our tracklets = the gt tracks; our persons join 1 and 3
    person_of = {1: 10, 3: 10, 2: 11}
    scores = evaluation.mot_scores(evaluation.relabel(truth, humans), evaluation.relabel(ours, person_of))
    assert scores["IDF1"] == pytest.approx(1.0)
    unjoined = evaluation.mot_scores(evaluation.relabel(truth, humans), ours)
    assert unjoined["IDF1"] < 1.0


def test_tracklet_truth_and_same_person_pairs(truth):
    ours = truth.copy()
    ours[:, 1] += 100
    assert evaluation.tracklet_truth(truth, ours) == {101: 1, 102: 2, 103: 3}
    humans = {101: 0, 103: 0, 102: 1}
    right = evaluation.same_person_pairs(humans, {101: 0, 103: 0, 102: 1})
    assert (right.precision, right.recall, right.predicted) == (1.0, 1.0, 1)
    wrong = evaluation.same_person_pairs(humans, {101: 0, 103: 1, 102: 1})
    assert (wrong.precision, wrong.recall) == (0.0, 0.0)


def test_box_tightness_measures_how_much_wider_our_boxes_are(truth):
    wide = truth.copy()
    wide[:, 2] -= 7.5
    wide[:, 4] *= 1.5
    scores = evaluation.box_tightness(truth, wide)
    assert scores["width_ratio"] == pytest.approx(1.5) and scores["height_ratio"] == pytest.approx(1.0)
    assert scores["recall"] == pytest.approx(1.0) and scores["precision"] == pytest.approx(1.0)


def test_top1_skips_excluded_pairs_and_unlabelled_items():
    similarity = np.array([[1, 0.9, 0.5, 0.1], [0.9, 1, 0.2, 0.3], [0.5, 0.2, 1, 0.0], [0.1, 0.3, 0.0, 1]])
    share, asked = evaluation.top1(similarity, [0, 1, 0, None])
    assert asked == 2 and share == 0.5  # item 0 picks 1 (wrong), item 2 picks 0 (right)
    share, asked = evaluation.top1(similarity, [0, 1, 0, None], excluded=[(0, 1)])
    assert asked == 2 and share == 1.0

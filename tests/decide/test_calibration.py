"""The per-video adaptation and the calibrated same-person decision, on synthetic features."""

import numpy as np
import pytest

from streamreid.decide.calibration import decide_persons, fit_rule, recommendations, roc_auc, split_half_similarities
from streamreid.reid.adaptation import learn_projection


def unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def scene(seed=0, *, people=8, visits=2, crops=12, dim=64, nuisance=3.0, signal=0.1, noise=0.3):
    """People with an identity vector, each seen in ``visits`` tracklets, under a strong nuisance.

    The nuisance (light, pose, the background behind a walker) lies in a few directions and changes
    from crop to crop; the identity is small. Plain cosine is dominated by the nuisance; a projection
    learned from the video (what varies within a tracklet is not identity) should find the identity.
    """
    rng = np.random.default_rng(seed)
    identity = rng.normal(size=(people, dim)) * signal
    nuisance_basis = unit(rng.normal(size=(3, dim)))
    features, tracklets, frames, owner = [], [], [], []
    tracklet = 0
    for visit in range(visits):
        for person in range(people):
            wobble = rng.normal(size=(crops, 3)) * nuisance
            crops_features = identity[person] + 1.0 + wobble @ nuisance_basis + noise * rng.normal(size=(crops, dim))
            features.append(unit(crops_features))
            tracklets.append(np.full(crops, tracklet))
            frames.append(visit * 1000 + np.arange(crops) * 5)
            owner.append(person)
            tracklet += 1
    # tracklets of one visit are on screen together: every pair within a visit is known different
    negatives = [
        (a, b)
        for v in range(visits)
        for a in range(v * people, (v + 1) * people)
        for b in range(a + 1, (v + 1) * people)
    ]
    return features, tracklets, frames, np.array(owner), negatives


def test_projection_separates_identity_from_nuisance():
    features, tracklets, _, owner, negatives = scene()
    raw = np.array([unit(f.mean(0)) for f in features])
    projection = learn_projection(np.concatenate(features), np.concatenate(tracklets), negative_pairs=negatives)
    adapted = np.array([unit(projection.apply(f).mean(0)) for f in features])
    same = owner[:, None] == owner[None]
    off = ~np.eye(len(owner), dtype=bool)
    auc_raw = roc_auc((raw @ raw.T)[same & off], (raw @ raw.T)[~same])
    auc_adapted = roc_auc((adapted @ adapted.T)[same & off], (adapted @ adapted.T)[~same])
    assert not projection.identity and projection.negatives == len(negatives)
    assert auc_adapted > auc_raw + 0.1
    assert auc_adapted > 0.95


def test_rule_is_trusted_only_with_enough_separating_pairs():
    rng = np.random.default_rng(1)
    pos, neg = rng.normal(0.8, 0.05, 40), rng.normal(0.3, 0.1, 200)
    rule = fit_rule(pos, neg)
    assert rule.trusted and rule.auc > 0.99
    assert np.percentile(neg, 98) < rule.merge_threshold <= neg.max()
    assert rule.recommend_threshold <= rule.merge_threshold
    # few pairs: not trusted, no thresholds
    few = fit_rule(pos[:3], neg)
    assert not few.trusted and few.merge_threshold is None and "too few" in few.reason
    # features that cannot tell people apart (a black-and-white film seen by colour histograms)
    same = fit_rule(rng.normal(0.99, 0.005, 50), rng.normal(0.99, 0.005, 500))
    assert not same.trusted and "cannot separate" in same.reason
    # with few negatives the percentile is not resolved: the highest negative is the bar
    small = fit_rule(pos, neg[:20])
    assert small.merge_threshold == pytest.approx(neg[:20].max())


def test_split_halves_compare_earlier_and_later_crops():
    a = unit(np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]]))
    values = split_half_similarities([a, a[:3]], [np.array([0, 1, 2, 3]), np.array([0, 1, 2])])
    assert len(values) == 1 and values[0] < 0.3  # the tracklet changed appearance half-way


def test_recommendations_are_mutual_best_above_the_bar_and_never_seen_together():
    similarity = np.array([[1, 0.8, 0.7, 0.1], [0.8, 1, 0.75, 0.2], [0.7, 0.75, 1, 0.1], [0.1, 0.2, 0.1, 1]], float)
    rule = fit_rule(np.full(10, 0.9), np.linspace(0.0, 0.5, 100))
    assert recommendations(similarity, rule) == [(0, 1, 0.8)]
    assert recommendations(similarity, rule, different_pairs=[(0, 1)]) == [(1, 2, 0.75)]
    untrusted = fit_rule([], [])
    assert recommendations(similarity, untrusted) == []


def test_decide_merges_returning_people_and_never_people_seen_together():
    features, tracklets, frames, owner, negatives = scene(seed=3)
    people = len(features) // 2
    different = set(negatives)
    decision = decide_persons(features, tracklets, frames, different=different, tracklet_negatives=negatives)
    assert decision.rule.trusted
    for cluster in decision.clusters:
        assert len({int(owner[i]) for i in cluster}) == 1  # precision: no wrong merge
        assert not any((a, b) in different for a in cluster for b in cluster if a < b)
    merged_pairs = sum(len(c) * (len(c) - 1) // 2 for c in decision.clusters)
    assert merged_pairs >= 0.75 * people  # recall: most visits joined
    assert len(decision.recommended) < len(decision.clusters)


def test_decide_recommends_nothing_when_features_cannot_separate():
    rng = np.random.default_rng(5)
    features = [unit(1.0 + 0.01 * rng.normal(size=(10, 16))) for _ in range(12)]
    tracklets = [np.full(10, i) for i in range(12)]
    frames = [np.arange(10) for _ in range(12)]
    different = {(a, b) for a in range(6) for b in range(a + 1, 6)}
    decision = decide_persons(features, tracklets, frames, different=different, tracklet_negatives=different)
    assert not decision.rule.trusted
    assert decision.recommended == [] and all(len(c) == 1 for c in decision.clusters)

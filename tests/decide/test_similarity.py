"""Similarity maths: hand-computed cases, NaN handling, payloads, methods on synthetic identities."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from streamreid.config import ConfigError
from streamreid.decide.similarity import (
    SIMILARITY_METHODS,
    embeddings_payload,
    mean_embedding_similarity,
    mean_pairwise_similarity,
    mean_vectors,
    null_threshold,
    recommend_pairs,
    similarity_matrix,
    similarity_payload,
    top_k_pairwise_similarity,
)


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# Three persons in 2-D: A = two crops at 0° and 90°, B = one crop at 0°, C = one crop at 180°.
A = np.array([[1.0, 0.0], [0.0, 1.0]])
B = np.array([[1.0, 0.0]])
C = np.array([[-1.0, 0.0]])


def test_mean_embedding_hand_computed_3x3():
    s = mean_embedding_similarity([A, B, C])
    # mean(A) = (0.5, 0.5) → unit (1/√2, 1/√2); cos with (1, 0) = 1/√2, with (-1, 0) = -1/√2.
    r = 1 / math.sqrt(2)
    expected = np.array([[1, r, -r], [r, 1, -1], [-r, -1, 1]])
    np.testing.assert_allclose(s, expected, atol=1e-12)


def test_mean_pairwise_hand_computed_3x3():
    s = mean_pairwise_similarity([A, B, C])
    # A·B: crops (1,0)·(1,0)=1 and (0,1)·(1,0)=0 → 0.5; A·C → -0.5; B·C = -1.
    expected = np.array([[1, 0.5, -0.5], [0.5, 1, -1], [-0.5, -1, 1]])
    np.testing.assert_allclose(s, expected, atol=1e-12)


def test_top_k_pairwise_hand_computed_3x3():
    s1 = top_k_pairwise_similarity([A, B, C], k=1)
    # best A-B pair = 1, best A-C pair = 0 (the 90° crop), B-C = -1.
    np.testing.assert_allclose(s1, [[1, 1, 0], [1, 1, -1], [0, -1, 1]], atol=1e-12)
    # k larger than the number of pairs averages all of them (= mean pairwise).
    np.testing.assert_allclose(top_k_pairwise_similarity([A, B, C], k=10), mean_pairwise_similarity([A, B, C]))


def test_rows_are_normalised_before_comparing():
    scaled = [A * 7.0, B * 0.1, C * 3.0]
    for method in SIMILARITY_METHODS:
        np.testing.assert_allclose(
            similarity_matrix(scaled, method=method), similarity_matrix([A, B, C], method=method), atol=1e-12
        )


@pytest.mark.parametrize("method", SIMILARITY_METHODS)
def test_identical_features_give_exactly_one(method):
    rng = np.random.default_rng(3)
    crops = unit(rng.normal(size=(1, 512))).astype(np.float32).repeat(4, axis=0)
    s = similarity_matrix([crops, crops.copy(), crops[:2]], method=method)
    assert s.dtype == np.float64
    assert np.all(s == 1.0)


@pytest.mark.parametrize("method", SIMILARITY_METHODS)
def test_person_without_crops_gives_nan_row_but_unit_diagonal(method):
    rng = np.random.default_rng(4)
    features = [rng.normal(size=(5, 16)), np.zeros((0, 16)), rng.normal(size=(3, 16)), np.zeros((2, 16))]
    s = similarity_matrix(features, method=method)
    assert s.shape == (4, 4)
    np.testing.assert_array_equal(np.diag(s), 1.0)
    for absent in (1, 3):  # no crops, and only all-zero crops
        others = [i for i in range(4) if i != absent]
        assert np.isnan(s[absent, others]).all() and np.isnan(s[others, absent]).all()
    assert np.isfinite(s[0, 2]) and s[0, 2] == s[2, 0]
    assert np.all((s[np.isfinite(s)] >= -1) & (s[np.isfinite(s)] <= 1))


def test_non_finite_crop_rows_are_ignored():
    rng = np.random.default_rng(5)
    good = rng.normal(size=(4, 8))
    with_nan = np.vstack([good, np.full((1, 8), np.nan)])
    other = rng.normal(size=(3, 8))
    for method in SIMILARITY_METHODS:
        np.testing.assert_allclose(
            similarity_matrix([with_nan, other], method=method), similarity_matrix([good, other], method=method)
        )


def test_all_persons_empty_and_no_persons():
    s = mean_embedding_similarity([np.zeros((0, 8)), np.zeros((0, 8))])
    np.testing.assert_array_equal(np.diag(s), 1.0)
    assert np.isnan(s[0, 1])
    assert similarity_matrix([], method="top_k_pairwise").shape == (0, 0)


@pytest.mark.parametrize("seed", range(20))
def test_mean_pairwise_equals_dot_product_of_unnormalised_means(seed):
    rng = np.random.default_rng(seed)
    features = [unit(rng.normal(size=(int(rng.integers(1, 9)), 32)) + rng.normal(size=32)) for _ in range(5)]
    explicit = np.array([[np.mean(fa @ fb.T) for fb in features] for fa in features])
    np.fill_diagonal(explicit, 1.0)
    np.testing.assert_allclose(mean_pairwise_similarity(features), explicit, atol=1e-12)
    means = mean_vectors(features, normalise=False)
    off = ~np.eye(5, dtype=bool)
    np.testing.assert_allclose(mean_pairwise_similarity(features)[off], (means @ means.T)[off], atol=1e-12)
    # ... i.e. the mean-embedding cosine times both mean norms.
    norms = np.linalg.norm(means, axis=1)
    scaled = mean_embedding_similarity(features) * np.outer(norms, norms)
    np.testing.assert_allclose(mean_pairwise_similarity(features)[off], scaled[off], atol=1e-12)


def test_unknown_method_is_a_config_error():
    with pytest.raises(ConfigError, match="reid.method"):
        similarity_matrix([A, B], method="median")


# ---- null threshold, recommendations, payloads -------------------------------------------------


def test_null_threshold_uses_only_known_different_pairs():
    s = np.array(
        [
            [1.0, 0.2, 0.4, 0.9],
            [0.2, 1.0, np.nan, 0.3],
            [0.4, np.nan, 1.0, 0.5],
            [0.9, 0.3, 0.5, 1.0],
        ]
    )
    # (1, 2) is NaN and ignored; (1, 0) duplicates (0, 1); (3, 3) is not a pair.
    pairs = [(0, 1), (1, 0), (0, 2), (1, 2), (3, 3)]
    assert null_threshold(s, pairs, percentile=100) == pytest.approx(0.4)
    assert null_threshold(s, pairs, percentile=50) == pytest.approx(0.3)
    assert null_threshold(s, [], percentile=99) is None
    assert null_threshold(s, pairs, percentile=99, min_pairs=3) is None
    with pytest.raises(ValueError):
        null_threshold(s, [(0, 7)], percentile=99)


def test_recommendations_levels_order_and_exclusions():
    s = np.array(
        [
            [1.0, 0.85, 0.62, 0.66, 0.95],
            [0.85, 1.0, 0.10, 0.20, 0.30],
            [0.62, 0.10, 1.0, 0.40, 0.50],
            [0.66, 0.20, 0.40, 1.0, np.nan],
            [0.95, 0.30, 0.50, np.nan, 1.0],
        ]
    )
    ids = [10, 11, 12, 13, 14]
    recs = recommend_pairs(
        s, ids, threshold=0.7, near_threshold=0.6, calibrated_threshold=0.65, different_pairs=[(0, 4)], run_dir="out"
    )
    assert [r["persons"] for r in recs] == [[10, 11], [10, 13], [10, 12]]
    assert [r["level"] for r in recs] == ["above", "calibrated", "near"]
    assert recs[0]["command"] == "streamreid select out --persons 10,11 --merge"
    # Confidence: 0.5 at the calibrated threshold, 1 at 1, 0 at the near threshold.
    assert recs[0]["confidence"] == pytest.approx(0.5 + 0.5 * (0.85 - 0.65) / 0.35, abs=1e-4)
    assert recs[1]["confidence"] == pytest.approx(0.5 + 0.5 * (0.66 - 0.65) / 0.35, abs=1e-4)
    assert recs[2]["confidence"] == pytest.approx(0.5 * (0.62 - 0.6) / 0.05, abs=1e-4)
    # Without calibration the fixed threshold is the reference and nothing is "calibrated".
    plain = recommend_pairs(s, ids, threshold=0.7, near_threshold=0.6, calibrated_threshold=None)
    assert [r["level"] for r in plain] == ["above", "above", "near", "near"]
    assert "command" not in plain[0]
    assert plain[0]["persons"] == [10, 14] and plain[0]["confidence"] == pytest.approx(0.5 + 0.5 * 0.25 / 0.3, abs=1e-4)


def test_similarity_payload_is_strict_json_with_reference_fields():
    s = np.array([[1.0, 0.75, np.nan], [0.75, 1.0, 0.65], [np.nan, 0.65, 1.0]])
    payload = similarity_payload(
        s,
        [3, 5, 8],
        method="mean_embedding",
        embedder="osnet_x0_25 (osnet_x0_25_msmt17.pt)",
        threshold=0.7,
        near_threshold=0.6,
        calibrated_threshold=0.64,
        different_pairs=[(0, 2)],
        timestamp="2026-01-15T10:30:00Z",
    )
    text = json.dumps(payload, allow_nan=False)
    back = json.loads(text)
    assert back["similarity_matrix"][0][2] is None
    assert back["person_ids"] == [3, 5, 8]
    assert back["threshold_70"] == [[3, 5]]
    assert back["near_threshold_pairs"] == [[5, 8, 0.65]]
    assert back["calibrated_pairs"] == [[3, 5, 0.75], [5, 8, 0.65]]
    assert back["null_pairs"] == 0  # the only known-different pair has no similarity
    assert back["timestamp"] == "2026-01-15T10:30:00Z"
    assert {"method", "embedder", "threshold", "calibrated_threshold"} <= back.keys()
    described = similarity_payload(
        s,
        [3, 5, 8],
        method="top_k_pairwise",
        embedder={"name": "fallback", "kind": "fallback"},
        threshold=0.7,
        near_threshold=0.6,
        calibrated_threshold=None,
        null_pairs=4,
    )
    assert described["embedder"] == {"name": "fallback", "kind": "fallback"} and described["null_pairs"] == 4
    assert described["calibrated_threshold"] is None and described["calibrated_pairs"] == []


def test_embeddings_payload():
    features = [unit(np.array([[1.0, 1.0], [1.0, 0.0]])), np.zeros((0, 2))]
    embeddings = mean_vectors(features, normalise=True)
    embedder = {"name": "fallback (test)", "kind": "fallback", "dim": 2, "weights": None}
    payload = embeddings_payload(embeddings, [0, 7], embedder=embedder, timestamp="t")
    back = json.loads(json.dumps(payload, allow_nan=False))
    assert back["dim"] == 2 and back["person_ids"] == [0, 7] and back["embeddings"]["7"] is None
    assert back["model"] == "fallback (test)" and back["kind"] == "fallback" and back["embedder"] == embedder
    assert np.linalg.norm(back["embeddings"]["0"]) == pytest.approx(1.0, abs=1e-5)


# ---- which method separates identities? ---------------------------------------------------------


def synthetic_persons(
    rng: np.random.Generator, *, identities: int, spread: tuple[float, float], seen_back: int, dim: int = 128
) -> tuple[list[np.ndarray], np.ndarray]:
    """Two tracklets ("persons") per identity, 16 crop features each.

    Every identity has a front and a back appearance (two modes sharing a little), all
    features share a common direction (as ReLU network features do), and each tracklet has
    its own noise level. The first tracklet sees only the front; the second mostly the back.
    """
    shared = unit(rng.normal(size=dim))
    features, identity = [], []
    for k in range(identities):
        front = unit(shared + unit(rng.normal(size=dim)))
        back = unit(shared + 0.3 * front + unit(rng.normal(size=dim)))
        for tracklet in range(2):
            modes = np.array([front] * 16 if tracklet == 0 else [front] * (16 - seen_back) + [back] * seen_back)
            noise = rng.uniform(*spread) * rng.normal(size=modes.shape) / math.sqrt(dim)
            features.append(unit(modes + noise))
            identity.append(k)
    return features, np.array(identity)


def roc_auc(similarity: np.ndarray, identity: np.ndarray) -> float:
    """Probability that a same-identity pair scores above a different-identity pair."""
    rows, cols = np.triu_indices(len(identity), 1)
    values, same = similarity[rows, cols], identity[rows] == identity[cols]
    positive, negative = values[same][:, None], values[~same][None, :]
    return float((positive > negative).mean() + 0.5 * (positive == negative).mean())


def test_top_k_beats_mean_pairwise_when_tracklets_see_different_sides():
    scores = {method: [] for method in SIMILARITY_METHODS}
    for seed in range(5):
        features, identity = synthetic_persons(
            np.random.default_rng(seed), identities=15, spread=(0.6, 1.4), seen_back=12
        )
        for method in SIMILARITY_METHODS:
            scores[method].append(roc_auc(similarity_matrix(features, method=method, top_k=5), identity))
    auc = {method: float(np.mean(values)) for method, values in scores.items()}
    # Measured: mean_embedding ≈ 0.99, top_k_pairwise ≈ 0.98, mean_pairwise ≈ 0.89.
    assert auc["top_k_pairwise"] > auc["mean_pairwise"] + 0.05
    assert auc["mean_embedding"] > auc["mean_pairwise"] + 0.05


def test_all_methods_separate_clean_single_appearance_identities():
    features, identity = synthetic_persons(np.random.default_rng(0), identities=10, spread=(0.2, 0.4), seen_back=0)
    for method in SIMILARITY_METHODS:
        assert roc_auc(similarity_matrix(features, method=method), identity) == 1.0

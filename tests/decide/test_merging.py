"""Constrained agglomerative merging of persons."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamreid.config import ConfigError
from streamreid.decide.merging import LINKAGES, constrained_agglomerative, merge_recommendations_payload


def chain() -> np.ndarray:
    # A~B and B~C are very similar, A~C somewhat; D is unlike everyone.
    return np.array(
        [
            [1.0, 0.90, 0.80, 0.10],
            [0.90, 1.0, 0.92, 0.10],
            [0.80, 0.92, 1.0, 0.10],
            [0.10, 0.10, 0.10, 1.0],
        ]
    )


@pytest.mark.parametrize("linkage", LINKAGES)
def test_without_constraints_the_chain_merges(linkage):
    clusters, merges = constrained_agglomerative(chain(), cannot_link=[], threshold=0.7, linkage=linkage)
    assert clusters == [[0, 1, 2], [3]]
    assert [m["reason"] for m in merges] == ["similarity", "similarity"]
    assert merges[0]["clusters"] == [[1], [2]] and merges[0]["similarity"] == pytest.approx(0.92)


@pytest.mark.parametrize("linkage", LINKAGES)
def test_cannot_link_holds_across_a_chain(linkage):
    # A and C were seen in the same frame: B may join one of them, never both.
    clusters, merges = constrained_agglomerative(chain(), cannot_link=[(2, 0)], threshold=0.7, linkage=linkage)
    assert clusters == [[0], [1, 2], [3]]
    assert len(merges) == 1
    for cluster in clusters:
        assert not {0, 2} <= set(cluster)


def test_threshold_and_confidence():
    clusters, merges = constrained_agglomerative(chain(), cannot_link=[], threshold=0.91)
    assert clusters == [[0], [1, 2], [3]]
    assert merges[0]["confidence"] == pytest.approx((0.92 - 0.91) / 0.09, abs=1e-3)
    nothing, none = constrained_agglomerative(chain(), cannot_link=[], threshold=0.95)
    assert nothing == [[0], [1], [2], [3]] and none == []


def test_average_linkage_uses_all_member_pairs():
    # After {1, 2} merge, 0 joins at the average of 0.90 and 0.80 = 0.85 (single: 0.90, complete: 0.80).
    expected = {"average": 0.85, "single": 0.90, "complete": 0.80}
    for linkage, value in expected.items():
        _, merges = constrained_agglomerative(chain(), cannot_link=[], threshold=0.7, linkage=linkage)
        assert merges[1]["clusters"] == [[0], [1, 2]]
        assert merges[1]["similarity"] == pytest.approx(value)
    # complete linkage refuses the join when the weakest pair is below the threshold.
    clusters, _ = constrained_agglomerative(chain(), cannot_link=[], threshold=0.85, linkage="complete")
    assert clusters == [[0], [1, 2], [3]]


def test_must_links_first_and_conflicts_reported():
    clusters, merges = constrained_agglomerative(
        chain(), cannot_link=[(0, 2)], must_link=[(3, 0), (2, 3)], threshold=0.95
    )
    # (3, 0) is applied; (2, 3) would put 2 with 0 through 3, which the cannot-link forbids.
    assert clusters == [[0, 3], [1], [2]]
    assert merges[0] == {
        "merged": True,
        "reason": "must_link",
        "clusters": [[0], [3]],
        "similarity": 0.1,
        "confidence": None,
    }
    assert merges[1] == {"merged": False, "reason": "must_link_conflict", "persons": [2, 3]}


def test_persons_without_similarity_never_merge_by_similarity():
    s = chain()
    s[3, :] = s[:, 3] = np.nan
    s[3, 3] = 1.0
    clusters, _ = constrained_agglomerative(s, cannot_link=[], threshold=-1.0)
    assert [3] in clusters and [0, 1, 2] in clusters


def test_many_persons_respect_every_cannot_link():
    rng = np.random.default_rng(1)
    size = 40
    s = rng.uniform(0.5, 1.0, size=(size, size))
    s = (s + s.T) / 2
    np.fill_diagonal(s, 1.0)
    cannot = {(int(a), int(b)) for a, b in rng.integers(0, size, size=(60, 2)) if a != b}
    clusters, merges = constrained_agglomerative(s, cannot_link=cannot, threshold=0.5)
    assert sorted(i for c in clusters for i in c) == list(range(size))
    label = {i: k for k, c in enumerate(clusters) for i in c}
    assert all(label[a] != label[b] for a, b in cannot)
    assert len(clusters) == size - len(merges)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="merge_linkage"):
        constrained_agglomerative(chain(), cannot_link=[], threshold=0.7, linkage="ward")
    with pytest.raises(ValueError, match="outside"):
        constrained_agglomerative(chain(), cannot_link=[(0, 9)], threshold=0.7)
    with pytest.raises(ValueError, match="square"):
        constrained_agglomerative(np.ones((2, 3)), cannot_link=[], threshold=0.7)


def test_payload_uses_person_ids():
    clusters, merges = constrained_agglomerative(chain(), cannot_link=[(0, 2)], threshold=0.7)
    payload = merge_recommendations_payload([], clusters, [10, 11, 12, 13], merges=merges, auto_merged=False)
    back = json.loads(json.dumps(payload, allow_nan=False))
    assert back["clusters"] == [[10], [11, 12], [13]]
    assert back["merges"][0]["clusters"] == [[11], [12]]
    assert back["auto_merged"] is False and back["recommendations"] == []

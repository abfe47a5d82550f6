"""The per-video projection: what varies within a tracklet is dropped, what tells people seen together apart kept.

The projection on a whole synthetic scene, with the calibrated decision after it, is in decide/test_calibration.py.
"""

import numpy as np
import pytest

from streamreid.reid.adaptation import MIN_CLASSES, Projection, learn_projection


def test_projection_needs_enough_tracklets():
    x = np.random.default_rng(0).normal(size=(6, 8))
    projection = learn_projection(x, [0, 0, 1, 1, 2, 2])
    assert projection.identity
    assert projection.apply(x).shape == (6, 8)
    with pytest.raises(ValueError):
        learn_projection(x, [0, 1])


def _tracklets(rng, *, classes=10, crops=6, dim=6, nuisance=5.0):
    """Tracklets that differ along axis 0 only; every crop wobbles strongly along axis 1."""
    features, labels = [], []
    for label in range(classes):
        crop = rng.normal(scale=0.05, size=(crops, dim))
        crop[:, 0] += label  # identity
        crop[:, 1] += rng.normal(scale=nuisance, size=crops)  # pose, light: changes within a tracklet
        features.append(crop)
        labels += [label] * crops
    return np.concatenate(features), labels


def test_the_identity_axis_is_kept_and_the_nuisance_axis_dropped():
    features, labels = _tracklets(np.random.default_rng(3))
    projection = learn_projection(features, labels, max_dim=2)
    assert not projection.identity and projection.dim == 2 and projection.classes == 10
    leading = projection.matrix[:, 0] / np.linalg.norm(projection.matrix[:, 0])
    assert abs(leading[0]) > 0.95 and abs(leading[1]) < 0.05


def test_only_pairs_of_known_tracklets_count_as_negatives():
    features, labels = _tracklets(np.random.default_rng(4))
    projection = learn_projection(features, labels, negative_pairs=[(0, 1), (1, 0), (2, 2), (0, 99)])
    assert projection.negatives == 1
    assert projection.to_dict() == {"dim": projection.dim, "classes": 10, "negatives": 1, "identity": False}


def test_apply_gives_unit_rows_and_keeps_zero_rows_zero():
    projection = Projection(mean=np.zeros(3), matrix=np.eye(3)[:, :2], classes=MIN_CLASSES, negatives=0)
    rows = projection.apply(np.array([[3.0, 4.0, 9.0], [0.0, 0.0, 5.0]]))
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, 0.0]])
    assert rows.dtype == np.float32 and projection.apply(np.zeros((0, 3))).shape == (0, 2)


def test_shrinkage_outside_zero_to_one_is_refused():
    features, labels = _tracklets(np.random.default_rng(5))
    with pytest.raises(ValueError, match="shrinkage"):
        learn_projection(features, labels, shrinkage=1.5)

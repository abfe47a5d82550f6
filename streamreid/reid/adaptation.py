"""Adapting appearance features to one video, without labels.

A video labels itself in two ways: the crops of one tracklet are one person, and two
people seen in the same frame are two people. :func:`learn_projection` turns that
into a linear map, learned at the end of the stream, under which the features of
one person gather and those of people seen together spread: a shrunk
linear discriminant analysis with tracklets as classes.

* Within-class scatter S_w: the crops' spread around their tracklet's mean, i.e.
  what changes while a person stays the same (pose, light, the background behind them).
* Between-class scatter S_b: the differences of the means of tracklets seen
  together (known different people); without such pairs, the spread of all the
  tracklet means.
* S_w is shrunk towards a multiple of the identity, S_w ← (1 − α)·S_w + α·tr(S_w)/d·I,
  so a few dozen crops in hundreds of dimensions still give a stable inverse.

The map keeps the leading generalised eigenvectors of S_b v = λ S_w v: the directions
along which known-different people differ most *relative to* how much one person varies.
Features are centred on the video's mean first, which also removes what all crops share
(the scene's colour cast, a histogram's always-positive offset).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

MIN_CLASSES = 8
"""Fewest tracklets (with at least two crops) to learn anything from."""


@dataclass(frozen=True)
class Projection:
    """A learned linear map of features: ``y = (x − mean) @ matrix``, then unit length.

    Attributes:
        mean: ``(D,)`` the video's mean feature.
        matrix: ``(D, K)`` projection.
        classes: Tracklets it was learned from.
        negatives: Pairs of tracklets seen together that it used.
        identity: True when nothing was learned (too few tracklets): the map leaves features as they are.
    """

    mean: np.ndarray
    matrix: np.ndarray
    classes: int
    negatives: int
    identity: bool = False

    @property
    def dim(self) -> int:
        """Length of a projected feature."""
        return int(self.matrix.shape[1])

    def apply(self, features: np.ndarray) -> np.ndarray:
        """Project ``(N, D)`` features to ``(N, K)`` rows of unit length (zero rows stay zero)."""
        features = np.asarray(features, dtype=np.float64)
        if len(features) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        projected = (features - self.mean) @ self.matrix
        norms = np.linalg.norm(projected, axis=1, keepdims=True)
        return (projected / np.where(norms > 0, norms, 1.0)).astype(np.float32)

    def to_dict(self) -> dict[str, object]:
        """Plain facts for run metadata."""
        return {"dim": self.dim, "classes": self.classes, "negatives": self.negatives, "identity": self.identity}


def learn_projection(
    features: np.ndarray,
    labels: Sequence[int],
    *,
    negative_pairs: Iterable[tuple[int, int]] = (),
    shrinkage: float = 0.3,
    max_dim: int = 64,
    energy: float = 0.99,
) -> Projection:
    """Learn a per-video projection from crops labelled by tracklet and pairs of tracklets seen together.

    Args:
        features: ``(N, D)`` crop features.
        labels: Tracklet id of each crop.
        negative_pairs: Tracklet id pairs seen in one frame (known different people).
        shrinkage: α in ``[0, 1]``: how far S_w is pulled towards a multiple of the identity.
        max_dim: Most output dimensions.
        energy: Keep the leading dimensions that hold this share of the discriminant eigenvalues.

    Returns:
        The projection; the identity when fewer than :data:`MIN_CLASSES` tracklets have two
        or more crops.
    """
    x = np.asarray(features, dtype=np.float64)
    labels_array = np.asarray(labels)
    if x.ndim != 2 or len(x) != len(labels_array):
        raise ValueError(f"features {x.shape} and {len(labels_array)} labels do not match")
    if not 0.0 <= shrinkage <= 1.0:
        raise ValueError(f"shrinkage must be in [0, 1], got {shrinkage}")
    dim = x.shape[1] if x.ndim == 2 else 0
    mean = x.mean(axis=0) if len(x) else np.zeros(dim)
    classes, inverse, counts = np.unique(labels_array, return_inverse=True, return_counts=True)
    usable = counts >= 2
    if (
        int(usable.sum()) < MIN_CLASSES
    ):  # too little to learn from, even the video's mean: leave the features as they are
        return Projection(mean=np.zeros(dim), matrix=np.eye(dim), classes=int(usable.sum()), negatives=0, identity=True)
    class_means, within = _within_scatter(x - mean, inverse, counts, shrinkage=shrinkage)
    index = {label: i for i, label in enumerate(classes.tolist())}
    known = [(index[a], index[b]) for a, b in negative_pairs if a in index and b in index and a != b]
    pairs = sorted({(min(pair), max(pair)) for pair in known})  # a pair is unordered: (a, b) is (b, a)
    if pairs:
        diffs = np.array([class_means[a] - class_means[b] for a, b in pairs])
    else:
        diffs = class_means[usable] - class_means[usable].mean(axis=0)
    between = diffs.T @ diffs / len(diffs)

    values, vectors = _generalised_eigh(between, within)
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0, None), vectors[:, order]
    total = values.sum()
    if total <= 0:
        return Projection(mean=mean, matrix=np.eye(dim), classes=int(usable.sum()), negatives=len(pairs), identity=True)
    keep_dims = int(np.searchsorted(np.cumsum(values) / total, energy) + 1)
    keep_dims = max(2, min(keep_dims, max_dim, dim))
    return Projection(mean=mean, matrix=vectors[:, :keep_dims], classes=int(usable.sum()), negatives=len(pairs))


def _within_scatter(
    centred: np.ndarray, inverse: np.ndarray, counts: np.ndarray, *, shrinkage: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-tracklet mean features, and the within-tracklet scatter of the tracklets with two or more crops, shrunk."""
    dim = centred.shape[1]
    class_means = np.zeros((len(counts), dim))
    np.add.at(class_means, inverse, centred)
    class_means /= counts[:, None]
    keep = (counts >= 2)[inverse]
    residual = centred[keep] - class_means[inverse[keep]]
    within = residual.T @ residual / max(len(residual), 1)
    scale = np.trace(within) / dim if np.trace(within) > 0 else 1.0
    return class_means, (1.0 - shrinkage) * within + shrinkage * scale * np.eye(dim)


def _generalised_eigh(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``a v = λ b v`` for symmetric ``a`` and positive definite ``b`` (vectors b-orthonormal)."""
    values, basis = np.linalg.eigh(b)
    whiten = basis / np.sqrt(np.clip(values, 1e-12, None))
    inner = whiten.T @ a @ whiten
    inner_values, inner_vectors = np.linalg.eigh((inner + inner.T) / 2)
    return inner_values, whiten @ inner_vectors

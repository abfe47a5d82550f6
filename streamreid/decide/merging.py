"""Merging persons that look alike, never those seen together (pure maths).

:func:`constrained_agglomerative` groups persons bottom-up: the two most similar clusters
are merged while their linkage similarity is at or above a threshold, except where a
*cannot-link* forbids it. Two persons seen in the same frame are different people, so
no cluster may ever hold both — not directly, and not through a chain A~B~C where A and
C overlap in time: cannot-links are checked between whole clusters, so once A and B are
merged, C cannot join them. *Must-links* (tracklets the five-check grouping already
judged to be one person) are applied first.

By default the pipeline only *recommends* merges (``reid.auto_merge: false``); the
clusters are then a suggestion written to ``merge_recommendations.json``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from streamreid.config import ConfigError

LINKAGES = ("average", "single", "complete")


def _merge_confidence(value: float, threshold: float) -> float:
    """0 at the threshold, 1 at similarity 1: how far above the threshold a merge was made."""
    if threshold >= 1.0:
        return 1.0
    return float(np.clip((value - threshold) / (1.0 - threshold), 0.0, 1.0))


def constrained_agglomerative(
    similarity: np.ndarray,
    *,
    cannot_link: Iterable[tuple[int, int]],
    must_link: Iterable[tuple[int, int]] = (),
    threshold: float,
    linkage: str = "average",
) -> tuple[list[list[int]], list[dict[str, Any]]]:
    """Cluster persons by similarity under cannot-link and must-link constraints.

    Linkage between clusters, over the finite similarities of their member pairs (NaN pairs,
    e.g. a person without crops, are no evidence; clusters with no finite pair never merge
    by similarity): ``average`` (mean, UPGMA), ``single`` (max) or ``complete`` (min).
    Ties are broken by the lowest indices, so the result is deterministic.

    Args:
        similarity: ``(P, P)`` symmetric similarity matrix.
        cannot_link: Index pairs that must end in different clusters (seen in one frame).
        must_link: Index pairs to merge before anything else; one that would join a
            cannot-linked pair is not applied (it is reported with ``merged: False``).
        threshold: Lowest linkage similarity at which two clusters merge. Pass the larger
            of the fixed and the calibrated threshold to merge only pairs both accept.
        linkage: One of :data:`LINKAGES`.

    Returns:
        The clusters (sorted lists of indices, ordered by their first index; singletons
        included) and the merges in the order made: ``{"merged": True, "reason":
        "similarity" | "must_link", "clusters": [members_a, members_b], "similarity",
        "confidence"}`` (``confidence`` is 0 at the threshold and 1 at similarity 1;
        ``None`` for must-links), plus ``{"merged": False, "reason": "must_link_conflict",
        "persons": [a, b]}`` for each must-link that was not applied.

    Raises:
        ConfigError: Unknown linkage.
        ValueError: The matrix is not square, the threshold not finite, or a pair is out of range.
    """
    if linkage not in LINKAGES:
        raise ConfigError(f"reid.merge_linkage must be one of {', '.join(LINKAGES)}, got '{linkage}'")
    matrix = np.asarray(similarity, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"similarity must be a square matrix, got shape {matrix.shape}")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold}")
    clusters = _Clusters(matrix, linkage=linkage, threshold=threshold)
    for a, b in _checked(cannot_link, "cannot-link", len(matrix)):
        if a == b:
            raise ValueError(f"cannot-link pair ({a}, {b}) links a person to itself")
        clusters.block(a, b)
    for a, b in _checked(must_link, "must-link", len(matrix)):
        clusters.join(a, b)
    while (pair := clusters.most_similar()) is not None:
        clusters.merge(*pair, reason="similarity")
    return clusters.groups(), clusters.merges


def _checked(pairs: Iterable[tuple[int, int]], what: str, size: int) -> list[tuple[int, int]]:
    """``pairs`` as ints, each index within ``size`` persons."""
    out = []
    for a, b in pairs:
        a, b = int(a), int(b)
        if not (0 <= a < size and 0 <= b < size):
            raise ValueError(f"{what} pair ({a}, {b}) is outside {size} persons")
        out.append((a, b))
    return out


class _Clusters:
    """Clusters under construction: per cluster pair, the sum, count, max and min of member similarities.

    A merged cluster keeps the lower index (``keep``); the other row and column are emptied.
    """

    def __init__(self, matrix: np.ndarray, *, linkage: str, threshold: float) -> None:
        size = len(matrix)
        finite = np.isfinite(matrix)
        np.fill_diagonal(finite, False)
        self.linkage, self.threshold = linkage, threshold
        self.sums = np.where(finite, matrix, 0.0)
        self.counts = finite.astype(np.float64)
        self.highest = np.where(finite, matrix, -np.inf)
        self.lowest = np.where(finite, matrix, np.inf)
        self.blocked = np.zeros((size, size), dtype=bool)
        self.active = np.ones(size, dtype=bool)
        self.label = np.arange(size)
        self.members: list[list[int]] = [[i] for i in range(size)]
        self.merges: list[dict[str, Any]] = []
        self._upper = np.triu(np.ones((size, size), dtype=bool), k=1)

    def block(self, a: int, b: int) -> None:
        """Persons ``a`` and ``b`` never share a cluster."""
        self.blocked[a, b] = self.blocked[b, a] = True

    def linkage_values(self) -> np.ndarray:
        """Linkage similarity of every cluster pair (NaN where no member pair has a finite one)."""
        counts = self.counts
        if self.linkage == "average":
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(counts > 0, self.sums / np.maximum(counts, 1.0), np.nan)
        return np.where(counts > 0, self.highest if self.linkage == "single" else self.lowest, np.nan)

    def join(self, a: int, b: int) -> None:
        """A must-link: join the clusters of persons ``a`` and ``b`` unless a cannot-link forbids it."""
        first, second = sorted((int(self.label[a]), int(self.label[b])))
        if first == second:
            return
        if self.blocked[first, second]:
            self.merges.append({"merged": False, "reason": "must_link_conflict", "persons": [a, b]})
            return
        self.merge(first, second, reason="must_link")

    def most_similar(self) -> tuple[int, int] | None:
        """The allowed cluster pair of highest linkage at or above the threshold (lowest indices on ties)."""
        values = self.linkage_values()
        allowed = self._upper & self.active[:, None] & self.active[None, :] & ~self.blocked & np.isfinite(values)
        allowed &= np.where(np.isfinite(values), values, -np.inf) >= self.threshold
        if not allowed.any():
            return None
        candidates = np.where(allowed, values, -np.inf)
        first, second = np.unravel_index(int(np.argmax(candidates)), candidates.shape)
        return int(first), int(second)

    def merge(self, keep: int, gone: int, *, reason: str) -> None:
        """Merge cluster ``gone`` into ``keep`` and record it."""
        value = float(self.linkage_values()[keep, gone])
        confidence = None if reason == "must_link" else round(_merge_confidence(value, self.threshold), 4)
        record = {
            "merged": True,
            "reason": reason,
            "clusters": [sorted(self.members[keep]), sorted(self.members[gone])],
            "similarity": round(value, 6) if np.isfinite(value) else None,
            "confidence": confidence,
        }
        self.merges.append(record)
        for table, combine in ((self.sums, np.add), (self.counts, np.add), (self.highest, np.maximum),
                               (self.lowest, np.minimum), (self.blocked, np.logical_or)):  # fmt: skip
            table[keep, :] = combine(table[keep, :], table[gone, :])
            table[:, keep] = table[keep, :]
        for table, empty in ((self.sums, 0.0), (self.counts, 0.0), (self.highest, -np.inf), (self.lowest, np.inf)):
            table[keep, keep] = empty
            table[gone, :] = empty
            table[:, gone] = empty
        self.blocked[gone, :] = False
        self.blocked[:, gone] = False
        self.members[keep].extend(self.members[gone])
        self.members[gone] = []
        self.active[gone] = False
        self.label[self.label == gone] = keep

    def groups(self) -> list[list[int]]:
        """The clusters: sorted member lists, ordered by their first member."""
        return sorted((sorted(group) for group in self.members if group), key=lambda group: group[0])


def clusters_as_person_ids(clusters: Sequence[Sequence[int]], person_ids: Sequence[int]) -> list[list[int]]:
    """Replace matrix indices by person ids in clusters."""
    return [[int(person_ids[i]) for i in cluster] for cluster in clusters]


def merge_recommendations_payload(
    recommendations: Sequence[dict[str, Any]],
    clusters: Sequence[Sequence[int]],
    person_ids: Sequence[int],
    *,
    merges: Sequence[dict[str, Any]] = (),
    auto_merged: bool = False,
) -> dict[str, Any]:
    """The ``merge_recommendations.json`` document (docs/OUTPUTS.md).

    Args:
        recommendations: From :func:`streamreid.decide.similarity.recommend_pairs` (person ids).
        clusters: From :func:`constrained_agglomerative` (indices; converted to person ids).
        person_ids: Person id per matrix index.
        merges: The merges :func:`constrained_agglomerative` made (indices converted to ids).
        auto_merged: Whether the pipeline applied the clusters.
    """

    def to_ids(record: dict[str, Any]) -> dict[str, Any]:
        out = dict(record)
        if "clusters" in out:
            out["clusters"] = clusters_as_person_ids(out["clusters"], person_ids)
        if "persons" in out:
            out["persons"] = [int(person_ids[i]) for i in out["persons"]]
        return out

    return {
        "recommendations": list(recommendations),
        "clusters": clusters_as_person_ids(clusters, person_ids),
        "merges": [to_ids(m) for m in merges],
        "auto_merged": bool(auto_merged),
    }

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
    size = len(matrix)

    def checked(pairs: Iterable[tuple[int, int]], what: str) -> list[tuple[int, int]]:
        out = []
        for a, b in pairs:
            a, b = int(a), int(b)
            if not (0 <= a < size and 0 <= b < size):
                raise ValueError(f"{what} pair ({a}, {b}) is outside {size} persons")
            out.append((a, b))
        return out

    finite = np.isfinite(matrix)
    np.fill_diagonal(finite, False)
    sums = np.where(finite, matrix, 0.0)
    counts = finite.astype(np.float64)
    highest = np.where(finite, matrix, -np.inf)
    lowest = np.where(finite, matrix, np.inf)
    blocked = np.zeros((size, size), dtype=bool)
    for a, b in checked(cannot_link, "cannot-link"):
        if a == b:
            raise ValueError(f"cannot-link pair ({a}, {b}) links a person to itself")
        blocked[a, b] = blocked[b, a] = True
    active = np.ones(size, dtype=bool)
    label = np.arange(size)
    members: list[list[int]] = [[i] for i in range(size)]
    merges: list[dict[str, Any]] = []

    def linkage_values() -> np.ndarray:
        if linkage == "average":
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(counts > 0, sums / np.maximum(counts, 1.0), np.nan)
        if linkage == "single":
            return np.where(counts > 0, highest, np.nan)
        return np.where(counts > 0, lowest, np.nan)

    def merge(keep: int, gone: int, *, reason: str, value: float) -> None:
        merges.append(
            {
                "merged": True,
                "reason": reason,
                "clusters": [sorted(members[keep]), sorted(members[gone])],
                "similarity": None if not np.isfinite(value) else round(float(value), 6),
                "confidence": None if reason == "must_link" else round(_merge_confidence(value, threshold), 4),
            }
        )
        sums[keep, :] += sums[gone, :]
        sums[:, keep] = sums[keep, :]
        counts[keep, :] += counts[gone, :]
        counts[:, keep] = counts[keep, :]
        highest[keep, :] = np.maximum(highest[keep, :], highest[gone, :])
        highest[:, keep] = highest[keep, :]
        lowest[keep, :] = np.minimum(lowest[keep, :], lowest[gone, :])
        lowest[:, keep] = lowest[keep, :]
        blocked[keep, :] |= blocked[gone, :]
        blocked[:, keep] = blocked[keep, :]
        for table, empty in ((sums, 0.0), (counts, 0.0), (highest, -np.inf), (lowest, np.inf)):
            table[keep, keep] = empty
            table[gone, :] = empty
            table[:, gone] = empty
        blocked[gone, :] = False
        blocked[:, gone] = False
        members[keep].extend(members[gone])
        members[gone] = []
        active[gone] = False
        label[label == gone] = keep

    for a, b in checked(must_link, "must-link"):
        first, second = sorted((int(label[a]), int(label[b])))
        if first == second:
            continue
        if blocked[first, second]:
            merges.append({"merged": False, "reason": "must_link_conflict", "persons": [a, b]})
            continue
        value = float(linkage_values()[first, second])
        merge(first, second, reason="must_link", value=value)

    upper = np.triu(np.ones((size, size), dtype=bool), k=1)
    while True:
        values = linkage_values()
        allowed = upper & active[:, None] & active[None, :] & ~blocked & np.isfinite(values)
        allowed &= np.where(np.isfinite(values), values, -np.inf) >= threshold
        if not allowed.any():
            break
        candidates = np.where(allowed, values, -np.inf)
        first, second = np.unravel_index(int(np.argmax(candidates)), candidates.shape)
        merge(int(first), int(second), reason="similarity", value=float(values[first, second]))

    clusters = sorted((sorted(group) for group in members if group), key=lambda group: group[0])
    return clusters, merges


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
        recommendations: From :func:`streamreid.similarity.recommend_pairs` (person ids).
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

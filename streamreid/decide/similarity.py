"""Similarity between persons from their per-crop ReID features (pure maths).

Each person is a set of crop features, ``(n_i, D)``. Three ways to compare two sets:

* ``mean_embedding`` — cosine of the two mean vectors, each renormalised to length 1
  (the reference design's first approach).
* ``mean_pairwise`` — the mean of all ``n_i x n_j`` cross-person crop cosines (the
  reference's replacement, 004). Over unit crop features this is *exactly* the dot
  product of the two un-normalised mean vectors: ``mean_ab(a . b) = m_A . m_B``, i.e.
  ``cos(m_A, m_B) * |m_A| * |m_B|``. It is the mean-embedding cosine scaled by each
  person's own consistency (``|m|`` is 1 when all crops agree and shrinks as they spread),
  so it is *not* set-based: a person seen from the front and the back scores low against
  everyone, themselves included. It cannot fix a collapse of all cosines to ~0.99 either:
  that is a property of the features (e.g. an untrained network), not of averaging.
* ``top_k_pairwise`` — the mean of the ``k`` highest cross-person crop cosines: two
  tracklets of one person match when *some* of their crops match (the same side of the
  person, the same pose), whatever else each tracklet saw. Set-based.

All matrices are symmetric ``(P, P)`` float64 with 1.0 on the diagonal (by convention,
whatever the method), values clipped to ``[-1, 1]`` and snapped to exactly 1.0 within
1e-9 of it (identical features give 1.0, not 1.0000002). A person without crops (or whose
crops are all zero or non-finite) has NaN in its row and column, except the diagonal.

Persons seen in the same frame are certainly different people: the similarities of such
pairs are a null distribution, and :func:`null_threshold` turns a high percentile of it
into a threshold calibrated to this video and this embedder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from streamreid.config import ConfigError
from streamreid.persons.select import select_command
from streamreid.reid.features import unit_rows

SIMILARITY_METHODS = ("mean_embedding", "mean_pairwise", "top_k_pairwise")
_SNAP = 1e-9


def _valid_unit_rows(features: np.ndarray) -> np.ndarray:
    """Rows normalised to length 1 in float64; zero or non-finite rows are dropped."""
    array = np.asarray(features, dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, array.shape[1] if array.ndim == 2 else 0))
    if array.ndim != 2:
        raise ValueError(f"features must be (n, dim) per person, got shape {array.shape}")
    finite = np.isfinite(array).all(axis=1)
    keep = finite & (np.abs(np.where(finite[:, None], array, 0.0)).max(axis=1, initial=0.0) > 0)
    return unit_rows(array[keep], dtype=np.float64)


def _prepare(features: Sequence[np.ndarray]) -> tuple[list[np.ndarray], int]:
    units = [_valid_unit_rows(f) for f in features]
    dims = {rows.shape[1] for rows in units if len(rows)}
    if len(dims) > 1:
        raise ValueError(f"all persons' features must have one dimension, got {sorted(dims)}")
    if not dims:
        dims = {rows.shape[1] for rows in units}
    return units, max(dims, default=0)


def _tidy(similarity: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Clip, snap to 1, symmetrise, NaN for absent persons, 1 on the diagonal."""
    similarity = np.clip(similarity, -1.0, 1.0)
    similarity[np.abs(similarity - 1.0) < _SNAP] = 1.0
    similarity[np.abs(similarity + 1.0) < _SNAP] = -1.0
    similarity = (similarity + similarity.T) / 2.0
    similarity[~present, :] = np.nan
    similarity[:, ~present] = np.nan
    np.fill_diagonal(similarity, 1.0)
    return similarity


def mean_vectors(features: Sequence[np.ndarray], *, normalise: bool) -> np.ndarray:
    """Per-person mean of the unit crop features, ``(P, D)``; NaN rows for persons without crops.

    Args:
        features: ``(n_i, D)`` crop features per person (normalised here if they are not).
        normalise: Rescale each mean to length 1 (a person embedding); otherwise keep its
            length, which measures how much the person's crops agree.
    """
    units, dim = _prepare(features)
    means = np.full((len(units), dim), np.nan)
    for i, rows in enumerate(units):
        if len(rows):
            mean = rows.mean(axis=0)
            norm = np.linalg.norm(mean)
            if normalise:
                means[i] = mean / norm if norm > 0 else np.nan
            else:
                means[i] = mean
    return means


def mean_embedding_similarity(features: Sequence[np.ndarray]) -> np.ndarray:
    """Cosine similarity of the persons' renormalised mean crop features, ``(P, P)``."""
    means = mean_vectors(features, normalise=True)
    present = np.isfinite(means).all(axis=1) if means.size else np.zeros(len(means), dtype=bool)
    safe = np.where(present[:, None], means, 0.0)
    return _tidy(safe @ safe.T, present)


def mean_pairwise_similarity(features: Sequence[np.ndarray]) -> np.ndarray:
    """Mean of all cross-person crop cosines, ``(P, P)``.

    Computed as the dot product of the un-normalised mean vectors, which equals the mean of
    the ``n_i x n_j`` cosines exactly (see the module docstring for why that makes it a
    consistency-weighted mean-embedding cosine rather than a set-based measure).
    """
    means = mean_vectors(features, normalise=False)
    present = np.isfinite(means).all(axis=1) if means.size else np.zeros(len(means), dtype=bool)
    safe = np.where(present[:, None], means, 0.0)
    return _tidy(safe @ safe.T, present)


def top_k_pairwise_similarity(features: Sequence[np.ndarray], *, k: int = 5) -> np.ndarray:
    """Mean of the ``k`` highest cross-person crop cosines, ``(P, P)`` (set-based).

    When two persons have fewer than ``k`` crop pairs, all pairs are averaged.

    Args:
        features: ``(n_i, D)`` crop features per person.
        k: Number of best crop pairs averaged; at least 1.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    units, dim = _prepare(features)
    count = len(units)
    present = np.array([len(rows) > 0 for rows in units], dtype=bool)
    similarity = np.zeros((count, count))
    if present.any():
        stacked = np.concatenate([rows for rows in units if len(rows)], axis=0)
        gram = stacked @ stacked.T
        bounds = np.cumsum([0] + [len(rows) for rows in units])
        for i in range(count):
            if not present[i]:
                continue
            for j in range(i + 1, count):
                if not present[j]:
                    continue
                block = gram[bounds[i] : bounds[i + 1], bounds[j] : bounds[j + 1]].ravel()
                take = min(k, block.size)
                best = np.partition(block, block.size - take)[block.size - take :]
                similarity[i, j] = similarity[j, i] = best.mean()
    return _tidy(similarity, present)


def similarity_matrix(features: Sequence[np.ndarray], *, method: str, top_k: int = 5) -> np.ndarray:
    """Person similarity matrix by ``method`` (one of :data:`SIMILARITY_METHODS`).

    Raises:
        ConfigError: Unknown method.
    """
    if method == "mean_embedding":
        return mean_embedding_similarity(features)
    if method == "mean_pairwise":
        return mean_pairwise_similarity(features)
    if method == "top_k_pairwise":
        return top_k_pairwise_similarity(features, k=top_k)
    raise ConfigError(f"reid.method must be one of {', '.join(SIMILARITY_METHODS)}, got '{method}'")


def _pairs(pairs: Iterable[tuple[int, int]], size: int) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for a, b in pairs:
        a, b = int(a), int(b)
        if not (0 <= a < size and 0 <= b < size):
            raise ValueError(f"pair ({a}, {b}) is outside a {size}x{size} matrix")
        if a != b:
            out.add((min(a, b), max(a, b)))
    return out


def null_similarities(similarity: np.ndarray, different_pairs: Iterable[tuple[int, int]]) -> np.ndarray:
    """Finite similarities of the pairs known to be different persons (indices into the matrix)."""
    pairs = sorted(_pairs(different_pairs, len(similarity)))
    values = np.array([similarity[a, b] for a, b in pairs], dtype=np.float64)
    return values[np.isfinite(values)]


def null_threshold(
    similarity: np.ndarray,
    different_pairs: Iterable[tuple[int, int]],
    *,
    percentile: float,
    min_pairs: int = 1,
) -> float | None:
    """A threshold calibrated on pairs known to be different persons.

    Persons seen in the same frame cannot be one person; their similarities show how
    similar *different* people look to this embedder in this video. A pair above the
    returned value is more similar than ``percentile`` % of those.

    Args:
        similarity: ``(P, P)`` matrix.
        different_pairs: Index pairs known to be different persons (order and duplicates
            do not matter; pairs with NaN similarity are ignored).
        percentile: In ``[0, 100]``.
        min_pairs: Fewest usable pairs for a threshold.

    Returns:
        The percentile of the null similarities, or ``None`` with fewer than ``min_pairs``.
    """
    if not 0.0 <= percentile <= 100.0:
        raise ValueError(f"percentile must be in [0, 100], got {percentile}")
    values = null_similarities(similarity, different_pairs)
    if len(values) < max(1, min_pairs):
        return None
    return float(np.percentile(values, percentile))


def _confidence(value: float, *, reference: float, near: float) -> float:
    """0 at ``near``, 0.5 at ``reference``, 1 at similarity 1 (piecewise linear, clipped)."""
    if value >= reference:
        return 1.0 if reference >= 1.0 else float(min(1.0, 0.5 + 0.5 * (value - reference) / (1.0 - reference)))
    low = min(near, reference)
    if reference <= low:
        return 0.0
    return float(max(0.0, 0.5 * (value - low) / (reference - low)))


def recommend_pairs(
    similarity: np.ndarray,
    person_ids: Sequence[int],
    *,
    threshold: float,
    near_threshold: float,
    calibrated_threshold: float | None,
    different_pairs: Iterable[tuple[int, int]] = (),
    run_dir: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Pairs of persons that may be one person, most similar first.

    Levels: ``above`` (similarity ≥ ``threshold``), ``calibrated`` (below ``threshold`` but ≥
    the calibrated threshold), ``near`` (from ``near_threshold`` up to ``threshold``). Pairs
    known to be different persons (``different_pairs``, indices) and NaN pairs are skipped.

    ``confidence`` is piecewise linear in the similarity: 0.5 at the reference threshold
    (the calibrated one when known, since it is measured on this video, else ``threshold``),
    1 at similarity 1, 0 at ``near_threshold``. An ``above`` pair under a higher calibrated
    threshold therefore gets less than 0.5: some known-different pairs look as similar.

    Returns:
        ``{"persons": [a, b], "similarity", "confidence", "level"}`` per pair, with person
        ids, plus ``command`` (``streamreid select RUN_DIR --persons a,b --merge``) when
        ``run_dir`` is given.
    """
    size = len(similarity)
    if len(person_ids) != size:
        raise ValueError(f"{len(person_ids)} person ids for a {size}x{size} matrix")
    excluded = _pairs(different_pairs, size)
    reference = threshold if calibrated_threshold is None else calibrated_threshold
    out: list[dict[str, Any]] = []
    for a in range(size):
        for b in range(a + 1, size):
            value = float(similarity[a, b])
            if not np.isfinite(value) or (a, b) in excluded:
                continue
            if value >= threshold:
                level = "above"
            elif calibrated_threshold is not None and value >= calibrated_threshold:
                level = "calibrated"
            elif value >= near_threshold:
                level = "near"
            else:
                continue
            out.append(recommendation_record(value, person_ids[a], person_ids[b], reference=reference,
                                             near=near_threshold, level=level, run_dir=run_dir))  # fmt: skip
    out.sort(key=lambda r: (-r["similarity"], r["persons"]))
    return out


def utc_timestamp() -> str:
    """Now, as ``2026-01-15T10:30:00Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_matrix(matrix: np.ndarray, digits: int = 6) -> list[list[float | None]]:
    return [[round(float(v), digits) if np.isfinite(v) else None for v in row] for row in matrix]


def similarity_payload(
    similarity: np.ndarray,
    person_ids: Sequence[int],
    *,
    method: str,
    embedder: str | Mapping[str, Any],
    threshold: float,
    near_threshold: float,
    calibrated_threshold: float | None,
    different_pairs: Iterable[tuple[int, int]] = (),
    null_pairs: int | None = None,
    timestamp: str | None = None,
) -> dict[str, Any]:
    """The ``similarity_matrix.json`` document (docs/OUTPUTS.md).

    ``threshold_70`` keeps the reference's name for the pairs at or above ``threshold``
    (0.70 by default). NaN similarities become ``null``. Pairs are person ids;
    ``different_pairs`` (matrix indices, known to be different persons) are left out of
    every pair list.

    Args:
        similarity: ``(P, P)`` matrix.
        person_ids: Person id per row.
        method: Similarity method used.
        embedder: Embedder name, or its description (``{"name", "kind", "dim", ...}``).
        threshold: Fixed threshold.
        near_threshold: Lower end of the "near" band.
        calibrated_threshold: From :func:`null_threshold`, or ``None``.
        different_pairs: Index pairs known to be different persons.
        null_pairs: Count reported as ``null_pairs``; by default the known-different pairs
            with a finite similarity (those the calibration used).
        timestamp: ISO time; now when omitted.
    """
    size = len(similarity)
    if len(person_ids) != size:
        raise ValueError(f"{len(person_ids)} person ids for a {size}x{size} matrix")
    known_different = _pairs(different_pairs, size)
    ids = [int(p) for p in person_ids]
    above, near, calibrated = _pair_lists(
        similarity,
        ids,
        known_different,
        threshold=threshold,
        near_threshold=near_threshold,
        calibrated_threshold=calibrated_threshold,
    )
    return {
        "similarity_matrix": _json_matrix(similarity),
        "person_ids": ids,
        "method": method,
        "embedder": embedder if isinstance(embedder, str) else dict(embedder),
        "threshold": float(threshold),
        "threshold_70": above,
        "near_threshold": float(near_threshold),
        "near_threshold_pairs": near,
        "calibrated_threshold": None if calibrated_threshold is None else round(float(calibrated_threshold), 6),
        "null_pairs": int(len(null_similarities(similarity, known_different)) if null_pairs is None else null_pairs),
        "calibrated_pairs": calibrated,
        "timestamp": timestamp or utc_timestamp(),
    }


def _pair_lists(
    similarity: np.ndarray,
    ids: list[int],
    known_different: set[tuple[int, int]],
    *,
    threshold: float,
    near_threshold: float,
    calibrated_threshold: float | None,
) -> tuple[list[list[int]], list[list[float]], list[list[float]]]:
    """Person pairs at or above ``threshold``, in the near band, and at or above the calibrated threshold."""
    above: list[list[int]] = []
    near: list[list[float]] = []
    calibrated: list[list[float]] = []
    for a in range(len(ids)):
        for b in range(a + 1, len(ids)):
            value = float(similarity[a, b])
            if not np.isfinite(value) or (a, b) in known_different:
                continue
            if value >= threshold:
                above.append([ids[a], ids[b]])
            elif value >= near_threshold:
                near.append([ids[a], ids[b], round(value, 6)])
            if calibrated_threshold is not None and value >= calibrated_threshold:
                calibrated.append([ids[a], ids[b], round(value, 6)])
    return above, near, calibrated


def embeddings_payload(
    embeddings: np.ndarray,
    person_ids: Sequence[int],
    *,
    embedder: Mapping[str, Any],
    timestamp: str | None = None,
    digits: int = 6,
) -> dict[str, Any]:
    """The ``embeddings.json`` document: one vector per person (``null`` for persons without crops).

    Args:
        embeddings: ``(P, D)`` person embeddings, e.g. ``mean_vectors(features, normalise=True)``.
        person_ids: Id per row.
        embedder: Description of the embedder: ``name`` and ``kind`` are required (they become
            ``model`` and ``kind``); the whole mapping is kept under ``embedder``.
        timestamp: ISO time; now when omitted.
        digits: Decimals kept per value.
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2 or len(embeddings) != len(person_ids):
        raise ValueError(f"embeddings must be ({len(person_ids)}, dim), got shape {embeddings.shape}")
    vectors: dict[str, list[float] | None] = {}
    for pid, row in zip(person_ids, embeddings, strict=True):
        vectors[str(int(pid))] = [round(float(v), digits) for v in row] if np.isfinite(row).all() else None
    return {
        "embeddings": vectors,
        "person_ids": [int(p) for p in person_ids],
        "model": str(embedder["name"]),
        "kind": str(embedder["kind"]),
        "embedder": dict(embedder),
        "dim": int(embeddings.shape[1]),
        "timestamp": timestamp or utc_timestamp(),
    }


def recommendation_record(value: float, first: int, second: int, *, reference: float, near: float, level: str,
                          run_dir: str | Path | None = None) -> dict[str, Any]:  # fmt: skip
    """One entry of ``merge_recommendations.json``'s ``recommendations`` (person ids, confidence, command)."""
    record: dict[str, Any] = {
        "persons": [int(first), int(second)],
        "similarity": round(float(value), 6),
        "confidence": round(_confidence(float(value), reference=reference, near=near), 4),
        "level": level,
    }
    if run_dir is not None:
        record["command"] = select_command(run_dir, (int(first), int(second)))
    return record

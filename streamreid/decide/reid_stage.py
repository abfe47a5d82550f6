"""The re-identification stage: each person's best crops → features → similarity → merge decisions.

:func:`embed_persons` runs the embedder over the crops the store kept for each person and
returns :class:`CropFeatures`; :func:`decide` compares the persons and decides which are
one human (:class:`ReidDecision`, pure); :func:`write_reid` writes a :class:`ReidResult`
(``crop_features.npz``, the embeddings, the similarity matrix and
``merge_recommendations.json``, described in docs/OUTPUTS.md). :func:`merge_links` turns
confident clusters into the must-links the next grouping round honours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from streamreid import rundir
from streamreid.config import ReidConfig
from streamreid.decide.calibration import RuleOptions, decide_persons
from streamreid.decide.merging import constrained_agglomerative, merge_recommendations_payload
from streamreid.decide.similarity import (
    embeddings_payload,
    mean_vectors,
    null_threshold,
    recommend_pairs,
    recommendation_record,
    similarity_matrix,
    similarity_payload,
)
from streamreid.errors import StreamReidError
from streamreid.persons.person_tracks import PersonTrack, co_visible_pairs, co_visible_tracklets
from streamreid.reid.embed import RememberingEmbedder
from streamreid.reid.features import Embedder, EmbedderInfo
from streamreid.run.reviews import apart
from streamreid.types import Person

#: Files of the ReID stage, removed before it runs again.
REID_OUTPUTS = (
    rundir.EMBEDDINGS, rundir.EMBEDDINGS_NPY, rundir.CROP_FEATURES, rundir.SIMILARITY, rundir.SIMILARITY_NPY,
    rundir.MERGE_RECOMMENDATIONS,
)  # fmt: skip

#: The rules ``reid.decision`` names: a rule fitted on the video's own pairs, or the fixed ``reid.threshold``.
DECISION_RULES = ("calibrated", "fixed")

FALLBACK_NOTE = (
    "appearance similarity comes from the weights-free fallback embedder (colour/texture histograms), "
    "not OSNet: treat its recommendations as hints"
)


class CropSource(Protocol):
    """What :func:`embed_persons` reads crops from (:class:`~streamreid.run.store_reader.StoreReader`)."""

    def crop_rows_for(
        self, tracker_ids: Sequence[int], *, buffer: str, limit: int | None, order: str
    ) -> dict[str, np.ndarray]:
        """The metadata rows of the tracklets' crops (``index``: rows for :meth:`images`)."""
        ...

    def images(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """The crops of these rows."""
        ...


@dataclass(frozen=True)
class CropFeatures:
    """Each person's best crops as the embedder saw them: one entry per person, rows per crop.

    Attributes:
        features: ``(n_i, dim)`` float32 unit features per person.
        tracker_ids: ``(n_i,)`` int64 tracklet of each crop.
        frame_indices: ``(n_i,)`` int64 frame of each crop.
    """

    features: tuple[np.ndarray, ...]
    tracker_ids: tuple[np.ndarray, ...]
    frame_indices: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        if not len(self.features) == len(self.tracker_ids) == len(self.frame_indices):
            raise ValueError("CropFeatures needs features, tracker ids and frame indices for every person")


@dataclass(frozen=True)
class ReidDecision:
    """What the appearance comparison decided (pure output of :func:`decide`).

    Attributes:
        similarity: ``(P, P)`` similarities between persons.
        compared: Per person, the crop features as compared (adapted to the video when adapted).
        threshold: The video's own threshold (calibrated), or ``None``.
        recommendations: Pairs to review, as ``merge_recommendations.json`` lists them (person ids).
        clusters: Confident clusters of person indices (singletons included): what a merge round joins.
        shown_clusters: The clusters ``merge_recommendations.json`` lists.
        merges: The merges made, as :func:`~streamreid.decide.merging.constrained_agglomerative` records them.
        details: More for ``similarity.json`` and ``merge_recommendations.json`` (the calibrated rule).
        notes: Warnings for the user.
    """

    similarity: np.ndarray
    compared: tuple[np.ndarray, ...]
    threshold: float | None
    recommendations: tuple[dict[str, Any], ...]
    clusters: tuple[tuple[int, ...], ...]
    shown_clusters: tuple[tuple[int, ...], ...]
    merges: tuple[dict[str, Any], ...]
    details: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AppliedMerge:
    """One merged person auto-merge made: groups of tracklets (persons before) judged one human by appearance.

    Attributes:
        tracklets: Tracker ids of each group joined, in the order joined.
        similarities: For each group after the first, its similarity to those before it when joined
            (mean over their persons), or ``None`` where unknown.
        line: The video's merge line they were judged against, or ``None``.
    """

    tracklets: tuple[tuple[int, ...], ...]
    similarities: tuple[float | None, ...] = ()
    line: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """As ``merge_recommendations.json`` ``applied_merge_details`` lists it."""
        return {"tracklets": [list(side) for side in self.tracklets], "similarities": list(self.similarities),
                "line": self.line}  # fmt: skip


def applied_merges(persons: Sequence[Person], clusters: Sequence[Sequence[int]],
                   decision: ReidDecision) -> list[AppliedMerge]:  # fmt: skip
    """The merges a round applies, one per cluster, with each joined person's similarity and the line."""
    line = None if decision.threshold is None else round(float(decision.threshold), 4)
    found = []
    for cluster in clusters:
        similarities = []
        for index in range(1, len(cluster)):
            values = [float(decision.similarity[i, cluster[index]]) for i in cluster[:index]]
            finite = [v for v in values if math.isfinite(v)]
            similarities.append(round(sum(finite) / len(finite), 4) if finite else None)
        found.append(AppliedMerge(tracklets=tuple(persons[i].tracklet_ids for i in cluster),
                                  similarities=tuple(similarities), line=line))  # fmt: skip
    return found


def recorded_merges(run_dir: Path) -> tuple[AppliedMerge, ...]:
    """The merges auto-merge applied, as ``merge_recommendations.json`` records them (none when unreadable)."""
    path = Path(run_dir) / rundir.MERGE_RECOMMENDATIONS
    try:
        data = rundir.read_json(path) if path.is_file() else {}
        details = data.get("applied_merge_details")
        if not isinstance(details, list):  # older runs: the groups alone
            details = [{"tracklets": merge} for merge in data.get("applied_merges") or []]
        return tuple(
            AppliedMerge(tracklets=tuple(tuple(int(t) for t in side) for side in d["tracklets"]),
                         similarities=tuple(_number(v) for v in d.get("similarities") or ()),
                         line=_number(d.get("line")))
            for d in details
        )  # fmt: skip
    except (StreamReidError, KeyError, TypeError, ValueError, IndexError, AttributeError):
        return ()


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


@dataclass(frozen=True)
class ReidResult:
    """Everything the ReID stage produced for one set of persons (what :func:`write_reid` writes).

    Attributes:
        person_ids: Person id per matrix index.
        crops: The raw crop features.
        different: Person index pairs known to be different people (seen together, or kept apart).
        decision: The comparison and its decisions.
        embedder: The embedder used.
        auto_merged: Whether these persons already come from applied merges.
        applied: The merges applied so far.
    """

    person_ids: tuple[int, ...]
    crops: CropFeatures
    different: frozenset[tuple[int, int]]
    decision: ReidDecision
    embedder: EmbedderInfo
    auto_merged: bool = False
    applied: tuple[AppliedMerge, ...] = field(default=())


def embed_persons(
    persons: Sequence[Person], store: CropSource, embedder: Embedder, *, crops_per_person: int
) -> CropFeatures:
    """Each person's best crops through the embedder; crops embedded in an earlier round are not read again."""
    metas = [
        store.crop_rows_for(person.tracklet_ids, buffer="best", limit=crops_per_person, order="score")
        for person in persons
    ]
    remembering = embedder if isinstance(embedder, RememberingEmbedder) else RememberingEmbedder(embedder)
    features = remembering.embed_stored(store, [meta["index"] for meta in metas])
    return CropFeatures(
        features=tuple(features),
        tracker_ids=tuple(np.asarray(m["tracker_id"], dtype=np.int64) for m in metas),
        frame_indices=tuple(np.asarray(m["frame_index"], dtype=np.int64) for m in metas),
    )


def known_different(
    persons: Sequence[Person], tracks: Sequence[PersonTrack], cannot_link: Sequence[tuple[int, int]], *,
    firm_confidence: float,
) -> frozenset[tuple[int, int]]:  # fmt: skip
    """Person index pairs known to be different people: seen together, or kept apart by the user.

    Only boxes of ``firm_confidence`` or more count as seen (:func:`~streamreid.persons.person_tracks.seen_together`).
    """
    seen = co_visible_pairs(tracks, min_confidence=firm_confidence)
    return frozenset(seen | apart([p.tracklet_ids for p in persons], cannot_link))


def decide(
    crops: CropFeatures,
    person_ids: Sequence[int],
    different: frozenset[tuple[int, int]],
    *,
    tracks: Sequence[PersonTrack],
    options: ReidConfig,
    merged: bool,
    firm_confidence: float,
    command_dir: str | None = None,
) -> ReidDecision:
    """Compare the persons by appearance and decide, with the rule ``options.decision`` names.

    Args:
        crops: Each person's crop features.
        person_ids: Person id per index.
        different: Person index pairs known to be different people.
        tracks: The persons' detections (their co-visible tracklets are negatives of the calibrated rule).
        options: The ``reid`` section of the config.
        merged: The persons already come from applied merges (only uncertain pairs are left to show).
        firm_confidence: Boxes that count as seen together (``WorkingSet.firm_confidence``).
        command_dir: The run directory named in each recommendation's ``select`` command.
    """
    if options.decision == DECISION_RULES[0]:
        negatives = co_visible_tracklets(tracks, min_confidence=firm_confidence)
        return decide_calibrated(crops, person_ids, different, tracklet_negatives=negatives,
                                 options=options, merged=merged, command_dir=command_dir)  # fmt: skip
    return decide_by_threshold(crops, person_ids, different, options=options, command_dir=command_dir)


def decide_by_threshold(
    crops: CropFeatures,
    person_ids: Sequence[int],
    different: frozenset[tuple[int, int]],
    *,
    options: ReidConfig,
    command_dir: str | None = None,
) -> ReidDecision:
    """The fixed rule: merge what both ``options.threshold`` and the video's null threshold accept."""
    similarity = similarity_matrix(list(crops.features), method=options.method, top_k=options.top_k)
    calibrated = null_threshold(similarity, different, percentile=options.null_percentile)
    recommendations = recommend_pairs(similarity, list(person_ids), threshold=options.threshold,
                                      near_threshold=options.near_threshold, calibrated_threshold=calibrated,
                                      different_pairs=different, run_dir=command_dir)  # fmt: skip
    merge_threshold = max(options.threshold, calibrated) if calibrated is not None else options.threshold
    clusters, merges = constrained_agglomerative(similarity, cannot_link=different, threshold=merge_threshold,
                                                 linkage=options.merge_linkage)  # fmt: skip
    clusters = _as_tuples(clusters)
    return ReidDecision(similarity=similarity, compared=crops.features, threshold=calibrated,
                        recommendations=tuple(recommendations), clusters=clusters, shown_clusters=clusters,
                        merges=tuple(merges))  # fmt: skip


def decide_calibrated(
    crops: CropFeatures,
    person_ids: Sequence[int],
    different: frozenset[tuple[int, int]],
    *,
    tracklet_negatives: set[tuple[int, int]],
    options: ReidConfig,
    merged: bool,
    command_dir: str | None = None,
) -> ReidDecision:
    """The calibrated rule: adapt, fit the video's rule, keep confident clusters, list uncertain pairs."""
    decision = decide_persons(
        list(crops.features), list(crops.tracker_ids), list(crops.frame_indices), different=different,
        tracklet_negatives=tracklet_negatives, method=options.method, top_k=options.top_k,
        linkage=options.merge_linkage, adapt=options.adapt,
        rule_options=RuleOptions(min_pairs=options.min_calibration_pairs, min_auc=options.min_separation,
                                 merge_percentile=options.null_percentile,
                                 recommend_percentile=options.recommend_percentile),
    )  # fmt: skip
    rule = decision.rule
    records = tuple(
        recommendation_record(value, person_ids[a], person_ids[b], reference=rule.merge_threshold or 1.0,
                              near=rule.recommend_threshold or 1.0, level="calibrated", run_dir=command_dir)
        for a, b, value in decision.recommended
    )  # fmt: skip
    details = {
        "decision": rule.to_dict(),
        "adaptation": decision.projection.to_dict() if decision.projection else None,
        "seen_together": sorted([person_ids[a], person_ids[b]] for a, b in different),
    }
    clusters = _as_tuples(decision.clusters)
    # once merged, the persons are the confident clusters: what is left to show is the uncertain pairs
    return ReidDecision(
        similarity=decision.similarity, compared=tuple(decision.features), threshold=rule.merge_threshold,
        recommendations=records, clusters=clusters,
        shown_clusters=tuple((i,) for i in range(len(person_ids))) if merged else clusters,
        merges=() if merged else tuple(decision.merges), details=details,
        notes=() if rule.trusted else (rule.reason,),
    )  # fmt: skip


def merge_links(persons: Sequence[Person], clusters: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Must-links that join each cluster's persons: first tracklet of each to the next's."""
    return [
        (persons[a].tracklet_ids[0], persons[b].tracklet_ids[0])
        for cluster in clusters
        for a, b in zip(cluster, cluster[1:], strict=False)
    ]


def merged_clusters(decision: ReidDecision) -> list[tuple[int, ...]]:
    """The clusters of more than one person: the merges a round of auto-merge applies."""
    return [cluster for cluster in decision.clusters if len(cluster) > 1]


def write_reid(run_dir: Path, result: ReidResult, *, options: ReidConfig) -> None:
    """Write the ReID outputs of ``result`` into ``run_dir`` (docs/OUTPUTS.md)."""
    crops, decision, ids = result.crops, result.decision, list(result.person_ids)
    embedder = result.embedder.to_dict()
    columns = crop_feature_columns(crops, ids)
    rundir.replace_atomically(run_dir / rundir.CROP_FEATURES, lambda tmp: _save(tmp, np.savez_compressed, **columns),
                              suffix=".npz")  # fmt: skip
    means = mean_vectors(list(decision.compared), normalise=True).astype(np.float32)
    rundir.replace_atomically(run_dir / rundir.EMBEDDINGS_NPY, lambda tmp: _save(tmp, np.save, means), suffix=".npy")
    rundir.write_json(run_dir / rundir.EMBEDDINGS, embeddings_payload(means, ids, embedder=embedder))
    rundir.replace_atomically(run_dir / rundir.SIMILARITY_NPY, lambda tmp: _save(tmp, np.save, decision.similarity),
                              suffix=".npy")  # fmt: skip
    similarity = similarity_payload(decision.similarity, ids, method=options.method, embedder=embedder,
                                    threshold=options.threshold, near_threshold=options.near_threshold,
                                    calibrated_threshold=decision.threshold,
                                    different_pairs=result.different)  # fmt: skip
    rundir.write_json(run_dir / rundir.SIMILARITY, {**similarity, **(decision.details or {})})
    payload = merge_recommendations_payload(list(decision.recommendations), decision.shown_clusters, ids,
                                            merges=decision.merges, auto_merged=result.auto_merged)  # fmt: skip
    if decision.details is not None:  # the calibrated rule also says what it applied
        payload.update(decision.details)
    payload["applied_merges"] = [[list(ids) for ids in merge.tracklets] for merge in result.applied]
    payload["applied_merge_details"] = [merge.to_dict() for merge in result.applied]
    rundir.write_json(run_dir / rundir.MERGE_RECOMMENDATIONS, payload)


def _save(path: str, save: Any, *args: Any, **arrays: np.ndarray) -> None:
    """``save`` (``np.save``, ``np.savez_compressed``) into the file ``path`` as named, no suffix added."""
    with open(path, "wb") as handle:
        save(handle, *args, **arrays)


def crop_feature_columns(crops: CropFeatures, person_ids: Sequence[int]) -> dict[str, np.ndarray]:
    """The columns of ``crop_features.npz``: one row per crop."""
    return {
        "features": np.concatenate(crops.features).astype(np.float32),
        "person_id": np.concatenate(
            [np.full(len(f), pid, dtype=np.int64) for f, pid in zip(crops.features, person_ids, strict=True)]
        ),
        "tracker_id": np.concatenate(crops.tracker_ids),
        "frame_index": np.concatenate(crops.frame_indices),
    }


def _as_tuples(clusters: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(i) for i in cluster) for cluster in clusters)

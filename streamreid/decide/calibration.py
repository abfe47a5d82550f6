"""One same-person decision, calibrated on the video itself.

Each video supplies its own labelled pairs: two halves of one tracklet are the same
person (*positives*), two persons seen in the same frame are different (*negatives*).
:func:`fit_rule` turns their similarities into a :class:`DecisionRule`:

* ``merge_threshold``: above it a pair is *confidently* one person. It must clear the
  negatives: their ``merge_percentile``-th percentile, or the highest negative while
  there are too few of them to resolve that percentile.
* ``recommend_threshold``: from here up to the merge threshold a pair is *uncertain*
  and shown to the user as a recommendation; below it, nothing.
* ``trusted``: the rule is used only with at least ``min_pairs`` positives and negatives
  and when they separate (ROC AUC ≥ ``min_auc``). Otherwise the run says that the
  evidence cannot separate people, merges nothing and recommends nothing.

:func:`recommendations` then lists at most one uncertain partner per person (mutual
best matches), so a video never gets more recommendations than persons. The fixed
``reid.threshold`` (0.70) stays in the outputs as a reference line only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from streamreid.decide.merging import constrained_agglomerative
from streamreid.decide.similarity import null_similarities, similarity_matrix
from streamreid.reid.adaptation import Projection, learn_projection


@dataclass(frozen=True)
class DecisionRule:
    """How this video's similarities are read.

    Attributes:
        trusted: Whether the rule may merge and recommend at all.
        merge_threshold: Similarity from which a pair is confidently one person (``None`` if untrusted).
        recommend_threshold: Similarity from which an unmerged pair is recommended (``None`` if untrusted).
        positives: Same-person pairs (tracklet halves) it was fitted on.
        negatives: Different-person pairs (seen together) it was fitted on.
        auc: Chance that a positive scores above a negative.
        reason: One sentence for people: why the rule is (not) trusted.
    """

    trusted: bool
    merge_threshold: float | None
    recommend_threshold: float | None
    positives: int
    negatives: int
    auc: float | None
    reason: str

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready dict."""
        out = asdict(self)
        for key in ("merge_threshold", "recommend_threshold", "auc"):
            if out[key] is not None:
                out[key] = round(float(out[key]), 6)
        return out


def roc_auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """P(positive > negative) + ½·P(tie), by ranks."""
    pos, neg = np.asarray(positives, float), np.asarray(negatives, float)
    if not len(pos) or not len(neg):
        return float("nan")
    values = np.concatenate([pos, neg])
    order = values.argsort(kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    # average ranks of ties
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_values)) + 1]
    ends = np.r_[starts[1:], len(values)]
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = (s + e + 1) / 2
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


@dataclass(frozen=True)
class RuleOptions:
    """How :func:`fit_rule` fits a video's rule.

    Attributes:
        min_pairs: Fewest positives and fewest negatives before the rule is trusted.
        min_auc: Least separation (ROC AUC) before the rule is trusted.
        merge_percentile: Percentile of the negatives a confident merge must clear.
        recommend_percentile: Percentile of the negatives a recommendation must clear.
    """

    min_pairs: int = 8
    min_auc: float = 0.9
    merge_percentile: float = 99.0
    recommend_percentile: float = 90.0


def fit_rule(
    positives: Iterable[float], negatives: Iterable[float], *, options: RuleOptions = RuleOptions()
) -> DecisionRule:
    """Fit the merge and recommendation thresholds to one video's own positive and negative pairs.

    Args:
        positives: Similarities of pairs known to be one person.
        negatives: Similarities of pairs known to be different people.
        options: The evidence needed and the percentiles of the thresholds.

    Returns:
        The rule; untrusted (no thresholds) when the evidence is thin or does not separate.
    """
    min_pairs, min_auc = options.min_pairs, options.min_auc
    merge_percentile, recommend_percentile = options.merge_percentile, options.recommend_percentile
    pos = np.asarray([v for v in positives if np.isfinite(v)], dtype=float)
    neg = np.asarray([v for v in negatives if np.isfinite(v)], dtype=float)
    if len(pos) < min_pairs or len(neg) < min_pairs:
        return DecisionRule(False, None, None, len(pos), len(neg), None,
                            f"too few pairs to calibrate on this video ({len(pos)} same-person, {len(neg)} seen "
                            f"together; {min_pairs} of each needed): nothing merged or recommended")  # fmt: skip
    auc = roc_auc(pos, neg)
    if auc < min_auc:
        return DecisionRule(False, None, None, len(pos), len(neg), auc,
                            f"the appearance features cannot separate people in this video (a same-person pair "
                            f"outscores a pair seen together only {auc:.0%} of the time): nothing merged or "
                            f"recommended")  # fmt: skip
    # with n negatives, the p-th percentile is only resolved when n·(1 − p) ≥ 1: use the maximum before that
    resolved = len(neg) * (1 - merge_percentile / 100) >= 1
    merge = float(np.percentile(neg, merge_percentile)) if resolved else float(neg.max())
    recommend = min(float(np.percentile(neg, recommend_percentile)), merge)
    return DecisionRule(True, merge, recommend, len(pos), len(neg), auc,
                        f"calibrated on {len(pos)} same-person and {len(neg)} seen-together pairs of this video "
                        f"(separation {auc:.0%})")  # fmt: skip


def split_half_similarities(
    features: Sequence[np.ndarray], frames: Sequence[np.ndarray], *, min_crops: int = 4, chunk: int = 4
) -> np.ndarray:
    """Positives: within each tracklet, the cosines between the mean features of its stretches in time.

    A tracklet's crops, in frame order, are cut into stretches of at least ``chunk`` crops
    (two at least, at most three); every pair of stretches is one same-person pair.

    Args:
        features: Per tracklet, ``(n, D)`` unit crop features.
        frames: Per tracklet, the frame index of each crop.
        min_crops: Tracklets with fewer crops give no pair.
        chunk: Fewest crops in a stretch beyond the first two.
    """
    values = []
    for feats, when in zip(features, frames, strict=True):
        if len(feats) < min_crops:
            continue
        order = np.argsort(np.asarray(when), kind="stable")
        parts = max(2, min(3, len(order) // chunk))
        means = [feats[rows].mean(axis=0) for rows in np.array_split(order, parts)]
        for i in range(parts):
            for j in range(i + 1, parts):
                na, nb = np.linalg.norm(means[i]), np.linalg.norm(means[j])
                if na > 0 and nb > 0:
                    values.append(float(means[i] @ means[j] / (na * nb)))
    return np.asarray(values, dtype=float)


def tracklet_positives(
    features: Sequence[np.ndarray], crop_tracklets: Sequence[np.ndarray], crop_frames: Sequence[np.ndarray]
) -> np.ndarray:
    """The same-person pairs of a set of persons: :func:`split_half_similarities` over each of their tracklets.

    Args:
        features: Per person, ``(n, D)`` unit crop features.
        crop_tracklets: Per person, the tracklet id of each crop.
        crop_frames: Per person, the frame index of each crop.
    """
    by_tracklet = _by_tracklet(features, crop_tracklets, crop_frames)
    return split_half_similarities([f for f, _ in by_tracklet.values()], [w for _, w in by_tracklet.values()])


def recommendations(
    similarity: np.ndarray,
    rule: DecisionRule,
    *,
    different_pairs: Iterable[tuple[int, int]] = (),
) -> list[tuple[int, int, float]]:
    """Uncertain pairs worth a look: mutual best matches between the recommend and merge thresholds.

    Args:
        similarity: ``(P, P)`` similarities of the persons the user sees (confident merges applied).
        rule: The video's rule; an untrusted rule recommends nothing.
        different_pairs: Index pairs seen together: never recommended.

    Returns:
        ``(a, b, similarity)`` index pairs (``a < b``), most similar first; at most one per person.
    """
    if not rule.trusted or rule.recommend_threshold is None or len(similarity) < 2:
        return []
    values = np.array(similarity, dtype=float, copy=True)
    np.fill_diagonal(values, -np.inf)
    values[~np.isfinite(values)] = -np.inf
    for a, b in different_pairs:
        values[a, b] = values[b, a] = -np.inf
    best = values.argmax(axis=1)
    out = []
    for a, b in enumerate(best.tolist()):
        value = values[a, b]
        if a < b and best[b] == a and value >= rule.recommend_threshold:
            out.append((a, b, float(value)))
    return sorted(out, key=lambda r: (-r[2], r[0], r[1]))


@dataclass(frozen=True)
class PersonDecision:
    """What the appearance stage decided about a set of persons.

    Attributes:
        similarity: ``(P, P)`` similarities between persons (in the adapted space when adapted).
        features: Per person, its crop features as compared (adapted when adapted).
        rule: The video's decision rule.
        projection: The per-video projection, or ``None`` when adaptation is off.
        clusters: Confident clusters of person indices (singletons included).
        merges: The merges made, as :func:`streamreid.decide.merging.constrained_agglomerative` records them.
        recommended: Uncertain pairs ``(a, b, similarity)`` across clusters, mutual best matches.
    """

    similarity: np.ndarray
    features: list[np.ndarray]
    rule: DecisionRule
    projection: Projection | None
    clusters: list[list[int]]
    merges: list[dict[str, object]]
    recommended: list[tuple[int, int, float]]


def decide_persons(
    features: Sequence[np.ndarray],
    crop_tracklets: Sequence[np.ndarray],
    crop_frames: Sequence[np.ndarray],
    *,
    different: Iterable[tuple[int, int]],
    tracklet_negatives: Iterable[tuple[int, int]] = (),
    method: str = "mean_embedding",
    top_k: int = 5,
    linkage: str = "average",
    adapt: bool = True,
    rule_options: RuleOptions = RuleOptions(),
) -> PersonDecision:
    """Adapt the features to the video, calibrate the rule, find confident clusters and uncertain pairs.

    Args:
        features: Per person, ``(n, D)`` unit crop features.
        crop_tracklets: Per person, the tracklet id of each crop.
        crop_frames: Per person, the frame index of each crop.
        different: Person index pairs seen together (never one person).
        tracklet_negatives: Tracklet id pairs seen together (more negatives for the projection and the rule).
        method: Person similarity (:func:`streamreid.decide.similarity.similarity_matrix`).
        top_k: For ``top_k_pairwise``.
        linkage: Agglomerative linkage.
        adapt: Learn the per-video projection first.
        rule_options: How the video's rule is fitted (:func:`fit_rule`).
    """
    different = sorted({(min(a, b), max(a, b)) for a, b in different})
    tracklet_negatives = sorted({(min(a, b), max(a, b)) for a, b in tracklet_negatives})
    features = [np.asarray(f, dtype=np.float32) for f in features]
    projection = None
    if adapt and features and sum(len(f) for f in features):
        projection = learn_projection(np.concatenate(features), np.concatenate(crop_tracklets).astype(np.int64),
                                      negative_pairs=tracklet_negatives)  # fmt: skip
        features = [projection.apply(f) for f in features]
    similarity = similarity_matrix(features, method=method, top_k=top_k)
    by_tracklet = _by_tracklet(features, crop_tracklets, crop_frames)
    positives = split_half_similarities([f for f, _ in by_tracklet.values()], [w for _, w in by_tracklet.values()])
    negatives = np.concatenate(
        [null_similarities(similarity, different), _tracklet_similarities(by_tracklet, tracklet_negatives)]
    )
    rule = fit_rule(positives, negatives, options=rule_options)
    if rule.trusted and rule.merge_threshold is not None:
        clusters, merges = constrained_agglomerative(similarity, cannot_link=different, threshold=rule.merge_threshold,
                                                     linkage=linkage)  # fmt: skip
    else:
        clusters, merges = [[i] for i in range(len(features))], []
    cluster_of = {i: c for c, members in enumerate(clusters) for i in members}
    blocked = list(different) + [(a, b) for a in range(len(features)) for b in range(a + 1, len(features))
                                 if cluster_of[a] == cluster_of[b]]  # fmt: skip
    recommended = recommendations(similarity, rule, different_pairs=blocked)
    return PersonDecision(similarity, features, rule, projection, clusters, merges, recommended)


def _by_tracklet(
    features: Sequence[np.ndarray], tracklets: Sequence[np.ndarray], frames: Sequence[np.ndarray]
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for feats, ids, when in zip(features, tracklets, frames, strict=True):
        ids, when = np.asarray(ids), np.asarray(when)
        for tracklet in np.unique(ids).tolist():
            rows = ids == tracklet
            out[int(tracklet)] = (feats[rows], when[rows])
    return out


def _tracklet_similarities(
    by_tracklet: dict[int, tuple[np.ndarray, np.ndarray]], pairs: Sequence[tuple[int, int]]
) -> np.ndarray:
    """Cosine of the mean features of tracklet pairs (pairs with an unknown tracklet are skipped)."""
    values = []
    for a, b in pairs:
        if a in by_tracklet and b in by_tracklet and len(by_tracklet[a][0]) and len(by_tracklet[b][0]):
            ma, mb = by_tracklet[a][0].mean(axis=0), by_tracklet[b][0].mean(axis=0)
            na, nb = np.linalg.norm(ma), np.linalg.norm(mb)
            if na > 0 and nb > 0:
                values.append(float(ma @ mb / (na * nb)))
    return np.asarray(values, dtype=float)

"""Deciding which persons of two videos are the same human (pure functions, no I/O).

Appearance alone decides, since the videos may come from different cameras at
the same time or from one camera on different days. What "similar enough" means
is calibrated per pair of videos: persons seen in the same frame of one video are
certainly different people (unless their boxes sit on top of each other: one human
tracked twice), so their similarities show how alike different people look to this
embedder in these two scenes. A cross-video pair must beat a high percentile of those
(and a floor).

Before that, the same judgement as inside one video (:func:`streamreid.decide.calibration.fit_rule`)
says whether the embedder can separate people in these two scenes at all: same-person pairs
(stretches of one tracklet) must outscore the pairs seen together. Where they do not, or
the evidence is too thin, nothing is matched and the reason is recorded.

Matches are one-to-one per pair of videos, most similar first: a person is one human
only once in the other video (two persons of one video that are one human are for
that video's own merge to join).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from streamreid.decide.calibration import DecisionRule, RuleOptions, fit_rule, tracklet_positives
from streamreid.decide.similarity import null_similarities, similarity_matrix


@dataclass(frozen=True)
class VideoPersons:
    """The persons of one video, as the matching sees them.

    Attributes:
        name: The run's name (its folder in a batch).
        person_ids: Person ids of the run, in the order of ``features``.
        features: Per person, its crop features ``(n, D)`` (unit rows; ``n`` may be 0).
        different: Index pairs (into ``person_ids``) of persons seen in the same frame.
        crop_tracklets: Per person, the tracklet of each crop (empty: not known).
        crop_frames: Per person, the frame of each crop (empty: not known).
    """

    name: str
    person_ids: tuple[int, ...]
    features: tuple[np.ndarray, ...]
    different: frozenset[tuple[int, int]] = field(default_factory=frozenset)
    crop_tracklets: tuple[np.ndarray, ...] = ()
    crop_frames: tuple[np.ndarray, ...] = ()

    def __post_init__(self) -> None:
        if len(self.person_ids) != len(self.features):
            raise ValueError(f"{len(self.person_ids)} person ids but {len(self.features)} feature sets")


@dataclass(frozen=True)
class PairCalibration:
    """How the threshold of one pair of videos was set.

    Attributes:
        threshold: The similarity a cross-video pair needs.
        calibrated: The percentile of the known-different pairs, or None without any.
        null_pairs: Known-different pairs it was measured on (both videos together).
        rule: Whether the embedder separates people in these two videos (``None``: not judged).
    """

    threshold: float
    calibrated: float | None
    null_pairs: int
    rule: DecisionRule | None = None

    @property
    def trusted(self) -> bool:
        """Whether matches may be made at all."""
        return self.rule is None or self.rule.trusted


@dataclass(frozen=True)
class CrossMatch:
    """Person ``persons[0]`` of run ``runs[0]`` is probably person ``persons[1]`` of run ``runs[1]``."""

    runs: tuple[str, str]
    persons: tuple[int, int]
    similarity: float
    confidence: float

    def to_dict(self) -> dict[str, object]:
        """Plain dict for ``cross_video_matches.json``."""
        return {"runs": list(self.runs), "persons": list(self.persons),
                "similarity": round(self.similarity, 6), "confidence": round(self.confidence, 4)}  # fmt: skip


def joint_similarity(a: VideoPersons, b: VideoPersons, *, method: str, top_k: int = 5) -> np.ndarray:
    """Similarity of every person of ``a`` and ``b`` together, ``(Pa + Pb)²``, ``a`` first."""
    return similarity_matrix(list(a.features) + list(b.features), method=method, top_k=top_k)


def calibrate_pair(
    joint: np.ndarray, a: VideoPersons, b: VideoPersons, *, percentile: float, floor: float, fallback: float
) -> PairCalibration:
    """The threshold for cross-video pairs of ``a`` and ``b``.

    Args:
        joint: :func:`joint_similarity` of ``a`` and ``b``.
        a: The first video's persons.
        b: The second video's persons.
        percentile: Percentile of the known-different similarities a match must reach.
        floor: Lowest threshold, however unlike the known-different people look.
        fallback: Threshold used when neither video saw two persons together.
    """
    offset = len(a.person_ids)
    different = list(a.different) + [(i + offset, j + offset) for i, j in b.different]
    values = null_similarities(joint, different)
    if len(values) == 0:
        return PairCalibration(threshold=max(fallback, floor), calibrated=None, null_pairs=0)
    calibrated = float(np.percentile(values, percentile))
    return PairCalibration(threshold=max(calibrated, floor), calibrated=calibrated, null_pairs=len(values))


def match_confidence(similarity: float, threshold: float) -> float:
    """0.5 at the pair's threshold, rising linearly to 1 at similarity 1."""
    if threshold >= 1.0:
        return 1.0
    return float(np.clip(0.5 + 0.5 * (similarity - threshold) / (1.0 - threshold), 0.0, 1.0))


def accept_matches(cross: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """Cross-video pairs at or above ``threshold``, one-to-one, taken most similar first.

    Args:
        cross: ``(Pa, Pb)`` similarities (NaN for persons without features).
        threshold: The pair's threshold.

    Returns:
        ``(i, j, similarity)`` index triples in the order they were accepted; each ``i`` and each ``j`` once at most.
    """
    values = np.asarray(cross, dtype=np.float64)
    candidates = [(float(values[i, j]), int(i), int(j)) for i, j in zip(*np.nonzero(values >= threshold), strict=True)]
    taken_a: set[int] = set()
    taken_b: set[int] = set()
    accepted = []
    for value, i, j in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
        if i not in taken_a and j not in taken_b:
            taken_a.add(i)
            taken_b.add(j)
            accepted.append((i, j, value))
    return accepted


def separation_rule(joint: np.ndarray, a: VideoPersons, b: VideoPersons, *, options: RuleOptions) -> DecisionRule:
    """Whether the embedder separates people in ``a`` and ``b``: the within-video rule on both videos' pairs.

    Positives are stretches of one tracklet (:func:`streamreid.decide.calibration.tracklet_positives`), negatives the
    persons seen together in either video, both in the space the videos are compared in.
    """
    positives = [
        tracklet_positives(list(v.features), list(v.crop_tracklets), list(v.crop_frames))
        for v in (a, b)
        if len(v.crop_tracklets) == len(v.features) == len(v.crop_frames)
    ]
    offset = len(a.person_ids)
    negatives = null_similarities(joint, list(a.different) + [(i + offset, j + offset) for i, j in b.different])
    rule = fit_rule(np.concatenate([np.zeros(0), *positives]), negatives, options=options)
    return replace(rule, reason=_across(rule.reason))


def _across(reason: str) -> str:
    """The within-video reason, said of two videos and of matches."""
    for one, two in (
        ("this video", "these two videos"),
        ("nothing merged or recommended", "no person matched across them"),
    ):
        reason = reason.replace(one, two)
    return reason


def match_videos(
    a: VideoPersons, b: VideoPersons, *, method: str, top_k: int, percentile: float, floor: float, fallback: float,
    rule_options: RuleOptions | None = None,
) -> tuple[list[CrossMatch], PairCalibration]:  # fmt: skip
    """The persons of ``a`` and ``b`` that are probably the same human, and how the threshold was set.

    The arguments after ``b`` up to ``fallback`` are those of :func:`joint_similarity` and
    :func:`calibrate_pair`; with ``rule_options``, nothing is matched unless :func:`separation_rule`
    trusts the embedder on these two videos (``None``: not judged).
    """
    joint = joint_similarity(a, b, method=method, top_k=top_k)
    calibration = calibrate_pair(joint, a, b, percentile=percentile, floor=floor, fallback=fallback)
    if rule_options is not None:
        calibration = replace(calibration, rule=separation_rule(joint, a, b, options=rule_options))
    size = len(a.person_ids)
    accepted = accept_matches(joint[:size, size:], calibration.threshold) if calibration.trusted else []
    matches = [
        CrossMatch(
            runs=(a.name, b.name),
            persons=(a.person_ids[i], b.person_ids[j]),
            similarity=value,
            confidence=match_confidence(value, calibration.threshold),
        )  # fmt: skip
        for i, j, value in accepted
    ]
    matches.sort(key=lambda m: (-m.similarity, m.persons))
    return matches, calibration


def match_all(
    videos: Sequence[VideoPersons], *, method: str, top_k: int, percentile: float, floor: float, fallback: float,
    rule_options: RuleOptions | None = None,
) -> tuple[list[CrossMatch], dict[tuple[str, str], PairCalibration]]:  # fmt: skip
    """:func:`match_videos` over every pair of videos, in input order."""
    matches: list[CrossMatch] = []
    calibrations: dict[tuple[str, str], PairCalibration] = {}
    for first in range(len(videos)):
        for second in range(first + 1, len(videos)):
            a, b = videos[first], videos[second]
            found, calibration = match_videos(a, b, method=method, top_k=top_k, percentile=percentile, floor=floor,
                                              fallback=fallback, rule_options=rule_options)  # fmt: skip
            matches.extend(found)
            calibrations[(a.name, b.name)] = calibration
    return matches, calibrations

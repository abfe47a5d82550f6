"""Deciding which persons of two videos are the same human (pure functions, no I/O).

Appearance alone decides, since the videos may come from different cameras at
the same time or from one camera on different days. What "similar enough" means
is calibrated per pair of videos: persons seen in the same frame of one video are
certainly different people (unless their boxes sit on top of each other: one human
tracked twice), so their similarities show how alike different people look to this
embedder in these two scenes. A cross-video pair must beat a high percentile of those
(and a floor). Matches are then taken most similar first, and a match is refused when
it would make one person the same as two people who were seen together, or who look
unalike, in the other video.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from streamreid.similarity import null_similarities, similarity_matrix


@dataclass(frozen=True)
class VideoPersons:
    """The persons of one video, as the matching sees them.

    Attributes:
        name: The run's name (its folder in a batch).
        person_ids: Person ids of the run, in the order of ``features``.
        features: Per person, its crop features ``(n, D)`` (unit rows; ``n`` may be 0).
        different: Index pairs (into ``person_ids``) of persons seen in the same frame.
    """

    name: str
    person_ids: tuple[int, ...]
    features: tuple[np.ndarray, ...]
    different: frozenset[tuple[int, int]] = field(default_factory=frozenset)

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
    """

    threshold: float
    calibrated: float | None
    null_pairs: int


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


def accept_matches(
    cross: np.ndarray,
    threshold: float,
    *,
    different_a: frozenset[tuple[int, int]] = frozenset(),
    different_b: frozenset[tuple[int, int]] = frozenset(),
    within_a: np.ndarray | None = None,
    within_b: np.ndarray | None = None,
    floor: float = -1.0,
) -> list[tuple[int, int, float]]:
    """Cross-video pairs at or above ``threshold``, most similar first, that keep the videos consistent.

    Several persons of one video may match one person of the other (one human's separate
    visits), but a pair ``(i, j)`` is refused when ``i`` is already matched to someone who
    was seen together with ``j`` in the second video, or who looks less like ``j`` than
    ``floor`` there (and the same the other way round): one human cannot be two people who
    stood side by side, nor two people who look unalike.

    Args:
        cross: ``(Pa, Pb)`` similarities (NaN for persons without features).
        threshold: The pair's threshold.
        different_a: Index pairs of ``a``'s persons seen together.
        different_b: Index pairs of ``b``'s persons seen together.
        within_a: ``(Pa, Pa)`` similarities inside the first video (None: not checked).
        within_b: ``(Pb, Pb)`` similarities inside the second video (None: not checked).
        floor: Least similarity, inside one video, of two persons matched to one.

    Returns:
        ``(i, j, similarity)`` index triples in the order they were accepted.
    """
    apart_a = _neighbours(different_a)
    apart_b = _neighbours(different_b)
    candidates = [(float(cross[i, j]), i, j) for i, j in zip(*np.nonzero(cross >= threshold), strict=True)]
    matched_a: dict[int, set[int]] = {}
    matched_b: dict[int, set[int]] = {}
    accepted = []
    for value, i, j in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
        i, j = int(i), int(j)
        partners_b, partners_a = matched_a.get(i, set()), matched_b.get(j, set())
        if partners_b & apart_b.get(j, set()) or partners_a & apart_a.get(i, set()):
            continue
        if _unalike(within_b, j, partners_b, floor) or _unalike(within_a, i, partners_a, floor):
            continue
        matched_a.setdefault(i, set()).add(j)
        matched_b.setdefault(j, set()).add(i)
        accepted.append((i, j, value))
    return accepted


def _unalike(within: np.ndarray | None, person: int, others: set[int], floor: float) -> bool:
    """Whether ``person`` looks less like any of ``others`` than ``floor`` (NaN: no evidence)."""
    return within is not None and any(within[person, other] < floor for other in others)


def _neighbours(pairs: frozenset[tuple[int, int]]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for i, j in pairs:
        out.setdefault(i, set()).add(j)
        out.setdefault(j, set()).add(i)
    return out


def match_videos(
    a: VideoPersons, b: VideoPersons, *, method: str, top_k: int, percentile: float, floor: float, fallback: float
) -> tuple[list[CrossMatch], PairCalibration]:
    """The persons of ``a`` and ``b`` that are probably the same human, and how the threshold was set.

    The arguments after ``b`` are those of :func:`joint_similarity` and :func:`calibrate_pair`.
    """
    joint = joint_similarity(a, b, method=method, top_k=top_k)
    calibration = calibrate_pair(joint, a, b, percentile=percentile, floor=floor, fallback=fallback)
    size = len(a.person_ids)
    accepted = accept_matches(joint[:size, size:], calibration.threshold, different_a=a.different,
                              different_b=b.different, within_a=joint[:size, :size], within_b=joint[size:, size:],
                              floor=floor)  # fmt: skip
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
    videos: Sequence[VideoPersons], *, method: str, top_k: int, percentile: float, floor: float, fallback: float
) -> tuple[list[CrossMatch], dict[tuple[str, str], PairCalibration]]:
    """:func:`match_videos` over every pair of videos, in input order."""
    matches: list[CrossMatch] = []
    calibrations: dict[tuple[str, str], PairCalibration] = {}
    for first in range(len(videos)):
        for second in range(first + 1, len(videos)):
            a, b = videos[first], videos[second]
            found, calibration = match_videos(a, b, method=method, top_k=top_k, percentile=percentile, floor=floor,
                                              fallback=fallback)  # fmt: skip
            matches.extend(found)
            calibrations[(a.name, b.name)] = calibration
    return matches, calibrations

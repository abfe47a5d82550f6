"""Rank persons: who is the main subject of the video.

Each person gets four components in ``[0, 1]`` (1 is best):

* ``duration``: frames from first to last sighting, ``end_frame - start_frame + 1``,
  divided by the largest such span over all persons (how long the person is around).
* ``coverage``: ``detection_count / total_frames``, the share of the processed
  frames in which the person is actually detected (clipped to 1).
* ``center``: ``1 - |mean_center - frame centre| / half diagonal`` (clipped to 0).
* ``smoothness``: ``1 / (1 + jitter / sqrt(mean_area))``, jitter relative to the box
  size. With ``jitter_measure: detrended`` the jitter is the pooled RMS of every
  tracklet's :func:`~streamreid.persons.pair_checks.detrended_jitter` (a steady walker is
  smooth); with ``spread`` it is the person's pooled ``center_jitter``.

The score is the weighted mean ``sum(w_k c_k) / sum(w_k)`` with the weights of
:class:`~streamreid.config.RankingConfig` (they need not sum to 1). Rank 1 is the
highest score; ties go to the person seen first, then the lower id.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streamreid.config import ConfigError, RankingConfig
from streamreid.persons.pair_checks import JITTER_MEASURES, tracklet_jitter
from streamreid.types import Person, TrackletStats

COMPONENTS = ("duration", "coverage", "center", "smoothness")


@dataclass(frozen=True)
class PersonScore:
    """One person's place in the ranking.

    Attributes:
        person_id: The person.
        score: Weighted mean of the components, in ``[0, 1]``.
        rank: 1 for the best person.
        components: ``duration``, ``coverage``, ``center`` and ``smoothness``, each in ``[0, 1]``.
    """

    person_id: int
    score: float
    rank: int
    components: dict[str, float]


def ranking_weights(config: RankingConfig) -> dict[str, float]:
    """The component weights of ``config``.

    Raises:
        ConfigError: A weight is negative or all are zero.
    """
    weights = {name: float(getattr(config, name)) for name in COMPONENTS}
    for name, weight in weights.items():
        if weight < 0 or not math.isfinite(weight):
            raise ConfigError(f"ranking.{name} must be a finite weight >= 0, got {weight}")
    if sum(weights.values()) <= 0:
        raise ConfigError("ranking weights must not all be zero")
    return weights


def rank_persons(
    persons: Sequence[Person],
    stats: Sequence[TrackletStats],
    *,
    total_frames: int,
    frame_size: tuple[int, int],
    config: RankingConfig,
) -> list[PersonScore]:
    """Score and rank persons (rank 1 = best), best first.

    Args:
        persons: The persons to rank.
        stats: Statistics of their tracklets (for the detrended jitter).
        total_frames: Frames the detector ran on (the denominator of coverage).
        frame_size: ``(width, height)`` of the source frames.
        config: Component weights and the jitter measure.

    Returns:
        One score per person, sorted by rank.

    Raises:
        ConfigError: Invalid weights or jitter measure.
        ValueError: ``total_frames`` or ``frame_size`` is not positive, or a person names
            a tracker id without statistics.
    """
    weights = ranking_weights(config)
    _check_inputs(config, total_frames=total_frames, frame_size=frame_size)
    width, height = frame_size
    if not persons:
        return []

    by_id = {item.tracker_id: item for item in stats}
    longest = max(p.end_frame - p.start_frame + 1 for p in persons)
    half_diagonal = math.hypot(width, height) / 2.0
    total_weight = sum(weights.values())

    unranked = []
    for person in persons:
        distance = math.hypot(person.mean_center[0] - width / 2.0, person.mean_center[1] - height / 2.0)
        jitter = _person_jitter(person, by_id, config.jitter_measure)
        components = {
            "duration": (person.end_frame - person.start_frame + 1) / longest,
            "coverage": min(person.detection_count / total_frames, 1.0),
            "center": max(1.0 - distance / half_diagonal, 0.0),
            "smoothness": 1.0 / (1.0 + jitter / math.sqrt(person.mean_area)) if person.mean_area > 0 else 0.0,
        }
        score = sum(weights[name] * components[name] for name in COMPONENTS) / total_weight
        unranked.append((person, score, components))

    unranked.sort(key=lambda item: (-item[1], item[0].start_frame, item[0].person_id))
    return [
        PersonScore(person_id=person.person_id, score=float(score), rank=rank, components=components)
        for rank, (person, score, components) in enumerate(unranked, start=1)
    ]


def _check_inputs(config: RankingConfig, *, total_frames: int, frame_size: tuple[int, int]) -> None:
    """Refuse an unknown jitter measure, no frames, or a frame without area."""
    if config.jitter_measure not in JITTER_MEASURES:
        raise ConfigError(
            f"ranking.jitter_measure must be one of {', '.join(JITTER_MEASURES)}, got {config.jitter_measure!r}"
        )
    if total_frames < 1:
        raise ValueError(f"total_frames must be >= 1, got {total_frames}")
    width, height = frame_size
    if width <= 0 or height <= 0:
        raise ValueError(f"frame_size must be positive, got {frame_size}")


def _person_jitter(person: Person, by_id: dict[int, TrackletStats], measure: str) -> float:
    if measure == "spread":
        return float(person.center_jitter)
    squares = 0.0
    count = 0
    for tid in person.tracklet_ids:
        if tid not in by_id:
            raise ValueError(f"person {person.person_id} names tracker id {tid}, which has no statistics")
        item = by_id[tid]
        squares += item.detection_count * tracklet_jitter(item, measure=measure) ** 2
        count += item.detection_count
    return math.sqrt(squares / count) if count > 0 else 0.0


def ranking_results(scores: Sequence[PersonScore], *, config: RankingConfig) -> dict[str, Any]:
    """The ``ranking_results.json`` payload.

    Returns:
        ``{"rankings": [{"person_id", "score", "rank", "components"}], "primary_person": id | None,
        "weights": {component: weight}}``, rankings best first.
    """
    ordered = sorted(scores, key=lambda s: s.rank)
    return {
        "rankings": [
            {
                "person_id": int(s.person_id),
                "score": float(s.score),
                "rank": int(s.rank),
                "components": {name: float(s.components[name]) for name in COMPONENTS},
            }
            for s in ordered
        ],
        "primary_person": int(ordered[0].person_id) if ordered else None,
        "weights": ranking_weights(config),
    }

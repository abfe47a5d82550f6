"""The checks between an earlier tracklet's end and a later one's start, and the cost of a link that passes them.

**The five checks** (:func:`check_pair`) compare an *earlier* tracklet's end
with a *later* one's start:

1. ``temporal_gap``: ``1 <= later.start_frame - earlier.end_frame <= max_temporal_gap``.
   Tracklets that share a frame are never the same person.
2. ``spatial_distance``: distance from the earlier's last box centre to the later's
   first box centre, limited by ``max_spatial_distance``. ``spatial_mode`` chooses:
   ``fixed`` (the reference: raw distance), ``allowance`` (the limit grows by the
   faster tracklet's speed x gap) or ``predicted`` (the earlier's last centre is
   carried on by its mean velocity over the gap before measuring).
3. ``area_ratio``: ``later.mean_area / earlier.mean_area`` within ``area_ratio_range``.
4. ``motion_alignment``: cosine of the two mean velocities ``>= min_motion_alignment``,
   checked only when both tracklets move (:func:`is_moving`: faster than
   ``moving_speed`` and travelling ``min_travel_to_jitter`` times their jitter; else
   it passes with value ``None``).
5. ``jitter_difference``: ``|jitter_1 - jitter_2| <= max_jitter_difference``, where the
   jitter is :func:`tracklet_jitter` with ``jitter_measure``: ``spread`` (the
   reference: ``center_jitter``, which also grows with distance walked) or
   ``detrended`` (the spread left once the straight-line motion is taken out).

**Crowds** (``crowd_radius``, :mod:`streamreid.persons.handover`). With the video's tracked boxes
(:class:`~streamreid.persons.handover.Neighbours`), a link the five checks accept also gets a sixth, ``crowd``:
the nearest other person to the hand-over, in box heights. Within ``crowd_radius`` (1 body
height: about what a walker covers in the longest gap allowed, so the other could as well be
the one who reappears) position and timing cannot tell who continues whom, and the link is
left out: ReID may still join the two persons afterwards, by appearance alone. Someone
``seen_together`` with both tracklets is neither of them and does not count.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamreid.config import ConfigError, GroupingConfig
from streamreid.persons.handover import Neighbours, nearest_other
from streamreid.types import TrackletStats

TEMPORAL_GAP = "temporal_gap"
SPATIAL_DISTANCE = "spatial_distance"
AREA_RATIO = "area_ratio"
MOTION_ALIGNMENT = "motion_alignment"
JITTER_DIFFERENCE = "jitter_difference"
CROWD = "crowd"
CHECK_NAMES = (TEMPORAL_GAP, SPATIAL_DISTANCE, AREA_RATIO, MOTION_ALIGNMENT, JITTER_DIFFERENCE)
"""The five checks of every pair; ``crowd`` is added when grouping is given the video's tracked boxes."""


SPATIAL_MODES = ("fixed", "allowance", "predicted")
JITTER_MEASURES = ("spread", "detrended")


CheckValue = float | None
CheckLimit = float | tuple[float, float]


@dataclass(frozen=True)
class PairCheck:
    """The five checks between an earlier tracklet's end and a later one's start.

    Attributes:
        earlier: Tracker id of the tracklet that starts first.
        later: Tracker id of the other tracklet.
        checks: Check name to ``(value, limit, passed)``; ``limit`` is a ``(low, high)``
            range for ``temporal_gap`` and ``area_ratio``; ``value`` is ``None`` for a
            motion check skipped because a tracklet stands still.
        accepted: Every check passed (so the two do not overlap in time).
        cost: Link cost in ``[0, 1]`` (0 is a perfect continuation) when accepted, else ``None``.
    """

    earlier: int
    later: int
    checks: dict[str, tuple[CheckValue, CheckLimit, bool]]
    accepted: bool
    cost: float | None = None

    def failed(self) -> tuple[str, ...]:
        """Names of the checks that did not pass."""
        return tuple(name for name, (_, _, passed) in self.checks.items() if not passed)


def box_center(xyxy: Sequence[float]) -> tuple[float, float]:
    """Centre ``(x, y)`` of a box ``(x1, y1, x2, y2)``."""
    return ((xyxy[0] + xyxy[2]) * 0.5, (xyxy[1] + xyxy[3]) * 0.5)


def detrended_jitter(stats: TrackletStats) -> float:
    """RMS distance of the centre from its straight-line motion.

    Uses ``stats.motion_residual`` (exact, computed online by ``streamreid.stream.stats``) when
    present; otherwise estimates it from the summary as follows.

    ``center_jitter`` mixes noise with the distance walked: for a steady walk at
    speed ``v`` over ``D`` frames the centres spread by ``v * sqrt((D^2 - 1) / 12)``
    around their mean even without any jitter. That share is removed:
    ``sqrt(max(jitter^2 - |v|^2 (D^2 - 1) / 12, 0))``. Exact for a straight walk seen
    in every frame; an approximation when frames are missing or the path bends. As
    ``v`` comes from the first and last centres, their noise ``s`` leaves an error of
    about ``sqrt(|v| D s / 6)`` on a long walk (e.g. ~20 px for 900 px walked with
    2 px noise): good enough to tell a walker from a dancer, not a precise noise level.

    Args:
        stats: Final statistics of one tracklet.

    Returns:
        The jitter left after the motion, in pixels.
    """
    if stats.motion_residual is not None:
        return float(stats.motion_residual)  # exact, from the online least-squares sums
    span = max(stats.end_frame - stats.start_frame, 0)
    motion_variance = stats.velocity_magnitude**2 * ((span + 1) ** 2 - 1) / 12.0
    return math.sqrt(max(stats.center_jitter**2 - motion_variance, 0.0))


def tracklet_jitter(stats: TrackletStats, *, measure: str) -> float:
    """The jitter of a tracklet under ``measure`` (``spread`` or ``detrended``).

    Raises:
        ConfigError: ``measure`` is not one of :data:`JITTER_MEASURES`.
    """
    if measure == "spread":
        return float(stats.center_jitter)
    if measure == "detrended":
        return detrended_jitter(stats)
    raise ConfigError(f"jitter_measure must be one of {', '.join(JITTER_MEASURES)}, got {measure!r}")


def is_moving(stats: TrackletStats, *, config: GroupingConfig) -> bool:
    """Whether a tracklet's mean velocity gives a trustworthy direction.

    It must be faster than ``moving_speed`` (the reference's only condition) and,
    unless ``min_travel_to_jitter`` is 0, travel from first to last sighting at least
    ``min_travel_to_jitter`` times its :func:`detrended_jitter`: a person standing or
    dancing on the spot has a mean velocity too, but its direction is noise.
    """
    if stats.velocity_magnitude <= config.moving_speed:
        return False
    travel = stats.velocity_magnitude * max(stats.end_frame - stats.start_frame, 0)
    return travel >= config.min_travel_to_jitter * detrended_jitter(stats)


def scaled_grouping_config(config: GroupingConfig, *, fps: float, frame_size: tuple[int, int]) -> GroupingConfig:
    """The grouping limits of ``config`` in frames and pixels for one video.

    ``max_gap_seconds``, ``max_distance_fraction`` and ``max_jitter_fraction`` (fractions of the
    frame diagonal), when set, replace ``max_temporal_gap``, ``max_spatial_distance`` and
    ``max_jitter_difference``, so one configuration means the same at 7 fps and at 60 fps, in
    a 640×360 film and in a 4K stream. The defaults equal the reference's 30 frames, 200 px
    and 40 px at 25 fps in 640×360.

    Args:
        config: The grouping configuration.
        fps: Frames per second of the decoded stream (frame indices count every decoded frame).
        frame_size: ``(width, height)`` in pixels.
    """
    diagonal = float(np.hypot(*frame_size))
    changes: dict[str, Any] = {}
    if config.max_gap_seconds is not None and fps > 0:
        changes["max_temporal_gap"] = max(1, round(config.max_gap_seconds * fps))
    if config.max_distance_fraction is not None and diagonal > 0:
        changes["max_spatial_distance"] = config.max_distance_fraction * diagonal
    if config.max_jitter_fraction is not None and diagonal > 0:
        changes["max_jitter_difference"] = config.max_jitter_fraction * diagonal
    return dataclasses.replace(config, **changes)


def validate_grouping_config(config: GroupingConfig) -> None:
    """Check the grouping knobs once, with messages that name the key.

    Raises:
        ConfigError: A knob is out of range or names an unknown mode.
    """
    if config.spatial_mode not in SPATIAL_MODES:
        raise ConfigError(
            f"grouping.spatial_mode must be one of {', '.join(SPATIAL_MODES)}, got {config.spatial_mode!r}"
        )
    if config.jitter_measure not in JITTER_MEASURES:
        raise ConfigError(
            f"grouping.jitter_measure must be one of {', '.join(JITTER_MEASURES)}, got {config.jitter_measure!r}"
        )
    if config.max_temporal_gap < 1:
        raise ConfigError(f"grouping.max_temporal_gap must be >= 1, got {config.max_temporal_gap}")
    low, high = config.area_ratio_range
    if not 0 < low <= 1 <= high:
        raise ConfigError(f"grouping.area_ratio_range must satisfy 0 < low <= 1 <= high, got [{low}, {high}]")
    for name in (
        "max_spatial_distance",
        "max_jitter_difference",
        "moving_speed",
        "min_travel_to_jitter",
        "crowd_radius",
    ):
        if getattr(config, name) < 0:
            raise ConfigError(f"grouping.{name} must be >= 0, got {getattr(config, name)}")


def check_pair(earlier: TrackletStats, later: TrackletStats, *, config: GroupingConfig) -> PairCheck:
    """Run the five checks from ``earlier``'s end to ``later``'s start.

    Every check is evaluated (and its value kept for the log) even when an earlier
    one fails.

    Args:
        earlier: The tracklet that starts first.
        later: The tracklet that would continue it.
        config: Grouping thresholds and modes.

    Returns:
        The verdicts, and the link cost when all pass.

    Raises:
        ConfigError: ``config`` is invalid.
    """
    validate_grouping_config(config)
    return run_checks(earlier, later, config)


def run_checks(earlier: TrackletStats, later: TrackletStats, config: GroupingConfig) -> PairCheck:
    """The checks of :func:`check_pair`, ``config`` already validated."""
    checks: dict[str, tuple[CheckValue, CheckLimit, bool]] = {}

    gap = later.start_frame - earlier.end_frame
    checks[TEMPORAL_GAP] = (float(gap), (1.0, float(config.max_temporal_gap)), 1 <= gap <= config.max_temporal_gap)

    end_x, end_y = box_center(earlier.last_bbox)
    start_x, start_y = box_center(later.first_bbox)
    elapsed = max(gap, 0)
    limit = float(config.max_spatial_distance)
    if config.spatial_mode == "predicted":
        end_x += earlier.mean_velocity[0] * elapsed
        end_y += earlier.mean_velocity[1] * elapsed
    elif config.spatial_mode == "allowance":
        limit += max(earlier.velocity_magnitude, later.velocity_magnitude) * elapsed
    distance = math.hypot(start_x - end_x, start_y - end_y)
    checks[SPATIAL_DISTANCE] = (distance, limit, distance <= limit)

    low, high = (float(v) for v in config.area_ratio_range)
    ratio = later.mean_area / earlier.mean_area if earlier.mean_area > 0 else math.inf
    checks[AREA_RATIO] = (ratio, (low, high), low <= ratio <= high)

    speed_1, speed_2 = earlier.velocity_magnitude, later.velocity_magnitude
    if is_moving(earlier, config=config) and is_moving(later, config=config):
        dot = earlier.mean_velocity[0] * later.mean_velocity[0] + earlier.mean_velocity[1] * later.mean_velocity[1]
        cosine = max(-1.0, min(1.0, dot / (speed_1 * speed_2)))
        checks[MOTION_ALIGNMENT] = (cosine, float(config.min_motion_alignment), cosine >= config.min_motion_alignment)
    else:
        checks[MOTION_ALIGNMENT] = (None, float(config.min_motion_alignment), True)

    jitter_1 = tracklet_jitter(earlier, measure=config.jitter_measure)
    jitter_2 = tracklet_jitter(later, measure=config.jitter_measure)
    difference = abs(jitter_1 - jitter_2)
    checks[JITTER_DIFFERENCE] = (
        difference,
        float(config.max_jitter_difference),
        difference <= config.max_jitter_difference,
    )

    accepted = all(passed for _, _, passed in checks.values())
    cost = _link_cost(checks) if accepted else None
    return PairCheck(earlier=earlier.tracker_id, later=later.tracker_id, checks=checks, accepted=accepted, cost=cost)


def crowd_check(
    check: PairCheck, earlier: TrackletStats, later: TrackletStats, *, neighbours: Neighbours, radius: float,
    exclude: Iterable[int] = (), apart: Collection[frozenset[int]] = frozenset(),
) -> PairCheck:  # fmt: skip
    """``check`` with the ``crowd`` check added: passed when nobody else came within ``radius`` box heights.

    Args:
        check: The five checks of ``earlier`` → ``later``.
        earlier: The tracklet that ended.
        later: The tracklet that began.
        neighbours: The video's tracked boxes.
        radius: ``crowd_radius``, in box heights.
        exclude: Tracklets already joined to either side (not "other people").
        apart: Tracklet pairs seen together: someone seen together with both sides is neither, and not counted.
    """
    end, start = earlier.end_frame, later.start_frame
    companions = [
        o
        for o in neighbours.owners(min(end, start), max(end, start))
        if frozenset((o, earlier.tracker_id)) in apart and frozenset((o, later.tracker_id)) in apart
    ]
    nearest = nearest_other(neighbours, earlier, later, exclude=(*exclude, *companions))
    passed = nearest > radius
    checks = {**check.checks, CROWD: (nearest, float(radius), passed)}
    accepted = check.accepted and passed
    return dataclasses.replace(check, checks=checks, accepted=accepted, cost=check.cost if accepted else None)


def _link_cost(checks: dict[str, tuple[CheckValue, CheckLimit, bool]]) -> float:
    """Mean of the normalised gap, distance, area and jitter mismatches, each in [0, 1]."""
    gap, (_, max_gap), _ = checks[TEMPORAL_GAP]
    distance, distance_limit, _ = checks[SPATIAL_DISTANCE]
    ratio, (low, high), _ = checks[AREA_RATIO]
    jitter, jitter_limit, _ = checks[JITTER_DIFFERENCE]
    terms = [
        gap / max_gap,
        distance / distance_limit if distance_limit > 0 else 0.0,
        _area_mismatch(ratio, low, high),
        jitter / jitter_limit if jitter_limit > 0 else 0.0,
    ]
    return float(np.clip(np.mean(terms), 0.0, 1.0))


def _area_mismatch(ratio: float, low: float, high: float) -> float:
    bound = high if ratio >= 1 else low
    if bound == 1.0:
        return 0.0
    return min(abs(math.log(ratio)) / abs(math.log(bound)), 1.0)

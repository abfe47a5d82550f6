"""Canonical persons: link the tracklets that are one human seen in pieces.

A tracker breaks one person into several tracklets (occlusions, missed
detections, leaving and coming back). This module decides, from the final
:class:`~streamreid.types.TrackletStats` alone, which tracklets continue each
other, and aggregates each chain into a :class:`~streamreid.types.Person`.

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

**Linking** (:func:`group_tracklets`). Every pair that passes all checks gets a
cost in ``[0, 1]``, the mean of four normalised mismatches: gap / limit,
distance / limit, ``|ln area ratio|`` / ``|ln bound|`` and jitter difference / limit
(motion is a gate only). Each tracklet may then have at most one successor and
one predecessor: a maximum-weight bipartite matching (predecessors x successors,
link weight ``1 - cost``, solved exactly per connected component with
:func:`scipy.optimize.linear_sum_assignment`; pairs that fail a check are
forbidden). The optimum is unique given the costs and the input is put in a
canonical order first, so the result does not depend on the order of the input,
unlike the reference's greedy pass where a tracklet joins the first group any
member matches. The links form chains; a chain is a person. Every link joins an
earlier end to a strictly later start, so no chain holds two tracklets that
overlap in time.

**Shot cuts.** Position and motion say nothing across a cut between shots (an edited
video): the next shot may show another place, or the same place from elsewhere. A pair whose
gap spans a cut (:func:`crosses_cut`) is never a candidate; only appearance (``must_link``,
from ReID merges or the user) joins tracklets across a cut.

**Crowds** (``crowd_radius``, :mod:`streamreid.persons.handover`). With the video's tracked boxes
(:class:`~streamreid.persons.handover.Neighbours`), a link the five checks accept also gets a sixth, ``crowd``:
the nearest other person to the hand-over, in box heights. Within ``crowd_radius`` (1 body
height: about what a walker covers in the longest gap allowed, so the other could as well be
the one who reappears) position and timing cannot tell who continues whom, and the link is
left out: ReID may still join the two persons afterwards, by appearance alone. Someone
``seen_together`` with both tracklets is neither of them and does not count.

**Constraints.** ``must_link`` pairs are joined first (union-find), each kept only
if its group stays free of ``cannot_link`` pairs and of time overlaps longer than
half of ``max_temporal_gap`` (a track handed one faint box after a new track started
on the same person overlaps it by a few frames); the others are
reported in :attr:`GroupingResult.unmet_must_links`. A must-linked group is then
one node whose end links to a successor and whose start to a predecessor.
``cannot_link`` pairs never end up in one chain: pairs between the two nodes are
forbidden, and when a chain still joins them through other tracklets its
costliest link on the way is forbidden and the matching solved again.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from streamreid.config import ConfigError, GroupingConfig
from streamreid.errors import StreamReidError
from streamreid.persons.handover import Neighbours, nearest_other
from streamreid.types import Person, TrackletStats

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


class GroupingError(StreamReidError, ValueError):
    """Tracklet statistics or link constraints given to grouping are inconsistent."""


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


@dataclass(frozen=True)
class GroupingResult:
    """Persons as groups of tracker ids, with everything that led to them.

    Attributes:
        groups: Tracker ids per person, each in time order; groups ordered by first frame.
        pairs: Every pair considered (candidate links and must-link joins), in time order.
        chosen: The links used ``(earlier, later)``: consecutive tracklets of every group.
        forced: The chosen links that come from ``must_link`` rather than the checks.
        unmet_must_links: ``must_link`` pairs that could not be honoured (time overlap or
            a ``cannot_link`` conflict).
    """

    groups: tuple[tuple[int, ...], ...]
    pairs: tuple[PairCheck, ...]
    chosen: tuple[tuple[int, int], ...]
    forced: tuple[tuple[int, int], ...] = ()
    unmet_must_links: tuple[tuple[int, int], ...] = ()


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
    return _check_pair(earlier, later, config)


def _check_pair(earlier: TrackletStats, later: TrackletStats, config: GroupingConfig) -> PairCheck:
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


def time_key(stats: TrackletStats) -> tuple[int, int, int]:
    """The order of tracklets in time that person ids follow (first tracklet of each)."""
    return _time_key(stats)


def _time_key(stats: TrackletStats) -> tuple[int, int, int]:
    return (stats.start_frame, stats.end_frame, stats.tracker_id)


def _overlaps(a: TrackletStats, b: TrackletStats) -> bool:
    return _overlap(a, b) > 0


def _overlap(a: TrackletStats, b: TrackletStats) -> int:
    """Frames (decoded-frame indices) both tracklets span, 0 when one ends before the other starts."""
    return max(0, min(a.end_frame, b.end_frame) - max(a.start_frame, b.start_frame) + 1)


def group_tracklets(
    stats: Sequence[TrackletStats],
    *,
    config: GroupingConfig,
    must_link: Iterable[tuple[int, int]] = (),
    cannot_link: Iterable[tuple[int, int]] = (),
    seen_together: Iterable[tuple[int, int]] = (),
    shot_cuts: Sequence[int] = (),
    neighbours: Neighbours | None = None,
) -> GroupingResult:
    """Link tracklets into persons (see the module docstring for the algorithm).

    Candidate pairs are those whose boundary lies within ``max_temporal_gap``
    frames either way: the later starts at most that many frames after the earlier
    ends, or overlaps it by at most that many (those are logged as failing the
    temporal check).

    Args:
        stats: Final statistics of every tracklet, in any order.
        config: Grouping thresholds and modes.
        must_link: Tracker id pairs known to be one person (e.g. from appearance).
        cannot_link: Tracker id pairs known to be different people.
        seen_together: Tracker id pairs seen in one frame at different places
            (:func:`streamreid.persons.person_tracks.seen_together`): cannot-links that no must-link
            overrides (such a must-link is unmet, not an error); ids without statistics are ignored.
        shot_cuts: First frames of the shots after each hard cut: no pair across one is a candidate.
        neighbours: The video's tracked boxes: candidate links get the ``crowd`` check (unless
            ``config.crowd_radius`` is 0). ``None``: the five checks only.

    Returns:
        The groups, every pair considered and the links chosen.

    Raises:
        GroupingError: Duplicate tracker ids, a constraint naming an unknown id, a
            tracklet cannot-linked to itself, or a pair both must- and cannot-linked.
        ConfigError: ``config`` is invalid.
    """
    validate_grouping_config(config)
    by_id, must, cannot = _checked_inputs(stats, must_link, cannot_link)
    cannot_sets = {frozenset(p) for p in cannot}
    cannot_sets |= {frozenset((int(a), int(b))) for a, b in seen_together if a != b and a in by_id and b in by_id}
    nodes, unmet = _must_link_nodes(by_id, must, cannot_sets, max_overlap=config.max_temporal_gap // 2)

    pairs: list[PairCheck] = []
    forced: list[tuple[int, int]] = []
    for members in nodes:
        for a, b in pairwise(members):
            pairs.append(_check_pair(by_id[a], by_id[b], config))
            forced.append((a, b))

    apart = {frozenset((int(a), int(b))) for a, b in seen_together}  # every id: short tracklets are people too
    candidates = _candidate_pairs(nodes, by_id, config, shot_cuts=sorted(shot_cuts), neighbours=neighbours,
                                  apart=apart)  # fmt: skip
    pairs.extend(check for _, _, check in candidates)

    chains = _chains_without_cannot_links(nodes, candidates, cannot_sets)
    groups = sorted(
        (tuple(tid for node in chain for tid in nodes[node]) for chain in chains),
        key=lambda group: _time_key(by_id[group[0]]),
    )
    chosen = tuple((a, b) for group in groups for a, b in pairwise(group))
    pairs.sort(key=lambda p: (_time_key(by_id[p.earlier]), _time_key(by_id[p.later])))
    return GroupingResult(
        groups=tuple(groups),
        pairs=tuple(pairs),
        chosen=chosen,
        forced=tuple(sorted(forced, key=lambda p: _time_key(by_id[p[0]]))),
        unmet_must_links=tuple(unmet),
    )


def _checked_inputs(
    stats: Sequence[TrackletStats], must_link: Iterable[tuple[int, int]], cannot_link: Iterable[tuple[int, int]]
) -> tuple[dict[int, TrackletStats], list[tuple[int, int]], list[tuple[int, int]]]:
    """The tracklets by id and the constraint pairs, refused when they contradict themselves.

    Raises:
        GroupingError: As :func:`group_tracklets` says.
    """
    by_id: dict[int, TrackletStats] = {}
    for item in stats:
        if item.tracker_id in by_id:
            raise GroupingError(f"tracker id {item.tracker_id} appears twice in the tracklet statistics")
        by_id[item.tracker_id] = item
    must = _constraint_pairs(must_link, by_id, "must_link")
    cannot = _constraint_pairs(cannot_link, by_id, "cannot_link")
    if any(a == b for a, b in cannot):
        raise GroupingError("cannot_link pairs a tracklet with itself")
    both = {frozenset(p) for p in must} & {frozenset(p) for p in cannot}
    if both:
        a, b = sorted(next(iter(both)))
        raise GroupingError(f"tracklets {a} and {b} are both must-linked and cannot-linked")
    return by_id, must, cannot


def _chains_without_cannot_links(
    nodes: list[tuple[int, ...]], candidates: list[tuple[int, int, PairCheck]], cannot_sets: set[frozenset[int]]
) -> list[list[int]]:
    """Match the accepted candidate links into chains; cut links until no chain joins a cannot-linked pair."""
    forbidden: set[tuple[int, int]] = set()
    for u, v, _ in candidates:
        if any(frozenset((a, b)) in cannot_sets for a in nodes[u] for b in nodes[v]):
            forbidden.add((u, v))
    while True:
        links = _match(len(nodes), [(u, v, c) for u, v, c in candidates if c.accepted and (u, v) not in forbidden])
        chains = _chains(len(nodes), links)
        cuts = _cannot_link_cuts(chains, nodes, links, cannot_sets)
        if not cuts:
            return chains
        forbidden |= cuts


def _constraint_pairs(
    pairs: Iterable[tuple[int, int]], by_id: dict[int, TrackletStats], name: str
) -> list[tuple[int, int]]:
    result = []
    for pair in pairs:
        a, b = (int(v) for v in pair)
        for tid in (a, b):
            if tid not in by_id:
                raise GroupingError(f"{name} names tracker id {tid}, which has no tracklet statistics")
        result.append((a, b))
    return result


def _must_link_nodes(
    by_id: dict[int, TrackletStats], must: list[tuple[int, int]], cannot: set[frozenset[int]], *, max_overlap: int
) -> tuple[list[tuple[int, ...]], list[tuple[int, int]]]:
    """Join must-linked tracklets into nodes (member ids in time order), nodes in time order.

    Must-linked tracklets may overlap in time by up to ``max_overlap`` frames: ByteTrack
    keeps a lost track for a while and can hand it one more faint box after a new track
    has started on the same person. A longer overlap, or a cannot-link, leaves the pair unmet.
    """
    members: dict[int, list[int]] = {tid: [tid] for tid in by_id}
    root: dict[int, int] = {tid: tid for tid in by_id}
    unmet: list[tuple[int, int]] = []
    ordered = sorted(
        {tuple(sorted((a, b), key=lambda t: _time_key(by_id[t]))) for a, b in must if a != b},
        key=lambda p: (_time_key(by_id[p[0]]), _time_key(by_id[p[1]])),
    )
    for a, b in ordered:
        ra, rb = root[a], root[b]
        if ra == rb:
            continue
        clash = any(
            _overlap(by_id[x], by_id[y]) > max_overlap or frozenset((x, y)) in cannot
            for x in members[ra]
            for y in members[rb]
        )
        if clash:
            unmet.append((a, b))
            continue
        members[ra].extend(members.pop(rb))
        for tid in members[ra]:
            root[tid] = ra
    nodes = [tuple(sorted(group, key=lambda t: _time_key(by_id[t]))) for group in members.values()]
    nodes.sort(key=lambda node: _time_key(by_id[node[0]]))
    return nodes, unmet


def crosses_cut(end_frame: int, start_frame: int, shot_cuts: Sequence[int]) -> bool:
    """Whether a cut lies between a tracklet ending at ``end_frame`` and one starting at ``start_frame``.

    Args:
        end_frame: Last frame of the earlier tracklet.
        start_frame: First frame of the later one.
        shot_cuts: First frames of the shots after each cut, ascending.
    """
    after = bisect.bisect_right(shot_cuts, end_frame)
    return after < len(shot_cuts) and shot_cuts[after] <= start_frame


def _candidate_pairs(
    nodes: list[tuple[int, ...]], by_id: dict[int, TrackletStats], config: GroupingConfig, *,
    shot_cuts: Sequence[int] = (), neighbours: Neighbours | None = None, apart: Collection[frozenset[int]] = (),
) -> list[tuple[int, int, PairCheck]]:  # fmt: skip
    """Checks from each node's last tracklet to every later node's first one near its end, in the same shot."""
    crowded = neighbours is not None and config.crowd_radius > 0
    window = config.max_temporal_gap
    head_starts = [by_id[node[0]].start_frame for node in nodes]
    candidates = []
    for u, node in enumerate(nodes):
        tail = by_id[node[-1]]
        low = bisect.bisect_left(head_starts, tail.end_frame - window)
        high = bisect.bisect_right(head_starts, tail.end_frame + window)
        for v in range(max(low, u + 1), high):
            head = by_id[nodes[v][0]]
            if not crosses_cut(tail.end_frame, head.start_frame, shot_cuts):
                check = _check_pair(tail, head, config)
                if crowded and check.accepted:  # only a link the five checks accept needs it
                    check = crowd_check(check, tail, head, neighbours=neighbours, radius=config.crowd_radius,
                                        exclude=(*node, *nodes[v]), apart=apart)  # fmt: skip
                candidates.append((u, v, check))
    return candidates


def _match(count: int, edges: list[tuple[int, int, PairCheck]]) -> dict[int, tuple[int, PairCheck]]:
    """Maximum-weight one-to-one matching of predecessors to successors; returns u -> (v, check)."""
    if not edges:
        return {}
    rows = np.array([u for u, _, _ in edges])
    cols = np.array([v for _, v, _ in edges])
    # Bipartite graph on 2 * count vertices: u as predecessor, count + v as successor.
    graph = coo_matrix((np.ones(len(edges)), (rows, count + cols)), shape=(2 * count, 2 * count))
    _, labels = connected_components(graph, directed=False)
    by_component: dict[int, list[int]] = {}
    for index, u in enumerate(rows.tolist()):
        by_component.setdefault(int(labels[u]), []).append(index)
    links: dict[int, tuple[int, PairCheck]] = {}
    for indices in by_component.values():
        comp_rows = sorted({int(rows[i]) for i in indices})
        comp_cols = sorted({int(cols[i]) for i in indices})
        row_at = {u: i for i, u in enumerate(comp_rows)}
        col_at = {v: j for j, v in enumerate(comp_cols)}
        weights = np.zeros((len(comp_rows), len(comp_cols)))
        for i in indices:
            weights[row_at[int(rows[i])], col_at[int(cols[i])]] = 1.0 - edges[i][2].cost + 1e-9
        chosen_rows, chosen_cols = linear_sum_assignment(weights, maximize=True)
        lookup = {(int(rows[i]), int(cols[i])): edges[i][2] for i in indices}
        for r, c in zip(chosen_rows.tolist(), chosen_cols.tolist(), strict=True):
            key = (comp_rows[r], comp_cols[c])
            if key in lookup:
                links[key[0]] = (key[1], lookup[key])
    return links


def _chains(count: int, links: dict[int, tuple[int, PairCheck]]) -> list[list[int]]:
    has_predecessor = {v for v, _ in links.values()}
    chains = []
    for start in range(count):
        if start in has_predecessor:
            continue
        chain = [start]
        while chain[-1] in links:
            chain.append(links[chain[-1]][0])
        chains.append(chain)
    return chains


def _cannot_link_cuts(
    chains: list[list[int]],
    nodes: list[tuple[int, ...]],
    links: dict[int, tuple[int, PairCheck]],
    cannot: set[frozenset[int]],
) -> set[tuple[int, int]]:
    """For every cannot-link pair a chain joins, its costliest link between the two."""
    cuts: set[tuple[int, int]] = set()
    if not cannot:
        return cuts
    for chain in chains:
        for i in range(len(chain)):
            for j in range(i + 1, len(chain)):
                if any(frozenset((a, b)) in cannot for a in nodes[chain[i]] for b in nodes[chain[j]]):
                    path = [(chain[k], chain[k + 1]) for k in range(i, j)]
                    cuts.add(max(path, key=lambda link: (links[link[0]][1].cost, link)))
    return cuts


def build_persons(groups: Sequence[Sequence[int]], stats: Sequence[TrackletStats]) -> list[Person]:
    """Aggregate each group of tracklets into a :class:`Person` (``person_id`` = index in ``groups``).

    Means are weighted by detection count. ``center_jitter`` is the pooled RMS
    distance of every detection's centre from the person's pooled mean centre:
    ``sqrt(sum_i n_i (jitter_i^2 + |mean_i - mean|^2) / sum_i n_i)``, which equals the
    RMS recomputed over all the points.

    Args:
        groups: Tracker ids per person (e.g. :attr:`GroupingResult.groups`).
        stats: Statistics of (at least) every tracklet named in ``groups``.

    Returns:
        One person per group, in the order of ``groups``.

    Raises:
        GroupingError: A group is empty or names a tracker id without statistics.
    """
    by_id = {item.tracker_id: item for item in stats}
    persons = []
    for person_id, group in enumerate(groups):
        if not group:
            raise GroupingError(f"person {person_id} has no tracklets")
        missing = [tid for tid in group if tid not in by_id]
        if missing:
            raise GroupingError(f"person {person_id} names tracker id {missing[0]}, which has no statistics")
        members = sorted((by_id[tid] for tid in group), key=_time_key)
        counts = np.array([m.detection_count for m in members], dtype=np.float64)
        total = counts.sum()
        weights = counts / total if total > 0 else np.full(len(members), 1.0 / len(members))
        centers = np.array([m.mean_center for m in members], dtype=np.float64)
        mean_center = weights @ centers
        jitters = np.array([m.center_jitter for m in members], dtype=np.float64)
        pooled = weights @ (jitters**2 + ((centers - mean_center) ** 2).sum(axis=1))
        first = min(members, key=lambda m: (m.start_frame, m.start_time))
        last = max(members, key=lambda m: (m.end_frame, m.end_time))
        persons.append(
            Person(
                person_id=person_id,
                tracklet_ids=tuple(m.tracker_id for m in members),
                start_frame=first.start_frame,
                end_frame=last.end_frame,
                start_time=float(first.start_time),
                end_time=float(last.end_time),
                detection_count=int(total),
                mean_center=(float(mean_center[0]), float(mean_center[1])),
                center_jitter=float(math.sqrt(max(pooled, 0.0))),
                mean_area=float(weights @ np.array([m.mean_area for m in members])),
                mean_confidence=float(weights @ np.array([m.mean_confidence for m in members])),
            )
        )
    return persons


def _json_number(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, tuple):
        return [_json_number(v) for v in value]
    value = float(value)
    return value if math.isfinite(value) else None


def grouping_log(result: GroupingResult) -> dict[str, Any]:
    """The ``grouping_log.json`` payload: every pair considered with every check.

    Returns:
        ``{"pairs": [{"earlier", "later", "checks": {name: {"value", "limit", "passed"}},
        "accepted", "chosen", "forced", "cost"}], "groups": [[ids]], "unmet_must_links": [[a, b]]}``;
        non-finite values (an area ratio against a zero area) and skipped checks are ``null``.
    """
    chosen = set(result.chosen)
    forced = set(result.forced)
    return {
        "pairs": [
            {
                "earlier": int(pair.earlier),
                "later": int(pair.later),
                "checks": {
                    name: {"value": _json_number(value), "limit": _json_number(limit), "passed": bool(passed)}
                    for name, (value, limit, passed) in pair.checks.items()
                },
                "accepted": bool(pair.accepted),
                "chosen": (pair.earlier, pair.later) in chosen,
                "forced": (pair.earlier, pair.later) in forced,
                "cost": _json_number(pair.cost),
            }
            for pair in result.pairs
        ],
        "groups": [list(group) for group in result.groups],
        "unmet_must_links": [list(pair) for pair in result.unmet_must_links],
    }


def reid_candidates(result: GroupingResult, stats: Sequence[TrackletStats]) -> list[dict[str, Any]]:
    """Pairs left apart that appearance re-identification should look at.

    A candidate joins two tracklets of different groups and either passed the
    temporal, spatial and area checks but failed motion or jitter, or passed every
    check but lost the matching to a better link.

    Args:
        result: The grouping.
        stats: The statistics it was computed from (for the raw centre distance).

    Returns:
        ``[{"tracklet_1", "tracklet_2", "gap", "distance", "area_ratio", "accepted",
        "failed_checks"}]`` in time order; ``distance`` is the raw distance between the
        last and the first box centre whatever ``spatial_mode`` was used.
    """
    by_id = {item.tracker_id: item for item in stats}
    group_of = {tid: index for index, group in enumerate(result.groups) for tid in group}
    basic = (TEMPORAL_GAP, SPATIAL_DISTANCE, AREA_RATIO)
    candidates = []
    for pair in result.pairs:
        if group_of.get(pair.earlier) == group_of.get(pair.later):
            continue
        if not all(pair.checks[name][2] for name in basic):
            continue
        earlier, later = by_id[pair.earlier], by_id[pair.later]
        end_x, end_y = box_center(earlier.last_bbox)
        start_x, start_y = box_center(later.first_bbox)
        candidates.append(
            {
                "tracklet_1": int(pair.earlier),
                "tracklet_2": int(pair.later),
                "gap": int(later.start_frame - earlier.end_frame),
                "distance": float(math.hypot(start_x - end_x, start_y - end_y)),
                "area_ratio": _json_number(pair.checks[AREA_RATIO][0]),
                "accepted": bool(pair.accepted),
                "failed_checks": list(pair.failed()),
            }
        )
    return candidates

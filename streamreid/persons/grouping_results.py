"""What a grouping yields besides its groups: the persons aggregated from them, its log, and the pairs left for ReID."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from streamreid.persons.grouping import GroupingError, GroupingResult, time_key
from streamreid.persons.pair_checks import AREA_RATIO, SPATIAL_DISTANCE, TEMPORAL_GAP, box_center
from streamreid.types import Person, TrackletStats


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
        members = sorted((by_id[tid] for tid in group), key=time_key)
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

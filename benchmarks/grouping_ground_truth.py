"""Tracklet grouping against synthetic ground truth.

Simulates people walking, standing and dancing in a 1280x720, 30 fps scene and
breaks them into tracklets the way a tracker does: occlusion gaps of 5-25 frames,
a person leaving for 3 s and coming back elsewhere, two walkers crossing (both
hidden while they overlap), a dancer whose track breaks while a walker passes in
front, and a few other walkers in random directions. Per-frame detections get
position and size noise and the odd missed frame (which does not break a track).

For each seed it counts the true identities left *fragmented* (their tracklets
spread over more than one person) and the persons *wrongly merged* (holding more
than one identity), for the raw tracklets and after grouping: the reference's
greedy pass with its checks, the same greedy pass with our checks, our matching
with the reference checks (``spatial_mode: fixed``, ``jitter_measure: spread``,
``min_travel_to_jitter: 0``),
and our matching with the defaults.

Run: ``python benchmarks/grouping_ground_truth.py --seeds 10``. The simulator and the
reference greedy pass are also used by ``tests/persons/test_grouping.py``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from streamreid.config import GroupingConfig
from streamreid.persons.grouping import group_tracklets
from streamreid.persons.pair_checks import box_center, check_pair
from streamreid.types import TrackletStats

FPS = 30.0
FRAME_SIZE = (1280, 720)
NUM_FRAMES = 900


def tracklet_stats_from_boxes(
    tracker_id: int,
    frames: Sequence[int],
    boxes: Sequence[Sequence[float]],
    *,
    confidences: Sequence[float] | None = None,
    fps: float = FPS,
) -> TrackletStats:
    """Offline statistics of one tracklet, with the definitions of ``streamreid.stream.stats``.

    Args:
        tracker_id: Id to give the tracklet.
        frames: Frame index of every detection, increasing.
        boxes: ``(x1, y1, x2, y2)`` per detection.
        confidences: Confidence per detection (0.9 when omitted).
        fps: Frame rate for the times.

    Returns:
        The statistics the online accumulator would produce (frame step 1).
    """
    frames_arr = np.asarray(frames, dtype=np.int64)
    xyxy = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    conf = np.full(len(frames_arr), 0.9) if confidences is None else np.asarray(confidences, dtype=np.float64)
    centers = np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2], axis=1)
    areas = np.clip(xyxy[:, 2] - xyxy[:, 0], 0, None) * np.clip(xyxy[:, 3] - xyxy[:, 1], 0, None)
    mean_center = centers.mean(axis=0)
    span = int(frames_arr[-1] - frames_arr[0])
    velocity = (centers[-1] - centers[0]) / span if span > 0 else np.zeros(2)
    missing = np.diff(frames_arr) - 1
    missing = missing[missing > 0]
    if len(frames_arr) > 1 and span > 0:
        fitted = np.stack([np.polyval(np.polyfit(frames_arr, centers[:, k], 1), frames_arr) for k in (0, 1)], axis=1)
        residual = float(np.sqrt(((centers - fitted) ** 2).sum(axis=1).mean()))
    else:
        residual = float(np.sqrt(((centers - mean_center) ** 2).sum(axis=1).mean()))
    return TrackletStats(
        tracker_id=int(tracker_id),
        start_frame=int(frames_arr[0]),
        end_frame=int(frames_arr[-1]),
        start_time=float(frames_arr[0] / fps),
        end_time=float(frames_arr[-1] / fps),
        duration=span + 1,
        detection_count=len(frames_arr),
        mean_center=(float(mean_center[0]), float(mean_center[1])),
        center_jitter=float(np.sqrt(((centers - mean_center) ** 2).sum(axis=1).mean())),
        mean_area=float(areas.mean()),
        area_variance=float(areas.var()),
        mean_velocity=(float(velocity[0]), float(velocity[1])),
        velocity_magnitude=float(np.hypot(*velocity)),
        first_bbox=tuple(float(v) for v in xyxy[0]),
        last_bbox=tuple(float(v) for v in xyxy[-1]),
        mean_confidence=float(conf.mean()),
        gap_count=len(missing),
        gap_frames=int(missing.sum()),
        max_gap=int(missing.max()) if len(missing) else 0,
        motion_residual=residual,
    )


@dataclass(frozen=True)
class Piece:
    """Detections of one identity that a tracker gives one id: frames and boxes."""

    identity: int
    frames: np.ndarray
    boxes: np.ndarray


@dataclass(frozen=True)
class SyntheticScene:
    """Tracklet statistics with the true identity behind every tracker id."""

    stats: tuple[TrackletStats, ...]
    identity_of: dict[int, int]
    num_identities: int


class _Builder:
    """Collects identities: a path per frame, hidden frames that break the track."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.pieces: list[Piece] = []
        self.next_identity = 0

    def add(
        self,
        frames: np.ndarray,
        centers: np.ndarray,
        height: float,
        *,
        breaks: Sequence[tuple[int, int]] = (),
        noise: float = 1.5,
    ) -> int:
        """Add one identity seen at ``frames`` with box centres ``centers``.

        ``breaks`` are ``[start, end)`` frame ranges where the person is hidden and the
        tracker loses them (a new id afterwards). Frames outside the picture are dropped.
        """
        identity = self.next_identity
        self.next_identity += 1
        rng = self.rng
        width = 0.42 * height
        inside = (centers[:, 0] > 0) & (centers[:, 0] < FRAME_SIZE[0]) & (centers[:, 1] > 0)
        inside &= centers[:, 1] < FRAME_SIZE[1]
        seen = inside & (rng.random(len(frames)) > 0.05)  # the odd missed detection
        segment = np.zeros(len(frames), dtype=np.int64)
        for start, end in sorted(breaks):
            hidden = (frames >= start) & (frames < end)
            seen &= ~hidden
            segment += frames >= end
        # Leaving the picture also ends a track.
        segment += np.cumsum(np.concatenate([[0], np.diff(inside.astype(np.int64)) != 0]))
        for label in np.unique(segment[seen]):
            keep = seen & (segment == label)
            if keep.sum() < 3:
                continue
            n = int(keep.sum())
            c = centers[keep] + rng.normal(0.0, noise, size=(n, 2))
            h = height * (1 + rng.normal(0.0, 0.02, size=n))
            w = width * (1 + rng.normal(0.0, 0.02, size=n))
            boxes = np.stack([c[:, 0] - w / 2, c[:, 1] - h / 2, c[:, 0] + w / 2, c[:, 1] + h / 2], axis=1)
            self.pieces.append(Piece(identity=identity, frames=frames[keep], boxes=boxes))
        return identity

    def scene(self) -> SyntheticScene:
        """Tracker ids in order of first sighting, like a tracker hands them out."""
        pieces = sorted(self.pieces, key=lambda p: (int(p.frames[0]), p.identity))
        stats = tuple(tracklet_stats_from_boxes(tid, p.frames, p.boxes) for tid, p in enumerate(pieces, start=1))
        identity_of = {tid: p.identity for tid, p in enumerate(pieces, start=1)}
        return SyntheticScene(stats=stats, identity_of=identity_of, num_identities=self.next_identity)


def _walk(start: int, end: int, origin: tuple[float, float], velocity: tuple[float, float]) -> tuple:
    frames = np.arange(start, end)
    t = (frames - start)[:, None]
    return frames, np.asarray(origin) + t * np.asarray(velocity)


def simulate_scene(seed: int, *, extra_walkers: int = 3) -> SyntheticScene:
    """One scene with every fragmentation pattern, randomised by ``seed``.

    Identities: a walker with one or two occlusion gaps; two walkers crossing
    (hidden while they overlap); a person standing with one occlusion gap; a
    dancer (large sway) whose track breaks while a walker passes in front (the
    walker's track breaks too); a person who leaves for 3 s and comes back on the
    other side; and ``extra_walkers`` walkers in random directions, some with a gap.

    Args:
        seed: Random seed.
        extra_walkers: Number of random walkers.

    Returns:
        The tracklet statistics and the truth.
    """
    rng = np.random.default_rng(seed)
    build = _Builder(rng)
    width, height = FRAME_SIZE

    def gap(at: int) -> tuple[int, int]:
        length = int(rng.integers(5, 26))
        return (at, at + length)

    # Walker with occlusion gaps.
    speed = rng.uniform(2.0, 4.0)
    frames, centers = _walk(0, 400, (60.0, rng.uniform(250, 500)), (speed, rng.uniform(-0.3, 0.3)))
    breaks = [gap(int(rng.integers(60, 150)))]
    if rng.random() < 0.5:
        breaks.append(gap(int(rng.integers(220, 300))))
    build.add(frames, centers, rng.uniform(180, 260), breaks=breaks)

    # Two walkers crossing in opposite directions: both hidden while they overlap.
    cross_at = int(rng.integers(250, 400))
    cross_x, cross_y = rng.uniform(500, 800), rng.uniform(300, 450)
    speed = rng.uniform(2.0, 3.5)
    hidden = int(rng.integers(6, 16))
    crossing = (cross_at - hidden // 2, cross_at - hidden // 2 + hidden)
    size = rng.uniform(180, 240)
    for direction in (1.0, -1.0):
        start = cross_at - 150
        origin = (cross_x - direction * speed * 150, cross_y + direction * rng.uniform(0, 10))
        frames, centers = _walk(start, cross_at + 150, origin, (direction * speed, 0.0))
        build.add(frames, centers, size * rng.uniform(0.95, 1.05), breaks=[crossing])

    # A person standing still, briefly hidden.
    start = int(rng.integers(0, 100))
    frames = np.arange(start, start + 500)
    centers = np.tile([rng.uniform(150, 400), rng.uniform(400, 550)], (len(frames), 1))
    build.add(frames, centers, rng.uniform(200, 280), breaks=[gap(int(rng.integers(start + 100, start + 400)))])

    # A dancer swaying widely; a walker passes in front and both tracks break.
    dancer_x, dancer_y = rng.uniform(700, 1000), rng.uniform(350, 450)
    start = int(rng.integers(300, 400))
    frames = np.arange(start, start + 450)
    phase = 2 * np.pi * (frames - start) / rng.uniform(25, 40)
    centers = np.stack([dancer_x + 80 * np.sin(phase), dancer_y + 12 * np.sin(2 * phase)], axis=1)
    dancer_size = rng.uniform(200, 240)
    passing = int(rng.integers(start + 120, start + 300))
    passed = (passing, passing + int(rng.integers(8, 20)))
    build.add(frames, centers, dancer_size, breaks=[passed], noise=3.0)
    speed = rng.uniform(2.0, 3.5)
    frames, centers = _walk(passing - 200, passing + 200, (dancer_x - 200 * speed, dancer_y + 10), (speed, 0.0))
    build.add(frames, centers, dancer_size * rng.uniform(0.9, 1.1), breaks=[passed])

    # Leaves for 3 s and comes back on the other side of the picture.
    start = int(rng.integers(450, 550))
    left_at = start + 100
    frames = np.arange(start, left_at + 90 + 150)
    away = frames >= left_at + 90
    centers = np.where(
        away[:, None],
        [[width - 250.0, 380.0]],
        [[250.0, 380.0]],
    ) + rng.normal(0, 0.5, size=(len(frames), 2))
    build.add(frames, centers, rng.uniform(200, 260), breaks=[(left_at, left_at + 90)])

    # Walkers in random directions, some briefly hidden.
    for _ in range(extra_walkers):
        start = int(rng.integers(0, NUM_FRAMES - 300))
        angle = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(1.0, 4.0)
        origin = (rng.uniform(200, width - 200), rng.uniform(200, height - 200))
        frames, centers = _walk(
            start, start + int(rng.integers(150, 300)), origin, (speed * math.cos(angle), speed * math.sin(angle))
        )
        breaks = [gap(int(rng.integers(start + 40, start + 120)))] if rng.random() < 0.6 else []
        build.add(frames, centers, rng.uniform(140, 300), breaks=breaks)

    return build.scene()


def reference_can_merge(stat1: TrackletStats, stat2: TrackletStats, config: GroupingConfig) -> bool:
    """The reference's five checks, as written there (note: no lower bound on the gap)."""
    gap = stat2.start_frame - stat1.end_frame
    if gap > config.max_temporal_gap:
        return False
    end = np.asarray(box_center(stat1.last_bbox))
    start = np.asarray(box_center(stat2.first_bbox))
    if np.linalg.norm(end - start) > config.max_spatial_distance:
        return False
    ratio = stat2.mean_area / (stat1.mean_area + 1e-8)
    low, high = config.area_ratio_range
    if ratio < low or ratio > high:
        return False
    v1, v2 = np.asarray(stat1.mean_velocity), np.asarray(stat2.mean_velocity)
    n1, n2 = np.linalg.norm(v1), np.linalg.norm(v2)
    both_moving = n1 > config.moving_speed and n2 > config.moving_speed
    if both_moving and float(v1 @ v2) / (n1 * n2 + 1e-8) < config.min_motion_alignment:
        return False
    return abs(stat1.center_jitter - stat2.center_jitter) <= config.max_jitter_difference


def reference_greedy_groups(
    stats: Sequence[TrackletStats],
    *,
    config: GroupingConfig,
    can_merge: Callable[[TrackletStats, TrackletStats, GroupingConfig], bool] = reference_can_merge,
) -> list[list[int]]:
    """The reference's greedy pass: in start order, a tracklet joins the first group any member matches."""
    order = sorted(range(len(stats)), key=lambda i: stats[i].start_frame)
    assigned: set[int] = set()
    groups = []
    for i in order:
        if i in assigned:
            continue
        group = [i]
        assigned.add(i)
        for j in order:
            if j not in assigned and any(can_merge(stats[m], stats[j], config) for m in group):
                group.append(j)
                assigned.add(j)
        groups.append([stats[k].tracker_id for k in group])
    return groups


def our_checks(stat1: TrackletStats, stat2: TrackletStats, config: GroupingConfig) -> bool:
    """Our five checks as a merge predicate (for the greedy pass)."""
    return check_pair(stat1, stat2, config=config).accepted


@dataclass(frozen=True)
class Errors:
    """Grouping errors against the truth."""

    fragmented: int
    merged: int
    identities: int
    persons: int


def count_errors(groups: Sequence[Sequence[int]], identity_of: dict[int, int]) -> Errors:
    """Identities spread over more than one group, and groups holding more than one identity."""
    persons_of: dict[int, set[int]] = {}
    merged = 0
    for index, group in enumerate(groups):
        identities = {identity_of[tid] for tid in group}
        merged += len(identities) > 1
        for identity in identities:
            persons_of.setdefault(identity, set()).add(index)
    fragmented = sum(len(p) > 1 for p in persons_of.values())
    return Errors(fragmented=fragmented, merged=merged, identities=len(persons_of), persons=len(groups))


def methods(config: GroupingConfig) -> dict[str, Callable[[Sequence[TrackletStats]], list[list[int]]]]:
    """Every grouping compared, by name."""
    reference_checks = replace(config, spatial_mode="fixed", jitter_measure="spread", min_travel_to_jitter=0.0)
    return {
        "raw tracklets": lambda stats: [[s.tracker_id] for s in stats],
        "reference greedy": lambda stats: reference_greedy_groups(stats, config=config),
        "greedy + our checks": lambda stats: reference_greedy_groups(stats, config=config, can_merge=our_checks),
        "matching + reference checks": lambda stats: [
            list(g) for g in group_tracklets(stats, config=reference_checks).groups
        ],
        "matching + our checks": lambda stats: [list(g) for g in group_tracklets(stats, config=config).groups],
    }


def main() -> None:
    """Print fragmentation and wrong merges per seed and in total."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds (0..n-1)")
    parser.add_argument("--moving-speed", type=float, default=None, help="override grouping.moving_speed")
    args = parser.parse_args()
    config = GroupingConfig()
    if args.moving_speed is not None:
        config = replace(config, moving_speed=args.moving_speed)
    compared = methods(config)
    totals = {name: [0, 0, 0, 0] for name in compared}
    print(f"{'seed':>4} {'method':<28} {'fragmented':>10} {'merged':>7} {'persons':>8} {'identities':>10}")
    for seed in range(args.seeds):
        scene = simulate_scene(seed)
        for name, method in compared.items():
            errors = count_errors(method(scene.stats), scene.identity_of)
            total = totals[name]
            total[0] += errors.fragmented
            total[1] += errors.merged
            total[2] += errors.persons
            total[3] += errors.identities
            print(
                f"{seed:>4} {name:<28} {errors.fragmented:>10} {errors.merged:>7} "
                f"{errors.persons:>8} {errors.identities:>10}"
            )
    print()
    print(f"{'all':>4} {'method':<28} {'fragmented':>10} {'merged':>7} {'persons':>8} {'identities':>10}")
    for name, (fragmented, merged, persons, identities) in totals.items():
        print(f"{'':>4} {name:<28} {fragmented:>10} {merged:>7} {persons:>8} {identities:>10}")


if __name__ == "__main__":
    main()

"""Tracklet statistics made to order for the grouping tests (persons/test_grouping, test_pair_checks, ...).

``record`` sets exactly the values a check reads; ``walk`` computes them from the boxes of a straight
walk (with noise or a sway) through benchmarks/grouping_ground_truth.py, as the online accumulator would.
"""

import math
from dataclasses import replace

import numpy as np
from benchmark_modules import load_benchmark

from streamreid.config import GroupingConfig
from streamreid.types import TrackletStats


def _load_ground_truth():
    return load_benchmark("grouping_ground_truth")


def box(cx, cy, *, width=100.0, height=240.0):
    return (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)


def record(
    tid,
    start,
    end,
    *,
    first=(500.0, 400.0),
    last=None,
    velocity=(0.0, 0.0),
    jitter=2.0,
    area=24000.0,
    count=None,
    mean_center=None,
    confidence=0.9,
):
    """A TrackletStats with exactly the values a check reads (boxes 100 wide)."""
    last = first if last is None else last
    height = area / 100.0
    count = end - start + 1 if count is None else count
    mean_center = ((first[0] + last[0]) / 2, (first[1] + last[1]) / 2) if mean_center is None else mean_center
    return TrackletStats(
        tracker_id=tid,
        start_frame=start,
        end_frame=end,
        start_time=start / 30.0,
        end_time=end / 30.0,
        duration=end - start + 1,
        detection_count=count,
        mean_center=mean_center,
        center_jitter=jitter,
        mean_area=area,
        area_variance=0.0,
        mean_velocity=velocity,
        velocity_magnitude=math.hypot(*velocity),
        first_bbox=box(*first, height=height),
        last_bbox=box(*last, height=height),
        mean_confidence=confidence,
    )


def walk(tid, start, end, origin, velocity, *, height=240.0, noise=0.0, sway=0.0, seed=0, step=1):
    """Statistics of a straight walk (plus noise or a sideways sway) seen every ``step`` frames."""
    rng = np.random.default_rng(seed)
    frames = np.arange(start, end + 1, step)
    t = (frames - start)[:, None]
    centers = np.asarray(origin, dtype=float) + t * np.asarray(velocity, dtype=float)
    if noise:
        centers += rng.normal(0, noise, (len(frames), 2))
    if sway:
        centers[:, 0] += sway * np.sin(2 * np.pi * (frames - start) / 30.0)
    boxes = [box(cx, cy, width=height * 0.42, height=height) for cx, cy in centers]
    return gt.tracklet_stats_from_boxes(tid, frames, boxes)


gt = _load_ground_truth()
CONFIG = GroupingConfig()
REFERENCE = replace(CONFIG, spatial_mode="fixed", jitter_measure="spread", min_travel_to_jitter=0.0)


def greedy_trap():
    """A walker hidden for 12 frames, and a bystander appearing nearby just before he reappears."""
    walker = record(1, 70, 100, first=(410.0, 400.0), last=(500.0, 400.0), velocity=(3.0, 0.0), jitter=26.0)
    bystander = record(2, 110, 200, first=(690.0, 400.0), jitter=2.0)
    walker_again = record(3, 112, 142, first=(536.0, 400.0), last=(626.0, 400.0), velocity=(3.0, 0.0), jitter=26.0)
    return [walker, bystander, walker_again]

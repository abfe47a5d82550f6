import math

import numpy as np
import pytest
import supervision as sv

from streamreid.stream.stats import TrackletStatsAccumulator


def _detections(rows):
    """rows: list of (tracker_id, x1, y1, x2, y2, conf)."""
    if not rows:
        empty = sv.Detections.empty()
        empty.tracker_id = np.array([], dtype=int)
        return empty
    array = np.asarray(rows, dtype=float)
    return sv.Detections(
        xyxy=array[:, 1:5],
        confidence=array[:, 5],
        class_id=np.zeros(len(rows), dtype=int),
        tracker_id=array[:, 0].astype(int),
    )


def _offline(points):
    """Recompute statistics from every (frame, box, conf) of one tracklet, the slow obvious way."""
    frames = np.array([p[0] for p in points])
    boxes = np.array([p[1] for p in points], dtype=float)
    conf = np.array([p[2] for p in points])
    centers = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    mean_center = centers.mean(axis=0)
    jitter = math.sqrt(np.mean(np.sum((centers - mean_center) ** 2, axis=1)))
    steps = np.diff(centers, axis=0) / np.diff(frames)[:, None]
    # mean velocity as the frame-weighted mean of per-step velocities
    weights = np.diff(frames)
    velocity = (steps * weights[:, None]).sum(axis=0) / weights.sum()
    return {
        "start_frame": frames[0],
        "end_frame": frames[-1],
        "detection_count": len(frames),
        "mean_center": mean_center,
        "center_jitter": jitter,
        "mean_area": areas.mean(),
        "area_variance": areas.var(),
        "mean_velocity": velocity,
        "mean_confidence": conf.mean(),
    }


def test_online_statistics_match_offline_recomputation():
    rng = np.random.default_rng(3)
    accumulator = TrackletStatsAccumulator(frame_step=1)
    truth = {1: [], 2: []}
    for frame in range(200):
        rows = []
        # tracklet 1 walks right with noise; tracklet 2 appears late, has holes and grows
        if frame < 150:
            x = 10 + 2.0 * frame + rng.normal(0, 1.5)
            box = (x, 50.0 + rng.normal(0, 1), x + 40, 150.0)
            conf = float(rng.uniform(0.5, 1))
            rows.append((1, *box, conf))
            truth[1].append((frame, box, conf))
        if frame >= 60 and frame % 7 != 0:
            size = 30 + frame * 0.1
            box = (300.0, 100.0 - frame * 0.2, 300 + size, 100 + 2 * size)
            rows.append((2, *box, 0.8))
            truth[2].append((frame, box, 0.8))
        accumulator.update(frame, frame / 25.0, _detections(rows))
    for tracker_id, points in truth.items():
        stats = accumulator.finish(tracker_id)
        expected = _offline(points)
        assert stats.start_frame == expected["start_frame"]
        assert stats.end_frame == expected["end_frame"]
        assert stats.duration == expected["end_frame"] - expected["start_frame"] + 1
        assert stats.detection_count == expected["detection_count"]
        assert stats.mean_center == pytest.approx(tuple(expected["mean_center"]), rel=1e-9)
        assert stats.center_jitter == pytest.approx(expected["center_jitter"], rel=1e-6)
        assert stats.mean_area == pytest.approx(expected["mean_area"], rel=1e-9)
        assert stats.area_variance == pytest.approx(expected["area_variance"], rel=1e-6)
        assert stats.mean_velocity == pytest.approx(tuple(expected["mean_velocity"]), rel=1e-9, abs=1e-12)
        assert stats.velocity_magnitude == pytest.approx(float(np.hypot(*expected["mean_velocity"])))
        assert stats.mean_confidence == pytest.approx(expected["mean_confidence"])
        assert stats.first_bbox == pytest.approx(points[0][1])
        assert stats.last_bbox == pytest.approx(points[-1][1])
        assert stats.start_time == pytest.approx(points[0][0] / 25.0)
    assert accumulator.live_ids == []


def test_gaps_count_missing_frames_relative_to_the_stride():
    accumulator = TrackletStatsAccumulator(frame_step=2)
    box = (0, 0, 10, 20, 0.9)
    for frame in [0, 2, 4, 10, 12, 20]:  # holes: 6,8 missing (2 frames... in frames: 4), then 14..18 (6)
        accumulator.update(frame, frame / 10, _detections([(7, *box)]))
    stats = accumulator.finish(7)
    assert stats.gap_count == 2
    assert stats.gap_frames == (10 - 4 - 2) + (20 - 12 - 2)
    assert stats.max_gap == 6
    assert stats.detection_count == 6


def test_finished_tracklets_leave_memory_and_unconfirmed_ids_are_ignored():
    accumulator = TrackletStatsAccumulator()
    for frame in range(10):
        accumulator.update(frame, frame, _detections([(frame, 0, 0, 10, 10, 0.9), (-1, 5, 5, 9, 9, 0.3)]))
        if frame > 0:
            assert accumulator.finish(frame - 1) is not None
        assert len(accumulator.live_ids) == 1
    assert accumulator.finish(12345) is None


def test_single_detection_has_zero_motion_and_jitter():
    accumulator = TrackletStatsAccumulator()
    accumulator.update(5, 0.2, _detections([(3, 10, 10, 30, 50, 0.7)]))
    stats = accumulator.finish(3)
    assert stats.duration == 1
    assert stats.mean_velocity == (0.0, 0.0)
    assert stats.center_jitter == 0.0
    assert stats.area_variance == 0.0
    assert stats.to_dict()["first_bbox"] == [10.0, 10.0, 30.0, 50.0]


def test_motion_residual_is_the_rms_distance_from_the_least_squares_line():
    rng = np.random.default_rng(7)
    accumulator = TrackletStatsAccumulator()
    frames = np.array([f for f in range(300) if f % 11 != 5])  # with holes
    xs = 50 + 2.5 * frames + rng.normal(0, 3, len(frames))
    ys = 200 - 0.7 * frames + rng.normal(0, 3, len(frames))
    for f, x, y in zip(frames, xs, ys, strict=True):
        accumulator.update(int(f), f / 30, _detections([(1, x - 10, y - 30, x + 10, y + 30, 0.9)]))
    stats = accumulator.finish(1)
    fit_x = np.polyval(np.polyfit(frames, xs, 1), frames)
    fit_y = np.polyval(np.polyfit(frames, ys, 1), frames)
    expected = np.sqrt(np.mean((xs - fit_x) ** 2 + (ys - fit_y) ** 2))
    assert stats.motion_residual == pytest.approx(expected, rel=1e-6)
    assert stats.motion_residual < 6 < stats.center_jitter  # the walk inflates the plain jitter, not the residual


def test_hours_long_tracklet_keeps_exact_jitter_and_residual():
    """Six hours at 25 fps of a person standing far from the origin: the running moments must not cancel."""
    from streamreid.stream.stats import _Running, _welford_add

    rng = np.random.default_rng(3)
    n = 540_000
    t = np.arange(n, dtype=np.float64)
    x = 3000.0 + 1e-4 * t + rng.normal(0, 0.25, n)  # a slow drift plus half-pixel jitter
    y = 2000.0 + rng.normal(0, 0.25, n)
    area = 5e4 + rng.normal(0, 3.0, n)
    run = _Running(start_frame=0, start_time=0.0, first_bbox=(0, 0, 1, 1), first_center=(x[0], y[0]))
    for xi, yi, ti, ai in zip(x.tolist(), y.tolist(), t.tolist(), area.tolist(), strict=True):
        _welford_add(run, xi, yi, ti, ai)
    assert run.m2_x / n == pytest.approx(np.var(x), rel=1e-9)
    assert run.m2_area / n == pytest.approx(np.var(area), rel=1e-9)
    residual_x = np.var(x - np.polyval(np.polyfit(t, x, 1), t))
    assert (run.m2_x - run.co_xt**2 / run.m2_t) / n == pytest.approx(residual_x, rel=1e-6)

"""Groups made persons: aggregated statistics, the strict-JSON grouping log, the ReID candidates."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from tracklet_records import CONFIG, box, greedy_trap, gt, record, walk

from streamreid.persons.grouping import GroupingError, group_tracklets
from streamreid.persons.grouping_results import build_persons, grouping_log, reid_candidates
from streamreid.persons.pair_checks import (
    AREA_RATIO,
    CHECK_NAMES,
    JITTER_DIFFERENCE,
)


def test_person_aggregation_equals_a_recomputation_over_all_points():
    rng = np.random.default_rng(3)
    pieces = [
        (np.arange(0, 80), (200.0, 300.0), (2.0, 0.5), 200.0),
        (np.arange(95, 130), (390.0, 345.0), (1.5, 0.0), 210.0),
        (np.arange(150, 400, 2), (600.0, 380.0), (0.0, 0.0), 190.0),
    ]
    stats, all_boxes, all_conf = [], [], []
    for tid, (frames, origin, velocity, height) in enumerate(pieces, start=10):
        t = (frames - frames[0])[:, None]
        centers = np.asarray(origin) + t * np.asarray(velocity) + rng.normal(0, 3, (len(frames), 2))
        heights = height * (1 + rng.normal(0, 0.05, len(frames)))
        boxes = [box(cx, cy, width=0.4 * h, height=h) for (cx, cy), h in zip(centers, heights, strict=True)]
        conf = rng.uniform(0.5, 1.0, len(frames))
        stats.append(gt.tracklet_stats_from_boxes(tid, frames, boxes, confidences=conf))
        all_boxes.extend(boxes)
        all_conf.extend(conf)
    (person,) = build_persons([(12, 10, 11)], stats)

    xyxy = np.asarray(all_boxes)
    centers = np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2], axis=1)
    mean_center = centers.mean(axis=0)
    assert person.person_id == 0
    assert person.tracklet_ids == (10, 11, 12)
    assert person.num_tracklets_merged == 3
    assert (person.start_frame, person.end_frame) == (0, 398)
    assert person.start_time == pytest.approx(0.0) and person.end_time == pytest.approx(398 / 30)
    assert person.detection_count == len(all_boxes)
    assert person.mean_center == pytest.approx(tuple(mean_center))
    direct_jitter = math.sqrt(((centers - mean_center) ** 2).sum(axis=1).mean())
    assert person.center_jitter == pytest.approx(direct_jitter, rel=1e-9)
    naive = np.average([s.center_jitter for s in stats], weights=[s.detection_count for s in stats])
    assert abs(person.center_jitter - naive) > 10  # a plain weighted mean of jitters would be far off
    areas = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    assert person.mean_area == pytest.approx(areas.mean())
    assert person.mean_confidence == pytest.approx(np.mean(all_conf))


def test_persons_follow_group_order_and_name_missing_ids():
    stats = [record(1, 0, 100), record(2, 110, 200), record(3, 0, 50, first=(100.0, 100.0))]
    persons = build_persons([(1, 2), (3,)], stats)
    assert [p.person_id for p in persons] == [0, 1]
    assert persons[0].detection_count == 101 + 91
    with pytest.raises(GroupingError, match="names tracker id 7"):
        build_persons([(1, 7)], stats)


def test_grouping_log_is_strict_json_with_every_check():
    scene = gt.simulate_scene(1)
    result = group_tracklets(scene.stats, config=CONFIG)
    log = json.loads(json.dumps(grouping_log(result), allow_nan=False))
    assert len(log["pairs"]) == len(result.pairs) > 0
    for entry in log["pairs"]:
        assert set(entry) >= {"earlier", "later", "checks", "accepted", "chosen"}
        assert set(entry["checks"]) == set(CHECK_NAMES)
        for check in entry["checks"].values():
            assert set(check) == {"value", "limit", "passed"}
        assert entry["accepted"] == all(c["passed"] for c in entry["checks"].values())
    chosen = {(e["earlier"], e["later"]) for e in log["pairs"] if e["chosen"]}
    assert chosen == set(result.chosen)
    assert log["groups"] == [list(g) for g in result.groups]


def test_zero_area_gives_null_not_infinity():
    earlier = replace(record(1, 0, 100), mean_area=0.0)
    result = group_tracklets([earlier, record(2, 110, 200)], config=CONFIG)
    (entry,) = grouping_log(result)["pairs"]
    assert entry["checks"][AREA_RATIO]["value"] is None and entry["checks"][AREA_RATIO]["passed"] is False
    json.dumps(grouping_log(result), allow_nan=False)


def test_reid_candidates_are_near_misses_and_lost_matches():
    stats = greedy_trap()
    result = group_tracklets(stats, config=CONFIG)
    candidates = reid_candidates(result, stats)
    assert [(c["tracklet_1"], c["tracklet_2"]) for c in candidates] == [(1, 2)]  # accepted, lost to (1, 3)
    (lost,) = candidates
    assert lost["accepted"] is True and lost["failed_checks"] == []
    assert lost["gap"] == 10 and lost["distance"] == pytest.approx(190.0) and lost["area_ratio"] == pytest.approx(1.0)

    dancer = walk(1, 0, 150, (640.0, 400.0), (0.0, 0.0), sway=80.0, noise=1.0, seed=21)
    walker = walk(2, 30, 150, (400.0, 400.0), (2.0, 0.0), noise=1.0, seed=22)
    dancer_again = walk(3, 165, 300, (640.0, 400.0), (0.0, 0.0), sway=80.0, noise=1.0, seed=23)
    stats = [dancer, walker, dancer_again]
    result = group_tracklets(stats, config=CONFIG)
    candidates = reid_candidates(result, stats)
    assert [(c["tracklet_1"], c["tracklet_2"], c["failed_checks"]) for c in candidates] == [(2, 3, [JITTER_DIFFERENCE])]
    assert set(candidates[0]) == {
        "tracklet_1",
        "tracklet_2",
        "gap",
        "distance",
        "area_ratio",
        "accepted",
        "failed_checks",
    }
    json.dumps(candidates, allow_nan=False)

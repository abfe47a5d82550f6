import json
import random
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from tracklet_records import CONFIG, REFERENCE, box, greedy_trap, gt, record, walk

from streamreid.config import Config, ConfigError, GroupingConfig
from streamreid.persons.grouping import GroupingError, crosses_cut, group_tracklets
from streamreid.persons.grouping_results import build_persons, grouping_log
from streamreid.persons.pair_checks import JITTER_DIFFERENCE, TEMPORAL_GAP, check_pair
from streamreid.stream.stats import TrackletStatsAccumulator

ROOT = Path(__file__).resolve().parents[2]


def test_offline_helper_matches_the_online_accumulator():
    rng = np.random.default_rng(7)
    frames = [f for f in range(10, 80) if f % 9 != 0]  # a few missed frames
    boxes = [box(200 + 2.5 * (f - 10) + rng.normal(0, 2), 300 + rng.normal(0, 2)) for f in frames]
    accumulator = TrackletStatsAccumulator()
    for frame, xyxy in zip(frames, boxes, strict=True):
        detections = sv.Detections(
            xyxy=np.array([xyxy]), confidence=np.array([0.9]), class_id=np.array([0]), tracker_id=np.array([5])
        )
        accumulator.update(frame, frame / 30.0, detections)
    online = accumulator.finish(5).to_dict()
    offline = gt.tracklet_stats_from_boxes(5, frames, boxes).to_dict()
    assert online.keys() == offline.keys()
    for key, value in online.items():
        assert offline[key] == pytest.approx(value, rel=1e-9, abs=1e-6), key


# --- grouping ----------------------------------------------------------------------------------------------------


def _no_overlaps(groups, stats):
    by_id = {s.tracker_id: s for s in stats}
    for group in groups:
        members = [by_id[t] for t in group]
        for a, b in pairwise(members):
            if not a.end_frame < b.start_frame:
                return False
    return True


def test_overlapping_tracklets_are_never_merged():
    # Identical in every way, but both seen in frame 100.
    a = record(1, 0, 100)
    b = record(2, 100, 200)
    result = group_tracklets([a, b], config=CONFIG)
    assert result.groups == ((1,), (2,))
    assert result.chosen == ()
    (pair,) = result.pairs
    assert pair.checks[TEMPORAL_GAP][2] is False and not pair.accepted
    # Not even when asked to, once they overlap for longer than half the gap limit: the must-link is unmet.
    c = record(3, 100 - CONFIG.max_temporal_gap // 2, 200)
    forced = group_tracklets([a, c], config=CONFIG, must_link=[(1, 3)])
    assert forced.groups == ((1,), (3,))
    assert forced.unmet_must_links == ((1, 3),)
    # A short overlap (a lost track handed one more box after a new track started) can be must-linked.
    joined = group_tracklets([a, b], config=CONFIG, must_link=[(1, 2)])
    assert joined.groups == ((1, 2),) and joined.unmet_must_links == ()


def test_a_must_link_never_joins_tracklets_seen_together():
    # issue 20 item 5: a short overlap is allowed for one human tracked twice, not for two people seen apart in
    # one frame; a merge asked for (streamreid apply, auto-merge) is then unmet, not an error
    a, b = record(1, 0, 100), record(2, 90, 200)
    assert group_tracklets([a, b], config=CONFIG, must_link=[(1, 2)]).groups == ((1, 2),)
    held = group_tracklets([a, b], config=CONFIG, must_link=[(2, 1)], seen_together=[(1, 2), (1, 7)])
    assert held.groups == ((1,), (2,)) and held.unmet_must_links == ((1, 2),)


@pytest.mark.parametrize("seed", range(6))
def test_groups_never_hold_overlapping_tracklets(seed):
    scene = gt.simulate_scene(seed)
    result = group_tracklets(scene.stats, config=CONFIG)
    assert _no_overlaps(result.groups, scene.stats)
    assert sorted(t for g in result.groups for t in g) == sorted(s.tracker_id for s in scene.stats)
    start_of = {s.tracker_id: s.start_frame for s in scene.stats}
    firsts = [start_of[group[0]] for group in result.groups]
    assert firsts == sorted(firsts)


@pytest.mark.parametrize("seed", range(4))
def test_grouping_does_not_depend_on_input_order(seed):
    scene = gt.simulate_scene(seed, extra_walkers=6)
    expected = group_tracklets(scene.stats, config=CONFIG)
    shuffled = list(scene.stats)
    for attempt in range(3):
        random.Random(attempt).shuffle(shuffled)
        again = group_tracklets(shuffled, config=CONFIG)
        assert again.groups == expected.groups
        assert again.chosen == expected.chosen
        assert [(p.earlier, p.later) for p in again.pairs] == [(p.earlier, p.later) for p in expected.pairs]


def test_reference_greedy_goes_wrong_where_matching_does_not():
    stats = greedy_trap()
    greedy = gt.reference_greedy_groups(stats, config=CONFIG)
    # The bystander starts first, matches the walker and joins; the walker's own continuation then matches
    # the walker too and joins the same group, although it overlaps the bystander in time.
    assert greedy == [[1, 2, 3]]
    assert not _no_overlaps([sorted(greedy[0], key=lambda t: stats[t - 1].start_frame)], stats)
    for config in (CONFIG, REFERENCE):
        result = group_tracklets(stats, config=config)
        assert result.groups == ((1, 3), (2,))
        assert result.chosen == ((1, 3),)
    # Both links were acceptable; the matching kept the cheaper one.
    pairs = {(p.earlier, p.later): p for p in group_tracklets(stats, config=CONFIG).pairs}
    assert pairs[(1, 2)].accepted and pairs[(1, 3)].accepted
    assert pairs[(1, 3)].cost < pairs[(1, 2)].cost


def test_reference_greedy_is_order_dependent_on_equal_starts():
    # Two candidates start in the same frame; the reference keeps the input order among them.
    walker = record(1, 0, 100, first=(200.0, 400.0), last=(500.0, 400.0), velocity=(3.0, 0.0), jitter=20.0)
    near = record(2, 110, 200, first=(530.0, 400.0), last=(800.0, 400.0), velocity=(3.0, 0.0), jitter=20.0)
    far = record(3, 110, 200, first=(650.0, 400.0), last=(920.0, 400.0), velocity=(3.0, 0.0), jitter=20.0)
    forward = gt.reference_greedy_groups([walker, near, far], config=CONFIG)
    backward = gt.reference_greedy_groups([walker, far, near], config=CONFIG)
    assert forward != backward
    assert group_tracklets([walker, far, near], config=CONFIG).groups == ((1, 2), (3,))
    assert group_tracklets([walker, near, far], config=CONFIG).groups == ((1, 2), (3,))


def test_crossing_walkers_are_untangled_by_their_direction():
    # Hidden while they overlap at x=640: each reappears where the other vanished.
    right = record(1, 0, 95, first=(355.0, 400.0), last=(625.0, 400.0), velocity=(3.0, 0.0), jitter=1.0)
    left = record(2, 0, 95, first=(925.0, 400.0), last=(655.0, 400.0), velocity=(-3.0, 0.0), jitter=1.0)
    right_again = record(3, 105, 200, first=(655.0, 400.0), last=(940.0, 400.0), velocity=(3.0, 0.0), jitter=1.0)
    left_again = record(4, 105, 200, first=(625.0, 400.0), last=(340.0, 400.0), velocity=(-3.0, 0.0), jitter=1.0)
    for config in (CONFIG, REFERENCE):
        result = group_tracklets([right, left, right_again, left_again], config=config)
        assert set(result.groups) == {(1, 3), (2, 4)}


def test_dancer_and_walker_are_kept_apart_by_jitter():
    dancer = walk(1, 0, 150, (640.0, 400.0), (0.0, 0.0), sway=80.0, noise=1.0, seed=21)
    walker = walk(2, 30, 150, (400.0, 400.0), (2.0, 0.0), noise=1.0, seed=22)
    dancer_again = walk(3, 165, 300, (640.0, 400.0), (0.0, 0.0), sway=80.0, noise=1.0, seed=23)
    walker_again = walk(4, 165, 300, (670.0, 400.0), (2.0, 0.0), noise=1.0, seed=24)
    result = group_tracklets([dancer, walker, dancer_again, walker_again], config=CONFIG)
    assert set(result.groups) == {(1, 3), (2, 4)}
    walker_to_dancer = check_pair(walker, dancer_again, config=CONFIG)
    assert walker_to_dancer.failed() == (JITTER_DIFFERENCE,)


def test_cannot_link_splits_a_chain_at_its_costliest_link():
    a = record(1, 0, 100, first=(300.0, 400.0))
    b = record(2, 105, 200, first=(305.0, 400.0))  # cheap link a -> b
    c = record(3, 225, 300, first=(450.0, 400.0))  # dearer link b -> c
    assert group_tracklets([a, b, c], config=CONFIG).groups == ((1, 2, 3),)
    result = group_tracklets([a, b, c], config=CONFIG, cannot_link=[(3, 1)])
    assert result.groups == ((1, 2), (3,))
    direct = group_tracklets([a, b, c], config=CONFIG, cannot_link=[(1, 2)])
    assert direct.groups == ((1,), (2, 3))


def test_must_link_joins_what_the_checks_cannot():
    scene = gt.simulate_scene(0)
    leaver = 6  # the identity that leaves for 3 s and comes back elsewhere
    pieces = sorted((s for s in scene.stats if scene.identity_of[s.tracker_id] == leaver), key=lambda s: s.start_frame)
    assert len(pieces) == 2
    before = group_tracklets(scene.stats, config=CONFIG)
    assert gt.count_errors(before.groups, scene.identity_of).fragmented >= 1
    link = (pieces[1].tracker_id, pieces[0].tracker_id)  # either order
    after = group_tracklets(scene.stats, config=CONFIG, must_link=[link])
    group = next(g for g in after.groups if pieces[0].tracker_id in g)
    assert pieces[1].tracker_id in group
    assert (pieces[0].tracker_id, pieces[1].tracker_id) in after.forced
    assert (pieces[0].tracker_id, pieces[1].tracker_id) in after.chosen
    assert _no_overlaps(after.groups, scene.stats)
    assert after.unmet_must_links == ()
    log = grouping_log(after)
    forced = [p for p in log["pairs"] if p["forced"]]
    assert [(p["earlier"], p["later"]) for p in forced] == [(pieces[0].tracker_id, pieces[1].tracker_id)]
    assert forced[0]["chosen"] and not forced[0]["accepted"]


def test_must_link_group_still_links_to_neighbours():
    a = record(1, 0, 100, first=(300.0, 400.0))
    b = record(2, 400, 500, first=(900.0, 400.0))  # far away in time and space
    c = record(3, 510, 600, first=(905.0, 400.0))  # continues b
    result = group_tracklets([a, b, c], config=CONFIG, must_link=[(1, 2)])
    assert result.groups == ((1, 2, 3),)
    assert result.forced == ((1, 2),)


@pytest.mark.parametrize(
    ("must", "cannot", "message"),
    [
        ([(1, 9)], [], "must_link names tracker id 9"),
        ([], [(9, 1)], "cannot_link names tracker id 9"),
        ([], [(1, 1)], "cannot_link pairs a tracklet with itself"),
        ([(1, 2)], [(2, 1)], "tracklets 1 and 2 are both must-linked and cannot-linked"),
    ],
)
def test_contradictory_constraints_are_refused(must, cannot, message):
    stats = [record(1, 0, 100), record(2, 110, 200)]
    with pytest.raises(GroupingError, match=message):
        group_tracklets(stats, config=CONFIG, must_link=must, cannot_link=cannot)


def test_duplicate_tracker_ids_are_refused():
    with pytest.raises(GroupingError, match="tracker id 1 appears twice"):
        group_tracklets([record(1, 0, 10), record(1, 20, 30)], config=CONFIG)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("grouping.spatial_mode", "teleport", "grouping.spatial_mode must be one of fixed, allowance, predicted"),
        ("grouping.jitter_measure", "wobble", "grouping.jitter_measure must be one of spread, detrended"),
        ("grouping.area_ratio_range", [1.2, 1.5], "grouping.area_ratio_range must satisfy"),
        ("grouping.max_temporal_gap", 0, "grouping.max_temporal_gap must be >= 1"),
    ],
)
def test_bad_grouping_config_is_named(key, value, message):
    config = Config().with_overrides({key: value}).grouping  # built in code: load_config would refuse it first
    with pytest.raises(ConfigError, match=message):
        group_tracklets([record(1, 0, 10)], config=config)


def test_empty_input():
    result = group_tracklets([], config=CONFIG)
    assert result.groups == () and result.pairs == () and result.chosen == ()
    assert build_persons(result.groups, []) == []
    assert json.loads(json.dumps(grouping_log(result))) == {"pairs": [], "groups": [], "unmet_must_links": []}


def test_candidate_window_logs_short_overlaps_and_skips_long_concurrency():
    a = record(1, 0, 100)
    short_overlap = record(2, 90, 200, first=(520.0, 400.0))
    concurrent = record(3, 10, 300, first=(900.0, 400.0))
    too_late = record(4, 140, 300)
    logged = {
        (p.earlier, p.later) for p in group_tracklets([a, short_overlap, concurrent, too_late], config=CONFIG).pairs
    }
    assert (1, 2) in logged
    assert (1, 3) not in logged  # starts 90 frames before 1 ends
    assert (1, 4) not in logged  # starts 40 frames after 1 ends


# --- persons -----------------------------------------------------------------------------------------------------


# --- logs --------------------------------------------------------------------------------------------------------


# --- against the ground truth ------------------------------------------------------------------------------------


def test_matching_beats_the_reference_greedy_on_synthetic_fragmentation():
    ours = raw = greedy = 0
    for seed in range(5):
        scene = gt.simulate_scene(seed)
        raw_errors = gt.count_errors([[s.tracker_id] for s in scene.stats], scene.identity_of)
        greedy_errors = gt.count_errors(gt.reference_greedy_groups(scene.stats, config=CONFIG), scene.identity_of)
        our_errors = gt.count_errors(group_tracklets(scene.stats, config=CONFIG).groups, scene.identity_of)
        raw += raw_errors.fragmented
        greedy += greedy_errors.fragmented + greedy_errors.merged
        ours += our_errors.fragmented + our_errors.merged
        # The one who leaves for 3 s stays split (appearance's job); at most one other mistake per scene.
        assert our_errors.fragmented + our_errors.merged <= 2
    assert ours < greedy < raw


# --------------------------------------------------------------------------- shot cuts


def test_crosses_cut_is_a_cut_after_the_end_and_at_or_before_the_start():
    assert crosses_cut(9, 12, [10])
    assert crosses_cut(9, 10, [10])  # the cut's frame starts the new shot
    assert not crosses_cut(10, 12, [10])  # both after it
    assert not crosses_cut(3, 8, [10, 20])
    assert crosses_cut(15, 25, [10, 20])
    assert not crosses_cut(9, 12, [])


def test_position_and_motion_never_link_across_a_cut_but_appearance_still_may():
    # one standing person, a cut between their two tracklets: a perfect space-time continuation otherwise
    tracklets = [record(0, 0, 49), record(1, 51, 100)]
    config = GroupingConfig()
    assert group_tracklets(tracklets, config=config).groups == ((0, 1),)
    across = group_tracklets(tracklets, config=config, shot_cuts=[50])
    assert across.groups == ((0,), (1,)) and across.pairs == ()
    assert group_tracklets(tracklets, config=config, shot_cuts=[30, 120]).groups == ((0, 1),)
    merged = group_tracklets(tracklets, config=config, shot_cuts=[50], must_link=[(0, 1)])
    assert merged.groups == ((0, 1),) and merged.forced == ((0, 1),)

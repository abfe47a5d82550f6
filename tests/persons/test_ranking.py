import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from benchmark_modules import load_benchmark
from tracklet_records import record

from streamreid.config import ConfigError, GroupingConfig, RankingConfig
from streamreid.persons.grouping import group_tracklets
from streamreid.persons.grouping_results import build_persons
from streamreid.persons.ranking import COMPONENTS, rank_persons, ranking_results

ROOT = Path(__file__).resolve().parents[2]
FRAME = (1280, 720)
CONFIG = RankingConfig()


def _load_ground_truth():
    return load_benchmark("grouping_ground_truth")


def tracklet(tid, start, end, *, center=(640.0, 360.0), jitter=2.0, area=20000.0, velocity=(0.0, 0.0), count=None):
    """A tracklet for ranking: where it stands on average and how steadily (``tracklet_records.record``)."""
    return record(tid, start, end, mean_center=center, jitter=jitter, area=area, velocity=velocity, count=count)


def person_of(person_id, stats):
    (person,) = build_persons([tuple(s.tracker_id for s in stats)], stats)
    return replace(person, person_id=person_id)


def test_long_centred_smooth_person_comes_first():
    star = tracklet(1, 0, 899, center=(640.0, 360.0), jitter=3.0)
    passer_by = tracklet(2, 100, 250, center=(1100.0, 600.0), jitter=3.0)
    fidget = tracklet(3, 300, 599, center=(640.0, 360.0), jitter=120.0)
    stats = [star, passer_by, fidget]
    persons = [person_of(i, [s]) for i, s in enumerate(stats)]
    scores = rank_persons(persons, stats, total_frames=900, frame_size=FRAME, config=CONFIG)
    assert [s.person_id for s in scores] == [0, 2, 1]
    assert [s.rank for s in scores] == [1, 2, 3]
    assert scores[0].score > scores[1].score > scores[2].score


def test_components_follow_their_definitions():
    centred = tracklet(1, 0, 599, center=(640.0, 360.0), jitter=0.0, area=10000.0, count=300)
    corner = tracklet(2, 0, 299, center=(0.0, 0.0), jitter=100.0, area=10000.0)
    stats = [centred, corner]
    persons = [person_of(0, [centred]), person_of(1, [corner])]
    by_id = {s.person_id: s for s in rank_persons(persons, stats, total_frames=1200, frame_size=FRAME, config=CONFIG)}
    assert by_id[0].components == pytest.approx({"duration": 1.0, "coverage": 0.25, "center": 1.0, "smoothness": 1.0})
    # span 300 of the longest 600; 300 of 1200 frames; in the corner; jitter = box side -> 1 / (1 + 1)
    assert by_id[1].components == pytest.approx({"duration": 0.5, "coverage": 0.25, "center": 0.0, "smoothness": 0.5})
    assert by_id[0].score == pytest.approx((0.4 * 1 + 0.3 * 0.25 + 0.2 * 1 + 0.1 * 1) / 1.0)
    assert by_id[1].score == pytest.approx(0.4 * 0.5 + 0.3 * 0.25 + 0.1 * 0.5)


def test_weights_change_the_order():
    long_off_centre = tracklet(1, 0, 899, center=(100.0, 100.0))
    short_centred = tracklet(2, 0, 199, center=(640.0, 360.0))
    stats = [long_off_centre, short_centred]
    persons = [person_of(0, [long_off_centre]), person_of(1, [short_centred])]
    default = rank_persons(persons, stats, total_frames=900, frame_size=FRAME, config=CONFIG)
    assert [s.person_id for s in default] == [0, 1]
    centre_only = RankingConfig(duration=0.0, coverage=0.0, center=1.0, smoothness=0.0)
    assert [
        s.person_id for s in rank_persons(persons, stats, total_frames=900, frame_size=FRAME, config=centre_only)
    ] == [
        1,
        0,
    ]


def test_weights_need_not_sum_to_one():
    stats = [tracklet(1, 0, 500, center=(300.0, 200.0), jitter=20.0), tracklet(2, 100, 300, jitter=5.0)]
    persons = [person_of(0, [stats[0]]), person_of(1, [stats[1]])]
    scaled = RankingConfig(duration=4.0, coverage=3.0, center=2.0, smoothness=1.0)
    a = rank_persons(persons, stats, total_frames=600, frame_size=FRAME, config=CONFIG)
    b = rank_persons(persons, stats, total_frames=600, frame_size=FRAME, config=scaled)
    assert [(s.person_id, s.rank) for s in a] == [(s.person_id, s.rank) for s in b]
    assert [s.score for s in a] == pytest.approx([s.score for s in b])
    assert all(0.0 <= s.score <= 1.0 for s in a)


def test_ties_go_to_the_earlier_start_then_the_lower_id():
    # Same span, count, place and jitter: identical scores.
    stats = [tracklet(7, 200, 399), tracklet(8, 0, 199), tracklet(9, 0, 199)]
    persons = [person_of(0, [stats[0]]), person_of(2, [stats[2]]), person_of(1, [stats[1]])]
    scores = rank_persons(persons, stats, total_frames=600, frame_size=FRAME, config=CONFIG)
    assert len({s.score for s in scores}) == 1
    assert [s.person_id for s in scores] == [1, 2, 0]


def test_detrended_jitter_makes_a_steady_walker_smooth():
    walker = tracklet(1, 0, 299, center=(640.0, 360.0), jitter=3.0 * math.sqrt((300**2 - 1) / 12), velocity=(3.0, 0))
    persons = [person_of(0, [walker])]
    detrended = rank_persons(persons, [walker], total_frames=300, frame_size=FRAME, config=CONFIG)
    spread = rank_persons(
        persons, [walker], total_frames=300, frame_size=FRAME, config=replace(CONFIG, jitter_measure="spread")
    )
    assert detrended[0].components["smoothness"] == pytest.approx(1.0)
    assert spread[0].components["smoothness"] < 0.5


def test_no_persons():
    assert rank_persons([], [], total_frames=100, frame_size=FRAME, config=CONFIG) == []
    payload = ranking_results([], config=CONFIG)
    assert payload == {
        "rankings": [],
        "primary_person": None,
        "weights": {"duration": 0.4, "coverage": 0.3, "center": 0.2, "smoothness": 0.1},
    }


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (RankingConfig(duration=-1.0), "ranking.duration must be a finite weight >= 0"),
        (RankingConfig(duration=0.0, coverage=0.0, center=0.0, smoothness=0.0), "must not all be zero"),
        (RankingConfig(jitter_measure="wiggle"), "ranking.jitter_measure must be one of spread, detrended"),
    ],
)
def test_bad_ranking_config_is_named(config, message):
    stats = [tracklet(1, 0, 10)]
    with pytest.raises(ConfigError, match=message):
        rank_persons([person_of(0, stats)], stats, total_frames=100, frame_size=FRAME, config=config)


def test_bad_arguments():
    stats = [tracklet(1, 0, 10)]
    persons = [person_of(0, stats)]
    with pytest.raises(ValueError, match="total_frames must be >= 1"):
        rank_persons(persons, stats, total_frames=0, frame_size=FRAME, config=CONFIG)
    with pytest.raises(ValueError, match="frame_size must be positive"):
        rank_persons(persons, stats, total_frames=10, frame_size=(0, 720), config=CONFIG)
    with pytest.raises(ValueError, match="names tracker id 1"):
        rank_persons(persons, [], total_frames=10, frame_size=FRAME, config=CONFIG)


def test_ranking_a_grouped_scene_gives_a_strict_json_payload():
    gt = _load_ground_truth()
    scene = gt.simulate_scene(2)
    result = group_tracklets(scene.stats, config=GroupingConfig())
    persons = build_persons(result.groups, scene.stats)
    scores = rank_persons(persons, scene.stats, total_frames=gt.NUM_FRAMES, frame_size=gt.FRAME_SIZE, config=CONFIG)
    assert sorted(s.person_id for s in scores) == [p.person_id for p in persons]
    assert [s.rank for s in scores] == list(range(1, len(persons) + 1))
    payload = json.loads(json.dumps(ranking_results(scores, config=CONFIG), allow_nan=False))
    assert payload["primary_person"] == scores[0].person_id
    assert [r["rank"] for r in payload["rankings"]] == list(range(1, len(persons) + 1))
    for entry in payload["rankings"]:
        assert set(entry) == {"person_id", "score", "rank", "components"}
        assert set(entry["components"]) == set(COMPONENTS)
        assert all(0.0 <= v <= 1.0 for v in entry["components"].values())
        assert 0.0 <= entry["score"] <= 1.0
    scores_desc = [r["score"] for r in payload["rankings"]]
    assert scores_desc == sorted(scores_desc, reverse=True)


def test_person_fields_used_are_the_aggregates():
    # Two tracklets of one person: coverage counts both, duration spans both (and the gap between).
    stats = [tracklet(1, 0, 99), tracklet(2, 150, 249), tracklet(3, 300, 424)]
    persons = build_persons([(1, 2), (3,)], stats)
    by_id = {s.person_id: s for s in rank_persons(persons, stats, total_frames=500, frame_size=FRAME, config=CONFIG)}
    assert by_id[0].components["coverage"] == pytest.approx(200 / 500)
    assert by_id[0].components["duration"] == pytest.approx(1.0)
    assert by_id[1].components["duration"] == pytest.approx(125 / 250)

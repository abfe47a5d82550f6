"""The ReID stage's pure parts: decisions on crop features, merge links, the written columns."""

import numpy as np
import pytest

from streamreid import rundir
from streamreid.config import ReidConfig
from streamreid.decide.reid_stage import (
    AppliedMerge,
    CropFeatures,
    EmbedderInfo,
    ReidResult,
    crop_feature_columns,
    decide,
    known_different,
    merge_links,
    merged_clusters,
    recorded_merges,
    write_reid,
)
from streamreid.persons.person_tracks import PersonTrack
from streamreid.types import Person


def _person(person_id, tracklet_ids):
    return Person(person_id=person_id, tracklet_ids=tuple(tracklet_ids), start_frame=0, end_frame=9, start_time=0.0,
                  end_time=0.9, detection_count=5, mean_center=(0.0, 0.0), center_jitter=0.0, mean_area=1.0,
                  mean_confidence=0.5)  # fmt: skip


def _track(frames, tracker_id):
    frames = np.asarray(frames, dtype=np.int64)
    return PersonTrack(frames, np.zeros((len(frames), 4), np.float32), np.ones(len(frames), np.float32),
                       np.full(len(frames), tracker_id, dtype=np.int64))  # fmt: skip


def _crops(directions, per_person=4, seed=0):
    """Unit features around one direction per person (persons with one direction are one human)."""
    rng = np.random.default_rng(seed)
    features, tracker_ids, frames = [], [], []
    for index, direction in enumerate(directions):
        base = np.zeros(16, dtype=np.float32)
        base[direction] = 1.0
        rows = base + 0.02 * rng.standard_normal((per_person, 16)).astype(np.float32)
        features.append(rows / np.linalg.norm(rows, axis=1, keepdims=True))
        tracker_ids.append(np.full(per_person, index + 1, dtype=np.int64))
        frames.append(np.arange(per_person, dtype=np.int64) + 10 * index)
    return CropFeatures(tuple(features), tuple(tracker_ids), tuple(frames))


def test_fixed_rule_merges_the_lookalikes_it_may_and_never_those_seen_together():
    crops = _crops([0, 0, 1, 0])  # persons 0, 1 and 3 look alike; 3 was seen with 0
    options = ReidConfig(decision="threshold")
    decision = decide(crops, [10, 11, 12, 13], frozenset({(0, 3)}), tracks=[], options=options, merged=False,
                      firm_confidence=0.25, command_dir="run")  # fmt: skip
    assert decision.similarity.shape == (4, 4)
    together = [c for c in decision.clusters if len(c) > 1]
    assert together and all(not {0, 3} <= set(c) for c in together)
    assert {0, 1} <= set(together[0]) and 2 not in together[0]
    assert decision.shown_clusters == decision.clusters and decision.details is None
    assert all(r["persons"] != [10, 13] for r in decision.recommendations)


def test_calibrated_rule_after_a_merge_shows_singletons_and_no_merges():
    crops = _crops([0, 0, 1, 2, 3, 4, 5, 6], per_person=6)
    tracks = [_track(range(i * 10, i * 10 + 5), i + 1) for i in range(8)]
    options = ReidConfig(decision="calibrated", min_calibration_pairs=1)
    first = decide(
        crops, list(range(8)), frozenset(), tracks=tracks, options=options, merged=False, firm_confidence=0.25
    )
    again = decide(
        crops, list(range(8)), frozenset(), tracks=tracks, options=options, merged=True, firm_confidence=0.25
    )
    assert set(first.details) == {"decision", "adaptation", "seen_together"}
    assert again.shown_clusters == tuple((i,) for i in range(8)) and again.merges == ()
    assert again.clusters == first.clusters, "the clusters a round would merge do not depend on what is shown"


def test_merge_links_chain_each_cluster_and_only_clusters_of_several_merge():
    persons = [_person(0, (1, 4)), _person(1, (2,)), _person(2, (3,))]
    assert merge_links(persons, [(0, 2), (1,)]) == [(1, 3)]
    assert merge_links(persons, [(2, 1, 0)]) == [(3, 2), (2, 1)]
    crops = _crops([0, 0, 1])
    decision = decide(crops, [0, 1, 2], frozenset(), tracks=[], options=ReidConfig(decision="threshold"),
                      merged=False, firm_confidence=0.25)  # fmt: skip
    assert merged_clusters(decision) == [c for c in decision.clusters if len(c) > 1]


def test_known_different_joins_seen_together_and_kept_apart():
    persons = [_person(0, (1,)), _person(1, (2,)), _person(2, (3,))]
    tracks = [_track([0, 1], 1), _track([1, 2], 2), _track([5], 3)]
    assert known_different(persons, tracks, [], firm_confidence=0.25) == {(0, 1)}
    assert known_different(persons, tracks, [(1, 3)], firm_confidence=0.25) == {(0, 1), (0, 2)}
    assert known_different(persons, tracks, [], firm_confidence=1.01) == set()  # no box firm enough: no evidence


def test_written_outputs_follow_the_person_ids(tmp_path):
    crops = _crops([0, 1], per_person=3)
    columns = crop_feature_columns(crops, [7, 9])
    assert columns["person_id"].tolist() == [7, 7, 7, 9, 9, 9]
    assert columns["tracker_id"].tolist() == [1, 1, 1, 2, 2, 2] and columns["features"].shape == (6, 16)
    options = ReidConfig(decision="calibrated", min_calibration_pairs=1)
    decision = decide(crops, [7, 9], frozenset(), tracks=[], options=options, merged=True, firm_confidence=0.25)
    info = EmbedderInfo(name="test", kind="fallback", dim=16)
    merge = AppliedMerge(((1, 5), (2,)), (0.81,), 0.62)
    write_reid(tmp_path, ReidResult((7, 9), crops, frozenset(), decision, info, auto_merged=True, applied=(merge,)),
               options=options)  # fmt: skip
    merges = rundir.read_json(tmp_path / rundir.MERGE_RECOMMENDATIONS)
    assert merges["applied_merges"] == [[[1, 5], [2]]] and merges["auto_merged"] is True
    assert merges["applied_merge_details"] == [{"tracklets": [[1, 5], [2]], "similarities": [0.81], "line": 0.62}]
    assert recorded_merges(tmp_path) == (AppliedMerge(((1, 5), (2,)), (0.81,), 0.62),)  # read back as written
    assert rundir.read_json(tmp_path / rundir.SIMILARITY)["person_ids"] == [7, 9]
    assert np.load(tmp_path / rundir.EMBEDDINGS_NPY).shape == (2, 16)


def test_crop_features_need_every_column_per_person():
    with pytest.raises(ValueError, match="every person"):
        CropFeatures((np.zeros((1, 4)),), (), ())

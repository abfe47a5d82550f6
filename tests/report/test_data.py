"""What the report reads from a run directory: persons in rank order, the matrix, the pairs to check, notes."""

import numpy as np
import pytest
from fake_run import build_fake_run

from streamreid import rundir
from streamreid.errors import StoreError
from streamreid.report.data import load_report_data


@pytest.fixture
def fake(tmp_path):
    return build_fake_run(tmp_path / "run", num_persons=3, embedding_dim=16)


def test_persons_come_in_rank_order_with_the_matrix_of_the_run(fake):
    data = load_report_data(fake.run_dir)
    assert [p.person_id for p in data.persons] == sorted(fake.ranks, key=fake.ranks.get)
    assert [p.rank for p in data.persons] == [1, 2, 3]
    assert data.similarity.person_ids == tuple(p.person_id for p in fake.persons)
    np.testing.assert_allclose(data.similarity.matrix, fake.similarity, atol=1e-6)
    assert data.frame_size == (640, 360) and data.scene == rundir.SCENE
    assert data.tracklets == sum(len(p.tracklet_ids) for p in fake.persons)


def test_applied_pairs_and_pairs_of_unknown_persons_are_not_offered(fake):
    path = fake.run_dir / rundir.MERGE_RECOMMENDATIONS
    merge = rundir.read_json(path)
    merge["recommendations"] = [
        {"persons": [0, 2], "similarity": 0.82, "confidence": 0.9, "level": "above"},
        {"persons": [0, 1], "similarity": 0.65, "applied": True},
        {"persons": [1, 99], "similarity": 0.9},
        {"persons": [1, 2], "similarity": None, "level": "near"},
    ]
    rundir.write_json(path, merge)
    pairs = load_report_data(fake.run_dir).recommendations
    assert [(r.persons, r.similarity, r.level) for r in pairs] == [((0, 2), 0.82, "above"), ((1, 2), None, "near")]


def test_missing_persons_and_recommendations_are_noted_not_fatal(fake):
    (fake.run_dir / rundir.CANONICAL_PERSONS).unlink()
    (fake.run_dir / rundir.MERGE_RECOMMENDATIONS).unlink()
    data = load_report_data(fake.run_dir)
    assert data.persons == () and data.recommendations is None
    assert any("canonical_persons.json is missing" in note for note in data.notes)
    assert any("merge_recommendations.json is missing" in note for note in data.notes)


def test_a_matrix_that_does_not_fit_its_ids_is_one_error(fake):
    path = fake.run_dir / rundir.SIMILARITY
    similarity = rundir.read_json(path)
    similarity["person_ids"] = similarity["person_ids"][:2]
    rundir.write_json(path, similarity)
    with pytest.raises(StoreError, match=r"holds a \(3, 3\) matrix for 2 person ids"):
        load_report_data(fake.run_dir)

"""What the report shows, as records: the video's line, a pair's similarity, a person's span, the run's merges."""

import math
from pathlib import Path

import numpy as np

from streamreid.report.views import Link, PersonView, ReportData, SimilarityView
from streamreid.types import Person


def _person(person_id, tracklets, start=1.0, end=4.5):
    return Person(person_id=person_id, tracklet_ids=tracklets, start_frame=0, end_frame=10, start_time=start,
                  end_time=end, detection_count=10, mean_center=(0.0, 0.0), center_jitter=0.0, mean_area=1.0,
                  mean_confidence=0.9)  # fmt: skip


def test_the_line_is_the_calibrated_one_when_known():
    view = SimilarityView(person_ids=(4, 7), matrix=np.array([[1.0, 0.62], [0.62, 1.0]]), threshold=0.7,
                          near_threshold=0.6, calibrated_threshold=0.58)  # fmt: skip
    assert view.line == 0.58
    assert SimilarityView(person_ids=(), matrix=np.zeros((0, 0)), threshold=0.7, near_threshold=0.6,
                          calibrated_threshold=None).line == 0.7  # fmt: skip


def test_a_pairs_similarity_by_person_id_and_nan_for_a_stranger():
    view = SimilarityView(person_ids=(4, 7), matrix=np.array([[1.0, 0.62], [0.62, 1.0]]), threshold=0.7,
                          near_threshold=0.6, calibrated_threshold=None)  # fmt: skip
    assert view.value(7, 4) == 0.62
    assert math.isnan(view.value(4, 5))


def test_a_person_views_span_and_the_runs_merges_and_tracklets():
    merge = Link(groups=((1,), (2,)), reason="appearance", confidence=0.9, detail="0.81 similar")
    first = PersonView(person=_person(0, (1, 2)), links=(merge,))
    second = PersonView(person=_person(3, (5,), start=6.0, end=5.0))
    data = ReportData(run_dir=Path("run"), run={}, source="a.mp4", persons=(first, second), similarity=None,
                      recommendations=None)  # fmt: skip
    assert (first.person_id, first.seconds, second.seconds) == (0, 3.5, 0.0)
    assert data.tracklets == 3
    assert data.links == ((first, merge),)

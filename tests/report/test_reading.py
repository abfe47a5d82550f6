"""Reading a run's records for the report: a malformed file is one error naming it, numbers made safe to show."""

import math
from pathlib import Path

import pytest

from streamreid.errors import StoreError
from streamreid.report.reading import display_source, finite_float, int_or_none, optional_json, reading


def test_a_malformed_file_is_one_error_naming_it(tmp_path):
    persons, ranking = tmp_path / "canonical_persons.json", tmp_path / "ranking_results.json"
    words = r"^canonical_persons.json or ranking_results.json in .* is malformed: missing field 'persons'$"
    with pytest.raises(StoreError, match=words), reading(persons, ranking):
        {}["persons"]
    with pytest.raises(StoreError, match=r"malformed: invalid literal for int\(\)"), reading(persons):
        int("twelve\nsecond line")


def test_other_errors_pass_through_reading(tmp_path):
    with pytest.raises(ZeroDivisionError), reading(tmp_path / "a.json"):
        1 / 0  # noqa: B018


def test_the_source_shown_is_the_run_s_without_credentials():
    assert display_source({"source": "rtsp://admin:pw@cam/live"}, Path("runs/x")) == "rtsp://***@cam/live"
    assert display_source({"video": {"source": "street.mp4"}}, Path("runs/x")) == "street.mp4"
    assert display_source({}, Path("runs/cam-2")) == "cam-2"


def test_optional_json(tmp_path):
    assert optional_json(tmp_path / "missing.json") is None
    (tmp_path / "a.json").write_text('{"a": 1}')
    assert optional_json(tmp_path / "a.json") == {"a": 1}


def test_numbers_to_show():
    assert (int_or_none(None), int_or_none("3"), int_or_none(2.0)) == (None, 3, 2)
    assert [finite_float(v) for v in (None, "0.5", math.nan, math.inf, 2)] == [None, 0.5, None, None, 2.0]

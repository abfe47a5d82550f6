"""A run directory's files: atomic JSON without NaN, one-line errors, a checked run.json, a lock, undo on failure."""

import json
import math
import os

import numpy as np
import pytest

from streamreid import rundir
from streamreid.errors import StoreError


def test_json_is_written_whole_with_numpy_values_and_nan_as_null(tmp_path):
    path = tmp_path / "a.json"
    rundir.write_json(path, {"x": np.float32(0.5), "n": np.int64(3), "nan": math.nan, "row": np.array([1.0, np.inf]),
                             "ids": (1, 2), "where": tmp_path})  # fmt: skip
    assert json.loads(path.read_text()) == {"x": 0.5, "n": 3, "nan": None, "row": [1.0, None], "ids": [1, 2],
                                            "where": str(tmp_path)}  # fmt: skip
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temporary left
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.json"
    rundir.write_json(path, {"old": 1})
    with pytest.raises(TypeError, match="not JSON serialisable"):
        rundir.write_json(path, {"new": object()})
    assert rundir.read_json(path) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


@pytest.mark.parametrize(("content", "words"), [(None, "not found"), ("{", "not valid JSON"), ("[1]", "JSON list")])
def test_a_missing_broken_or_wrong_json_is_one_line(tmp_path, content, words):
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(StoreError, match=words) as error:
        rundir.read_json_object(path)
    assert "\n" not in str(error.value)


def test_brief_cuts_long_values_and_says_how_long():
    assert rundir.brief("a\nb") == "a b"
    assert rundir.brief("x" * 100, 10) == "xxxxxxxxxx… (100 characters)"


@pytest.mark.parametrize(
    ("meta", "words"),
    [
        ([], "JSON list, not an object"),
        ({"video": {"width": 640}}, "width and height"),
        ({"video": {"width": 640, "height": 360}, "notes": "x"}, "'notes' must be a JSON list"),
        ({"video": {"width": 640, "height": 360, "colour": 1}}, "unknown field 'colour'"),
    ],
)
def test_a_damaged_run_json_is_refused_naming_its_part(meta, words):
    with pytest.raises(StoreError, match=words):
        rundir.check_run_record(meta, name="run.json")


def test_a_run_json_as_written_passes():
    meta = {"video": {"width": 640, "height": 360, "fps": 25.0}, "notes": [], "counts": {}}
    assert rundir.check_run_record(meta, name="run.json") is meta


def test_default_run_dirs_are_named_after_the_source_numbered_and_without_credentials(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert rundir.default_run_dir("videos/street cam.mp4") == rundir.Path("runs/street_cam")
    assert rundir.default_run_dir("rtsp://admin:pw@cam.local/live/") == rundir.Path("runs/live")
    assert rundir.default_run_dir("-") == rundir.Path("runs/stdin")
    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "a-2").mkdir()
    assert rundir.default_run_dir("a.mp4") == rundir.Path("runs/a-3")


def test_a_held_run_dir_is_refused_naming_the_holder_and_left_clean(tmp_path):
    run = tmp_path / "run"
    with rundir.locked(run, command="process"):
        assert "streamreid process" in (run / rundir.LOCK).read_text()
        # flock is per open file description: a second open in this process conflicts as another process would
        busy = pytest.raises(rundir.RunDirBusyError, match=r"in use by another streamreid \(pid \d+, streamreid proc")
        with busy, rundir.locked(run, command="report"):
            pass
    assert not run.exists()  # created for the block and left empty: removed


def test_undo_on_failure_puts_files_back_and_removes_new_ones(tmp_path):
    (tmp_path / "a.json").write_text("old")
    (tmp_path / "store.zarr").mkdir()
    with pytest.raises(RuntimeError), rundir.unchanged_on_failure(tmp_path):
        (tmp_path / "a.json").write_text("half")
        (tmp_path / "new").mkdir()
        (tmp_path / "new" / "b.json").write_text("new")
        (tmp_path / "store.zarr" / "chunk").write_text("kept")
        raise RuntimeError("failed half way")
    assert (tmp_path / "a.json").read_text() == "old"
    assert not (tmp_path / "new").exists()
    assert (tmp_path / "store.zarr" / "chunk").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "store.zarr"]


def test_require_run_dir(tmp_path):
    with pytest.raises(StoreError, match="run directory not found"):
        rundir.require_run_dir(tmp_path / "nope")
    with pytest.raises(StoreError, match="not a streamreid run directory"):
        rundir.require_run_dir(tmp_path)
    rundir.write_json(tmp_path / rundir.RUN_JSON, {"video": {"width": 4, "height": 2}})
    assert rundir.require_run_dir(str(tmp_path)) == tmp_path

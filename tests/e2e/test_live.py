"""Live sources as a camera user meets them: a real RTSP server with a password, real signals, real YOLO."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from rtsp_server import RtspServerProcess
from scripted_cli import SlowScriptedDetector
from synthetic import scenario_reentry_crossing, write_video

from streamreid.config import Config
from streamreid.pipeline import process
from streamreid.stream.sources import open_source
from streamreid.weights import ResolvedWeights

SCENE = (1000, 25.0, 320, 180)  # frames, fps, width, height of the camera's scene
SCRIPTED_CLI = [sys.executable, str(Path(__file__).parents[1] / "scripted_cli.py"), *map(str, SCENE)]
USER, PASSWORD = "operator", "Hunter2-s3cret"


@pytest.fixture(scope="module")
def camera_video(tmp_path_factory):
    # 40 s at 25 fps: a "camera" that is still streaming when the test stops the run
    frames, fps, width, height = SCENE
    scene = scenario_reentry_crossing(num_frames=frames, fps=fps, width=width, height=height)
    return write_video(scene, tmp_path_factory.mktemp("camera") / "camera.mp4")


def _secret_url(server: RtspServerProcess) -> str:
    return server.url.replace("rtsp://", f"rtsp://{USER}:{PASSWORD}@")


def _files_holding(folder: Path, secret: bytes) -> list[str]:
    return [str(path) for path in folder.rglob("*") if path.is_file() and secret in path.read_bytes()]


def _wait_for(condition, *, timeout: float, what: str, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            pytest.fail(f"the run ended before {what}: {process.communicate()[1][-2000:]}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.slow
def test_password_camera_refreshes_its_report_stops_on_sigterm_and_leaks_nothing(camera_video, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with RtspServerProcess(camera_video) as server:
        run = subprocess.Popen(
            [*SCRIPTED_CLI, "--", "process", _secret_url(server), "--out", str(out), "-v", "--embedder", "fallback",
             "--report-every", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            report = out / "report.html"
            _wait_for(report.is_file, timeout=45, what="the first periodic report", process=run)
            first = report.read_text()
            assert 'id="live-notice"' in first and "Live report as of" in first, "it says how recent it is"
            _wait_for(lambda: report.read_text() != first, timeout=30, what="a refreshed report", process=run)
            run.send_signal(signal.SIGTERM)
            stdout, stderr = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
    assert run.returncode == 0, stderr[-2000:]
    assert "Traceback" not in stderr
    assert "stopped early (SIGTERM)" in stdout
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "interrupted" and meta["counts"]["frames_processed"] > 0
    final = (out / "report.html").read_text()
    assert "stopped early" in final.lower() and 'id="live-notice"' not in final
    assert meta["periodic"]["refreshes"] >= 2 and "live" not in meta
    assert not (out / "live_tracklets.npz").exists(), "the checkpoint goes once every tracklet is stored"
    assert meta["source"] == f"rtsp://***@127.0.0.1:{server.port}/stream"
    for secret in (PASSWORD, f"{USER}:"):
        assert _files_holding(out, secret.encode()) == [], f"{secret!r} leaked into the run directory"
        assert secret not in stdout and secret not in stderr, f"{secret!r} leaked into the output"


# --- cameras stay up: outages are gaps, reconnects go on -----------------------------------------------------

FAST_FPS = 100.0  # the served scene plays fast, so an outage test takes seconds


@pytest.fixture(scope="module")
def fast_video(tmp_path_factory):
    scene = scenario_reentry_crossing(num_frames=800, fps=FAST_FPS, width=320, height=180)
    return write_video(scene, tmp_path_factory.mktemp("fast") / "fast.mp4")


class StandingPersonDetector:
    """One person standing still in the same place in every frame, whatever the picture shows."""

    weights = ResolvedWeights(path=None, origin="scripted", detail="one standing person")
    device = "cpu"

    def iter_detections(self, frames, *, detect_stride=1):
        box = np.array([[100.0, 40.0, 140.0, 140.0]], dtype=np.float32)
        for frame in frames:
            yield frame, sv.Detections(xyxy=box, confidence=np.array([0.9], dtype=np.float32), class_id=np.array([0]))


def _restart_later(server: RtspServerProcess, seconds: float) -> threading.Thread:
    """Kill the camera now and bring it back on the same port ``seconds`` later (an outage)."""
    server.kill()
    thread = threading.Thread(target=lambda: (time.sleep(seconds), server.start()), daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_an_outage_longer_than_the_grouping_gap_is_never_bridged(fast_video, tmp_path):
    config = Config().with_overrides(
        {"reid.enabled": False, "report.enabled": False, "source.max_frames": 400, "source.reconnect_attempts": -1,
         "source.reconnect_backoff": 0.1, "source.reconnect_backoff_max": 0.2, "source.open_timeout": 3.0,
         "source.read_timeout": 1.0}
    )  # fmt: skip
    outage = 2.0  # seconds: > lost_track_seconds (1 s) and > the grouping gap (30 frames = 0.3 s at 100 fps)
    server = RtspServerProcess(fast_video).start()
    restarts = []

    def on_progress(count: int) -> None:
        if count == 100:
            restarts.append(_restart_later(server, outage))

    try:
        result = process(server.url, out_dir=tmp_path / "run", config=config, detector=StandingPersonDetector(),
                         progress=False, on_progress=on_progress)  # fmt: skip
    finally:
        for thread in restarts:
            thread.join(timeout=30)
        server.stop()
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["counts"]["reconnects"] >= 1
    stats = json.loads((tmp_path / "run" / "tracklet_stats.json").read_text())["tracklets"]
    assert len(stats) == 2, "the outage ends the track: one tracklet before it, one after"
    before, after = sorted(stats, key=lambda s: s["start_time"])
    assert after["start_time"] - before["end_time"] >= outage * 0.8, "stream time shows the outage"
    frames_apart = after["start_frame"] - before["end_frame"]
    assert frames_apart >= outage * 0.8 * FAST_FPS, f"frame indices show the outage, not {frames_apart} frame(s)"
    persons = json.loads((tmp_path / "run" / "canonical_persons.json").read_text())["persons"]
    assert result.persons == 2 and sorted(len(p["tracklet_ids"]) for p in persons) == [1, 1], (
        "the same place before and after an outage is not the same visit"
    )


@pytest.mark.slow
def test_reconnecting_forever_outlasts_many_failed_attempts(fast_video):
    server = RtspServerProcess(fast_video).start()
    restarts = []
    try:
        with open_source(server.url, max_frames=300, reconnect_attempts=-1, reconnect_backoff=0.02,
                         reconnect_backoff_max=0.05, open_timeout=2.0, read_timeout=1.0) as stream:  # fmt: skip
            for frame in stream:
                if frame.index == 50:
                    restarts.append(_restart_later(server, 1.5))  # ~30 refused attempts
    finally:
        for thread in restarts:
            thread.join(timeout=30)
        server.stop()
    assert stream.end_reason == "max_frames" and stream.reconnects == 1


@pytest.mark.slow
def test_a_killed_runs_rebuilt_report_keeps_the_people_still_on_screen(camera_video, tmp_path):
    out = tmp_path / "run"
    run = subprocess.Popen(
        [*SCRIPTED_CLI, "--detect-seconds", "0.02", "--", "process", str(camera_video), "--out", str(out), "-q",
         "--embedder", "fallback", "--report-every", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        checkpoint = out / "live_tracklets.npz"
        _wait_for(lambda: (out / "report.html").is_file() and checkpoint.is_file(), timeout=45,
                  what="the first refresh", process=run)  # fmt: skip
    finally:
        run.kill()  # no chance to finish anything
        run.communicate()
    finished = {json.loads(line)["tracker_id"] for line in (out / "tracklet_stats.jsonl").read_text().splitlines()}
    rebuilt = subprocess.run([sys.executable, "-m", "streamreid.cli", "report", str(out), "--embedder", "fallback"],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr
    persons = json.loads((out / "canonical_persons.json").read_text())["persons"]
    on_screen = [p for p in persons if not set(p["tracklet_ids"]) & finished]
    assert len(on_screen) >= 3, "the three people in view all along were only in the checkpoint"
    for person in on_screen:
        assert (out / "webp" / f"person_{person['person_id']}.webp").is_file(), "with their animation"
    assert json.loads((out / "embeddings.json").read_text()), "and their appearance"


# --- real time: a camera faster than the machine -------------------------------------------------------------


@pytest.mark.slow
def test_a_camera_faster_than_the_detector_keeps_latency_bounded_and_the_rate_adapts(camera_video, tmp_path):
    frames, fps, width, height = SCENE
    scene = scenario_reentry_crossing(num_frames=frames, fps=fps, width=width, height=height)
    detector = SlowScriptedDetector(scene, seconds=0.1)  # at most ~10 detections/s against 25 frames/s
    config = Config().with_overrides({"reid.enabled": False, "report.enabled": False, "source.max_frames": 450,
                                      "source.max_latency": 0.5, "detector.detect_stride": 1})  # fmt: skip
    with RtspServerProcess(camera_video) as server:  # every frame wanted: the pacer alone keeps up
        started = time.monotonic()
        result = process(server.url, out_dir=tmp_path / "run", config=config, detector=detector, progress=False)
        wall = time.monotonic() - started
    realtime = result.realtime
    assert realtime is not None, "network streams are paced by default"
    assert wall < 450 / fps + 8, "the pass kept up with the camera instead of building a backlog"
    assert realtime["frames_seen"] == result.frames_decoded == 450
    assert realtime["frames_passed_over"] > 150, "frames the machine could not detect were decoded only"
    assert 4 < realtime["detection_fps"] < 12, "the detection rate settled at what the detector sustains"
    assert realtime["latency_p95_s"] < 0.5 + 0.5 and realtime["latency_max_s"] < 2.0, "latency stays bounded"
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["realtime"]["detection_fps"] == realtime["detection_fps"]
    assert result.tracklets >= 3, "tracking still works at the adapted rate"


def test_files_stay_frame_by_frame_unless_asked(camera_video, tmp_path):
    frames, fps, width, height = SCENE
    scene = scenario_reentry_crossing(num_frames=frames, fps=fps, width=width, height=height)
    config = Config().with_overrides({"reid.enabled": False, "report.enabled": False, "source.max_frames": 60})
    result = process(camera_video, out_dir=tmp_path / "run", config=config, detector=SlowScriptedDetector(scene),
                     progress=False)  # fmt: skip
    assert result.realtime is None and result.frames_processed == 60

"""Live sources as a camera user meets them: a real RTSP server with a password, real signals, real YOLO."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rtsp_server import RtspServerProcess
from synthetic import scenario_reentry_crossing, write_video

SCENE = (1000, 25.0, 320, 180)  # frames, fps, width, height of the camera's scene
SCRIPTED_CLI = [sys.executable, str(Path(__file__).with_name("scripted_cli.py")), *map(str, SCENE)]
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
def test_sigterm_on_a_password_camera_ends_cleanly_and_leaks_nothing(camera_video, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with RtspServerProcess(camera_video) as server:
        run = subprocess.Popen(
            [*SCRIPTED_CLI, "--", "process", _secret_url(server), "--out", str(out), "-v", "--embedder", "fallback",
             ],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            mot = out / "tracks.mot.txt"
            _wait_for(lambda: mot.is_file() and mot.stat().st_size > 1000, timeout=45, what="tracks", process=run)
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
    assert "stopped early" in (out / "report.html").read_text().lower()
    assert meta["source"] == f"rtsp://***@127.0.0.1:{server.port}/stream"
    for secret in (PASSWORD, f"{USER}:"):
        assert _files_holding(out, secret.encode()) == [], f"{secret!r} leaked into the run directory"
        assert secret not in stdout and secret not in stderr, f"{secret!r} leaked into the output"

"""Hostile and damaged inputs (docs/HOSTILE_INPUTS.md): each ends in one line and exit 2, or is handled."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    import os

    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    environment.pop("CI", None)  # OpenVINO's own CI switch would hide what is tested
    environment.pop("NNCF_CI", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=120)


def test_openvino_telemetry_is_off_once_streamreid_is_imported():
    """Issue 20.1: importing OpenVINO through streamreid sends nothing and forks no telemetry child."""
    pytest.importorskip("openvino")
    code = (
        "import streamreid.osnet, multiprocessing, openvino\n"
        "from openvino.tools.ovc import telemetry_utils\n"
        "print(telemetry_utils.tm.__name__, len(multiprocessing.active_children()))\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["openvino.tools.ovc.telemetry_stub", "0"]


def test_openvino_telemetry_stays_on_when_the_user_asks():
    pytest.importorskip("openvino")
    code = "import streamreid.telemetry as t; print(t.quiet_openvino(), t.telemetry_is_off())"
    done = _python(code, STREAMREID_OPENVINO_TELEMETRY="1")
    assert done.stdout.split() == ["False", "False"]


def test_every_network_call_of_ours_has_a_timeout():
    """Issue 20.1: no process of ours waits on the network without a bound (urlopen, sockets, pip)."""
    import re

    calls = re.compile(r"(urlopen|create_connection|requests\.(get|post|head)|subprocess\.run)\(")
    unbounded = []
    for path in sorted((ROOT / "streamreid").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for match in calls.finditer(text):
            if "timeout" not in _call_text(text, match.end() - 1):
                unbounded.append(f"{path.name}:{text[: match.start()].count(chr(10)) + 1}")
    assert unbounded == []


def _call_text(text: str, start: int) -> str:
    """The arguments of the call whose opening parenthesis is at ``start``."""
    depth = 0
    for end in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            return text[start:end]
    return text[start:]


def test_the_summary_is_not_wrapped_at_80_columns_in_a_log(capsys):
    """Issue 20.15: stdout to a pipe or a file (CI logs) gets every line of the summary whole."""
    from types import SimpleNamespace

    from streamreid import cli

    note = "the video could not be read past frame 1234 (damaged or truncated file): the report covers what was seen"
    result = SimpleNamespace(
        video=SimpleNamespace(width=640, height=360), status="complete", tracklets=12, short_tracklets=2, persons=4,
        timings={"stream_total": 2.0}, frames_processed=50, frames_decoded=50, notes=(note,), run_dir="runs/x",
        detector=SimpleNamespace(detail="yolo11n.pt from the cache, a long description of where it came from"),
        runtime="openvino (bf16), chosen on this machine: openvino 23.1 fps, torch 9.0 fps; input size 640: people",
        embedder="", realtime=None, report="runs/x/report.html",
    )  # fmt: skip
    cli._print_summary(result)
    lines = capsys.readouterr().out.splitlines()
    assert any(note in line for line in lines)
    assert any(result.runtime in line for line in lines)

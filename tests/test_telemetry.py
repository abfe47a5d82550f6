"""No usage data leaves the machine: OpenVINO's and NNCF's telemetry off for every process that imports streamreid."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamreid import telemetry

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    environment.pop("CI", None)  # OpenVINO's own CI switch would hide what is tested
    environment.pop("NNCF_CI", None)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=120)


def test_openvino_telemetry_is_off_once_streamreid_is_imported():
    """Issue 20.1: importing OpenVINO through streamreid sends nothing and forks no telemetry child."""
    pytest.importorskip("openvino")
    code = (
        "import streamreid.reid.osnet, multiprocessing, openvino\n"
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


def test_quiet_openvino_hides_the_telemetry_package_and_sets_nncfs_switch(monkeypatch):
    monkeypatch.delenv("STREAMREID_OPENVINO_TELEMETRY", raising=False)
    monkeypatch.delenv("NNCF_CI", raising=False)
    monkeypatch.delitem(sys.modules, telemetry.TELEMETRY_MODULE, raising=False)
    assert not telemetry.telemetry_is_off()
    assert telemetry.quiet_openvino()
    assert telemetry.telemetry_is_off() and os.environ["NNCF_CI"] == "1"
    with pytest.raises(ImportError):
        __import__(telemetry.TELEMETRY_MODULE)


def test_too_late_once_the_telemetry_package_was_imported(monkeypatch):
    monkeypatch.delenv("STREAMREID_OPENVINO_TELEMETRY", raising=False)
    monkeypatch.setitem(sys.modules, telemetry.TELEMETRY_MODULE, object())
    assert not telemetry.quiet_openvino()

"""Loading YOLO weights or exports: missing runtimes named with their pip command, ultralytics' side effects undone.

``export_model`` itself runs in detect/test_detector.py and detect/test_quantize.py (real exports).
"""

import importlib.util
import logging

import pytest
import torch
from ultralytics.utils import checks

from streamreid.detect.export import first_line, load_yolo, quiet_ultralytics, require_packages
from streamreid.errors import WeightsError


def test_a_missing_runtime_package_is_named_with_its_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "onnx" else real(name))
    if real("onnxruntime") is not None:
        require_packages("onnx", exporting=False)  # running an export needs onnxruntime only
    with pytest.raises(WeightsError, match=r"runtime 'onnx' needs the onnx package: pip install onnx onnxruntime"):
        require_packages("onnx", exporting=True)


def test_quiet_ultralytics_undoes_its_changes_even_when_the_call_fails():
    threads, autoinstall = torch.get_num_threads(), checks.AUTOINSTALL
    logger = logging.getLogger("ultralytics")
    level = logger.level
    with pytest.raises(RuntimeError), quiet_ultralytics():
        assert checks.AUTOINSTALL is False and logger.level == logging.WARNING
        torch.set_num_threads(max(1, threads - 1) if threads > 1 else 2)
        raise RuntimeError("export failed")
    assert (torch.get_num_threads(), checks.AUTOINSTALL, logger.level) == (threads, autoinstall, level)


@pytest.mark.parametrize(
    ("message", "line"),
    [("ERROR ❌ model not found\ndetails", "model not found"), ("", "ValueError"), ("  plain  ", "plain")],
)
def test_first_line_drops_ultralytics_decorations(message, line):
    assert first_line(ValueError(message)) == line


def test_a_file_that_is_no_model_is_one_line(tmp_path):
    bogus = tmp_path / "yolo.pt"
    bogus.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"could not load .*yolo\.pt as a YOLO model") as error:
        load_yolo(bogus)
    assert "\n" not in str(error.value)

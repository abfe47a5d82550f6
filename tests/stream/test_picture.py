"""Frames decoded at the detector's size (issue 23): pictures scaled once, crops cut at full size, boxes mapped back."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import supervision as sv
from synthetic import ScriptedDetector, scenario_two_returns, write_video

from streamreid.config import Config
from streamreid.pipeline import process
from streamreid.run.store_reader import open_store
from streamreid.stream.picture import (
    ScaledFrame,
    YuvPicture,
    detector_size,
    grey_region,
    in_frame_pixels,
    resized_region,
    yuv_to_bgr_matrix,
)
from streamreid.stream.reservoir import cut_crop
from streamreid.stream.sources import open_source
from streamreid.types import Frame


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scenario = scenario_two_returns(num_frames=40, width=640, height=360)
    return write_video(scenario, tmp_path_factory.mktemp("picture") / "street.mp4")


def _av_frames(path: Path, count: int) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) == count:
                return frames
    return frames


def test_regions_are_ffmpegs_bgr_within_its_rounding(video: Path) -> None:
    av_frame = _av_frames(video, 5)[-1]
    picture = YuvPicture.of(av_frame)
    assert picture is not None and picture.shape == (360, 640, 3)
    reference = av_frame.to_ndarray(format="bgr24").astype(int)
    whole = np.asarray(picture)
    assert np.abs(whole - reference).max() <= 2 and np.abs(whole - reference).mean() < 0.6
    for y1, y2, x1, x2 in [(0, 360, 0, 640), (37, 200, 101, 144), (1, 2, 639, 640), (100, 359, 0, 3)]:
        region = picture[y1:y2, x1:x2]
        assert np.array_equal(region, whole[y1:y2, x1:x2])  # odd edges take the same chroma as the whole frame


def test_colour_matrix_follows_the_frames_tags(video: Path) -> None:
    av_frame = _av_frames(video, 1)[0]
    for colorspace, color_range in [(1, 1), (5, 2), (1, 2)]:  # BT.709 limited, BT.601 full, BT.709 full
        av_frame.colorspace, av_frame.color_range = colorspace, color_range
        reference = av_frame.to_ndarray(format="bgr24").astype(int)
        assert np.abs(np.asarray(YuvPicture.of(av_frame)) - reference).max() <= 3
    grey = yuv_to_bgr_matrix(5, full_range=False) @ np.array([235.0, 128.0, 128.0, 1.0])
    assert np.allclose(grey, 254.0)  # limited-range white is white (a level under, as FFmpeg's)


@pytest.mark.parametrize("colorspace", [2, 1])  # unspecified (BT.601: grey is luma), BT.709 (grey takes chroma)
def test_resized_regions_match_resizing_the_converted_region(video: Path, colorspace: int) -> None:
    av_frame = _av_frames(video, 5)[-1]
    av_frame.colorspace = colorspace
    picture = YuvPicture.of(av_frame)
    assert picture is not None
    for y1, y2, x1, x2 in [(52, 251, 101, 182), (0, 360, 0, 640), (37, 200, 100, 144), (3, 300, 7, 77)]:
        rows, columns = slice(y1, y2), slice(x1, x2)
        region = picture[rows, columns]
        for width, height in [(64, 128), (128, 256)]:
            old = cv2.resize(region, (width, height), interpolation=cv2.INTER_AREA).astype(int)
            new = resized_region(picture, rows, columns, width=width, height=height)
            assert new.shape == (height, width, 3) and new.dtype == np.uint8
            difference = np.abs(new - old)
            assert difference.mean() < 1.5 and np.percentile(difference, 95) <= 4
            old_grey = cv2.cvtColor(old.astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
            grey = grey_region(picture, rows, columns, width=width, height=height)
            assert grey.dtype == np.float32 and np.abs(grey - old_grey).mean() < 1.0  # luma: only rounding
    bgr = np.asarray(picture)
    assert np.array_equal(resized_region(bgr, slice(5, 105), slice(10, 60), width=25, height=50),
                          cv2.resize(bgr[5:105, 10:60], (25, 50), interpolation=cv2.INTER_AREA))  # fmt: skip
    with pytest.raises(ValueError):
        picture.resized(slice(10, 10), slice(0, 5), width=4, height=4)


def test_only_plain_slices_and_420_frames() -> None:
    picture = YuvPicture(np.zeros((4, 6), np.uint8), np.zeros((2, 3), np.uint8), np.zeros((2, 3), np.uint8),
                         matrix=yuv_to_bgr_matrix(2, full_range=False))  # fmt: skip
    with pytest.raises(TypeError):
        picture[0, 1]
    assert picture[3:1, :].shape == (0, 6, 3)
    assert YuvPicture.of(av.VideoFrame(8, 8, "rgb24")) is None


def test_detector_size_only_shrinks() -> None:
    assert detector_size((1080, 1920), (720, 1280)) == (1280, 720)
    assert detector_size((1080, 1920), (359, 639)) == (640, 360)  # 4:2:0 planes: even sizes
    assert detector_size((576, 768), (960, 1280)) is None  # the detector enlarges it: decode whole
    assert detector_size((1080, 1920), None) is None


def test_scaled_stream_keeps_full_size_crops(video: Path) -> None:
    with open_source(video, max_frames=6) as whole:
        reference = [frame.image for frame in whole]
    with open_source(video, max_frames=6) as stream:
        stream.scale_for_detector((320, 180))
        frames = list(stream)
    box = np.array([101.3, 52.6, 181.8, 250.2])
    for frame, image in zip(frames, reference, strict=True):
        assert frame.image.shape == (180, 320, 3) and (frame.width, frame.height) == (640, 360)
        assert frame.image_scale == (2.0, 2.0)
        crop = cut_crop(frame.pixels, box, height=256, width=128).astype(int)
        difference = np.abs(crop - cut_crop(image, box, height=256, width=128))
        # resized in its planes: chroma interpolated from its own half-size samples rather than from
        # nearest-upsampled ones, which moves sharp colour edges a little (ADL-Rundle-6: mean 0.6 levels)
        assert difference.mean() < 1.0 and np.percentile(difference, 99) <= 4 and difference.max() <= 32


def test_frames_the_detector_skips_are_scaled_only_when_asked(video: Path) -> None:
    with open_source(video, max_frames=7) as ahead:
        ahead.scale_for_detector((320, 180))
        every = list(ahead)
    with open_source(video, max_frames=7) as stream:
        stream.scale_for_detector((320, 180), detect_every=3)
        frames = list(stream)
    assert all(isinstance(frame, ScaledFrame) for frame in frames)
    assert [frame.made for frame in every] == [True] * 7
    assert [frame.made for frame in frames] == [True, False, False, True, False, False, True]
    assert frames[1].image_scale == (2.0, 2.0) and not frames[1].made  # boxes map back without the picture
    assert "made=False" in repr(frames[2]) and not frames[2].made
    for frame, reference in zip(frames, every, strict=True):
        assert np.array_equal(frame.image, reference.image) and frame.made  # made on first use, the same pixels
    with open_source(video, max_frames=3) as live:
        live.scale_for_detector((320, 180), detect_every=None)
        assert not any(frame.made for frame in live)


def test_boxes_come_back_in_the_sources_pixels() -> None:
    full = YuvPicture(np.zeros((360, 640), np.uint8), np.zeros((180, 320), np.uint8), np.zeros((180, 320), np.uint8),
                      matrix=yuv_to_bgr_matrix(2, full_range=False))  # fmt: skip
    scaled = Frame(index=0, time=0.0, image=np.zeros((180, 320, 3), np.uint8), full=full)
    whole = Frame(index=1, time=0.1, image=np.zeros((360, 640, 3), np.uint8))
    found = [(scaled, sv.Detections(xyxy=np.array([[10, 20, 30, 40]], np.float32))),
             (whole, sv.Detections(xyxy=np.array([[10, 20, 30, 40]], np.float32))), (scaled, None)]  # fmt: skip
    out = list(in_frame_pixels(iter(found)))
    assert out[0][1].xyxy.tolist() == [[20, 40, 60, 80]]
    assert out[1][1].xyxy.tolist() == [[10, 20, 30, 40]]
    assert out[2][1] is None


class _HalfSizeDetector(ScriptedDetector):
    """Like YOLO's letterbox: takes the frame at half size and answers in the pixels it was given."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.shapes: set[tuple[int, ...]] = set()

    def input_shape_for(self, height: int, width: int) -> tuple[int, int]:
        return height // 2, width // 2

    def detect(self, frame: Frame) -> sv.Detections:
        self.shapes.add(frame.image.shape)
        found = super().detect(frame)
        found.xyxy = found.xyxy * np.float32(frame.image.shape[1] / frame.width)
        return found


def test_pipeline_scales_the_frames_it_detects_and_few_others(video: Path, tmp_path: Path, monkeypatch) -> None:
    scaled = []
    original = YuvPicture.scaled
    monkeypatch.setattr(YuvPicture, "scaled", lambda self, *size: scaled.append(size) or original(self, *size))
    detector = _HalfSizeDetector(scenario_two_returns(num_frames=40, width=640, height=360), jitter_px=0.0)
    config = Config().with_overrides({"reid.enabled": False, "report.enabled": False, "detector.detect_stride": 2})
    result = process(video, out_dir=tmp_path / "run", config=config, detector=detector, progress=False)
    assert result.frames_processed == 40 and detector.shapes == {(180, 320, 3)}
    assert 20 <= len(scaled) < 40  # the 20 detected, and the scene's samples among the others (was: all 40)


@pytest.mark.parametrize("scaled", [True, False])
def test_pipeline_detects_small_and_stores_full_size(video: Path, tmp_path: Path, scaled: bool) -> None:
    scenario = scenario_two_returns(num_frames=40, width=640, height=360)
    detector = _HalfSizeDetector(scenario, jitter_px=0.0)
    config = Config().with_overrides({"reid.enabled": False, "report.enabled": False,
                                      "detector.detect_stride": 1, "source.scaled_decode": scaled})  # fmt: skip
    result = process(video, out_dir=tmp_path / "run", config=config, detector=detector, progress=False)
    assert detector.shapes == {(180, 320, 3) if scaled else (360, 640, 3)}
    store = open_store(result.run_dir / "store.zarr")
    rows = store.detections()
    truth = {i: scenario.boxes(i)[0] for i in range(40)}
    for frame_index, xyxy in zip(rows["frame_index"].tolist(), rows["xyxy"], strict=True):
        assert np.abs(truth[frame_index] - xyxy).max(axis=1).min() < 1.5  # source pixels, whatever the detector saw
    crops = store.crop_metadata()
    assert len(crops["index"]) > 0
    images = store.images(crops["index"])
    for row, image in zip(range(len(images)), images, strict=True):
        frame = int(crops["frame_index"][row])
        expected = cut_crop(scenario.render(frame), crops["xyxy"][row], height=256, width=128).astype(int)
        assert np.abs(image.astype(int) - expected).mean() < 6  # cut from the full-size frame, not the small one

"""``detector.detect_stride: auto``: about ``detect_rate`` detections per second of video, whatever its frame rate."""

import pytest

from streamreid.config import Config, load_config
from streamreid.stream.detection_rate import detect_stride_for, resolve_detect_stride, saved_stride


@pytest.mark.parametrize(
    ("fps", "source_stride", "expected"),
    [(29.97, 1, 2), (30, 1, 2), (25, 1, 2), (20, 1, 1), (60, 1, 4), (50, 1, 3), (7, 1, 1), (60, 2, 2),
     (None, 1, 1), (0.0, 1, 1), (float("nan"), 1, 1)],
)  # fmt: skip
def test_detect_stride_for(fps, source_stride, expected):
    assert detect_stride_for(fps, detect_rate=15.0, source_stride=source_stride) == expected


def test_resolve_detect_stride_keeps_a_given_stride():
    auto = Config()
    assert auto.detector.detect_stride == "auto"
    assert resolve_detect_stride(auto, fps=30.0).detector.detect_stride == 2
    given = load_config(None, {"detector.detect_stride": 3})
    assert resolve_detect_stride(given, fps=30.0).detector.detect_stride == 3


def test_auto_counts_the_frames_the_source_already_skips():
    config = load_config(None, {"source.stride": 2})
    assert resolve_detect_stride(config, fps=60.0).detector.detect_stride == 2
    assert resolve_detect_stride(Config(), fps=60.0).detector.detect_stride == 4


def test_a_stride_never_resolved_is_saved_as_every_frame():
    assert saved_stride("auto") == 1
    assert saved_stride(3) == 3
    assert saved_stride("2") == 2

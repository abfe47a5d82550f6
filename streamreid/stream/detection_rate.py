"""``detector.detect_stride: auto``: detect about ``detect_rate`` frames per second of video.

People walk a small fraction of their height in a fifteenth of a second, and ByteTrack
carries each track across the frames in between with its motion model: on
PETS09-S2L1, at 7 frames per second, the tracks hold (benchmarks/README.md, issue 9).
Detecting every frame of a 30 or 60 fps video mostly repeats itself at two or four
times the cost, so ``auto`` detects one frame in ``round(fps / detect_rate)``; videos
at or below about 1.5 × ``detect_rate`` are detected every frame.
"""

from __future__ import annotations

import dataclasses
import math

from streamreid.config import AUTO, Config


def detect_stride_for(fps: float | None, *, detect_rate: float, source_stride: int = 1) -> int:
    """One frame in how many kept frames to detect, for a video at ``fps`` frames per second.

    Args:
        fps: The video's frame rate (``None`` or not positive: unknown, every frame is detected).
        detect_rate: Detections per second of video wanted (about; never more often than every frame).
        source_stride: Frames the source already keeps one of.

    Returns:
        The stride, at least 1.
    """
    if fps is None or not math.isfinite(fps) or fps <= 0 or detect_rate <= 0:
        return 1
    return max(1, round(fps / max(1, source_stride) / detect_rate))


def resolve_detect_stride(config: Config, *, fps: float | None) -> Config:
    """``config`` with ``detector.detect_stride: auto`` replaced by the stride for this video's ``fps``."""
    if config.detector.detect_stride != AUTO:
        return config
    stride = detect_stride_for(fps, detect_rate=config.detector.detect_rate, source_stride=config.source.stride)
    return dataclasses.replace(config, detector=dataclasses.replace(config.detector, detect_stride=stride))


def saved_stride(value: int | str) -> int:
    """``detector.detect_stride`` as saved in a run's ``run.json``; ``auto`` (never resolved, e.g. no frame) is 1."""
    return 1 if value == AUTO else int(value)

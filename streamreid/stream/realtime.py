"""Real time on live sources: decode every frame, detect only as often as the machine keeps up.

A 25 fps camera into a pass that detects at 8 fps falls behind by two frames in
three, for ever: the backlog (and the latency of every result) grows without
bound, until the camera's buffers overflow and frames arrive broken.
:class:`RealTimePacer` sits between the decoder and the detector. Every frame is
decoded (cheap), but a frame that is already more than ``max_latency`` seconds
behind the camera when the detector asks for the next one is passed over, so the
detector always works on recent frames and the latency stays near ``max_latency``
plus one detector call. The detection rate then settles at what the machine
sustains; the tracker advances by the frames' timestamps, so skipped frames are
simply a longer step for its motion model.

Lag is measured against the stream's own clock: ``(wall - frame time)``, less its
smallest value so far (the moment the pass was best caught up), so a camera whose
clock starts anywhere, or a reconnect that shifts the frame times by the outage,
reads right.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from streamreid.types import Frame, VideoInfo

#: Lags kept for the latency figures (a bounded window: the run may last for days).
_WINDOW = 2048


def realtime_enabled(setting: bool | None, info: VideoInfo) -> bool:
    """Whether to pace: ``source.realtime`` (``None``: live network streams and cameras, not files or stdin)."""
    if setting is not None:
        return bool(setting)
    return bool(info.is_live) and info.source != "-"


class RealTimePacer:
    """Passes over frames that are already too late, so detection keeps up with a live source.

    Args:
        max_latency: Seconds behind the source beyond which a frame is decoded but not detected.
        clock: Monotonic clock in seconds (tests pass their own).

    Attributes:
        frames_seen: Frames offered by the decoder.
        frames_passed_over: Frames decoded but not handed to the detector.
    """

    def __init__(self, *, max_latency: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        if max_latency <= 0:
            raise ValueError(f"max_latency must be > 0, got {max_latency}")
        self.max_latency = float(max_latency)
        self._clock = clock
        self._offset: float | None = None  # smallest (wall - frame time) so far
        self._started: float | None = None
        self._first_time: float | None = None
        self._last_time = 0.0
        self.frames_seen = 0
        self.frames_passed_over = 0
        self.frames_detected = 0
        self._latencies: deque[float] = deque(maxlen=_WINDOW)
        self._detected_at: deque[float] = deque(maxlen=_WINDOW)

    def lag(self, frame: Frame) -> float:
        """Seconds ``frame`` is behind the source now (0 when the pass is as caught up as it has ever been)."""
        behind = self._clock() - frame.time
        if self._offset is None or behind < self._offset:
            self._offset = behind
        return behind - self._offset

    def pace(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """The frames worth detecting, in order: those no more than ``max_latency`` behind."""
        for frame in frames:
            self.frames_seen += 1
            if self._started is None:
                self._started, self._first_time = self._clock(), frame.time
            self._last_time = frame.time
            if self.lag(frame) > self.max_latency:
                self.frames_passed_over += 1
                continue
            yield frame

    def detected(self, frame: Frame) -> None:
        """Record that ``frame``'s detections are in: its latency and the detection rate."""
        self.frames_detected += 1
        self._latencies.append(self.lag(frame))
        self._detected_at.append(self._clock())

    @property
    def detection_fps(self) -> float | None:
        """Detections per second over the recent window."""
        if len(self._detected_at) < 2:
            return None
        span = self._detected_at[-1] - self._detected_at[0]
        return (len(self._detected_at) - 1) / span if span > 0 else None

    @property
    def source_fps(self) -> float | None:
        """Frames per second the source delivered (by its clock), over the run."""
        if self._first_time is None or self._last_time <= self._first_time or self.frames_seen < 2:
            return None
        return (self.frames_seen - 1) / (self._last_time - self._first_time)

    def latency(self, quantile: float) -> float | None:
        """A quantile of the recent latencies (seconds from the frame's arrival to its detections)."""
        return float(np.quantile(np.fromiter(self._latencies, float), quantile)) if self._latencies else None

    def to_dict(self) -> dict[str, Any]:
        """Figures for run.json, the summary and the live report."""

        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "max_latency_s": self.max_latency,
            "frames_seen": self.frames_seen,
            "frames_detected": self.frames_detected,
            "frames_passed_over": self.frames_passed_over,
            "detection_fps": rounded(self.detection_fps),
            "source_fps": rounded(self.source_fps),
            "latency_s": rounded(self.latency(0.5)),
            "latency_p95_s": rounded(self.latency(0.95)),
            "latency_max_s": rounded(max(self._latencies) if self._latencies else None),
        }

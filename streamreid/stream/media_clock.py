"""Frame times and indices that go on across reconnects: an outage is a gap, a reread file no repeat."""

from __future__ import annotations

from dataclasses import dataclass, field

import av

_FALLBACK_FPS = 25.0


class MediaClock:
    """Frame times in seconds from the start of the stream, monotonic across reconnects.

    Times come from ``pts * time_base``, shifted so the first frame is at 0 and the
    first frame after a reconnect follows the last one (by the wall-clock gap, at
    least one frame interval). Frames without a pts get the previous time plus one
    frame interval.
    """

    def __init__(self, fps: float | None) -> None:
        self.interval = 1.0 / (fps if fps and fps > 0 else _FALLBACK_FPS)
        self.origin: float | None = None
        self.last: float | None = None
        self.connection_start: float | None = None
        self.connection_last: float | None = None
        self._resume_gap = 0.0

    def time_of(self, frame: av.VideoFrame) -> float:
        """Time of ``frame`` in seconds."""
        following = 0.0 if self.last is None else self.last + max(self.interval, self._resume_gap)
        if frame.pts is None or frame.time_base is None:
            current = following
        else:
            raw = float(frame.pts * frame.time_base)
            if self.origin is None:
                self.origin = raw - following
                self.connection_start = raw
            self.connection_last = raw
            current = raw - self.origin
            if self.last is not None and current <= self.last:
                current = self.last + self.interval
        current = round(current, 6)
        self._resume_gap = 0.0
        self.last = current
        return current

    def connection_span(self) -> float | None:
        """Seconds of media the current connection delivered, when its frames had timestamps."""
        if self.connection_start is None or self.connection_last is None:
            return None
        return self.connection_last - self.connection_start

    def resume(self, *, gap_seconds: float) -> None:
        """Start a new connection: its timestamps are re-anchored after the last frame."""
        self.origin = None
        self.connection_start = self.connection_last = None
        self._resume_gap = max(self.interval, gap_seconds)


@dataclass
class DecodePosition:
    """Where decoding stands, across connections.

    Attributes:
        last_frame_wall: Monotonic clock at the last good frame.
        next_index: Index of the next frame (indices follow stream time: an outage skips the indices it lasted).
        failures: Reconnect attempts since the last good frame.
        resumed_after: Time of the last frame before a live source reconnected, until the next frame.
        seen_until: Media time of the last frame delivered before a file over HTTP was reopened:
            frames up to it are skipped.
    """

    last_frame_wall: float
    next_index: int = 0
    failures: int = 0
    resumed_after: float | None = None
    seen_until: float | None = field(default=None)

    def seen(self, frame: av.VideoFrame) -> bool:
        """Whether ``frame`` was delivered before the connection was reopened (and stop skipping after it)."""
        if self.seen_until is None or frame.pts is None or frame.time_base is None:
            return False
        if float(frame.pts * frame.time_base) <= self.seen_until + 1e-6:
            return True
        self.seen_until = None
        return False


def frames_lost(before: float, after: float, interval: float) -> int:
    """Frames an outage from ``before`` to ``after`` (seconds) lasted, beyond the one normal step."""
    return max(0, round((after - before) / interval) - 1)

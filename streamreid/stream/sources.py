"""Video sources: every frame decoded exactly once, by PyAV.

A source is a file path, ``-`` for a stream piped into stdin, a network URL
(``rtsp://``, ``rtsps://``, ``http(s)://``, ``tcp://``, ``udp://``, ...) or a
webcam (``/dev/videoN`` or the number N). :func:`open_source` opens it and
returns a :class:`VideoStream`, which yields :class:`~streamreid.types.Frame`
records and owns the container until iteration ends, however it ends.

Live network sources get open and read timeouts, so a dead camera never hangs a
run, and are reconnected with capped exponential backoff when they drop (forever
with ``reconnect_attempts=-1``). Times continue across a reconnect by the wall-clock
length of the outage, and frame indices follow the times (an outage of 60 s at
25 fps skips 1500 indices), so whatever counts frames sees the outage as a gap.
A video *file* over HTTP(S) (a known duration) is not live: a connection that drops
is resumed where it broke (FFmpeg's own Range reconnect first, then a new connection
that seeks back and skips the frames already delivered), so no frame comes twice.
Frames the decoder reports as corrupt are skipped with a warning. Every problem a user can fix is raised as one
:class:`~streamreid.errors.SourceError` line.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
import sys
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import av
import av.error
import cv2
import numpy as np

from streamreid.config import SourceConfig
from streamreid.errors import SourceError
from streamreid.redact import redact
from streamreid.stream.picture import YuvPicture
from streamreid.types import Frame, VideoInfo

#: The first frames of a stream, decoded at open: those of the first packet that gave any, the rest of the
#: connection's packets, and the error that ended it early (or ``None``).
_Ahead = tuple[list[av.VideoFrame], Iterator[list[av.VideoFrame]], BaseException | None]

logger = logging.getLogger("streamreid.sources")

REMUX_HINT = "remux it as MPEG-TS, MKV or fragmented MP4, e.g. `ffmpeg -i in.mp4 -c copy -f mpegts -`"

_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
_FALLBACK_FPS = 25.0
_END_TOLERANCE_S = 1.0
_CORRUPT_LOG_FIRST = 5
_CORRUPT_LOG_EVERY = 100
#: With ``reconnect_attempts=-1`` (forever) the *first* connection still gives up after this
#: many retries: a wrong URL is a user error to report, a camera that dropped is waited for.
FIRST_OPEN_RETRIES_WHEN_FOREVER = 5
#: Reconnect attempts logged one by one before logging only every this-many-th attempt.
_RECONNECT_LOG_EVERY = 10

# Errors worth another connection attempt; anything else (a 404, an unknown protocol,
# a stream that is not video) fails at once.
_RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (
    av.error.ConnectionRefusedError,
    av.error.ConnectionResetError,
    av.error.ConnectionAbortedError,
    av.error.TimeoutError,
    av.error.ExitError,
    av.error.EOFError,
    av.error.BrokenPipeError,
    av.error.HTTPServerError,
    av.error.InvalidDataError,
    av.error.OSError,
    OSError,
)
_FINAL_ERRORS: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    PermissionError,
    av.error.HTTPClientError,
    av.error.ProtocolNotFoundError,
    av.error.DemuxerNotFoundError,
)


def _worth_retrying(error: BaseException) -> bool:
    return isinstance(error, _RETRYABLE_ERRORS) and not isinstance(error, _FINAL_ERRORS)


@dataclass(frozen=True)
class _Target:
    """How to hand a source to ``av.open``.

    Attributes:
        display: The source for messages and ``VideoInfo.source`` (credentials removed by :func:`redact`).
        kind: ``file``, ``stdin``, ``network``, ``device`` or ``remote_file`` (a video file over HTTP(S):
            it has an end and can seek, so a dropped connection resumes where it broke).
        location: Path, URL or device name given to FFmpeg (``None`` for stdin).
        format: Forced demuxer/device format, or ``None`` to probe.
        options: Container options.
    """

    display: str
    kind: str
    location: str | None
    format: str | None = None
    options: tuple[tuple[str, str], ...] = ()

    @property
    def is_live(self) -> bool:
        """Network streams, devices and stdin have no known end and cannot seek."""
        return self.kind in {"network", "device", "stdin"}

    @property
    def is_http(self) -> bool:
        """An ``http://`` or ``https://`` URL."""
        scheme = str(self.location).split("://", 1)[0].lower()
        return self.kind in {"network", "remote_file"} and scheme in {"http", "https"}

    @property
    def reconnectable(self) -> bool:
        """Sources that can be opened again after they drop."""
        return self.kind in {"network", "device", "remote_file"}


def _device_target(number: int, display: str) -> _Target:
    if sys.platform.startswith("linux"):
        return _Target(display=display, kind="device", location=f"/dev/video{number}", format="v4l2")
    if sys.platform == "darwin":
        # avfoundation rejects its default 29.97 fps on most cameras.
        return _Target(
            display=display, kind="device", location=str(number), format="avfoundation", options=(("framerate", "30"),)
        )
    raise SourceError(f"webcam numbers work on Linux (v4l2) and macOS (avfoundation), not on {sys.platform}")


def _resolve(source: str | int | os.PathLike[str]) -> _Target:
    """Decide what kind of source ``source`` is and how FFmpeg should open it."""
    if isinstance(source, bool):
        raise SourceError(f"not a video source: {source!r}")
    if isinstance(source, int):
        if source < 0:
            raise SourceError(f"webcam number must be 0 or more, got {source}")
        return _device_target(source, str(source))
    if isinstance(source, os.PathLike):
        path = Path(source)
        return _Target(display=str(path), kind="file", location=str(path))
    text = str(source).strip()
    if not text:
        raise SourceError("empty video source: give a file path, `-` for stdin, a URL or a webcam number")
    if text == "-":
        return _Target(display="-", kind="stdin", location=None)
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme == "file":
            path = Path(urlsplit(text).path)
            return _Target(display=str(path), kind="file", location=str(path))
        options: tuple[tuple[str, str], ...] = ()
        if scheme in {"rtsp", "rtsps"}:
            options = (("rtsp_transport", "tcp"),)
        return _Target(display=redact(text), kind="network", location=text, options=options)
    if text.startswith("/dev/video") and text[len("/dev/video") :].isdigit():
        if sys.platform == "darwin":
            return _device_target(int(text[len("/dev/video") :]), text)
        return _Target(display=text, kind="device", location=text, format="v4l2")
    if text.isdigit() and not Path(text).exists():
        return _device_target(int(text), text)
    return _Target(display=text, kind="file", location=text)


def _reason(error: BaseException) -> str:
    """A short, lower-case reason from an FFmpeg error, without the repeated file name."""
    if isinstance(error, av.error.ExitError):
        return "no answer in time"
    if isinstance(error, (av.error.ConnectionRefusedError, ConnectionRefusedError)):
        return "connection refused"
    message = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return str(message).strip().rstrip(".").lower()


def _file_head(path: Path, size: int = 12) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def _looks_like_mp4(head: bytes) -> bool:
    return len(head) >= 8 and head[4:8] in _MP4_BOXES


def _stdin_head(stdin: BinaryIO) -> bytes:
    peek = getattr(stdin, "peek", None)
    if peek is None:
        return b""
    try:
        return bytes(peek(12)[:12])
    except (OSError, ValueError):
        return b""


class _Clock:
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
class _Position:
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


class VideoStream:
    """An open video source; iterate it once for :class:`~streamreid.types.Frame` records.

    Use it as a context manager; the container is closed when iteration ends,
    when the ``with`` block is left, or on :meth:`close`.

    Attributes:
        info: What is known about the source.
        decoded_frames: Frames decoded so far, including those the stride drops.
        skipped_frames: Corrupt frames skipped (each logged as a warning).
        reconnects: Successful reconnections of a live source.
        end_reason: Why iteration stopped: ``""`` while running, then ``"end"``,
            ``"max_frames"``, ``"read_error"``, ``"gave_up"`` (reconnects failed) or ``"closed"``.
    """

    def __init__(
        self,
        target: _Target,
        container: av.container.InputContainer,
        *,
        config: SourceConfig,
        stdin_is_mp4: bool = False,
    ) -> None:
        self._target = target
        self._stdin_is_mp4 = stdin_is_mp4
        self._container: av.container.InputContainer | None = container
        self._config = config
        self._iterated = False
        self.decoded_frames = 0
        self.skipped_frames = 0
        self.reconnects = 0
        self.end_reason = ""
        self.resized_frames = 0
        self._size_change: tuple[int, int, int] | None = None  # first frame of another size: index, width, height
        self._detector_size: tuple[int, int] | None = None  # (width, height) of Frame.image, when scaled down
        # the first frame is decoded now: its display rotation and upright size are the stream's
        self._ahead = self._look_ahead(container)
        self.info = _video_info(target, container, first=self._ahead[0][0] if self._ahead[0] else None)

    def __enter__(self) -> VideoStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the container (safe to call more than once)."""
        container, self._container = self._container, None
        if container is not None:
            container.close()
            if not self.end_reason:
                self.end_reason = "closed"
            if self.skipped_frames:
                logger.warning("%s: skipped %d corrupt frame(s)", self.info.source, self.skipped_frames)

    def scale_for_detector(self, size: tuple[int, int] | None) -> None:
        """Decode the frames' ``image`` at ``size`` (``(width, height)``, smaller than the stream's), before iterating.

        Each frame is then scaled and turned into BGR once, at the detector's size; ``Frame.full`` keeps the
        decoded planes, from which crops are cut at the stream's size (:mod:`streamreid.stream.picture`). Frames
        this cannot apply to (not 4:2:0 8-bit, turned, of another size than the stream's) are decoded whole,
        as without it. ``None``: every frame whole.
        """
        self._detector_size = None if size is None else (int(size[0]), int(size[1]))

    def __iter__(self) -> Iterator[Frame]:
        if self._iterated:
            raise RuntimeError("a VideoStream can be iterated only once; open the source again")
        self._iterated = True
        return self._iter_frames()

    def _iter_frames(self) -> Iterator[Frame]:
        try:
            yield from self._decode_all()
        finally:
            self.close()

    def _decode_all(self) -> Iterator[Frame]:
        clock = _Clock(self.info.fps)
        position = _Position(last_frame_wall=time.monotonic())
        while self._container is not None:
            error = yield from self._decode_connection(self._container, clock, position)
            if self.end_reason:  # max_frames
                return
            if error is not None and self._stdin_is_mp4 and self.decoded_frames == 0:
                # A small MP4 opens from a pipe even with its index at the end, then cannot seek back to its data.
                raise _moov_at_end_error() from None
            stalled = position.seen_until is not None and clock.connection_last == position.seen_until
            if not self._target.reconnectable or self._reached_known_end(clock, error) or stalled:
                if error is not None or stalled:
                    why = _reason(error) if error is not None else "no more data after reconnecting"
                    logger.warning("%s: stopped reading after frame %d: %s", self.info.source,
                                   self.decoded_frames - 1, why)  # fmt: skip
                self.end_reason = "end" if error is None and not stalled else "read_error"
                return
            if not self._resume(clock, position, why="stream ended" if error is None else _reason(error)):
                self.end_reason = "gave_up"
                return

    @property
    def notes(self) -> list[str]:
        """What the user should know about the frames (turned upright, resized to one size)."""
        notes = []
        if self.info.rotation:
            notes.append(f"the video says to show its frames turned {self.info.rotation}°: they were turned upright")
        if self._size_change is not None:
            index, width, height = self._size_change
            notes.append(f"the frame size changed to {width}x{height} at frame {index}: {self.resized_frames} "
                         f"frames were resized to the stream's {self.info.width}x{self.info.height}")  # fmt: skip
        return notes

    def _packets(self, container: av.container.InputContainer) -> Iterator[list[av.VideoFrame]]:
        """The decoded frames of each packet of one connection (an undecodable packet is skipped)."""
        for packet in container.demux(container.streams.video[0]):
            try:
                yield packet.decode()
            except av.error.InvalidDataError as exc:
                self._skip_corrupt(f"undecodable packet after frame {self.decoded_frames - 1}: {_reason(exc)}")

    def _look_ahead(self, container: av.container.InputContainer) -> _Ahead:
        """Decode up to the first frame (kept for the first connection to deliver)."""
        packets = self._packets(container)
        try:
            for decoded in packets:
                if decoded:
                    return decoded, packets, None
        except (av.error.FFmpegError, OSError) as exc:
            return [], packets, exc
        return [], packets, None

    def _decode_connection(
        self, container: av.container.InputContainer, clock: _Clock, position: _Position
    ) -> Generator[Frame, None, BaseException | None]:
        """The frames of one connection; returns the error that ended it, or ``None``."""
        ahead, self._ahead = self._ahead, None  # the first connection starts with the frames decoded at open
        first, packets, error = ahead if ahead is not None else ([], self._packets(container), None)
        if error is not None:
            return error
        try:
            for decoded in itertools.chain([first], packets):
                for av_frame in decoded:
                    if position.seen(av_frame):
                        continue  # a file reread after a dropped connection: delivered before the drop
                    frame = self._next_frame(av_frame, clock, position)
                    if frame is not None:
                        yield frame
                    if self._config.max_frames is not None and self.decoded_frames >= self._config.max_frames:
                        self.end_reason = "max_frames"
                        return None
        except (av.error.FFmpegError, OSError) as exc:
            return exc
        return None

    def _next_frame(self, av_frame: av.VideoFrame, clock: _Clock, position: _Position) -> Frame | None:
        """Count a decoded frame and give it its index and time; ``None`` for a corrupt or strided-out one."""
        self.decoded_frames += 1
        frame_time = clock.time_of(av_frame)
        if position.resumed_after is not None:
            position.next_index += _frames_lost(position.resumed_after, frame_time, clock.interval)
            position.resumed_after = None
        index, position.next_index = position.next_index, position.next_index + 1
        position.failures = 0
        position.last_frame_wall = time.monotonic()
        if av_frame.is_corrupt:
            self._skip_corrupt(f"corrupt frame {index}")
            return None
        if index % self._config.stride == 0:
            full = self._planes(av_frame)
            if full is not None:
                return Frame(index=index, time=frame_time, image=full.scaled(*self._detector_size), full=full)
            return Frame(index=index, time=frame_time, image=self._picture(av_frame, index))
        return None

    def _planes(self, av_frame: av.VideoFrame) -> YuvPicture | None:
        """The frame's planes, where it is to be scaled for the detector and can be; else ``None``."""
        if self._detector_size is None or quarter_turns(av_frame):
            return None
        if (av_frame.width, av_frame.height) != (self.info.width, self.info.height):
            return None  # another size: scaled back to the stream's size whole (_picture)
        return YuvPicture.of(av_frame)

    def _picture(self, av_frame: av.VideoFrame, index: int) -> np.ndarray:
        """The frame as the stream's BGR picture: turned upright as its display matrix says, at the stream's size."""
        image = av_frame.to_ndarray(format="bgr24")
        turns = quarter_turns(av_frame)
        if turns:
            image = np.ascontiguousarray(np.rot90(image, turns))  # rot90 turns counter-clockwise, as the matrix
        if image.shape[:2] != (self.info.height, self.info.width):
            # one size for the whole stream (boxes, tracks, the scene): a resolution switch (adaptive streams,
            # a concatenation) is scaled back to the first frame's size
            if self._size_change is None:
                self._size_change = (index, image.shape[1], image.shape[0])
                logger.warning("%s: frame size changed to %dx%d at frame %d; resizing to %dx%d", self.info.source,
                               image.shape[1], image.shape[0], index, self.info.width, self.info.height)  # fmt: skip
            self.resized_frames += 1
            image = cv2.resize(image, (self.info.width, self.info.height), interpolation=cv2.INTER_AREA)
        return image

    def _resume(self, clock: _Clock, position: _Position, *, why: str) -> bool:
        """Connect again; ``False`` when the attempts are used up.

        A live source goes on from now (the outage is a gap in time and indices); a file over
        HTTP seeks back to where it broke and skips what it delivered before.
        """
        reopened = self._reconnect(why=why, failures=position.failures)
        if reopened is None:
            return False
        position.failures = reopened
        if self._target.kind == "remote_file" and clock.connection_last is not None:
            position.seen_until = clock.connection_last
            self._seek(position.seen_until)
        else:
            clock.resume(gap_seconds=time.monotonic() - position.last_frame_wall)
            position.resumed_after = clock.last
        return True

    def _seek(self, seconds: float) -> None:
        """Move the new connection to the keyframe before ``seconds`` of media time (else decode from the start)."""
        container = self._container
        video = container.streams.video[0] if container is not None else None
        if video is None or video.time_base is None:
            return
        try:
            container.seek(int(seconds / video.time_base), stream=video, backward=True, any_frame=False)
        except (av.error.FFmpegError, OSError) as exc:
            logger.warning("%s: cannot seek (%s); rereading from the start", self.info.source, _reason(exc))

    def _reached_known_end(self, clock: _Clock, error: BaseException | None) -> bool:
        """A network stream with a known duration (an RTSP server playing a file) that ended at that duration."""
        if error is not None or self._container is None:
            return False
        duration = self._container.duration
        span = clock.connection_span()
        if duration is None or span is None:
            return False
        return span >= duration / av.time_base - _END_TOLERANCE_S

    def _reconnect(self, *, why: str, failures: int) -> int | None:
        """Replace the container with a new connection.

        Returns:
            The number of failed attempts so far (counting since the last good frame),
            or ``None`` when the attempts are used up.
        """
        old, self._container = self._container, None
        if old is not None:
            old.close()
        forever = self._config.reconnect_attempts < 0
        while forever or failures < self._config.reconnect_attempts:
            delay = min(self._config.reconnect_backoff * 2 ** min(failures, 30), self._config.reconnect_backoff_max)
            failures += 1
            if failures <= _RECONNECT_LOG_EVERY or failures % _RECONNECT_LOG_EVERY == 0:
                logger.warning(
                    "%s: %s; reconnecting in %.1f s (attempt %d of %s)",
                    self.info.source,
                    why,
                    delay,
                    failures,
                    "unlimited" if forever else self._config.reconnect_attempts,
                )
            time.sleep(delay)
            try:
                self._container = _open_container(self._target, self._config)
            except (av.error.FFmpegError, OSError, SourceError) as exc:
                why = f"reconnect failed ({_reason(exc)})"
                continue
            self.reconnects += 1
            logger.warning("%s: reconnected (reconnect %d)", self.info.source, self.reconnects)
            return failures
        logger.error(
            "%s: gave up after %d reconnect attempt(s) (%s); stopping at frame %d",
            self.info.source,
            self._config.reconnect_attempts,
            why,
            self.decoded_frames - 1,
        )
        return None

    def _skip_corrupt(self, what: str) -> None:
        self.skipped_frames += 1
        count = self.skipped_frames
        if count <= _CORRUPT_LOG_FIRST or count % _CORRUPT_LOG_EVERY == 0:
            logger.warning("%s: skipping %s (%d skipped so far)", self.info.source, what, count)


def _open_container(target: _Target, config: SourceConfig) -> av.container.InputContainer:
    """``av.open`` the target and prepare its first video stream for decoding.

    Raises:
        SourceError: The source has no video stream.
        av.error.FFmpegError: FFmpeg could not open it (translated by the caller).
    """
    options = dict(target.options)
    if target.is_http and config.reconnect_attempts != 0:
        # a file over HTTP that drops: FFmpeg asks again for the rest (a Range request) before giving up
        options.update(reconnect="1", reconnect_on_network_error="1",
                       reconnect_delay_max=str(max(1, math.ceil(config.reconnect_backoff_max))))  # fmt: skip
    kwargs: dict[str, Any] = {"mode": "r", "format": target.format, "options": options}
    if target.reconnectable:
        kwargs["timeout"] = (config.open_timeout, config.read_timeout)
    file: str | BinaryIO = sys.stdin.buffer if target.kind == "stdin" else str(target.location)
    container = av.open(file, **kwargs)
    try:
        if not container.streams.video:
            raise SourceError(f"{target.display} has no video stream")
        video = container.streams.video[0]
        video.thread_type = "AUTO" if config.threads else "SLICE"
    except BaseException:
        container.close()
        raise
    return container


def _frames_lost(before: float, after: float, interval: float) -> int:
    """Frames an outage from ``before`` to ``after`` (seconds) lasted, beyond the one normal step."""
    return max(0, round((after - before) / interval) - 1)


def _moov_at_end_error() -> SourceError:
    return SourceError(
        "the MP4 on stdin keeps its index (moov atom) at the end of the file, which a pipe cannot reach: "
        f"{REMUX_HINT}, or pass the file path instead of `-`"
    )


def _open_error(target: _Target, error: BaseException, *, open_timeout: float, head: bytes = b"") -> SourceError:
    """One clear line for a source that failed to open (``head``: the first bytes of stdin)."""
    if target.kind == "stdin":
        if isinstance(error, av.error.InvalidDataError) and _looks_like_mp4(head):
            return _moov_at_end_error()
        return SourceError(f"cannot read the stream on stdin: {_reason(error)}")
    if target.kind == "file":
        if isinstance(error, av.error.InvalidDataError):
            if _looks_like_mp4(_file_head(Path(str(target.location)))):
                return SourceError(
                    f"cannot open {target.display}: the MP4 file is truncated or damaged (no moov index)"
                )
            return SourceError(f"cannot open {target.display}: not a video file FFmpeg can read")
        return SourceError(f"cannot open {target.display}: {_reason(error)}")
    if target.kind == "device":
        where = target.location if target.format == "v4l2" else f"{target.format} device {target.location}"
        if isinstance(error, (av.error.FileNotFoundError, FileNotFoundError)):
            return SourceError(f"no camera at {where}")
        return SourceError(f"cannot open the camera at {where}: {_reason(error)}")
    if isinstance(error, av.error.ExitError):
        return SourceError(f"cannot open {target.display}: no answer within {open_timeout:g} s")
    return SourceError(f"cannot open {target.display}: {_reason(error)}")


def quarter_turns(av_frame: av.VideoFrame) -> int:
    """Quarter turns counter-clockwise that show ``av_frame`` upright (its display matrix, e.g. a phone's; 0-3)."""
    degrees = getattr(av_frame, "rotation", 0) or 0  # PyAV >= 14
    return round(float(degrees) / 90) % 4


def _video_info(
    target: _Target, container: av.container.InputContainer, *, first: av.VideoFrame | None = None
) -> VideoInfo:
    """What the container says about the video; the size is the first frame's, upright, when one was decoded."""
    video = container.streams.video[0]
    rate = video.average_rate or video.guessed_rate
    fps = float(rate) if rate else None
    duration: float | None = None
    if video.duration is not None and video.time_base is not None:
        duration = float(video.duration * video.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    frame_count = video.frames if video.frames and not target.is_live else None
    width, height = int(video.codec_context.width), int(video.codec_context.height)
    if first is not None:
        width, height = int(first.width), int(first.height)
    turns = quarter_turns(first) if first is not None else 0
    if turns % 2:
        width, height = height, width
    return VideoInfo(
        source=target.display,
        width=width,
        height=height,
        rotation=turns * 90,
        fps=fps,
        frame_count=frame_count,
        duration=duration,
        codec=video.codec_context.name or "",
        is_live=target.is_live,
    )


def _check_options(config: SourceConfig) -> None:
    if config.stride < 1:
        raise ValueError(f"stride must be >= 1, got {config.stride}")
    if config.open_timeout <= 0 or config.read_timeout <= 0:
        raise ValueError(
            f"open_timeout and read_timeout must be > 0, got {config.open_timeout} and {config.read_timeout}"
        )
    if config.reconnect_attempts < -1:
        raise ValueError(f"reconnect_attempts must be >= 0, or -1 for forever, got {config.reconnect_attempts}")
    if config.reconnect_backoff < 0 or config.reconnect_backoff_max < 0:
        raise ValueError("reconnect_backoff and reconnect_backoff_max must be >= 0")
    if config.max_frames is not None and config.max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 or None, got {config.max_frames}")


def open_source(
    source: str | int | os.PathLike[str], config: SourceConfig | None = None, **options: Any
) -> VideoStream:
    """Open a video source for a single decoding pass.

    Args:
        source: A file path; ``-`` for stdin (MPEG-TS, MKV or fragmented MP4 when
            piped); a URL (``rtsp://``, ``rtsps://``, ``http(s)://``, ``tcp://``,
            ``udp://``, ...); a webcam as ``/dev/videoN`` or its number N.
        config: How to read it (:class:`~streamreid.config.SourceConfig`; its defaults when ``None``):
            ``stride`` (keep every n-th decoded frame; frame indices still count every frame),
            ``threads`` (FFmpeg frame and slice threads), ``open_timeout`` (seconds a network
            source or device may take to open), ``read_timeout`` (seconds without data before
            a live source counts as dropped), ``reconnect_attempts`` (connection attempts for a
            network source or device, both at the first open and after it drops: 0 = no
            retries, -1 = forever after a drop, with :data:`FIRST_OPEN_RETRIES_WHEN_FOREVER`
            retries at the first open), ``reconnect_backoff`` (first wait before another
            attempt, doubled each time), ``reconnect_backoff_max`` and ``max_frames`` (stop
            after this many decoded frames).
        **options: Fields of ``config`` to change, e.g. ``stride=2``.

    Returns:
        An open :class:`VideoStream` (use it in a ``with`` block).

    Raises:
        SourceError: The source is missing, unreadable, has no video stream, or did
            not answer after ``reconnect_attempts`` retries.
        ValueError: An option is out of range.
        TypeError: An option that is not a field of :class:`~streamreid.config.SourceConfig`.
    """
    config = dataclasses.replace(config or SourceConfig(), **options)
    _check_options(config)
    target = _resolve(source)
    _check_local(target)
    head = _stdin_head(sys.stdin.buffer) if target.kind == "stdin" else b""
    container = _open_with_retries(target, config, head=head)
    if _is_remote_file(target, container):
        target = dataclasses.replace(target, kind="remote_file")
    return VideoStream(target, container, config=config, stdin_is_mp4=_looks_like_mp4(head))


def _is_remote_file(target: _Target, container: av.container.InputContainer) -> bool:
    """A video file over HTTP(S) (a known duration): it is read like a file, and resumed where a drop broke it."""
    return target.is_http and container.duration is not None and "hls" not in container.format.name


def _check_local(target: _Target) -> None:
    """Refuse a missing file, a directory, or stdin without a pipe, before FFmpeg sees them."""
    if target.kind == "file":
        path = Path(str(target.location))
        if not path.exists():
            raise SourceError(f"video file not found: {target.display}")
        if path.is_dir():
            raise SourceError(f"{target.display} is a directory, not a video file")
    if target.kind == "stdin" and sys.stdin is None:
        raise SourceError("`-` reads the video from stdin, but this process has no stdin")
    if target.kind == "stdin" and sys.stdin.isatty():
        raise SourceError("nothing is piped into stdin: use e.g. `ffmpeg -i in.mp4 -c copy -f mpegts - | ... -`")


def _open_with_retries(target: _Target, config: SourceConfig, *, head: bytes) -> av.container.InputContainer:
    """Open the container; a network source or device is tried again, with backoff, while it may come up."""
    open_timeout = config.open_timeout
    retries = config.reconnect_attempts if config.reconnect_attempts >= 0 else FIRST_OPEN_RETRIES_WHEN_FOREVER
    attempts = 1 + (retries if target.reconnectable else 0)
    for attempt in range(attempts):
        started = time.monotonic()
        try:
            return _open_container(target, config)
        except SourceError:
            raise
        except (av.error.FFmpegError, OSError) as exc:
            # FFmpeg reports an interrupted RTSP handshake as invalid data; the clock tells the truth.
            timed_out = target.reconnectable and time.monotonic() - started >= 0.95 * open_timeout
            if attempt + 1 >= attempts or not (timed_out or _worth_retrying(exc)):
                if timed_out:
                    error = SourceError(f"cannot open {target.display}: no answer within {open_timeout:g} s")
                else:
                    error = _open_error(target, exc, open_timeout=open_timeout, head=head)
                if target.reconnectable and attempt > 0:
                    error = SourceError(f"{error} (after {attempt + 1} attempts)")
                raise error from None
            delay = min(config.reconnect_backoff * 2**attempt, config.reconnect_backoff_max)
            logger.warning(
                "%s: cannot open (%s); retrying in %.1f s (attempt %d of %d)",
                target.display,
                f"no answer within {open_timeout:g} s" if timed_out else _reason(exc),
                delay,
                attempt + 1,
                attempts - 1,
            )
            time.sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def iter_frames(source: str | int | os.PathLike[str], **options: Any) -> Iterator[Frame]:
    """Yield the frames of ``source``; ``options`` are those of :func:`open_source`."""
    with open_source(source, **options) as stream:
        yield from stream

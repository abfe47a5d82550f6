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

What a source names is :mod:`~streamreid.stream.target`; opening it, with retries and clear errors,
:mod:`~streamreid.stream.connect`; frame times and indices across reconnects, :mod:`~streamreid.stream.media_clock`.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import sys
import time
from collections.abc import Generator, Iterator
from typing import Any

import av
import av.error
import cv2
import numpy as np

from streamreid.config import SourceConfig
from streamreid.errors import SourceError
from streamreid.stream.connect import moov_at_end_error, open_container, open_with_retries, reason
from streamreid.stream.media_clock import DecodePosition, MediaClock, frames_lost
from streamreid.stream.picture import ScaledFrame, YuvPicture
from streamreid.stream.target import Target, check_local, looks_like_mp4, resolve, stdin_head
from streamreid.types import Frame, VideoInfo

#: The first frames of a stream, decoded at open: those of the first packet that gave any, the rest of the
#: connection's packets, and the error that ended it early (or ``None``).
_Ahead = tuple[list[av.VideoFrame], Iterator[list[av.VideoFrame]], BaseException | None]

logger = logging.getLogger("streamreid.sources")


_END_TOLERANCE_S = 1.0
_CORRUPT_LOG_FIRST = 5
_CORRUPT_LOG_EVERY = 100
#: Reconnect attempts logged one by one before logging only every this-many-th attempt.
_RECONNECT_LOG_EVERY = 10


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
        target: Target,
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
        self._detect_every: int | None = 1  # frames whose scaled image is made while decoding (scale_for_detector)
        self._delivered = 0  # frames yielded so far
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

    def scale_for_detector(self, size: tuple[int, int] | None, *, detect_every: int | None = 1) -> None:
        """Decode the frames' ``image`` at ``size`` (``(width, height)``, smaller than the stream's), before iterating.

        Each frame is then scaled and turned into BGR once, at the detector's size; ``Frame.full`` keeps the
        decoded planes, from which crops are cut at the stream's size (:mod:`streamreid.stream.picture`). Frames
        this cannot apply to (not 4:2:0 8-bit, turned, of another size than the stream's) are decoded whole,
        as without it. ``None``: every frame whole.

        ``detect_every``: the frames the detector takes (every n-th one delivered, as its ``detect_stride``) get
        their ``image`` made here, while decoding; the others only if something asks for it
        (:class:`~streamreid.stream.picture.ScaledFrame`). ``None``: none ahead (a live source, whose detector
        takes what it keeps up with).
        """
        self._detector_size = None if size is None else (int(size[0]), int(size[1]))
        self._detect_every = detect_every

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
        clock = MediaClock(self.info.fps)
        position = DecodePosition(last_frame_wall=time.monotonic())
        while self._container is not None:
            error = yield from self._decode_connection(self._container, clock, position)
            if self.end_reason:  # max_frames
                return
            if error is not None and self._stdin_is_mp4 and self.decoded_frames == 0:
                # A small MP4 opens from a pipe even with its index at the end, then cannot seek back to its data.
                raise moov_at_end_error() from None
            stalled = position.seen_until is not None and clock.connection_last == position.seen_until
            if not self._target.reconnectable or self._reached_known_end(clock, error) or stalled:
                if error is not None or stalled:
                    why = reason(error) if error is not None else "no more data after reconnecting"
                    logger.warning("%s: stopped reading after frame %d: %s", self.info.source,
                                   self.decoded_frames - 1, why)  # fmt: skip
                self.end_reason = "end" if error is None and not stalled else "read_error"
                return
            if not self._resume(clock, position, why="stream ended" if error is None else reason(error)):
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
                self._skip_corrupt(f"undecodable packet after frame {self.decoded_frames - 1}: {reason(exc)}")

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
        self, container: av.container.InputContainer, clock: MediaClock, position: DecodePosition
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

    def _next_frame(self, av_frame: av.VideoFrame, clock: MediaClock, position: DecodePosition) -> Frame | None:
        """Count a decoded frame and give it its index and time; ``None`` for a corrupt or strided-out one."""
        self.decoded_frames += 1
        frame_time = clock.time_of(av_frame)
        if position.resumed_after is not None:
            position.next_index += frames_lost(position.resumed_after, frame_time, clock.interval)
            position.resumed_after = None
        index, position.next_index = position.next_index, position.next_index + 1
        position.failures = 0
        position.last_frame_wall = time.monotonic()
        if av_frame.is_corrupt:
            self._skip_corrupt(f"corrupt frame {index}")
            return None
        if index % self._config.stride == 0:
            delivered, self._delivered = self._delivered, self._delivered + 1
            full = self._planes(av_frame)
            if full is not None:
                every, size = self._detect_every, self._detector_size
                ahead = every is not None and delivered % every == 0  # a frame the detector takes
                return ScaledFrame(index=index, time=frame_time, full=full, size=size,
                                   image=full.scaled(*size) if ahead else None)  # fmt: skip
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

    def _resume(self, clock: MediaClock, position: DecodePosition, *, why: str) -> bool:
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
            logger.warning("%s: cannot seek (%s); rereading from the start", self.info.source, reason(exc))

    def _reached_known_end(self, clock: MediaClock, error: BaseException | None) -> bool:
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
                self._container = open_container(self._target, self._config)
            except (av.error.FFmpegError, OSError, SourceError) as exc:
                why = f"reconnect failed ({reason(exc)})"
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


def quarter_turns(av_frame: av.VideoFrame) -> int:
    """Quarter turns counter-clockwise that show ``av_frame`` upright (its display matrix, e.g. a phone's; 0-3)."""
    degrees = getattr(av_frame, "rotation", 0) or 0  # PyAV >= 14
    return round(float(degrees) / 90) % 4


def _video_info(
    target: Target, container: av.container.InputContainer, *, first: av.VideoFrame | None = None
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
    target = resolve(source)
    check_local(target)
    head = stdin_head(sys.stdin.buffer) if target.kind == "stdin" else b""
    container = open_with_retries(target, config, head=head)
    if _is_remote_file(target, container):
        target = dataclasses.replace(target, kind="remote_file")
    return VideoStream(target, container, config=config, stdin_is_mp4=looks_like_mp4(head))


def _is_remote_file(target: Target, container: av.container.InputContainer) -> bool:
    """A video file over HTTP(S) (a known duration): it is read like a file, and resumed where a drop broke it."""
    return target.is_http and container.duration is not None and "hls" not in container.format.name


def iter_frames(source: str | int | os.PathLike[str], **options: Any) -> Iterator[Frame]:
    """Yield the frames of ``source``; ``options`` are those of :func:`open_source`."""
    with open_source(source, **options) as stream:
        yield from stream

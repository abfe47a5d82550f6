"""Opening a source's container: retries with backoff while it may come up, and one clear line for each failure."""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

import av
import av.error

from streamreid.config import SourceConfig
from streamreid.errors import SourceError
from streamreid.stream.target import Target, file_head, looks_like_mp4

logger = logging.getLogger("streamreid.sources")


REMUX_HINT = "remux it as MPEG-TS, MKV or fragmented MP4, e.g. `ffmpeg -i in.mp4 -c copy -f mpegts -`"


#: With ``reconnect_attempts=-1`` (forever) the *first* connection still gives up after this
#: many retries: a wrong URL is a user error to report, a camera that dropped is waited for.
FIRST_OPEN_RETRIES_WHEN_FOREVER = 5


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


def reason(error: BaseException) -> str:
    """A short, lower-case reason from an FFmpeg error, without the repeated file name."""
    if isinstance(error, av.error.ExitError):
        return "no answer in time"
    if isinstance(error, (av.error.ConnectionRefusedError, ConnectionRefusedError)):
        return "connection refused"
    message = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return str(message).strip().rstrip(".").lower()


def open_container(target: Target, config: SourceConfig) -> av.container.InputContainer:
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


def moov_at_end_error() -> SourceError:
    """The error for an MP4 on stdin whose index comes after its data."""
    return SourceError(
        "the MP4 on stdin keeps its index (moov atom) at the end of the file, which a pipe cannot reach: "
        f"{REMUX_HINT}, or pass the file path instead of `-`"
    )


def _open_error(target: Target, error: BaseException, *, open_timeout: float, head: bytes = b"") -> SourceError:
    """One clear line for a source that failed to open (``head``: the first bytes of stdin)."""
    if target.kind == "stdin":
        if isinstance(error, av.error.InvalidDataError) and looks_like_mp4(head):
            return moov_at_end_error()
        return SourceError(f"cannot read the stream on stdin: {reason(error)}")
    if target.kind == "file":
        if isinstance(error, av.error.InvalidDataError):
            if looks_like_mp4(file_head(Path(str(target.location)))):
                return SourceError(
                    f"cannot open {target.display}: the MP4 file is truncated or damaged (no moov index)"
                )
            return SourceError(f"cannot open {target.display}: not a video file FFmpeg can read")
        return SourceError(f"cannot open {target.display}: {reason(error)}")
    if target.kind == "device":
        where = target.location if target.format == "v4l2" else f"{target.format} device {target.location}"
        if isinstance(error, (av.error.FileNotFoundError, FileNotFoundError)):
            return SourceError(f"no camera at {where}")
        return SourceError(f"cannot open the camera at {where}: {reason(error)}")
    if isinstance(error, av.error.ExitError):
        return SourceError(f"cannot open {target.display}: no answer within {open_timeout:g} s")
    return SourceError(f"cannot open {target.display}: {reason(error)}")


def open_with_retries(target: Target, config: SourceConfig, *, head: bytes) -> av.container.InputContainer:
    """Open the container; a network source or device is tried again, with backoff, while it may come up."""
    open_timeout = config.open_timeout
    retries = config.reconnect_attempts if config.reconnect_attempts >= 0 else FIRST_OPEN_RETRIES_WHEN_FOREVER
    attempts = 1 + (retries if target.reconnectable else 0)
    for attempt in range(attempts):
        started = time.monotonic()
        try:
            return open_container(target, config)
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
                f"no answer within {open_timeout:g} s" if timed_out else reason(exc),
                delay,
                attempt + 1,
                attempts - 1,
            )
            time.sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")

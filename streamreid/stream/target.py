"""What a video source names (a file, stdin, a URL, a webcam) and how FFmpeg is to open it."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from streamreid.errors import SourceError
from streamreid.redact import redact

_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


@dataclass(frozen=True)
class Target:
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


def _device_target(number: int, display: str) -> Target:
    if sys.platform.startswith("linux"):
        return Target(display=display, kind="device", location=f"/dev/video{number}", format="v4l2")
    if sys.platform == "darwin":
        # avfoundation rejects its default 29.97 fps on most cameras.
        return Target(
            display=display, kind="device", location=str(number), format="avfoundation", options=(("framerate", "30"),)
        )
    raise SourceError(f"webcam numbers work on Linux (v4l2) and macOS (avfoundation), not on {sys.platform}")


def resolve(source: str | int | os.PathLike[str]) -> Target:
    """Decide what kind of source ``source`` is and how FFmpeg should open it."""
    if isinstance(source, bool):
        raise SourceError(f"not a video source: {source!r}")
    if isinstance(source, int):
        if source < 0:
            raise SourceError(f"webcam number must be 0 or more, got {source}")
        return _device_target(source, str(source))
    if isinstance(source, os.PathLike):
        path = Path(source)
        return Target(display=str(path), kind="file", location=str(path))
    text = str(source).strip()
    if not text:
        raise SourceError("empty video source: give a file path, `-` for stdin, a URL or a webcam number")
    if text == "-":
        return Target(display="-", kind="stdin", location=None)
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme == "file":
            path = Path(urlsplit(text).path)
            return Target(display=str(path), kind="file", location=str(path))
        options: tuple[tuple[str, str], ...] = ()
        if scheme in {"rtsp", "rtsps"}:
            options = (("rtsp_transport", "tcp"),)
        return Target(display=redact(text), kind="network", location=text, options=options)
    if text.startswith("/dev/video") and text[len("/dev/video") :].isdigit():
        if sys.platform == "darwin":
            return _device_target(int(text[len("/dev/video") :]), text)
        return Target(display=text, kind="device", location=text, format="v4l2")
    if text.isdigit() and not Path(text).exists():
        return _device_target(int(text), text)
    return Target(display=text, kind="file", location=text)


def file_head(path: Path, size: int = 12) -> bytes:
    """The first ``size`` bytes of the file at ``path`` (empty when it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def looks_like_mp4(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) starts with an MP4 box."""
    return len(head) >= 8 and head[4:8] in _MP4_BOXES


def stdin_head(stdin: BinaryIO) -> bytes:
    """The first bytes piped into ``stdin``, peeked without consuming them (empty when it cannot peek)."""
    peek = getattr(stdin, "peek", None)
    if peek is None:
        return b""
    try:
        return bytes(peek(12)[:12])
    except (OSError, ValueError):
        return b""


def check_local(target: Target) -> None:
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

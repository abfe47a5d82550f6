"""The cache folder, file digests, and cached folders that appear whole or not at all."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_dir() -> Path:
    """The cache folder: ``$STREAMREID_CACHE``, else ``$XDG_CACHE_HOME/streamreid``, else ``~/.cache/streamreid``."""
    explicit = os.environ.get("STREAMREID_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "streamreid"


def sha256_of(path: str | Path, *, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def staged_folder(target: str | Path) -> Iterator[Path]:
    """A private, empty folder beside ``target`` that becomes ``target`` when the block succeeds.

    Every cached conversion (a detector export, a ReID network converted to OpenVINO) is
    built this way, so processes that build the same thing at once never share a half-made
    folder: each writes its own, the first rename wins and the others' copies are dropped.
    When the block raises, the staging folder is removed and ``target`` is left as it was.

    Args:
        target: The folder to create; its parent is created if needed.

    Yields:
        The staging folder to write into.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield staging
        try:
            staging.rename(target)
        except OSError:
            if not target.exists():  # not another process finishing the same folder first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def staged_file(dest: Path) -> Iterator[Path]:
    """A private ``.part`` file beside ``dest``; the caller moves it onto ``dest``, else it is removed.

    Fetched files are written and checked here first, so a cache never holds a half-written
    or unchecked file under its final name.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(handle)
    part = Path(name)
    try:
        yield part
    finally:
        part.unlink(missing_ok=True)

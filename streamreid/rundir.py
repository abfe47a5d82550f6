"""Names and small I/O helpers for a run directory (layout in docs/OUTPUTS.md)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from streamreid.errors import StoreError
from streamreid.redact import redact
from streamreid.types import VideoInfo

RUN_JSON = "run.json"
STORE = "store.zarr"
MOT = "tracks.mot.txt"
TRACKLET_STATS = "tracklet_stats.json"
TRACKLET_STATS_LOG = "tracklet_stats.jsonl"
GROUPING_LOG = "grouping_log.json"
REID_CANDIDATES = "reid_candidates.json"
CANONICAL_PERSONS = "canonical_persons.json"
CANONICAL_PERSONS_NPZ = "canonical_persons.npz"
RANKING = "ranking_results.json"
EMBEDDINGS = "embeddings.json"
EMBEDDINGS_NPY = "embeddings.npy"
CROP_FEATURES = "crop_features.npz"
SIMILARITY = "similarity_matrix.json"
SIMILARITY_NPY = "similarity_matrix.npy"
MERGE_RECOMMENDATIONS = "merge_recommendations.json"
WEBP_DIR = "webp"
REPORT = "report.html"
SCENE = "scene.jpg"
DECISIONS = "decisions.json"
CROPS_DIR = "crops"
LOCK = ".streamreid.lock"


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def replace_atomically(path: str | Path, write: Callable[[str], None], *, suffix: str = ".tmp") -> Path:
    """Write a file through a temporary sibling and rename it into place.

    Readers never see half a file, and a failed write leaves the old file (if any).
    The file gets the usual permissions (0666 less the umask), like ``open`` would give.

    Args:
        path: The file to (re)place.
        write: Called with the temporary file name; must write the whole content there.
        suffix: Suffix of the temporary name (some writers pick the format from it).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON atomically, so readers never see half a file. NaN and infinities become ``null``."""
    text = json.dumps(_nan_to_none(data), indent=1, default=_default, allow_nan=False) + "\n"
    return replace_atomically(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, np.floating) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return [_nan_to_none(v) for v in value.tolist()]
    return value


def read_json(path: str | Path) -> Any:
    """Read a JSON file of a run, with a one-line error when it is missing or broken."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{path} not found: is {path.parent} a streamreid run directory?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path} is not valid JSON ({brief(exc, 200)})") from None
    except RecursionError:
        raise StoreError(f"{path} is nested too deeply to be a streamreid file") from None
    except IsADirectoryError:
        raise StoreError(f"{path} is a directory, not a file") from None


def read_json_object(path: str | Path) -> dict[str, Any]:
    """:func:`read_json` of a file that must hold a JSON object (run.json, a decisions file)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise StoreError(f"{path} holds a JSON {type(data).__name__}, not an object: is it a streamreid file?")
    return data


def brief(value: Any, limit: int = 80) -> str:
    """``value`` as one short line for a message: at most ``limit`` characters, the rest cut with its size."""
    text = str(value).replace("\n", " ").replace("\r", " ")
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def require_run_dir(path: str | Path) -> Path:
    """Check that ``path`` is a run directory (has run.json), returning it as a Path."""
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise StoreError(f"run directory not found: {run_dir}")
    if not (run_dir / RUN_JSON).is_file():
        raise StoreError(f"{run_dir} is not a streamreid run directory (no {RUN_JSON})")
    check_run_record(read_json(run_dir / RUN_JSON), name=str(run_dir / RUN_JSON))
    return run_dir


#: The parts of run.json that hold objects, and those that hold lists (when present).
_RUN_OBJECTS = ("video", "config", "counts", "detector", "live", "versions", "timings")
_RUN_LISTS = ("notes", "stream_notes")


def check_run_record(meta: Any, *, name: str) -> dict[str, Any]:
    """``run.json``'s document if its shape is one streamreid wrote (a damaged or edited one is refused).

    Raises:
        StoreError: One line naming the first part of the wrong type.
    """
    if not isinstance(meta, dict):
        raise StoreError(f"{name} holds a JSON {type(meta).__name__}, not an object: it is not a streamreid run.json")
    for key, kind in [*((k, dict) for k in _RUN_OBJECTS), *((k, list) for k in _RUN_LISTS)]:
        if key in meta and meta[key] is not None and not isinstance(meta[key], kind):
            raise StoreError(f"{name}: {key!r} must be a JSON {'object' if kind is dict else 'list'}, "
                             f"got {brief(json.dumps(meta[key]), 60)}")  # fmt: skip
    video = meta.get("video")
    if not isinstance(video, dict) or not all(type(video.get(k)) is int for k in ("width", "height")):
        raise StoreError(f"{name}: 'video' must be an object with the frame's width and height")
    unknown = sorted(set(video) - set(VideoInfo.__dataclass_fields__))
    if unknown:
        raise StoreError(f"{name}: 'video' has unknown field {brief(unknown[0], 60)!r}")
    return meta


def default_run_dir(source: str) -> Path:
    """``runs/<name of the source>``, numbered (``-2``, ``-3``, ...) when taken; never holds credentials."""
    if "://" in source:  # a URL: named after the end of its path, else its host
        parts = urlsplit(redact(source))
        stem = Path(parts.path.rstrip("/")).name or parts.hostname or "stream"
    else:
        stem = Path(source.rstrip("/")).stem if source not in ("-", "") else "stdin"
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) or "run"
    base = Path("runs") / stem
    candidate, number = base, 2
    while candidate.exists():
        candidate = base.with_name(f"{stem}-{number}")
        number += 1
    return candidate


class RunDirBusyError(StoreError):
    """Another streamreid process holds the run directory."""


#: Descriptors of the lock files this process holds. A forked child (a worker pool, a library's helper
#: process) closes its copies at once: otherwise it would keep the lock after this process died.
_HELD: set[int] = set()


def _forget_locks_in_child() -> None:
    for fd in _HELD:
        with suppress(OSError):
            os.close(fd)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks_in_child)


@contextmanager
def locked(run_dir: str | Path, *, command: str, writes: bool = True) -> Iterator[Path]:
    """Hold the run directory for this process while ``command`` writes it (or reads what it must not see change).

    An OS lock (``flock``) on ``RUN_DIR/.streamreid.lock``: released when the block ends or the
    process dies, so a killed run leaves no stale lock. The directory is created when missing,
    and removed again if the block leaves nothing in it. With ``writes=False`` (a reader) a
    directory that takes no lock file (read-only) is used unlocked.

    Raises:
        RunDirBusyError: Another process holds it (the message names its pid and command).
    """
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StoreError(f"{run_dir} exists and is not a directory") from None
    except OSError as exc:
        raise StoreError(f"cannot create the run directory {run_dir}: {exc.strerror or exc}") from None
    fd = _take_lock(run_dir, command=command, writes=writes)
    try:
        yield run_dir
    finally:
        if created and [p.name for p in run_dir.iterdir()] == [LOCK]:
            (run_dir / LOCK).unlink(missing_ok=True)
            _remove_empty(run_dir)
        if fd is not None:
            _HELD.discard(fd)
            os.close(fd)


def _take_lock(run_dir: Path, *, command: str, writes: bool) -> int | None:
    """The open, locked lock file of ``run_dir`` (its descriptor), holder noted inside; ``None``: not lockable."""
    path = run_dir / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if not writes:
            return None
        raise StoreError(f"cannot write in the run directory {run_dir}: {exc.strerror or exc}") from None
    if sys.platform == "win32":  # no flock: the directory is not locked there
        return fd
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = brief(os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process", 120)
        os.close(fd)
        raise RunDirBusyError(
            f"{run_dir} is in use by another streamreid ({holder}): wait for it to end, or choose another directory"
        ) from None
    except OSError:  # a file system without locks (some network ones): the directory is not locked there
        return fd
    _HELD.add(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}, streamreid {command}\n".encode(), 0)
    return fd


def _remove_empty(folder: Path) -> None:
    with suppress(OSError):  # someone put something there meanwhile
        folder.rmdir()


@contextmanager
def unchanged_on_failure(run_dir: str | Path) -> Iterator[None]:
    """Undo every change the block makes to the run directory's files if it raises (the store excepted).

    Commands that redo a run's results (``report``, ``apply``) write many files; a failure half way
    (a damaged crop chunk, Ctrl-C) must leave the run as it was, not half redone. The files are
    copied aside first (all but the store, which these commands only read), and put back on failure.
    """
    run_dir = Path(run_dir)
    files, folders = _outputs(run_dir)
    backup = Path(tempfile.mkdtemp(prefix=".undo-", dir=run_dir))
    try:
        for relative in files:
            (backup / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(run_dir / relative, backup / relative)
        yield
    except BaseException:
        now_files, now_folders = _outputs(run_dir)
        for relative in now_files - files:
            (run_dir / relative).unlink(missing_ok=True)
        for relative in files:
            (run_dir / relative).parent.mkdir(parents=True, exist_ok=True)
            os.replace(backup / relative, run_dir / relative)
        for relative in sorted(now_folders - folders, key=lambda f: len(f.parts), reverse=True):
            _remove_empty(run_dir / relative)
        raise
    finally:
        shutil.rmtree(backup, ignore_errors=True)


def _outputs(run_dir: Path) -> tuple[set[Path], set[Path]]:
    """Files and folders of a run directory outside its store, relative (hidden ones left out: lock, temporaries)."""
    files, folders = set(), set()
    for path in run_dir.rglob("*"):
        relative = path.relative_to(run_dir)
        if relative.parts[0] == STORE or any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_dir() and not path.is_symlink():
            folders.add(relative)
        elif path.is_file():
            files.add(relative)
    return files, folders

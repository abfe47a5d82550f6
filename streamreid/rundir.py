"""Names and small I/O helpers for a run directory (layout in docs/OUTPUTS.md)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from streamreid.errors import StoreError
from streamreid.redact import redact

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
        raise StoreError(f"{path} is not valid JSON ({exc})") from None


def require_run_dir(path: str | Path) -> Path:
    """Check that ``path`` is a run directory (has run.json), returning it as a Path."""
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise StoreError(f"run directory not found: {run_dir}")
    if not (run_dir / RUN_JSON).is_file():
        raise StoreError(f"{run_dir} is not a streamreid run directory (no {RUN_JSON})")
    return run_dir


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

"""Checkpoints of the tracklets still on screen: their statistics and best crops so far.

A finished tracklet goes to the stats log and the crop store at once; a live one
exists only in RAM until it ends, which for a person standing in view of a camera
may be hours. :func:`write_checkpoint` saves every live tracklet's statistics and a
bounded set of its crops (its best-K and an evenly thinned animation) into one file,
replaced atomically, so the periodic report shows the people on screen now and a
killed run's rebuilt report still has them. :func:`read_checkpoint` reads it back;
readers take from it only the tracklets the log and the store do not hold.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from streamreid import rundir
from streamreid.run.store_layout import CROP_COLUMNS, crop_rows
from streamreid.stream.reservoir import ANIMATION, BEST
from streamreid.types import CropSample, TrackletStats

CHECKPOINT = "live_tracklets.npz"
"""Name of the checkpoint file inside a run directory."""

#: Animation crops kept per live tracklet in a checkpoint (its best-K crops are all kept).
ANIMATION_CROPS = 16


def _thinned(samples: Sequence[CropSample], buffers: Sequence[int]) -> tuple[list[CropSample], list[int]]:
    """Every best crop, and at most :data:`ANIMATION_CROPS` animation-only crops spread evenly over time."""
    animation_only = [i for i, flags in enumerate(buffers) if flags & ANIMATION and not flags & BEST]
    step = max(1, -(-len(animation_only) // ANIMATION_CROPS))
    chosen = set(animation_only[::step]) | {i for i, flags in enumerate(buffers) if flags & BEST}
    order = sorted(chosen)
    return [samples[i] for i in order], [buffers[i] for i in order]


def write_checkpoint(
    run_dir: str | Path,
    stats: Sequence[TrackletStats],
    crops: Mapping[int, tuple[Sequence[CropSample], Sequence[int]]],
    *,
    crop_shape: tuple[int, int],
) -> Path:
    """Save the live tracklets' statistics and thinned crops, replacing any older checkpoint atomically.

    Args:
        run_dir: The run directory.
        stats: Statistics so far of each live tracklet.
        crops: Tracker id to its kept crops and their buffer flags (as the reservoirs hold them).
        crop_shape: ``(height, width)`` of every crop (for an empty checkpoint).

    Returns:
        The checkpoint's path.
    """
    parts = [crop_rows(tid, *_thinned(samples, flags)) for tid, (samples, flags) in crops.items() if samples]
    height, width = crop_shape
    empty = {"images": np.zeros((0, height, width, 3), np.uint8)}
    empty.update({name: np.zeros((0, *tail), dtype) for name, (dtype, tail) in CROP_COLUMNS.items()})
    arrays = {name: np.concatenate([part[name] for part in parts]) if parts else empty[name] for name in empty}
    text = json.dumps([item.to_dict() for item in stats])
    buffer = io.BytesIO()
    np.savez(buffer, stats=np.frombuffer(text.encode(), dtype=np.uint8), **arrays)  # crops barely compress: raw
    path = Path(run_dir) / CHECKPOINT
    return rundir.replace_atomically(path, lambda tmp: Path(tmp).write_bytes(buffer.getvalue()))


def read_checkpoint(run_dir: str | Path) -> tuple[list[TrackletStats], dict[str, np.ndarray]]:
    """The checkpointed live tracklets: their statistics and crop rows (empty when there is none).

    A damaged checkpoint (a disk that filled up) reads as empty: it only ever adds to what
    the log and the store hold.
    """
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        return [], {}
    try:
        with np.load(path) as data:
            stats = [TrackletStats.from_dict(item) for item in json.loads(data["stats"].tobytes().decode())]
            rows = {name: data[name] for name in ("images", *CROP_COLUMNS)}
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError, zipfile.BadZipFile):
        return [], {}
    return stats, rows


def clear_checkpoint(run_dir: str | Path) -> None:
    """Remove the checkpoint (every live tracklet has ended and been written)."""
    (Path(run_dir) / CHECKPOINT).unlink(missing_ok=True)

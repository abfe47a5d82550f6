"""The crop store's writer: an append-only Zarr v3 sink written during the run, and its retention.

The layout is :mod:`streamreid.run.store_layout`; the reader, :mod:`streamreid.run.store_reader`.

Writing. Rows are buffered in memory and written when a whole image shard (for
detections: a whole chunk of rows) is full, so those are written once;
:meth:`CropStore.flush` also writes the partial last shard/chunk, which is
rewritten when more rows arrive. With 8 crops per inner chunk only the last
inner chunk and the new crops are compressed again (a flush costs tens of
milliseconds, not a recompression of ``chunk_crops`` crops), and reading a crop
decodes only its own inner chunk. Arrays grow
by ``resize`` in whole chunks, doubling, so their shape runs ahead of the data
while writing (it is trimmed on close). After the arrays of a write are on
disk, the new row counts are committed with one update of the root attributes.
Zarr replaces every key atomically (a temporary file, then a rename), so a
process killed at any moment leaves a store whose committed counts are covered
by data on disk; the reader reads ``num_crops`` and ``num_detections`` rows and
ignores the rest. A flush costs one write per array (run concurrently) plus
that one attribute update.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from streamreid.errors import StoreError
from streamreid.run.store_layout import (
    CROP_COLUMNS,
    CROPS_PER_IMAGE_CHUNK,
    DETECTION_COLUMNS,
    FORMAT,
    FORMAT_VERSION,
    crop_rows,
)
from streamreid.stream.quality import COLUMNS as QUALITY_COLUMNS
from streamreid.stream.reservoir import ANIMATION, BEST
from streamreid.types import CropSample

# Crops are photographs: lossless compression gains little on them (Blosc zstd level 3: 1.42x, at 1.6 ms of CPU a
# crop on the development machine; plain Zstd level 2: 1.38x at 0.7 ms, most of it zarr's own). Readers take
# whichever codec a store names.
_IMAGE_CODECS = (ZstdCodec(level=2),)
_METADATA_CODECS = (ZstdCodec(level=3),)
_WRITE_THREADS = 8
_CROP_METADATA_CHUNK_ROWS = 4096  # far fewer crops than detections: small chunks keep flushes cheap


class _AppendTable:
    """Arrays of one group that grow together by whole rows, buffered in memory until a chunk fills."""

    def __init__(self, group: zarr.Group, columns: dict[str, tuple[str, tuple[int, ...]]], *, chunk_rows: int):
        self.columns = columns
        self.chunk_rows = chunk_rows
        self.arrays = {name: group[name] for name in columns}
        self.written = 0
        self.capacity = 0
        self._pending: dict[str, list[np.ndarray]] = {name: [] for name in columns}
        self._pending_rows = 0
        self.first_row = 0  # rows before this were dropped by retention (a multiple of chunk_rows)
        self.dropped_rows = 0
        self.unit_times: dict[int, float] = {}  # latest time in each chunk of rows still kept

    @property
    def rows(self) -> int:
        return self.written + self._pending_rows

    @property
    def chunk_full(self) -> bool:
        return self.rows // self.chunk_rows > self.written // self.chunk_rows

    def append(self, values: dict[str, np.ndarray]) -> None:
        count = len(next(iter(values.values())))
        if count == 0:
            return
        blocks = {}
        for name, (dtype, tail) in self.columns.items():
            block = np.ascontiguousarray(values[name], dtype=dtype)
            if block.shape != (count, *tail):
                raise ValueError(f"{name} must have shape {(count, *tail)}, got {block.shape}")
            blocks[name] = block
        for name, block in blocks.items():
            self._pending[name].append(block)
        start = self.rows
        times = blocks["time"]
        for unit in range(start // self.chunk_rows, (start + count - 1) // self.chunk_rows + 1):
            low, high = max(unit * self.chunk_rows - start, 0), min((unit + 1) * self.chunk_rows - start, count)
            latest = float(times[low:high].max())
            self.unit_times[unit] = max(self.unit_times.get(unit, latest), latest)
        self._pending_rows += count

    def oldest_droppable(self) -> tuple[int, float] | None:
        """The oldest whole chunk of written rows still kept, with its latest time (never the last chunk)."""
        unit = self.first_row // self.chunk_rows
        if (unit + 1) * self.chunk_rows >= self.written or unit not in self.unit_times:
            return None
        return unit, self.unit_times[unit]

    def drop_oldest(self, folder: Path) -> int:
        """Delete the oldest kept chunk of rows from disk; returns the bytes freed."""
        unit = self.first_row // self.chunk_rows
        self.first_row = (unit + 1) * self.chunk_rows
        self.dropped_rows += self.chunk_rows
        self.unit_times.pop(unit, None)
        freed = 0
        for name, array in self.arrays.items():
            rows_per_file = (array.shards or array.chunks)[0]
            # a file goes once every row it holds is before first_row
            for index in range((self.first_row - self.chunk_rows) // rows_per_file, self.first_row // rows_per_file):
                chunk = folder / name / "c" / str(index)
                if chunk.is_dir():
                    freed += _directory_size(chunk)
                    shutil.rmtree(chunk, ignore_errors=True)
                elif chunk.is_file():
                    freed += chunk.stat().st_size
                    chunk.unlink(missing_ok=True)
        return freed

    def write(self, run: Callable[[list[Callable[[], Any]]], None], *, whole_chunks_only: bool) -> bool:
        """Write pending rows (up to the last whole chunk, or all); True when anything was written."""
        end = self.rows // self.chunk_rows * self.chunk_rows if whole_chunks_only else self.rows
        count = end - self.written
        if count <= 0:
            return False
        if end > self.capacity:
            whole_chunks = -(-end // self.chunk_rows) * self.chunk_rows
            self.resize(run, max(whole_chunks, 2 * self.capacity))
        joined = {name: np.concatenate(pending) for name, pending in self._pending.items()}
        run([_setter(self.arrays[name], self.written, end, data[:count]) for name, data in joined.items()])
        # Only now forget the rows: a failed write (disk full) leaves them pending for the next try.
        self._pending = {name: [data[count:].copy()] if count < len(data) else [] for name, data in joined.items()}
        self._pending_rows -= count
        self.written = end
        return True

    def resize(self, run: Callable[[list[Callable[[], Any]]], None], rows: int) -> None:
        run([_resizer(self.arrays[name], (rows, *tail)) for name, (_, tail) in self.columns.items()])
        self.capacity = rows


def _setter(array: zarr.Array, start: int, stop: int, data: np.ndarray) -> Callable[[], None]:
    def set_rows() -> None:
        array[start:stop] = data

    return set_rows


def _resizer(array: zarr.Array, shape: tuple[int, ...]) -> Callable[[], None]:
    return lambda: array.resize(shape)


class CropStore:
    """Append-only sink for detections and kept crops (see the module docstring for the layout).

    Use it as a context manager; leaving the block closes the store, and marks it
    complete unless the block raised. An existing store at ``path`` is replaced.

    Args:
        path: The store directory (normally ``RUN_DIR/store.zarr``).
        crop_height: Height of every crop.
        crop_width: Width of every crop.
        chunk_crops: Crops per image shard (and per write while not flushing); shards hold chunks of 8 crops.
        chunk_rows: Rows per chunk of the detection arrays (crop metadata: at most 4096).

    Raises:
        StoreError: ``path`` exists and is neither an empty directory nor a Zarr store.
        ValueError: A size is not positive.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        crop_height: int = 256,
        crop_width: int = 128,
        chunk_crops: int = 64,
        chunk_rows: int = 65536,
    ):
        _check_sizes(crop_height=crop_height, crop_width=crop_width, chunk_crops=chunk_crops, chunk_rows=chunk_rows)
        self.path = Path(path)
        self.crop_height = int(crop_height)
        self.crop_width = int(crop_width)
        self._closed = False
        _clear_old_store(self.path)
        self._root = _create_root(self.path, crop_height=self.crop_height, crop_width=self.crop_width)
        detections = self._root.create_group("detections")
        _create_arrays(detections, DETECTION_COLUMNS, chunk_rows=chunk_rows)
        crops = self._root.create_group("crops")
        image_tail = (self.crop_height, self.crop_width, 3)
        crops.create_array(
            "images",
            shape=(0, *image_tail),
            dtype="uint8",
            chunks=(math.gcd(chunk_crops, CROPS_PER_IMAGE_CHUNK), *image_tail),
            shards=(chunk_crops, *image_tail),
            compressors=_IMAGE_CODECS,
            fill_value=0,
        )
        _create_arrays(crops, CROP_COLUMNS, chunk_rows=min(chunk_rows, _CROP_METADATA_CHUNK_ROWS))
        self._pool = ThreadPoolExecutor(max_workers=_WRITE_THREADS, thread_name_prefix="crop-store")
        self._detections = _AppendTable(detections, DETECTION_COLUMNS, chunk_rows=chunk_rows)
        self._crops = _AppendTable(crops, {"images": ("uint8", image_tail), **CROP_COLUMNS}, chunk_rows=chunk_crops)
        self._dropped: dict[str, Any] = {"crops": 0, "detections": 0, "bytes": 0, "until_time": None}

    def __enter__(self) -> CropStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._closed:
            self.close(complete=exc_type is None)

    @property
    def num_crops(self) -> int:
        """Crops appended so far (written or buffered)."""
        return self._crops.rows

    @property
    def num_detections(self) -> int:
        """Detections appended so far (written or buffered)."""
        return self._detections.rows

    @property
    def bytes_on_disk(self) -> int:
        """Total size of the files of the store."""
        return _directory_size(self.path)

    def append_detections(
        self,
        *,
        frame_index: int | np.ndarray,
        time: float | np.ndarray,
        tracker_id: np.ndarray,
        xyxy: np.ndarray,
        confidence: np.ndarray | None,
    ) -> None:
        """Buffer tracked detections, of one frame (scalar ``frame_index``/``time``) or many.

        Args:
            frame_index: Frame of each detection, or one frame for all.
            time: Time in seconds of each detection, or one time for all.
            tracker_id: Tracker id of each detection ``(N,)``.
            xyxy: Boxes ``(N, 4)``.
            confidence: Confidences ``(N,)``; ``None`` stores NaN.
        """
        self._check_open()
        ids = np.asarray(tracker_id).reshape(-1)
        count = len(ids)
        self._detections.append(
            {
                "frame_index": np.broadcast_to(np.asarray(frame_index), (count,)),
                "time": np.broadcast_to(np.asarray(time), (count,)),
                "tracker_id": ids,
                "xyxy": np.asarray(xyxy).reshape(count, 4),
                "confidence": np.full(count, np.nan) if confidence is None else np.asarray(confidence).reshape(-1),
            }
        )
        if self._detections.chunk_full:
            self._write(whole_chunks_only=True)

    def write_tracklet(self, tracker_id: int, samples: Sequence[CropSample], buffers: Sequence[int]) -> None:
        """Buffer the kept crops of one finished tracklet, ranking them by score (0 = best).

        Args:
            tracker_id: The tracklet.
            samples: Its crops, as :meth:`TrackletReservoir.samples` returns them.
            buffers: The buffer flags of each crop.

        Raises:
            ValueError: Lengths differ or a crop has the wrong size.
        """
        self._check_open()
        if not samples and not buffers:
            return
        self._crops.append(crop_rows(tracker_id, samples, buffers))
        if self._crops.chunk_full:
            self._write(whole_chunks_only=True)

    def flush(self) -> None:
        """Write everything buffered, partial chunks included; the store on disk then holds all appended so far."""
        self._check_open()
        self._write(whole_chunks_only=False)

    def close(self, *, complete: bool = True) -> None:
        """Flush and write the final attributes.

        Args:
            complete: Mark the store complete (``False`` for an interrupted run).
        """
        if self._closed:
            return
        try:
            self._write(whole_chunks_only=False)
            for table in (self._detections, self._crops):
                table.resize(self._run, table.written)  # trim the room grown ahead
            self._root.attrs.update({"complete": bool(complete)})
        finally:
            self._closed = True
            self._pool.shutdown(wait=True)

    def retain(self, *, after_time: float | None = None, max_bytes: int | None = None) -> dict[str, Any]:
        """Drop the oldest data: every whole chunk older than ``after_time``, then more until under ``max_bytes``.

        Data goes in whole chunks (64 crops, 65536 detections), oldest first, never the
        chunk being written; readers then start at the first kept row. What was dropped
        is recorded in the store's attributes (``dropped``) and returned.

        Args:
            after_time: Keep what is newer than this stream time (seconds); ``None``: no age limit.
            max_bytes: Keep the store under this size; ``None``: no size limit.

        Returns:
            ``{"crops", "detections", "bytes", "until_time"}``: the totals dropped so far.
        """
        self._check_open()
        tables = {"crops": self._crops, "detections": self._detections}
        size = self.bytes_on_disk if max_bytes is not None else 0
        changed = False
        while True:
            candidates = [(t[1], name) for name, table in tables.items() if (t := table.oldest_droppable())]
            if not candidates:
                break
            latest, name = min(candidates)
            too_old = after_time is not None and latest < after_time
            too_big = max_bytes is not None and size > max_bytes
            if not (too_old or too_big):
                break
            freed = tables[name].drop_oldest(self.path / name)
            size -= freed
            self._dropped["bytes"] += freed
            self._dropped["until_time"] = max(self._dropped["until_time"] or latest, latest)
            changed = True
        self._dropped.update(crops=self._crops.dropped_rows, detections=self._detections.dropped_rows)
        if changed:
            kept_from = {"crops_from": self._crops.first_row, "detections_from": self._detections.first_row}
            self._root.attrs.update({**kept_from, "dropped": dict(self._dropped)})
        return dict(self._dropped)

    def _write(self, *, whole_chunks_only: bool) -> None:
        wrote_detections = self._detections.write(self._run, whole_chunks_only=whole_chunks_only)
        wrote_crops = self._crops.write(self._run, whole_chunks_only=whole_chunks_only)
        if wrote_detections or wrote_crops:
            self._root.attrs.update({"num_detections": self._detections.written, "num_crops": self._crops.written})

    def _run(self, tasks: list[Callable[[], Any]]) -> None:
        """Run independent array operations concurrently (each is mostly waiting on the disk)."""
        for future in [self._pool.submit(task) for task in tasks]:
            future.result()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"crop store {self.path} is closed")


class Retention:
    """When and how much the pipeline drops from the store (``store.retain_s``, ``store.max_gb``).

    Args:
        retain_s: Keep the last this-many seconds of video; ``None``: no age limit.
        max_gb: Keep the store under this many GB; ``None``: no size limit.
        every_s: Wall-clock seconds between two checks (a size check walks the store).
    """

    def __init__(self, *, retain_s: float | None, max_gb: float | None, every_s: float = 10.0) -> None:
        self.retain_s = retain_s
        self.max_bytes = None if max_gb is None else int(max_gb * 1e9)
        self.every_s = every_s
        self.dropped: dict[str, Any] = {}
        self._last = time.monotonic()

    def due(self) -> bool:
        """A limit is set and the last check is ``every_s`` old."""
        if self.retain_s is None and self.max_bytes is None:
            return False
        return time.monotonic() - self._last >= self.every_s

    def apply(self, store: CropStore, *, now: float) -> None:
        """Drop what is older than ``now - retain_s`` and whatever else keeps the store over the size limit."""
        self._last = time.monotonic()
        after = None if self.retain_s is None else now - self.retain_s
        self.dropped = store.retain(after_time=after, max_bytes=self.max_bytes)

    def note(self) -> str:
        """One line for the user on what was dropped."""
        megabytes = self.dropped.get("bytes", 0) / 1e6
        return (
            f"store retention dropped {self.dropped.get('crops', 0)} crops and {self.dropped.get('detections', 0)} "
            f"detections ({megabytes:.0f} MB) from before {self.dropped.get('until_time') or 0:.0f} s of video"
        )


def _check_sizes(**sizes: int) -> None:
    """Refuse a size that is not positive."""
    for name, value in sizes.items():
        if value < 1:
            raise ValueError(f"{name} must be positive, got {value}")


def _create_root(path: Path, *, crop_height: int, crop_width: int) -> zarr.Group:
    """A new, empty store's root group, with its attributes (no rows committed, not complete)."""
    root = zarr.open_group(store=str(path), mode="w", zarr_format=3)
    root.attrs.update(
        {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "crop_height": crop_height,
            "crop_width": crop_width,
            "buffers": {"best": BEST, "animation": ANIMATION},
            "num_detections": 0,
            "num_crops": 0,
            "complete": False,
        }
    )
    return root


def _create_arrays(group: zarr.Group, columns: dict[str, tuple[str, tuple[int, ...]]], *, chunk_rows: int) -> None:
    """Empty metadata arrays in ``group``, one per column, in chunks of ``chunk_rows`` rows."""
    for column, (dtype, tail) in columns.items():
        group.create_array(
            column,
            shape=(0, *tail),
            dtype=dtype,
            chunks=(chunk_rows, *tail),
            compressors=_METADATA_CODECS,
            fill_value=0,
            attributes={"columns": list(QUALITY_COLUMNS)} if column == "quality" else None,
        )


def _clear_old_store(path: Path) -> None:
    if not path.exists():
        return
    if path.is_dir() and ((path / "zarr.json").is_file() or not any(path.iterdir())):
        shutil.rmtree(path)
        return
    raise StoreError(f"cannot create the crop store: {path} exists and is not a Zarr store")


def _directory_size(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except FileNotFoundError:  # a temporary file renamed meanwhile
                continue
    return total

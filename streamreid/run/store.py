"""The crop store: an append-only Zarr v3 sink written during the run, and its reader.

Layout of ``RUN_DIR/store.zarr`` (Zarr v3, local directory)::

    store.zarr/                    root group; attributes:
        format: "streamreid-crop-store", version: 1,
        crop_height, crop_width    size of every crop
        buffers: {"best": 1, "animation": 2}   bit flags used in crops/buffers
        num_detections, num_crops  rows committed by the last write: the truth (see below)
        complete                   false while writing, true after a normal close()
      detections/                  every tracked detection, one row each, in arrival order
        frame_index  (R,)   int64     chunks (chunk_rows,), zstd
        time         (R,)   float64
        tracker_id   (R,)   int64
        xyxy         (R, 4) float32   chunks (chunk_rows, 4)
        confidence   (R,)   float32
      crops/                       kept crops, tracklet after tracklet, each in time order
        images       (N, H, W, 3) uint8 BGR   shards (chunk_crops, H, W, 3) of chunks
                                              (8, H, W, 3), Blosc zstd level 3
        tracker_id   (N,)   int64             metadata chunks (min(chunk_rows, 4096), ...), zstd
        frame_index  (N,)   int64
        time         (N,)   float64
        xyxy         (N, 4) float32           box in the source frame
        quality      (N, 7) float32           attribute "columns": confidence, size, aspect,
                                              truncation, occlusion, sharpness, score
        rank         (N,)   int32             place in its tracklet by score (0 = best)
        buffers      (N,)   uint8             BEST = 1 | ANIMATION = 2 (streamreid.stream.reservoir)

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
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec, BloscShuffle, ZstdCodec

from streamreid.errors import StoreError
from streamreid.rundir import brief
from streamreid.stream.quality import COLUMNS as QUALITY_COLUMNS
from streamreid.stream.reservoir import ANIMATION, BEST
from streamreid.types import CropSample

STORE_NAME = "store.zarr"
"""Name of the store directory inside a run directory."""

FORMAT = "streamreid-crop-store"
FORMAT_VERSION = 1

BUFFER_FLAGS = {"best": BEST, "animation": ANIMATION, "any": BEST | ANIMATION}
"""Buffer names accepted by :meth:`StoreReader.crops_for` and their flags."""

DETECTION_COLUMNS: dict[str, tuple[str, tuple[int, ...]]] = {
    "frame_index": ("int64", ()),
    "time": ("float64", ()),
    "tracker_id": ("int64", ()),
    "xyxy": ("float32", (4,)),
    "confidence": ("float32", ()),
}
"""Arrays of the ``detections`` group: dtype and shape after the row axis."""

CROP_COLUMNS: dict[str, tuple[str, tuple[int, ...]]] = {
    "tracker_id": ("int64", ()),
    "frame_index": ("int64", ()),
    "time": ("float64", ()),
    "xyxy": ("float32", (4,)),
    "quality": ("float32", (len(QUALITY_COLUMNS),)),
    "rank": ("int32", ()),
    "buffers": ("uint8", ()),
}
"""Metadata arrays of the ``crops`` group (besides ``images``)."""

_IMAGE_CODECS = (BloscCodec(cname="zstd", clevel=3, shuffle=BloscShuffle.noshuffle),)
_METADATA_CODECS = (ZstdCodec(level=3),)
_WRITE_THREADS = 8
_CROPS_PER_IMAGE_CHUNK = 8
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
        for name, value in (
            ("crop_height", crop_height),
            ("crop_width", crop_width),
            ("chunk_crops", chunk_crops),
            ("chunk_rows", chunk_rows),
        ):
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        self.path = Path(path)
        self.crop_height = int(crop_height)
        self.crop_width = int(crop_width)
        self._closed = False
        _clear_old_store(self.path)
        root = zarr.open_group(store=str(self.path), mode="w", zarr_format=3)
        root.attrs.update(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "crop_height": self.crop_height,
                "crop_width": self.crop_width,
                "buffers": {"best": BEST, "animation": ANIMATION},
                "num_detections": 0,
                "num_crops": 0,
                "complete": False,
            }
        )
        self._root = root
        detections = root.create_group("detections")
        for name, (dtype, tail) in DETECTION_COLUMNS.items():
            detections.create_array(
                name,
                shape=(0, *tail),
                dtype=dtype,
                chunks=(chunk_rows, *tail),
                compressors=_METADATA_CODECS,
                fill_value=0,
            )
        crops = root.create_group("crops")
        image_tail = (self.crop_height, self.crop_width, 3)
        crops.create_array(
            "images",
            shape=(0, *image_tail),
            dtype="uint8",
            chunks=(math.gcd(chunk_crops, _CROPS_PER_IMAGE_CHUNK), *image_tail),
            shards=(chunk_crops, *image_tail),
            compressors=_IMAGE_CODECS,
            fill_value=0,
        )
        for name, (dtype, tail) in CROP_COLUMNS.items():
            crops.create_array(
                name,
                shape=(0, *tail),
                dtype=dtype,
                chunks=(min(chunk_rows, _CROP_METADATA_CHUNK_ROWS), *tail),
                compressors=_METADATA_CODECS,
                fill_value=0,
                attributes={"columns": list(QUALITY_COLUMNS)} if name == "quality" else None,
            )
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


def crop_rows(tracker_id: int, samples: Sequence[CropSample], buffers: Sequence[int]) -> dict[str, np.ndarray]:
    """The store rows of one tracklet's crops: ``images`` and every :data:`CROP_COLUMNS` array, ranked by score.

    Raises:
        ValueError: Lengths differ.
    """
    if len(samples) != len(buffers):
        raise ValueError(f"{len(samples)} samples but {len(buffers)} buffer flags")
    scores = np.array([s.quality.score for s in samples], dtype=np.float32)
    frames = np.array([s.frame_index for s in samples], dtype=np.int64)
    order = np.lexsort((frames, -scores))
    rank = np.empty(len(samples), dtype=np.int32)
    rank[order] = np.arange(len(samples), dtype=np.int32)
    quality = np.array([[getattr(s.quality, name) for name in QUALITY_COLUMNS] for s in samples], np.float32)
    return {
        "images": np.stack([s.image for s in samples]),
        "tracker_id": np.full(len(samples), int(tracker_id), dtype=np.int64),
        "frame_index": frames,
        "time": np.array([s.time for s in samples], dtype=np.float64),
        "xyxy": np.array([s.xyxy for s in samples], dtype=np.float32).reshape(-1, 4),
        "quality": quality.reshape(-1, len(QUALITY_COLUMNS)),
        "rank": rank,
        "buffers": np.asarray(buffers, dtype=np.uint8),
    }


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


def open_store(path: str | Path) -> StoreReader:
    """Open a crop store for reading.

    Args:
        path: The store directory, or a run directory that holds ``store.zarr``.

    Returns:
        A reader over everything committed (all of it after a clean close).

    Raises:
        StoreError: There is no store at ``path`` or it is not a streamreid crop store.
    """
    location = Path(path)
    if (location / STORE_NAME).is_dir():
        location = location / STORE_NAME
    if not location.is_dir():
        raise StoreError(f"no crop store at {location}")
    try:
        root = zarr.open_group(store=str(location), mode="r", zarr_format=3)
        attrs = dict(root.attrs)
        if attrs.get("format") != FORMAT:
            raise KeyError("format")
        detections, crops = root["detections"], root["crops"]
        arrays = {
            "detections": {name: detections[name] for name in DETECTION_COLUMNS},
            "crops": {name: crops[name] for name in ("images", *CROP_COLUMNS)},
        }
    except Exception:  # noqa: BLE001 - any failure means the same thing to the user
        raise StoreError(f"{location} is not a streamreid crop store (or it is damaged)") from None
    return StoreReader(location, attrs=attrs, arrays=arrays)


@contextmanager
def _damage_is_a_store_error(path: Path, what: str) -> Iterator[None]:
    """A chunk that fails its checksum or does not decompress: one line naming the store, not a traceback."""
    try:
        yield
    except (ValueError, RuntimeError, OSError) as exc:  # zarr: checksum mismatch; blosc: cannot decompress
        raise StoreError(f"{path} is damaged: its {what} cannot be read ({brief(exc, 100)})") from None


class StoreReader:
    """Read access to a crop store; make one with :func:`open_store`.

    Attributes:
        path: The store directory.
        complete: True when the writer closed the store normally.
        crop_height: Height of every crop.
        crop_width: Width of every crop.
        num_crops: Crops committed.
        num_detections: Detections committed.
    """

    def __init__(self, path: Path, *, attrs: dict, arrays: dict[str, dict[str, zarr.Array]]):
        self.path = path
        self.complete = bool(attrs.get("complete", False))
        self.crop_height = int(attrs["crop_height"])
        self.crop_width = int(attrs["crop_width"])
        self._detection_arrays = arrays["detections"]
        self._crop_arrays = arrays["crops"]
        self.num_detections = min(
            int(attrs.get("num_detections", 0)), *(a.shape[0] for a in self._detection_arrays.values())
        )
        self.num_crops = min(int(attrs.get("num_crops", 0)), *(a.shape[0] for a in self._crop_arrays.values()))
        # retention dropped the rows before these (see CropStore.retain)
        self.crops_from = min(int(attrs.get("crops_from", 0)), self.num_crops)
        self.detections_from = min(int(attrs.get("detections_from", 0)), self.num_detections)
        self.dropped: dict[str, Any] = dict(attrs.get("dropped") or {})
        self._metadata: dict[str, np.ndarray] | None = None
        self._provisional: dict[str, np.ndarray] | None = None  # crops of tracklets still live (a checkpoint)

    def add_provisional(self, rows: dict[str, np.ndarray]) -> int:
        """Serve the checkpointed crops of tracklets that were still live, after the committed ones.

        Rows of tracker ids that already have crops in the store are left out (those
        tracklets ended and were written since), so nothing is served twice.

        Args:
            rows: ``images`` and the :data:`CROP_COLUMNS` arrays, as :func:`crop_rows` makes them.

        Returns:
            The number of crops added.
        """
        stored = self._crop_arrays["tracker_id"][self.crops_from : self.num_crops]
        keep = ~np.isin(rows["tracker_id"], stored)
        if not keep.any():
            return 0
        self._provisional = {name: np.asarray(values)[keep] for name, values in rows.items()}
        self._metadata = None
        return int(keep.sum())

    def detections(self, *, since: float | None = None) -> dict[str, np.ndarray]:
        """Committed detections: ``frame_index``, ``time``, ``tracker_id``, ``xyxy``, ``confidence``.

        Args:
            since: Only from about this stream time on (whole chunks: a few earlier rows
                may come too); ``None``: every row retention kept. Reads O(window), not O(run).
        """
        start = self.detections_from if since is None else self._first_detection_row(since)
        with _damage_is_a_store_error(self.path, "detections"):
            return {name: array[start : self.num_detections] for name, array in self._detection_arrays.items()}

    def last_frame_index(self) -> int | None:
        """Frame index of the last committed detection (rows are in frame order), ``None`` when there is none."""
        if self.num_detections <= self.detections_from:
            return None
        return int(self._detection_arrays["frame_index"][self.num_detections - 1])

    def last_time(self) -> float | None:
        """Stream time of the last committed detection (rows are in time order), ``None`` when there is none."""
        if self.num_detections <= self.detections_from:
            return None
        return float(self._detection_arrays["time"][self.num_detections - 1])

    def _first_detection_row(self, since: float) -> int:
        """Start of the chunk of detections that holds the first row at or after ``since`` (rows are in time order)."""
        times = self._detection_arrays["time"]
        step = times.chunks[0]
        low, high = self.detections_from // step, max(self.detections_from // step, (self.num_detections - 1) // step)
        while low < high:  # the last chunk whose first time is before ``since``
            middle = (low + high + 1) // 2
            if float(times[middle * step]) < since:
                low = middle
            else:
                high = middle - 1
        return max(low * step, self.detections_from)

    def crop_metadata(self) -> dict[str, np.ndarray]:
        """Metadata of every committed crop, one row per crop in store order.

        Keys: ``index`` (row in the image array), ``tracker_id``, ``frame_index``,
        ``time``, ``xyxy``, ``confidence``, ``size``, ``aspect``, ``truncation``,
        ``occlusion``, ``sharpness``, ``score``, ``rank``, ``buffers``.
        """
        return {name: values.copy() for name, values in self._load_metadata().items()}

    def _load_metadata(self) -> dict[str, np.ndarray]:
        if self._metadata is None:
            extra = self._provisional or {}
            total = self.num_crops + len(extra.get("tracker_id", ()))
            metadata = {"index": np.arange(self.crops_from, total, dtype=np.int64)}
            for name in CROP_COLUMNS:
                with _damage_is_a_store_error(self.path, "crops"):
                    values = self._crop_arrays[name][self.crops_from : self.num_crops]
                if extra:
                    values = np.concatenate([values, extra[name].astype(values.dtype)])
                if name == "quality":
                    metadata.update({column: values[:, i] for i, column in enumerate(QUALITY_COLUMNS)})
                else:
                    metadata[name] = values
            self._metadata = metadata
        return self._metadata

    def tracker_ids(self) -> np.ndarray:
        """Tracker ids that have crops, ascending."""
        return np.unique(self._load_metadata()["tracker_id"])

    def images(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Crops at the given rows, in the given order, ``(N, H, W, 3)`` uint8 BGR."""
        rows = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(rows) == 0:
            return np.empty((0, self.crop_height, self.crop_width, 3), dtype=np.uint8)
        extra = self._provisional["images"] if self._provisional else None
        total = self.num_crops + (len(extra) if extra is not None else 0)
        if rows.min() < self.crops_from or rows.max() >= total:
            raise IndexError(f"crop rows must be in [{self.crops_from}, {total}), got {rows.min()}..{rows.max()}")
        if extra is not None and rows.max() >= self.num_crops:
            stored = rows < self.num_crops
            images = np.empty((len(rows), self.crop_height, self.crop_width, 3), dtype=np.uint8)
            images[stored] = self.images(rows[stored])
            images[~stored] = extra[rows[~stored] - self.num_crops]
            return images
        unique, inverse = np.unique(rows, return_inverse=True)
        # Read runs of nearby rows as slices: much faster than Zarr's orthogonal indexing on shards.
        runs = np.split(unique, np.flatnonzero(np.diff(unique) > _CROPS_PER_IMAGE_CHUNK) + 1)
        array = self._crop_arrays["images"]
        with _damage_is_a_store_error(self.path, "crops"):
            images = np.concatenate([array[run[0] : run[-1] + 1][run - run[0]] for run in runs])
        return images[inverse]

    def crops_for(
        self,
        tracker_ids: Iterable[int],
        *,
        buffer: str = "best",
        limit: int | None = None,
        order: str = "score",
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Crops of one or more tracklets (e.g. the tracklets of one person).

        Args:
            tracker_ids: The tracklets.
            buffer: ``"best"``, ``"animation"`` or ``"any"``.
            limit: Keep at most this many, after ordering across all the tracklets.
            order: ``"score"`` (best first; ties by time) or ``"time"`` (earliest first).

        Returns:
            ``(N, H, W, 3)`` uint8 BGR crops and their metadata rows (keys of :meth:`crop_metadata`).

        Raises:
            ValueError: Unknown ``buffer`` or ``order``, or a negative ``limit``.
        """
        rows = self.crop_rows_for(tracker_ids, buffer=buffer, limit=limit, order=order)
        return self.images(rows["index"]), rows

    def crop_rows_for(
        self,
        tracker_ids: Iterable[int],
        *,
        buffer: str = "best",
        limit: int | None = None,
        order: str = "score",
    ) -> dict[str, np.ndarray]:
        """The metadata rows :meth:`crops_for` would return, without reading the images.

        Their ``index`` are rows for :meth:`images`: a caller that already has some crops
        (their features, say) reads only the others.

        Raises:
            ValueError: Unknown ``buffer`` or ``order``, or a negative ``limit``.
        """
        if buffer not in BUFFER_FLAGS:
            raise ValueError(f"buffer must be one of {', '.join(BUFFER_FLAGS)}, got {buffer!r}")
        if order not in ("score", "time"):
            raise ValueError(f"order must be 'score' or 'time', got {order!r}")
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, got {limit}")
        metadata = self._load_metadata()
        wanted = np.fromiter((int(t) for t in tracker_ids), dtype=np.int64)
        mask = np.isin(metadata["tracker_id"], wanted) & ((metadata["buffers"] & BUFFER_FLAGS[buffer]) != 0)
        rows = np.flatnonzero(mask)
        if order == "score":
            keys = (metadata["tracker_id"][rows], metadata["frame_index"][rows], -metadata["score"][rows])
        else:
            keys = (metadata["tracker_id"][rows], metadata["frame_index"][rows])
        rows = rows[np.lexsort(keys)]
        if limit is not None:
            rows = rows[:limit]
        return {name: values[rows] for name, values in metadata.items()}

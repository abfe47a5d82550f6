"""The crop store's reader: what a run committed, read back by tracklet, by row or by time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from streamreid.errors import StoreError
from streamreid.run.store_layout import (
    BUFFER_FLAGS,
    CROP_COLUMNS,
    CROPS_PER_IMAGE_CHUNK,
    DETECTION_COLUMNS,
    FORMAT,
    STORE_NAME,
)
from streamreid.rundir import brief
from streamreid.stream.quality import COLUMNS as QUALITY_COLUMNS


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
        runs = np.split(unique, np.flatnonzero(np.diff(unique) > CROPS_PER_IMAGE_CHUNK) + 1)
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

"""The crop store's layout on disk: its arrays, their columns, and the rows of one tracklet's crops.

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
                                              (8, H, W, 3), Zstd level 2
        tracker_id   (N,)   int64             metadata chunks (min(chunk_rows, 4096), ...), zstd
        frame_index  (N,)   int64
        time         (N,)   float64
        xyxy         (N, 4) float32           box in the source frame
        quality      (N, 7) float32           attribute "columns": confidence, size, aspect,
                                              truncation, occlusion, sharpness, score
        rank         (N,)   int32             place in its tracklet by score (0 = best)
        buffers      (N,)   uint8             BEST = 1 | ANIMATION = 2 (streamreid.stream.reservoir)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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

CROPS_PER_IMAGE_CHUNK = 8
"""Crops per inner chunk of an image shard: reading a crop decodes only its own chunk."""


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

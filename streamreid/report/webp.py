"""Animated WebP per person, from the animation crops kept in the store.

Each person's WebP strings together the ANIMATION buffer of all its tracklets in
time order (10 fps, quality 80 by default, loops forever), so a reader can see who
the person is and how they move without opening the video. imageio's v3 API
writes them (through its Pillow plugin).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import imageio.v3 as iio
import numpy as np

from streamreid import rundir
from streamreid.config import ReportConfig
from streamreid.types import Person

if TYPE_CHECKING:
    from streamreid.store import StoreReader


def webp_path_for(run_dir: Path, person_id: int) -> Path:
    """Where the animated WebP of ``person_id`` lives in a run directory."""
    return Path(run_dir) / rundir.WEBP_DIR / f"person_{person_id}.webp"


def evenly_spaced(count: int, limit: int) -> np.ndarray:
    """Indices of ``limit`` items spread evenly over ``count`` (all of them when ``count <= limit``).

    Args:
        count: Number of items available.
        limit: Most items wanted (at least 1).

    Returns:
        Sorted, unique integer indices into ``range(count)``.
    """
    if count <= limit:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, num=limit)).astype(np.int64))


def write_person_webp(
    crops: np.ndarray,
    path: Path,
    *,
    fps: float = 10.0,
    quality: int = 80,
    size: tuple[int, int] = (256, 128),
) -> Path:
    """Write crops as an animated WebP that loops forever.

    Args:
        crops: ``(N, H, W, 3)`` uint8 BGR crops in time order, ``N >= 1``.
        path: Output file; its folder is created. Written atomically.
        fps: Frames per second of the animation.
        quality: Lossy WebP quality, 0-100.
        size: ``(height, width)`` of every frame in the WebP.

    Returns:
        ``path``.

    Raises:
        ValueError: ``crops`` is empty or not a stack of colour images, or ``fps``/``quality`` are out of range.
    """
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[-1] != 3 or crops.shape[0] == 0:
        raise ValueError(f"crops must be a non-empty (N, H, W, 3) stack, got shape {crops.shape}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if not 0 <= quality <= 100:
        raise ValueError(f"quality must be within 0-100, got {quality}")
    height, width = size
    frames = np.stack([_to_rgb(crop, width=width, height=height) for crop in crops])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rundir.replace_atomically(
        path,
        lambda tmp: iio.imwrite(
            tmp,
            frames,
            extension=".webp",
            is_batch=True,
            duration=max(1, round(1000.0 / fps)),
            loop=0,
            quality=int(quality),
            method=4,
        ),
        suffix=".webp.part",
    )
    return path


def _to_rgb(crop: np.ndarray, *, width: int, height: int) -> np.ndarray:
    image = np.ascontiguousarray(crop, dtype=np.uint8)
    if image.shape[0] != height or image.shape[1] != width:
        shrinking = image.shape[0] > height or image.shape[1] > width
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def write_person_webps(
    run_dir: Path,
    persons: Sequence[Person],
    store: StoreReader,
    *,
    config: ReportConfig,
) -> dict[int, Path]:
    """Write ``webp/person_<id>.webp`` for the first ``config.max_persons`` persons.

    Each animation is the ANIMATION buffer of all the person's tracklets in time
    order, thinned evenly to at most ``config.webp_max_frames`` frames. A person
    whose tracklets kept no animation crops falls back to any crops it has; one
    with none at all gets no file (the report shows a placeholder).

    Args:
        run_dir: The run directory.
        persons: Persons in rank order (the report shows the same ones animated).
        store: Reader of the run's crop store.
        config: Report settings (fps, quality, size, how many persons, frames per animation).

    Returns:
        Person id to the WebP written, for the persons that had crops.
    """
    written: dict[int, Path] = {}
    for person in list(persons)[: max(0, config.max_persons)]:
        crops = _animation_crops(store, person.tracklet_ids)
        if crops.shape[0] == 0:
            continue
        crops = crops[evenly_spaced(crops.shape[0], max(1, config.webp_max_frames))]
        written[person.person_id] = write_person_webp(
            crops,
            webp_path_for(run_dir, person.person_id),
            fps=config.webp_fps,
            quality=config.webp_quality,
            size=(config.webp_height, config.webp_width),
        )
    return written


def _animation_crops(store: StoreReader, tracklet_ids: Sequence[int]) -> np.ndarray:
    images, _ = store.crops_for(list(tracklet_ids), buffer="animation", order="time")
    if len(images) == 0:
        images, _ = store.crops_for(list(tracklet_ids), buffer="any", order="time")
    return np.asarray(images)

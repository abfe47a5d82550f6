"""Animated WebP per person, from the animation crops kept in the store.

Each person's WebP strings together the ANIMATION buffer of all its tracklets in
time order (10 fps, quality 80 by default, loops forever), so a reader can see who
the person is and how they move without opening the video. imageio's v3 API
writes them (through its Pillow plugin).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import imageio.v3 as iio
import numpy as np

from streamreid import rundir
from streamreid.config import ReportConfig
from streamreid.devices import available_cpus
from streamreid.types import Person

if TYPE_CHECKING:
    from streamreid.run.store_reader import StoreReader


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


def encode_person_webp(
    crops: np.ndarray,
    *,
    fps: float = 10.0,
    quality: int = 80,
    size: tuple[int, int] = (256, 128),
    method: int = 2,
) -> bytes:
    """Encode crops as an animated WebP that loops forever, in memory.

    Args:
        crops: ``(N, H, W, 3)`` uint8 BGR crops in time order, ``N >= 1``.
        fps: Frames per second of the animation.
        quality: Lossy WebP quality, 0-100.
        size: ``(height, width)`` of every frame in the WebP.
        method: libwebp's effort, 0 (fastest) to 6 (smallest): 2 encodes about twice as fast
            as 4 for files about a tenth larger.

    Returns:
        The bytes of the WebP file.

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
    return iio.imwrite(
        "<bytes>",
        frames,
        extension=".webp",
        is_batch=True,
        duration=max(1, round(1000.0 / fps)),
        loop=0,
        quality=int(quality),
        method=int(method),
        # no key frames after the first: libwebp then encodes each frame once (as a change on the one
        # before) instead of also trying it as a key frame: a fifth less CPU for files 1 % larger
        kmin=0,
        kmax=0,
    )


def write_person_webp(
    crops: np.ndarray,
    path: Path,
    *,
    fps: float = 10.0,
    quality: int = 80,
    size: tuple[int, int] = (256, 128),
    method: int = 2,
) -> Path:
    """Write crops as an animated WebP that loops forever (:func:`encode_person_webp`, then an atomic write).

    Args:
        crops: ``(N, H, W, 3)`` uint8 BGR crops in time order, ``N >= 1``.
        path: Output file; its folder is created. Written atomically.
        fps: Frames per second of the animation.
        quality: Lossy WebP quality, 0-100.
        size: ``(height, width)`` of every frame in the WebP.
        method: libwebp's effort, 0 (fastest) to 6 (smallest).

    Returns:
        ``path``.

    Raises:
        ValueError: As :func:`encode_person_webp`.
    """
    data = encode_person_webp(crops, fps=fps, quality=quality, size=size, method=method)
    return _write_bytes(data, Path(path))


def _write_bytes(data: bytes, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return rundir.replace_atomically(path, lambda tmp: Path(tmp).write_bytes(data), suffix=".webp.part")


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
    with PersonAnimations(run_dir, store, config=config) as animations:
        return animations.write(persons)


class PersonAnimations:
    """Persons' animated WebPs, encoded in background threads before they are needed.

    An animation depends only on the tracklets a person is made of. So end of stream can
    :meth:`start` the animations of the persons found before re-identification and let them
    encode while ReID runs; if ReID then merges persons, :meth:`write` keeps every animation
    whose tracklets are unchanged and encodes only those of the merged persons. Each job
    reads its own crops from the store and keeps only the encoded bytes (a few hundred KB),
    so memory stays bounded by the persons shown (``config.max_persons``).

    Use as a context manager: leaving it cancels the jobs not started and waits for the others.

    Args:
        run_dir: The run directory (WebPs go to ``webp/``).
        store: Reader of the run's crop store (read from the worker threads).
        config: Report settings (fps, quality, size, how many persons, frames per animation).
        workers: Background encoding threads; default: one fewer than the cores available (at least
            one, at most three), as the caller's thread runs ReID meanwhile, then helps in :meth:`write`.
    """

    def __init__(self, run_dir: Path, store: StoreReader, *, config: ReportConfig, workers: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.store = store
        self.config = config
        self._jobs: dict[tuple[int, ...], Future[bytes | None]] = {}
        # libwebp and the store's decompression release the GIL: persons encode side by side
        workers = workers or max(1, _encoding_workers() - 1)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="streamreid-webp")

    def start(self, persons: Sequence[Person]) -> None:
        """Start encoding the animations of the first ``max_persons`` of ``persons`` (rank order), not waiting.

        Called again with newer persons (after a round of merges), it first drops the jobs not
        begun of the persons no longer among them.
        """
        shown = self._shown(persons)
        wanted = {_tracklets_key(person) for person in shown}
        for key in [key for key in self._jobs if key not in wanted]:  # merged away or no longer shown
            if self._jobs[key].cancel():
                del self._jobs[key]
        for person in shown:
            key = _tracklets_key(person)
            if key not in self._jobs:
                self._jobs[key] = self._pool.submit(self._encode, key)

    def write(self, persons: Sequence[Person]) -> dict[int, Path]:
        """Write the WebPs of the first ``max_persons`` of ``persons`` (rank order), reusing what :meth:`start` began.

        Returns:
            Person id to the WebP written, for the persons that had crops.
        """
        shown = self._shown(persons)
        self.start(shown)
        for person in reversed(shown):  # the caller takes jobs from the back while the workers go on from the front
            key = _tracklets_key(person)
            if self._jobs[key].cancel():
                self._jobs[key] = done = Future()
                done.set_result(self._encode(key))
        written: dict[int, Path] = {}
        for person in shown:
            data = self._jobs[_tracklets_key(person)].result()
            if data is not None:
                written[person.person_id] = _write_bytes(data, webp_path_for(self.run_dir, person.person_id))
        return written

    def close(self) -> None:
        """Cancel the jobs not started, wait for the running ones."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> PersonAnimations:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _shown(self, persons: Sequence[Person]) -> list[Person]:
        return list(persons)[: max(0, self.config.max_persons)]

    def _encode(self, tracklet_ids: tuple[int, ...]) -> bytes | None:
        crops = _animation_crops(self.store, tracklet_ids)
        if crops.shape[0] == 0:
            return None
        crops = crops[evenly_spaced(crops.shape[0], max(1, self.config.webp_max_frames))]
        config = self.config
        return encode_person_webp(
            crops, fps=config.webp_fps, quality=config.webp_quality, size=(config.webp_height, config.webp_width)
        )


def _tracklets_key(person: Person) -> tuple[int, ...]:
    return tuple(sorted(int(t) for t in person.tracklet_ids))


def _encoding_workers() -> int:
    return max(1, min(4, available_cpus()))


def _animation_crops(store: StoreReader, tracklet_ids: Sequence[int]) -> np.ndarray:
    images, _ = store.crops_for(list(tracklet_ids), buffer="animation", order="time")
    if len(images) == 0:
        images, _ = store.crops_for(list(tracklet_ids), buffer="any", order="time")
    return np.asarray(images)

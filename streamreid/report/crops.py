"""The best-crops strip of each person: its sharpest, clearest crops side by side, one JPEG.

Written next to the animations (``crops/person_<id>.jpg``), from the BEST buffer
the stream kept in the store, best score first; imageio (v3 API) encodes them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamreid import rundir
from streamreid.types import Person

#: Crops per strip, and the size of each in it (height, width).
STRIP_CROPS = 6
STRIP_CROP_SIZE = (128, 64)


def crops_path_for(run_dir: Path, person_id: int) -> Path:
    """Where the best-crops strip of ``person_id`` lives in a run directory."""
    return Path(run_dir) / rundir.CROPS_DIR / f"person_{person_id}.jpg"


def crop_strip(crops: np.ndarray, *, size: tuple[int, int] = STRIP_CROP_SIZE) -> np.ndarray:
    """``(N, H, W, 3)`` BGR crops resized to ``size`` and laid side by side, as one RGB image."""
    height, width = size
    tiles = [cv2.resize(np.ascontiguousarray(c), (width, height), interpolation=cv2.INTER_AREA) for c in crops]
    return np.ascontiguousarray(np.concatenate(tiles, axis=1)[:, :, ::-1])


def write_crop_strips(
    run_dir: Path, persons: Sequence[Person], store: Any, *, count: int = STRIP_CROPS
) -> dict[int, Path]:
    """Write the strip of each of ``persons`` that has best crops, then remove the older strips not rewritten.

    Returns:
        Person id to the strip written.
    """
    import imageio.v3 as iio

    folder = Path(run_dir) / rundir.CROPS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    stale = set(folder.glob("person_*.jpg"))
    written = {}
    for person in persons:
        crops, _ = store.crops_for(list(person.tracklet_ids), buffer="best", limit=count, order="score")
        if len(crops) == 0:  # a person with no crop of the best buffer still gets its picture from the others
            crops, _ = store.crops_for(list(person.tracklet_ids), buffer="any", limit=count, order="score")
        if len(crops) == 0:
            continue
        strip = crop_strip(np.asarray(crops))
        path = crops_path_for(run_dir, person.person_id)
        written[person.person_id] = rundir.replace_atomically(
            path, lambda tmp, image=strip: iio.imwrite(tmp, image, extension=".jpg", quality=85), suffix=".jpg"
        )
    for path in stale - set(written.values()):  # only once the new strips exist
        path.unlink(missing_ok=True)
    return written


def tracklets_strip_path(run_dir: Path, tracklet_ids: Sequence[int]) -> Path:
    """Where the best-crops strip of a group of tracklets (a piece of a person, a side of a merge) lives.

    Named by the tracklets, which stay the same however persons are renumbered, so a strip
    written once serves every later report.
    """
    ids = sorted(int(t) for t in tracklet_ids)
    key = "-".join(map(str, ids))
    if len(key) > 60:
        key = f"{ids[0]}-{len(ids)}-" + hashlib.sha1(key.encode()).hexdigest()[:12]
    return Path(run_dir) / rundir.CROPS_DIR / f"tracklets_{key}.jpg"


def write_tracklet_strips(run_dir: Path, groups: Iterable[Sequence[int]], store: Any, *,
                          count: int = STRIP_CROPS) -> int:  # fmt: skip
    """Write the strip of each group of tracklets that has none yet and has crops; remove strips no group needs.

    Returns:
        How many strips were written.
    """
    import imageio.v3 as iio

    folder = Path(run_dir) / rundir.CROPS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {tracklets_strip_path(run_dir, group): tuple(group) for group in groups if group}
    for stale in set(folder.glob("tracklets_*.jpg")) - set(wanted):
        stale.unlink()
    written = 0
    for path, group in wanted.items():
        if path.is_file():
            continue
        crops, _ = store.crops_for(list(group), buffer="best", limit=count, order="score")
        if len(crops) == 0:
            crops, _ = store.crops_for(list(group), buffer="any", limit=count, order="score")
        if len(crops) == 0:
            continue
        strip = crop_strip(np.asarray(crops))
        rundir.replace_atomically(
            path, lambda tmp, image=strip: iio.imwrite(tmp, image, extension=".jpg", quality=85), suffix=".jpg"
        )
        written += 1
    return written

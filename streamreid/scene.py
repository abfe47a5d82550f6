"""One still of the scene, kept during the single pass, for drawing paths on in the report.

The video is never read again after the stream, so the report's background must be
taken while frames go by. :class:`SceneKeeper` holds one downscaled frame: the first
one, replaced whenever a frame shows fewer people (the emptiest view of the scene
is the best backdrop for paths). Memory is one small image, whatever the length of
the stream; :meth:`SceneKeeper.write` puts it in the run directory as ``scene.jpg``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from streamreid import rundir
from streamreid.types import Frame

#: Widest scene image kept (pixels); the report scales it to the video's frame size.
SCENE_WIDTH = 640


class SceneKeeper:
    """Keeps the emptiest frame seen so far, downscaled to at most ``width`` pixels wide.

    Args:
        width: Widest image kept.
    """

    def __init__(self, *, width: int = SCENE_WIDTH) -> None:
        self.width = width
        self.image: np.ndarray | None = None
        self.people = 1 << 30
        self.changed = False

    def update(self, frame: Frame, people: int) -> None:
        """Offer a frame showing ``people`` tracked persons; kept when it shows fewer than the one held."""
        if people >= self.people:
            return
        self.people = people
        self.image = downscale(frame.image, width=self.width)
        self.changed = True

    def write(self, run_dir: Path) -> Path | None:
        """Write the kept frame to ``run_dir/scene.jpg`` (atomically) when it changed; its path, or ``None``."""
        if self.image is None:
            return None
        path = Path(run_dir) / rundir.SCENE
        if self.changed:
            write_jpeg(path, self.image)
            self.changed = False
        return path


def downscale(image: np.ndarray, *, width: int) -> np.ndarray:
    """``image`` shrunk to at most ``width`` pixels wide, aspect kept (a copy)."""
    height, current = image.shape[:2]
    if current <= width:
        return image.copy()
    size = (width, max(1, round(height * width / current)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def write_jpeg(path: Path, image: np.ndarray, *, quality: int = 80) -> Path:
    """Write a BGR image as JPEG through imageio (v3 API), atomically."""
    import imageio.v3 as iio

    rgb = np.ascontiguousarray(image[:, :, ::-1])
    return rundir.replace_atomically(
        path, lambda tmp: iio.imwrite(tmp, rgb, extension=".jpg", quality=quality), suffix=".jpg"
    )

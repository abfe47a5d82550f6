"""Hard cuts between shots, found in the single pass, one frame at a time.

An edited video (news, films, exported clips) jumps from one shot to another between two frames. A
tracker that is not told hands a track from the last frame of one shot to whoever stands in the same
place in the next one, and space-time grouping then joins people of two scenes.
:class:`ShotCutDetector` finds those jumps so that the pipeline can end every track at them.

The measure is the structural change between consecutive frames: one minus the normalised
cross-correlation (:func:`frame_change`) of two tiny grey thumbnails (:func:`thumbnail`, 64 pixels wide,
made from a strided copy of the frame, or of its luma plane where the frame is kept in planes:
:func:`frame_thumbnail`; a 1080p frame costs well under a millisecond). Being normalised, it ignores
a change of brightness or contrast (a cloud, the camera's exposure); being computed on a thumbnail,
it barely moves when people walk or the camera pans slowly. On the development footage consecutive
frames change by 0.00-0.15 (a busy 1080p street at 30 fps reaches 0.15), while a cut between two
different scenes changes by 0.8-1.2. A frame is a cut (:func:`is_cut`) when its change reaches
``threshold`` *and* ``ratio`` times the mean change of the second before it, so footage that changes
a lot all the time (a shaking hand-held camera) must change far more than usual to count.

Near-uniform frames (black between shots, a fade) carry no structure: they are skipped, and the
first frame with structure again is compared with the last one before them, so a fade through black
into another scene is a cut and a short dark flicker is not. A dissolve (one shot blended into the
next over many frames) changes little from frame to frame and is not found.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from streamreid.config import TrackerConfig
from streamreid.stream.picture import YuvPicture
from streamreid.types import Frame

#: Width of the grey thumbnail the change is measured on.
THUMBNAIL_WIDTH = 64
#: A thumbnail whose grey levels spread less than this (standard deviation) is near-uniform.
FLAT_STD = 2.0
#: Seconds of recent changes a frame's change is compared with.
WINDOW_SECONDS = 1.0


@dataclass(frozen=True)
class ShotCut:
    """A hard cut: ``frame`` is the first frame of the new shot.

    Attributes:
        frame: Index of the first frame of the new shot.
        time: Its time in seconds.
        change: How much the picture changed (:func:`frame_change`).
    """

    frame: int
    time: float
    change: float

    def to_dict(self) -> dict[str, Any]:
        """``run.json``'s form: ``{"frame": int, "time": float}``."""
        return {"frame": int(self.frame), "time": round(float(self.time), 4)}


def thumbnail(image: np.ndarray, *, width: int = THUMBNAIL_WIDTH) -> np.ndarray:
    """A small grey copy of a BGR image, ``(round(width * h / w), width)`` float32.

    The frame is first sampled every few pixels (a view, no copy) so that the area resize reads
    about four source pixels per thumbnail pixel in each direction, whatever the resolution.
    """
    height, full_width = image.shape[:2]
    step = max(1, full_width // (width * 4))
    sampled = np.ascontiguousarray(image[::step, ::step])
    size = (width, max(1, round(width * height / full_width)))
    small = cv2.resize(sampled, size, interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return small.astype(np.float32)


def frame_thumbnail(frame: Frame, *, width: int = THUMBNAIL_WIDTH) -> np.ndarray:
    """:func:`thumbnail` of a frame; from the decoder's luma plane where the frame is kept in planes.

    The luma plane is the grey picture already (no colour conversion, no scaled BGR needed): its levels are
    mapped to OpenCV's grey of the BGR frame (limited range stretched; exact for BT.601, other matrices only
    weigh colours a little differently), so the change and the flatness read alike either way.
    """
    if isinstance(frame.full, YuvPicture):
        gain, offset = frame.full.luma_to_grey
        return thumbnail(frame.full.y, width=width) * gain + offset
    return thumbnail(frame.image, width=width)


def is_flat(thumb: np.ndarray) -> bool:
    """Whether a thumbnail is near-uniform (black, white or one grey): it shows no structure to compare."""
    return float(thumb.std()) < FLAT_STD


def frame_change(previous: np.ndarray, current: np.ndarray) -> float:
    """One minus the normalised cross-correlation of two thumbnails: 0 same picture, about 1 unrelated, 2 inverted.

    Brightness and contrast changes cancel out. Two thumbnails of different sizes are unrelated (1.0);
    a near-uniform one has no structure to compare and changes nothing (0.0).
    """
    if previous.shape != current.shape:
        return 1.0
    a = previous - previous.mean()
    b = current - current.mean()
    norm = float(np.sqrt(float((a * a).sum()) * float((b * b).sum())))
    if norm <= 1e-6:
        return 0.0
    return 1.0 - float((a * b).sum()) / norm


def is_cut(change: float, recent: Sequence[float], *, threshold: float, ratio: float) -> bool:
    """Whether a frame's change is a cut: at least ``threshold``, and ``ratio`` times the mean of ``recent`` changes."""
    level = float(np.mean(recent)) if len(recent) else 0.0
    return change >= threshold and change >= ratio * level


class ShotCutDetector:
    """Finds hard cuts frame by frame (see the module docstring); holds two thumbnails and a second of changes.

    Args:
        fps: Frames per second of the frames it is given (sets the length of the recent window).
        threshold: Least change of a cut.
        ratio: Least ratio of a cut's change to the mean change of the second before it.
    """

    def __init__(self, *, fps: float | None, threshold: float, ratio: float) -> None:
        self.threshold, self.ratio = threshold, ratio
        window = round((fps if fps and fps > 0 else 30.0) * WINDOW_SECONDS)
        self._recent: deque[float] = deque(maxlen=max(3, window))
        self._reference: np.ndarray | None = None
        self.cuts: list[ShotCut] = []

    def update(self, frame: Frame) -> ShotCut | None:
        """Look at the next frame; returns the cut when ``frame`` starts a new shot."""
        thumb = frame_thumbnail(frame)
        if is_flat(thumb):
            return None  # compared with the last frame with structure, once one comes
        previous, self._reference = self._reference, thumb
        if previous is None:
            return None
        change = frame_change(previous, thumb)
        if is_cut(change, self._recent, threshold=self.threshold, ratio=self.ratio):
            cut = ShotCut(frame=frame.index, time=frame.time, change=change)
            self.cuts.append(cut)
            self._recent.clear()  # the new shot's own motion sets the level from here
            return cut
        self._recent.append(change)
        return None

    def to_list(self) -> list[dict[str, Any]]:
        """The cuts so far, as ``run.json`` records them."""
        return [cut.to_dict() for cut in self.cuts]


def cut_detector(options: TrackerConfig, *, fps: float | None) -> ShotCutDetector | None:
    """The detector ``tracker.shot_cuts`` asks for (``None`` when off), for frames kept at ``fps``."""
    if not options.shot_cuts:
        return None
    return ShotCutDetector(fps=fps, threshold=options.cut_threshold, ratio=options.cut_ratio)

"""``detector.region``: the large input size only on the part of the frame where the small one misses people.

With ``imgsz: auto`` the probe frames are detected at every candidate size (see
:mod:`streamreid.detect.input_size`). When the small size misses people, the large size
used to run on the whole frame, at ~4x the small size's cost. Yet the people only the
large size finds (the far, small ones) usually stand in one part of the picture: the
band of a street camera's far pavement, say. On the same probe frames this module
records where they were, and where they fit in a rectangle that is cheap enough
(:func:`choose_region`), each detected frame is then detected

* whole at the small size (the near, large people), and
* on that rectangle (the *tile*), cut out at the large size's scale: the same pixels per
  person as the large size on the whole frame, at a share of its cost;

and the two sets of boxes are merged (:func:`merge_tile`): a box of the tile cut by its
inner edge is a piece of a person the whole frame shows whole, and the same person found
twice keeps its more confident box. The rule comes from the footage: nothing is known in
advance about where people stand. The region is checked again on later probe frames (a
window of recent ones, bounded) and follows the people.

The tile's cost follows its area: on 2 cores (OpenVINO f32), yolo11n-pose takes ~96 ms on a
whole 1280x720 frame at 1280, ~26 ms at 640, ~36 ms on a 1280x288 band at 1280's scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import supervision as sv

Box = tuple[float, float, float, float]
"""``(x1, y1, x2, y2)`` in pixels of the detector's input image."""


@dataclass(frozen=True)
class Region:
    """A rectangle of the frame, as fractions of its width and height (0 at the top left, 1 at the bottom right)."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def area(self) -> float:
        """Its share of the frame's area."""
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)

    def pixels(self, shape: tuple[int, ...], *, multiple: int = 32) -> tuple[int, int, int, int]:
        """``(x1, y1, x2, y2)`` in an image of ``shape`` (``(height, width, ...)``), grown out to ``multiple`` pixels.

        The detector pads its input to a multiple of its stride (32): a tile of that size is not padded.
        """
        height, width = int(shape[0]), int(shape[1])

        def span(low: float, high: float, size: int) -> tuple[int, int]:
            start = max(0, math.floor(low * size / multiple) * multiple)
            end = min(size, math.ceil(high * size / multiple) * multiple)
            return start, max(end, min(size, start + 1))

        x1, x2 = span(self.x1, self.x2, width)
        y1, y2 = span(self.y1, self.y2, height)
        return x1, y1, x2, y2

    def to_dict(self) -> dict[str, float]:
        """Plain dict for ``run.json``."""
        return {"x1": round(self.x1, 4), "y1": round(self.y1, 4), "x2": round(self.x2, 4), "y2": round(self.y2, 4)}


@dataclass(frozen=True)
class ProbeFrame:
    """What one probe frame showed: the people the large size found, and those the small size missed.

    Attributes:
        people: Confident detections of the large size.
        missed: The boxes of those the small size did not find (pixels of the input image).
    """

    people: int
    missed: tuple[Box, ...]


@dataclass(frozen=True)
class RegionEvidence:
    """The last ``max_frames`` probe frames (older ones are forgotten: bounded memory, and the region follows people).

    Attributes:
        shape: ``(height, width)`` of the images the boxes are in.
        frames: The probe frames, oldest first.
        max_frames: How many are kept.
    """

    shape: tuple[int, int]
    frames: tuple[ProbeFrame, ...] = ()
    max_frames: int = 120

    @property
    def people(self) -> int:
        """People the large size found over the window."""
        return sum(frame.people for frame in self.frames)

    @property
    def missed(self) -> np.ndarray:
        """``(n, 4)`` boxes of the people only the large size found, over the window."""
        boxes = [box for frame in self.frames for box in frame.missed]
        return np.array(boxes, dtype=np.float64).reshape(-1, 4)

    def add(self, frame: ProbeFrame) -> RegionEvidence:
        """The evidence with one more probe frame (the oldest dropped past ``max_frames``)."""
        return replace(self, frames=(*self.frames, frame)[-self.max_frames :])


def missed_people(
    small: sv.Detections, large: sv.Detections, *, confidence: float, match_iou: float = 0.3
) -> ProbeFrame:
    """The confident people of ``large`` that no confident box of ``small`` overlaps by ``match_iou`` or more.

    Both in pixels of the same image (each size's boxes are mapped back to it by the detector).
    """
    big = _confident(large, confidence)
    found = _confident(small, confidence)
    overlap = sv.box_iou_batch(big, found)
    missed = big[overlap.max(axis=1, initial=0.0) < match_iou] if len(big) else big
    return ProbeFrame(people=len(big), missed=tuple(tuple(float(v) for v in box) for box in missed))


def _confident(detections: sv.Detections, confidence: float) -> np.ndarray:
    if detections.confidence is None or len(detections) == 0:
        return np.zeros((0, 4), dtype=np.float64)
    return np.asarray(detections.xyxy, dtype=np.float64)[detections.confidence >= confidence]


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    low = np.maximum(a[:, None, :2], b[None, :, :2])
    high = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.prod(np.clip(high - low, 0, None), axis=2)


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)


@dataclass(frozen=True)
class RegionChoice:
    """Where the large size runs, and why.

    Attributes:
        region: The tile, or ``None``: the whole frame at the large size (no rectangle is both cheap and enough).
        reason: One sentence for people.
        cost: Predicted work per detected frame, as a share of the large size on the whole frame.
        found: Predicted share of the large size's people found (the small size's plus the region's).
    """

    region: Region | None
    reason: str
    cost: float
    found: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for ``run.json``."""
        region = self.region.to_dict() if self.region is not None else None
        return {"region": region, "reason": self.reason, "cost": round(self.cost, 3), "found": round(self.found, 3)}


def choose_region(
    evidence: RegionEvidence,
    *,
    sizes: tuple[int, int],
    keep_fraction: float = 0.9,
    max_cost: float = 0.7,
    tile_every: int = 1,
    min_people: int = 30,
    min_frames: int = 4,
    trim: float = 0.02,
    margin: float = 0.25,
    min_alone: float = 1 / 3,
) -> RegionChoice | None:
    """The rectangle holding the people only the large size finds, if it is worth detecting alone.

    The rectangle spans the missed people's boxes (the ``trim`` share at each side of each axis left out, so one
    stray box does not stretch it), grown by ``margin`` of their median height on every side. It is kept when

    * the small size's people and the missed people wholly inside it make ``keep_fraction`` of the large
      size's people (as ``imgsz: auto`` asks of a smaller size), and
    * the small size on the whole frame plus the rectangle at the large size, detected on one frame in
      ``tile_every``, cost at most ``max_cost`` of the large size on the whole frame (work follows area), and
    * a rectangle fitted on the first half of the probe frames would have found ``keep_fraction`` of the people
      of the second half: the people only the large size finds stay where they were (a street's far pavement),
      rather than walk about the frame (then they would be lost when they leave the rectangle), and
    * the small size alone finds at least ``min_alone`` of the large size's people: outside the rectangle
      people are seen at the small size only, and where it misses most of them (a scene of small people
      all over, as PETS09-S2L1 at 640: 6 %) anyone who walks out of the rectangle would be lost until the next
      check; the rectangle is for the far part of a scene whose near people the small size finds.

    Args:
        evidence: The probe frames.
        sizes: ``(small, large)`` input sizes.
        keep_fraction: Share of the large size's people that must still be found.
        max_cost: Most work per detected frame, as a share of the large size on the whole frame.
        tile_every: The rectangle is detected on one detected frame in this many.
        min_people: People the large size must have found before anything is decided.
        min_frames: Probe frames needed before anything is decided.
        min_alone: Share of the large size's people the small size must find alone.
        trim: Share of the missed boxes left out at each end of each axis.
        margin: Border around the missed boxes, in their median height.

    Returns:
        The choice, or ``None`` while the evidence is too thin or nobody was missed (keep what runs now).
    """
    missed, people = evidence.missed, evidence.people
    if len(evidence.frames) < min_frames or people < min_people or len(missed) == 0:
        return None
    region, found = _fit(evidence.frames, evidence.shape, trim=trim, margin=margin)
    half = len(evidence.frames) // 2
    earlier, _ = _fit(evidence.frames[:half], evidence.shape, trim=trim, margin=margin)
    held = _found_in(evidence.frames[half:], earlier, evidence.shape) if earlier is not None else 0.0
    small, large = sizes
    cost = float((small / large) ** 2 + region.area / max(1, tile_every))
    where = _describe(region, sizes=sizes, missed=len(missed), people=people)
    if 1 - len(missed) / people < min_alone:
        reason = f"{where}: {small} alone finds too few people to be trusted outside a region"
        return RegionChoice(region=None, reason=reason, cost=1.0, found=1.0)
    if found < keep_fraction:
        reason = f"{where}: too spread out, it would find {found:.0%} of the people {large} finds"
        return RegionChoice(region=None, reason=reason, cost=1.0, found=1.0)
    if held < keep_fraction:
        reason = (f"{where}: they move about, the region of the first {half} probe frames would find {held:.0%} of "
                  f"the people of the next {len(evidence.frames) - half}")  # fmt: skip
        return RegionChoice(region=None, reason=reason, cost=1.0, found=1.0)
    if cost > max_cost:
        reason = f"{where}: with {small} on the whole frame it would cost {cost:.0%} of {large} on the whole frame"
        return RegionChoice(region=None, reason=reason, cost=1.0, found=1.0)
    reason = f"{where}: {found:.0%} of the people found at {cost:.0%} of the work"
    return RegionChoice(region=region, reason=reason, cost=cost, found=found)


def _fit(
    frames: Sequence[ProbeFrame], shape: tuple[int, int], *, trim: float, margin: float
) -> tuple[Region | None, float]:
    """The rectangle around the missed boxes of ``frames`` (trimmed, with a margin), and the share it finds."""
    boxes = np.array([box for frame in frames for box in frame.missed], dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return None, 1.0
    height, width = shape
    border = margin * float(np.median(boxes[:, 3] - boxes[:, 1]))
    low = np.quantile(boxes[:, :2], trim, axis=0) - border
    high = np.quantile(boxes[:, 2:], 1.0 - trim, axis=0) + border
    region = Region(x1=max(0.0, float(low[0]) / width), y1=max(0.0, float(low[1]) / height),
                    x2=min(1.0, float(high[0]) / width), y2=min(1.0, float(high[1]) / height))  # fmt: skip
    return region, _found_in(frames, region, shape)


def _found_in(frames: Sequence[ProbeFrame], region: Region, shape: tuple[int, int]) -> float:
    """Share of the large size's people of ``frames`` found by the small size or wholly inside ``region``."""
    people = sum(frame.people for frame in frames)
    boxes = np.array([box for frame in frames for box in frame.missed], dtype=np.float64).reshape(-1, 4)
    if people == 0:
        return 1.0
    height, width = shape
    low = np.array([region.x1 * width, region.y1 * height]) - 1e-6
    high = np.array([region.x2 * width, region.y2 * height]) + 1e-6
    inside = (boxes[:, :2] >= low).all(axis=1) & (boxes[:, 2:] <= high).all(axis=1)
    return (people - len(boxes) + int(inside.sum())) / people


def _describe(region: Region, *, sizes: tuple[int, int], missed: int, people: int) -> str:
    return (
        f"{sizes[0]} misses {missed} of {people} people; those {sizes[1]} alone finds are in "
        f"x {region.x1:.2f}-{region.x2:.2f}, y {region.y1:.2f}-{region.y2:.2f} of the frame "
        f"({region.area:.0%} of it)"
    )


def merge_tile(
    whole: sv.Detections,
    tile: sv.Detections,
    *,
    tile_box: tuple[int, int, int, int],
    image_shape: tuple[int, ...],
    iou: float = 0.5,
    covered: float = 0.6,
    edge: float = 0.02,
) -> sv.Detections:
    """The boxes of the whole frame and of the tile (in the tile's pixels), as one set in the image's pixels.

    Each person is taken from the source that sees it whole at the finer scale, as tiled detection does:

    * a box of the whole frame that lies inside the tile is dropped: the tile saw the same person at the large
      size's scale (its box, or none where the large size found nobody there: then the whole frame is
      exactly as the large size alone would be there);
    * a tile box touching an inner edge of the tile (one that is not the image's edge) is a piece of a person who
      goes on outside the tile: it is dropped where a box of the whole frame covers ``covered`` of it (that box
      shows the person whole), kept otherwise (the only box of that person);
    * of what is left, a person found in both (IoU at least ``iou``: a whole box across the tile's edge and a
      tile box) keeps the more confident box; boxes of one source stay as the detector's suppression left them.

    Args:
        whole: Detections of the whole image.
        tile: Detections of ``image[y1:y2, x1:x2]``, in the tile's pixels.
        tile_box: ``(x1, y1, x2, y2)`` of the tile in the image.
        image_shape: The image's ``(height, width, ...)``.
        iou: Overlap above which two boxes are one person.
        covered: Share of a cut tile box a whole-frame box must cover to replace it.
        edge: Distance from an inner edge that counts as touching it, as a share of the tile's size across that
            edge (a person cut by the edge gets a box that ends a few pixels short of it: 4 at 1080p).

    Returns:
        The merged detections, the whole frame's first.
    """
    x1, y1, x2, y2 = tile_box
    tile = _shifted(tile, dx=x1, dy=y1)
    if len(tile) == 0:
        return whole
    if len(whole) == 0:
        return tile
    boxes = np.asarray(tile.xyxy, dtype=np.float64)
    height, width = int(image_shape[0]), int(image_shape[1])
    near_x, near_y = max(1.0, edge * (x2 - x1)), max(1.0, edge * (y2 - y1))
    cut = ((boxes[:, 0] <= x1 + near_x) & (x1 > 0)) | ((boxes[:, 1] <= y1 + near_y) & (y1 > 0))
    cut |= ((boxes[:, 2] >= x2 - near_x) & (x2 < width)) | ((boxes[:, 3] >= y2 - near_y) & (y2 < height))
    whole_boxes = np.asarray(whole.xyxy, dtype=np.float64)
    share = _intersection(boxes, whole_boxes) / np.maximum(_area(boxes), 1e-9)[:, None]
    tile = tile[~(cut & (share.max(axis=1) >= covered))]
    inside = (whole_boxes[:, :2] >= np.array([x1, y1]) - 1.0).all(axis=1)
    inside &= (whole_boxes[:, 2:] <= np.array([x2, y2]) + 1.0).all(axis=1)
    return _suppress_across(whole[~inside], tile, iou=iou)


def _shifted(detections: sv.Detections, *, dx: float, dy: float) -> sv.Detections:
    if len(detections) == 0:
        return detections
    moved = detections[np.arange(len(detections))]  # a copy: the caller's boxes stay as they were
    moved.xyxy = np.asarray(detections.xyxy, dtype=np.float32) + np.array([dx, dy, dx, dy], dtype=np.float32)
    return moved


def _suppress_across(whole: sv.Detections, tile: sv.Detections, *, iou: float) -> sv.Detections:
    """Whole and tile boxes of one person (IoU >= ``iou``): the less confident one goes, most confident first."""
    if len(tile) == 0:
        return whole
    overlap = sv.box_iou_batch(whole.xyxy, tile.xyxy) >= iou
    keep_whole = np.ones(len(whole), dtype=bool)
    keep_tile = np.ones(len(tile), dtype=bool)
    scores = np.concatenate([_scores(whole), _scores(tile)])
    for index in np.argsort(-scores, kind="stable"):
        if index < len(whole):
            if keep_whole[index]:
                keep_tile &= ~overlap[index]
        elif keep_tile[index - len(whole)]:
            keep_whole &= ~overlap[:, index - len(whole)]
    return sv.Detections.merge([whole[keep_whole], tile[keep_tile]])


def _scores(detections: sv.Detections) -> np.ndarray:
    if detections.confidence is None:
        return np.ones(len(detections), dtype=np.float64)
    return np.asarray(detections.confidence, dtype=np.float64)


def tile_input_size(tile_shape: tuple[int, ...], image_shape: tuple[int, ...], *, large: int, stride: int = 32) -> int:
    """The input size that detects a tile at the scale ``large`` gives the whole image (a multiple of ``stride``)."""
    scale = large / max(int(image_shape[0]), int(image_shape[1]))
    return max(stride, math.ceil(max(int(tile_shape[0]), int(tile_shape[1])) * scale / stride) * stride)


class RegionDetector:
    """The small size on whole images and the large size on a region of them, merged (see the module docstring).

    Attributes:
        region: The region detected at the large size's scale.
        tile_every: The region is detected on one detected frame in this many.
    """

    def __init__(self, small: Any, large: Any, *, region: Region, tile_every: int = 1) -> None:
        """Detect with ``small`` (whole images) and ``large`` (the region).

        Args:
            small: Detector at the small size, with ``detect(images)``.
            large: Detector at the large size, with ``detect(images, imgsz=...)`` and ``imgsz``.
            region: The region.
            tile_every: Detect the region on one detected frame in this many (counted from the first).
        """
        self._small, self._large = small, large
        self.region = region
        self.tile_every = max(1, int(tile_every))
        self._detected = 0

    def detect(self, images: Sequence[np.ndarray]) -> list[sv.Detections]:
        """Detections of each image: the whole image at the small size, merged with the region's at the large."""
        images = list(images)
        found = self._small.detect(images)
        wanted = [i for i in range(len(images)) if (self._detected + i) % self.tile_every == 0]
        self._detected += len(images)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i in wanted:
            by_shape.setdefault(images[i].shape, []).append(i)
        for shape, positions in by_shape.items():
            x1, y1, x2, y2 = box = self.region.pixels(shape)
            tiles = [images[i][y1:y2, x1:x2] for i in positions]
            imgsz = tile_input_size(tiles[0].shape, shape, large=int(self._large.imgsz))
            for i, detections in zip(positions, self._large.detect(tiles, imgsz=imgsz), strict=True):
                found[i] = merge_tile(found[i], detections, tile_box=box, image_shape=shape)
        return found

"""Crop quality: six components in ``[0, 1]`` and one combined score per detection.

:func:`compute_quality` scores every box of one frame at once and returns an
``(N, 7)`` float32 array whose columns are :data:`COLUMNS` (the six
:data:`COMPONENTS`, then ``score``). With ``H``/``W`` the frame size and a box
``(x1, y1, x2, y2)`` of width ``w = x2 - x1`` and height ``h = y2 - y1``:

confidence
    The detection confidence, clipped to ``[0, 1]``.
size
    ``min(1, h / (min_height_fraction * H))``: a person at least
    ``min_height_fraction`` of the frame tall scores 1, smaller ones linearly less.
aspect
    ``2 ** -(log2(h / (2 w)))**2``: 1 for the standing-person shape ``h = 2 w``,
    0.5 for a box twice too wide (``h = w``) or twice too thin (``h = 4 w``),
    0.0625 for four times off either way; smooth and symmetric in log ratio.
truncation
    ``inside * (0.5 + 0.5 * clearance)``. ``inside`` is the fraction of the box
    area that lies in the frame (below 1 only for boxes that run off the frame,
    e.g. tracker predictions); ``clearance`` is the smallest gap between the box
    and a frame edge, divided by 5 % of the box size along that axis, clipped to
    ``[0, 1]``. A box touching an edge (as detectors clip boxes cut by the border)
    scores 0.5; a box 5 % of its size or more clear of every edge scores 1.
occlusion
    ``1 - max_j area(box ∩ box_j) / area(box)`` over the other boxes ``j`` of the
    frame that are *in front*: ``y2_j >= y2`` (the lower foot point is nearer to
    a camera looking down on a floor). The person in front keeps its score, the
    one behind loses the covered fraction; equal ``y2`` counts both ways.
sharpness
    ``1 - exp(-v / sharpness_reference)`` with ``v`` the variance of the
    Laplacian (3 x 3, float) of the grey crop resized (``INTER_AREA``) to
    :data:`SHARPNESS_PATCH` (128 x 64, half the re-identification input). The
    fixed size makes ``v`` comparable across box sizes and measures the blur the
    re-identification model will see, so a small box blown up to that size also
    scores lower. On the sample street video the default reference of 300 spreads
    real detections over about 0.45 (10th percentile) to 0.97 (90th).

score
    The weighted geometric mean ``prod_c q_c ** (e_c / sum_c e_c)``, computed as
    ``exp(sum_c e_c log q_c / sum_c e_c)``, with the exponents ``e_c`` of
    :class:`~streamreid.config.QualityConfig`. An exponent of 0 switches a
    component off; normalising by the sum keeps the score in ``[0, 1]`` whatever
    the exponents. A switched-on component of 0 makes the score 0 (an empty or
    fully covered box is worthless however sharp). All exponents 0 gives 1.

Everything except sharpness is vectorised numpy; sharpness needs pixels and is
computed per box on the small patch (a fraction of a millisecond each at 1080p, most of it
shrinking the box). The score grows with sharpness, so a box that would not be kept even perfectly
sharp need not be measured: :func:`compute_quality` takes the boxes to measure, and
:func:`measure_sharpness` measures more later.
"""

from __future__ import annotations

import cv2
import numpy as np

from streamreid.config import QualityConfig
from streamreid.stream.picture import grey_region
from streamreid.types import QualityComponents

COMPONENTS = ("confidence", "size", "aspect", "truncation", "occlusion", "sharpness")
"""Names of the quality components, in column order."""

COLUMNS = (*COMPONENTS, "score")
"""Column names of the array returned by :func:`compute_quality`."""

IDEAL_ASPECT = 2.0
"""Height over width of a standing person."""

BORDER_MARGIN_FRACTION = 0.05
"""Gap to a frame edge, as a fraction of the box size, from which a box counts as clear of the border."""

TOUCHING_BORDER_SCORE = 0.5
"""Truncation component of a box that touches a frame edge."""

SHARPNESS_PATCH = (128, 64)
"""Height and width of the grey patch the Laplacian variance is measured on."""

_LOG_FLOOR = 1e-6


def compute_quality(
    image: np.ndarray,
    xyxy: np.ndarray,
    confidence: np.ndarray,
    *,
    config: QualityConfig,
    measure: np.ndarray | None = None,
) -> np.ndarray:
    """Score every box of one frame.

    Args:
        image: The frame, ``(H, W, 3)`` uint8 BGR (or ``(H, W)`` grey), or a
            :class:`~streamreid.stream.picture.YuvPicture`.
        xyxy: Boxes ``(N, 4)`` in pixels of ``image``.
        confidence: Detection confidences ``(N,)``.
        config: Exponents and references of the components.
        measure: Boxes ``(N,)`` bool whose sharpness is measured (``None``: all). The others score as if
            perfectly sharp (sharpness 1), the most they could score: :func:`measure_sharpness` can measure
            them later, where that bound is not enough to tell.

    Returns:
        ``(N, 7)`` float32: the components of :data:`COMPONENTS`, then the score, all in ``[0, 1]``.
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    count = len(boxes)
    result = np.zeros((count, len(COLUMNS)), dtype=np.float32)
    if count == 0:
        return result
    frame_height, frame_width = image.shape[:2]
    result[:, 0] = np.clip(np.asarray(confidence, dtype=np.float64).reshape(-1), 0.0, 1.0)
    result[:, 1] = _size(boxes, frame_height=frame_height, min_height_fraction=config.min_height_fraction)
    result[:, 2] = _aspect(boxes)
    result[:, 3] = _truncation(boxes, frame_height=frame_height, frame_width=frame_width)
    result[:, 4] = _occlusion(boxes)
    result[:, 5] = 1.0
    result[:, 6] = _score(result[:, :6], config=config)
    measure_sharpness(result, image, boxes, np.arange(count) if measure is None else np.flatnonzero(measure),
                      config=config)  # fmt: skip
    return result


def measure_sharpness(
    quality: np.ndarray, image: np.ndarray, xyxy: np.ndarray, rows: np.ndarray, *, config: QualityConfig
) -> None:
    """Measure the sharpness of the boxes ``rows`` and score them again, in place in ``quality``.

    Args:
        quality: ``(N, 7)`` of :func:`compute_quality`.
        image: The frame the boxes are in (as :func:`compute_quality` takes it).
        xyxy: All ``N`` boxes.
        rows: Indices of the boxes to measure.
        config: Exponents and references of the components.
    """
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    if not len(rows):
        return
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)[rows]
    quality[rows, 5] = _sharpness(image, boxes, reference=config.sharpness_reference)
    quality[rows, 6] = _score(quality[rows, :6], config=config)


def quality_components(row: np.ndarray) -> QualityComponents:
    """Turn one row of :func:`compute_quality` into a record.

    Args:
        row: Seven values in :data:`COLUMNS` order.

    Returns:
        The same values as a :class:`~streamreid.types.QualityComponents`.
    """
    values = [float(v) for v in np.asarray(row).reshape(-1)[: len(COLUMNS)]]
    return QualityComponents(**dict(zip(COLUMNS, values, strict=True)))


def exponents(config: QualityConfig) -> np.ndarray:
    """The exponents of the components, in :data:`COMPONENTS` order."""
    return np.array([float(getattr(config, name)) for name in COMPONENTS], dtype=np.float64)


def _widths_heights(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.maximum(boxes[:, 2] - boxes[:, 0], 0.0), np.maximum(boxes[:, 3] - boxes[:, 1], 0.0)


def _size(boxes: np.ndarray, *, frame_height: int, min_height_fraction: float) -> np.ndarray:
    _, heights = _widths_heights(boxes)
    reference = max(min_height_fraction * frame_height, 1e-9)
    return np.clip(heights / reference, 0.0, 1.0)


def _aspect(boxes: np.ndarray) -> np.ndarray:
    widths, heights = _widths_heights(boxes)
    valid = (widths > 0) & (heights > 0)
    ratio = np.where(valid, heights / np.where(valid, widths, 1.0) / IDEAL_ASPECT, 1.0)
    return np.where(valid, np.exp2(-(np.log2(ratio) ** 2)), 0.0)


def _truncation(boxes: np.ndarray, *, frame_height: int, frame_width: int) -> np.ndarray:
    widths, heights = _widths_heights(boxes)
    area = widths * heights
    inside_w = np.clip(np.minimum(boxes[:, 2], frame_width) - np.maximum(boxes[:, 0], 0.0), 0.0, None)
    inside_h = np.clip(np.minimum(boxes[:, 3], frame_height) - np.maximum(boxes[:, 1], 0.0), 0.0, None)
    inside = np.where(area > 0, inside_w * inside_h / np.where(area > 0, area, 1.0), 0.0)
    gap_x = np.minimum(boxes[:, 0], frame_width - boxes[:, 2]) / np.maximum(BORDER_MARGIN_FRACTION * widths, 1e-9)
    gap_y = np.minimum(boxes[:, 1], frame_height - boxes[:, 3]) / np.maximum(BORDER_MARGIN_FRACTION * heights, 1e-9)
    clearance = np.clip(np.minimum(gap_x, gap_y), 0.0, 1.0)
    return inside * (TOUCHING_BORDER_SCORE + (1.0 - TOUCHING_BORDER_SCORE) * clearance)


def _occlusion(boxes: np.ndarray) -> np.ndarray:
    count = len(boxes)
    if count < 2:
        return np.ones(count)
    widths, heights = _widths_heights(boxes)
    area = widths * heights
    overlap_w = np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(boxes[:, None, 0], boxes[None, :, 0])
    overlap_h = np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(boxes[:, None, 1], boxes[None, :, 1])
    intersection = np.clip(overlap_w, 0.0, None) * np.clip(overlap_h, 0.0, None)
    in_front = boxes[None, :, 3] >= boxes[:, None, 3]  # [i, j]: box j is in front of box i
    np.fill_diagonal(in_front, False)
    covered = np.where(in_front, intersection, 0.0).max(axis=1) / np.maximum(area, 1e-9)
    return np.where(area > 0, 1.0 - np.clip(covered, 0.0, 1.0), 0.0)


def _sharpness(image: np.ndarray, boxes: np.ndarray, *, reference: float) -> np.ndarray:
    frame_height, frame_width = image.shape[:2]
    patch_height, patch_width = SHARPNESS_PATCH
    x1 = np.clip(np.floor(boxes[:, 0]), 0, frame_width).astype(np.int64)
    y1 = np.clip(np.floor(boxes[:, 1]), 0, frame_height).astype(np.int64)
    x2 = np.clip(np.ceil(boxes[:, 2]), 0, frame_width).astype(np.int64)
    y2 = np.clip(np.ceil(boxes[:, 3]), 0, frame_height).astype(np.int64)
    variances = np.zeros(len(boxes))
    for i in range(len(boxes)):
        if x2[i] - x1[i] < 2 or y2[i] - y1[i] < 2:
            continue
        rows, columns = slice(int(y1[i]), int(y2[i])), slice(int(x1[i]), int(x2[i]))
        patch = grey_region(image, rows, columns, width=patch_width, height=patch_height)
        laplacian = cv2.Laplacian(patch, cv2.CV_32F, ksize=1)
        _, std = cv2.meanStdDev(laplacian)
        variances[i] = float(std[0, 0]) ** 2
    return 1.0 - np.exp(-variances / max(reference, 1e-9))


def _score(components: np.ndarray, *, config: QualityConfig) -> np.ndarray:
    weights = exponents(config)
    total = weights.sum()
    if total <= 0:
        return np.ones(len(components))
    values = components.astype(np.float64)
    active = weights > 0
    worthless = (values[:, active] <= 0).any(axis=1)
    logs = np.log(np.maximum(values, _LOG_FLOOR))
    score = np.exp(logs[:, active] @ weights[active] / total)
    return np.where(worthless, 0.0, np.clip(score, 0.0, 1.0))

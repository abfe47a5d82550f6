"""A weights-free person embedder: part-based colour and gradient histograms.

:class:`FallbackEmbedder` needs no weights: per body part (head, torso, legs) colour
histograms in hue-saturation (plus a grey-level histogram for achromatic clothing)
and gradient-orientation histograms. It tells clothing apart; it does not know faces
or gait.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from streamreid.reid.features import as_crop_batch, unit_rows
from streamreid.weights.records import ResolvedWeights

# Body parts as fractions of the crop height: (name, top, bottom).
BODY_PARTS: tuple[tuple[str, float, float], ...] = (("head", 0.0, 0.2), ("torso", 0.2, 0.55), ("legs", 0.55, 1.0))
# OpenCV's 8-bit hue runs 0..179 (degrees / 2).
_HUE_LEVELS = 180


def _soft_bins(values: np.ndarray, bins: int, *, circular: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear interpolation of ``values`` in ``[0, 1]`` between bin centres.

    Returns the lower bin, the upper bin and the weight of the upper bin, so a value
    near a bin edge is shared between the two bins instead of jumping between them.
    """
    position = values * bins - 0.5
    lower = np.floor(position)
    upper_weight = position - lower
    lower = lower.astype(np.int64)
    upper = lower + 1
    if circular:
        lower %= bins
        upper %= bins
    else:
        below = lower < 0
        above = upper > bins - 1
        lower = np.clip(lower, 0, bins - 1)
        upper = np.clip(upper, 0, bins - 1)
        upper_weight = np.where(below, 1.0, np.where(above, 0.0, upper_weight))
    return lower, upper, upper_weight


def _soft_bin_matrix(values: np.ndarray, bins: int, *, circular: bool) -> np.ndarray:
    """:func:`_soft_bins` as a matrix: ``values`` of shape ``(..., L)`` → ``(..., L, bins)`` float64 weights."""
    lower, upper, upper_weight = _soft_bins(values, bins, circular=circular)
    one_hot = np.eye(bins)
    upper_weight = upper_weight[..., None].astype(np.float64)
    return one_hot[lower] * (1.0 - upper_weight) + one_hot[upper] * upper_weight


def _padded_soft_bins(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_soft_bins` without wrapping or clipping, for histograms with one extra bin at each end.

    Returns ``lower + 1`` (so ``0`` is the extra bin below, ``bins + 1`` the one above) and the
    weight of the upper bin; :func:`_fold_padding` then gives the extra bins back as
    :func:`_soft_bins` would have (up to float rounding of the weights).
    """
    position = values * bins + 0.5
    lower = np.floor(position)
    return lower.astype(np.intp), position - lower


def _fold_padding(padded: np.ndarray, *, circular: bool) -> np.ndarray:
    """Histograms over ``bins + 2`` padded bins (last axis) → ``bins`` bins.

    Circular bins wrap the extra bins around; the others add them to the first and last bin,
    as the clipping in :func:`_soft_bins` does.
    """
    inner = padded[..., 1:-1].copy()
    below, above = padded[..., 0], padded[..., -1]
    inner[..., -1 if circular else 0] += below
    inner[..., 0 if circular else -1] += above
    return inner


def _soft_histograms(index: np.ndarray, weight: np.ndarray, upper_weight: np.ndarray, size: int) -> np.ndarray:
    """Weighted histogram where each pixel splits ``weight`` between bin ``index`` and ``index + 1``.

    ``upper_weight`` is the part that goes to ``index + 1``. Two ``bincount`` passes over the
    same index (the whole weight and the upper part) instead of one per bin.
    """
    upper = weight * upper_weight
    whole = np.bincount(index, weights=weight, minlength=size)
    above = np.bincount(index, weights=upper, minlength=size)
    histogram = whole - above
    histogram[1:] += above[:-1]
    return histogram


def _smoothstep(values: np.ndarray, low: float, high: float) -> np.ndarray:
    t = np.clip((values - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _median_levels(counts: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Per row, the median of values given as counts per level (``np.median`` of the expanded values)."""
    total = int(counts[0].sum())
    cumulative = np.cumsum(counts, axis=1)
    low = levels[np.argmax(cumulative > (total - 1) // 2, axis=1)]
    high = levels[np.argmax(cumulative > total // 2, axis=1)]
    return (low + high) / levels.dtype.type(2)


class FallbackEmbedder:
    """Weights-free person features: part-based colour and gradient histograms.

    Each crop is resized to ``height x width`` (so the scale of the person does not
    matter) and split into head, torso and legs stripes (:data:`BODY_PARTS`). Pixels are
    weighted by a Gaussian across the width, so the person in the middle counts more than
    the background at the sides. Per stripe:

    * a hue x saturation histogram of the coloured pixels (hue and saturation do not change
      when the light gets brighter or darker),
    * a histogram of *relative* brightness (value / the crop's median value) of the grey,
      black and white pixels, which colour cannot describe,
    * a histogram of gradient orientations weighted by gradient magnitude (texture,
      stripes, edges), normalised so only its shape counts.

    Histograms are soft-binned (a value near a bin edge is shared), normalised to sum 1
    and square-rooted (so the cosine of two vectors is the Bhattacharyya coefficient of
    the histograms), weighted and concatenated; the result is L2-normalised.

    Similarities from this embedder are higher across the board than OSNet's (all vectors
    are non-negative), so its fixed thresholds mean less: prefer the calibrated threshold.
    Known limits: over-exposure that clips light, weakly saturated clothing (pastels) shifts
    its hue and saturation; two people dressed alike are alike to it.

    Args:
        height: Height crops are resized to.
        width: Width crops are resized to.
        hue_bins: Hue bins of the colour histogram.
        saturation_bins: Saturation bins of the colour histogram.
        grey_bins: Bins of the relative-brightness histogram of achromatic pixels.
        orientation_bins: Bins of the gradient-orientation histogram (0-180 degrees).
        texture_weight: Weight of the gradient block against the colour block.
        grey_saturation: Saturation below which a pixel counts as grey (fully coloured from
            three times this value; the change is smooth).
        grey_range: Relative brightness mapped to the last grey bin.
        chunk: Crops computed at once inside :meth:`embed` (speed only: the features do not change).
    """

    kind = "fallback"
    weights: ResolvedWeights | None = None
    device = "cpu"

    def __init__(
        self,
        *,
        height: int = 128,
        width: int = 64,
        hue_bins: int = 8,
        saturation_bins: int = 3,
        grey_bins: int = 6,
        orientation_bins: int = 8,
        texture_weight: float = 0.5,
        grey_saturation: float = 0.06,
        grey_range: float = 1.5,
        chunk: int = 8,
    ) -> None:
        self.height = int(height)
        self.width = int(width)
        self.hue_bins = int(hue_bins)
        self.saturation_bins = int(saturation_bins)
        self.grey_bins = int(grey_bins)
        self.orientation_bins = int(orientation_bins)
        self.texture_weight = float(texture_weight)
        self.grey_saturation = float(grey_saturation)
        self.grey_range = float(grey_range)
        self._colour_bins = self.hue_bins * self.saturation_bins + self.grey_bins
        self.dim = len(BODY_PARTS) * (self._colour_bins + self.orientation_bins)
        self.name = "fallback (part colour + gradient histograms, no weights)"
        if int(chunk) < 1:
            raise ValueError(f"chunk must be at least 1, got {chunk}")
        self.chunk = int(chunk)
        self._build_pixel_tables()
        self._build_level_tables()

    def _build_pixel_tables(self) -> None:
        """Per-pixel constants of a chunk of crops, flat in crop-major order: centre weights and bin offsets."""
        rows = np.arange(self.height)
        part_of_row = np.zeros(self.height, dtype=np.intp)
        for index, (_, top, _bottom) in enumerate(BODY_PARTS):
            part_of_row[rows >= round(top * self.height)] = index
        part = np.repeat(part_of_row, self.width)
        # Histogram group of each pixel: (crop, part), crop-major.
        group = (part[None, :] + len(BODY_PARTS) * np.arange(self.chunk)[:, None]).reshape(-1)
        self._value_offset = group * 256
        self._colour_offset = group * (_HUE_LEVELS * (self.saturation_bins + 2))
        self._texture_offset = group * (self.orientation_bins + 2)
        columns = (np.arange(self.width) + 0.5) / self.width - 0.5
        centre = np.tile(np.exp(-0.5 * (columns / 0.25) ** 2), self.height)
        self._centre = np.tile(centre, self.chunk)
        # The first and last row of each crop see the neighbouring crop in the tall image: no gradients there.
        inner = centre.reshape(self.height, self.width).copy()
        inner[[0, -1]] = 0.0
        self._gradient_centre = np.tile(inner.reshape(-1), self.chunk)

    def _build_level_tables(self) -> None:
        """Lookup tables over the uint8 levels of hue, saturation and value (OpenCV's 8-bit HSV)."""
        self._levels = np.arange(256, dtype=np.float32) / 255.0
        saturation = self._levels
        colourful = np.clip((saturation - self.grey_saturation) / (1 - self.grey_saturation), 0, 1)
        lower, upper_weight = _padded_soft_bins(colourful, self.saturation_bins)
        hue_index = np.zeros(256, dtype=np.int32)
        hue_index[:_HUE_LEVELS] = np.arange(_HUE_LEVELS) * (self.saturation_bins + 2)
        self._hue_index = hue_index
        self._saturation_index = lower.astype(np.int32)
        self._saturation_upper = upper_weight.astype(np.float64)
        self._saturation_chroma = _smoothstep(saturation, self.grey_saturation, 3 * self.grey_saturation).astype(
            np.float64
        )
        hue = np.arange(_HUE_LEVELS, dtype=np.float32) / 180.0
        self._hue_matrix = _soft_bin_matrix(hue, self.hue_bins, circular=True)

    def embed(self, crops: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Features of ``crops``: ``(N, H, W, 3)`` uint8 BGR → ``(N, dim)`` float32 unit rows.

        Crops are run ``chunk`` at a time (the per-pixel arrays of a chunk stay in the CPU cache);
        each crop's features depend on that crop only.
        """
        images = as_crop_batch(crops, self.height, self.width)
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(
            [self._embed_chunk(images[i : i + self.chunk]) for i in range(0, len(images), self.chunk)]
        )

    def _embed_chunk(self, images: np.ndarray) -> np.ndarray:
        count = len(images)
        # One tall image per chunk: cvtColor and Sobel run once for all its crops.
        tall = images.reshape(count * self.height, self.width, 3)
        colour = self._colour_histograms(tall, count)
        texture = self._texture_histograms(tall, count)
        colour = np.sqrt(colour / np.maximum(colour.sum(axis=2, keepdims=True), 1e-12))
        texture = np.sqrt(texture / np.maximum(texture.sum(axis=2, keepdims=True), 1e-12)) * self.texture_weight
        features = np.concatenate([colour.reshape(count, -1), texture.reshape(count, -1)], axis=1)
        return unit_rows(features)

    def _colour_histograms(self, tall: np.ndarray, count: int) -> np.ndarray:
        """Hue x saturation histograms of coloured pixels, then relative-brightness ones of grey pixels.

        Returns ``(count, parts, hue_bins * saturation_bins + grey_bins)``. Saturation weights
        and bins come from lookup tables; the value tables depend on the crop's median value.
        """
        pixels = count * self.height * self.width
        groups = count * len(BODY_PARTS)
        hue, saturation, value = (channel.reshape(-1) for channel in cv2.split(cv2.cvtColor(tall, cv2.COLOR_BGR2HSV)))
        centre = self._centre[:pixels]
        value_index = self._value_offset[:pixels] + value
        value_counts = np.bincount(value_index, minlength=groups * 256).reshape(count, len(BODY_PARTS), 256)
        # Brightness relative to the crop's median: the same under any global gain (short of clipping).
        median = _median_levels(value_counts.sum(axis=1), self._levels)
        relative = self._levels[None, :] / np.maximum(median, 1e-3)[:, None]
        # How "coloured" a pixel is: saturated (a table) and not too dark for its crop (a table per crop).
        value_chroma = _smoothstep(relative, 0.15, 0.35).astype(np.float64)
        saturated = centre * cv2.LUT(saturation, self._saturation_chroma).reshape(-1)
        coloured = saturated * np.repeat(value_chroma, len(BODY_PARTS), axis=0).reshape(-1)[value_index]
        index = self._colour_offset[:pixels] + (
            cv2.LUT(hue, self._hue_index) + cv2.LUT(saturation, self._saturation_index)
        ).reshape(-1)
        upper = cv2.LUT(saturation, self._saturation_upper).reshape(-1)
        size = groups * _HUE_LEVELS * (self.saturation_bins + 2)
        by_hue = _soft_histograms(index, coloured, upper, size).reshape(groups, _HUE_LEVELS, -1)
        hue_saturation = self._hue_matrix.T @ _fold_padding(by_hue, circular=False)  # (groups, hue, saturation)
        # Grey weight per pixel is centre * (1 - saturation chroma * value chroma): sum both terms per value level.
        centre_sum = np.bincount(value_index, weights=centre, minlength=groups * 256).reshape(count, -1, 256)
        saturated_sum = np.bincount(value_index, weights=saturated, minlength=groups * 256).reshape(count, -1, 256)
        grey_by_value = np.maximum(centre_sum - value_chroma[:, None, :] * saturated_sum, 0.0)
        grey_matrix = _soft_bin_matrix(np.clip(relative / self.grey_range, 0, 1), self.grey_bins, circular=False)
        grey = grey_by_value @ grey_matrix
        return np.concatenate([hue_saturation.reshape(count, len(BODY_PARTS), -1), grey], axis=2)

    def _texture_histograms(self, tall: np.ndarray, count: int) -> np.ndarray:
        """Gradient-orientation histograms weighted by gradient magnitude: ``(count, parts, orientation_bins)``."""
        pixels = count * self.height * self.width
        luminance = cv2.cvtColor(tall, cv2.COLOR_BGR2GRAY).astype(np.float32)
        gx = cv2.Sobel(luminance, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(luminance, cv2.CV_32F, 0, 1, ksize=3)
        strength = self._gradient_centre[:pixels] * cv2.magnitude(gx, gy).reshape(-1)
        angle = np.arctan2(gy, gx).reshape(-1)
        np.add(angle, np.pi, out=angle, where=angle < 0)  # [0, pi]: an edge and its opposite are one orientation
        lower, upper = _padded_soft_bins(angle / np.pi, self.orientation_bins)
        size = count * len(BODY_PARTS) * (self.orientation_bins + 2)
        padded = _soft_histograms(self._texture_offset[:pixels] + lower, strength, upper, size)
        return _fold_padding(padded.reshape(count, len(BODY_PARTS), -1), circular=True)

    def __repr__(self) -> str:
        return f"FallbackEmbedder(dim={self.dim}, size={self.height}x{self.width})"

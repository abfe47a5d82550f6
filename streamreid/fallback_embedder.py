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

from streamreid.features import as_crop_batch, unit_rows
from streamreid.weights import ResolvedWeights

# Body parts as fractions of the crop height: (name, top, bottom).
BODY_PARTS: tuple[tuple[str, float, float], ...] = (("head", 0.0, 0.2), ("torso", 0.2, 0.55), ("legs", 0.55, 1.0))


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


def _smoothstep(values: np.ndarray, low: float, high: float) -> np.ndarray:
    t = np.clip((values - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


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
        rows = np.arange(self.height)
        part_of_row = np.zeros(self.height, dtype=np.int64)
        for index, (_, top, _bottom) in enumerate(BODY_PARTS):
            part_of_row[rows >= round(top * self.height)] = index
        self._part = np.broadcast_to(part_of_row[:, None], (self.height, self.width)).reshape(-1)
        columns = (np.arange(self.width) + 0.5) / self.width - 0.5
        centre = np.exp(-0.5 * (columns / 0.25) ** 2)
        self._centre = np.broadcast_to(centre[None, :], (self.height, self.width)).reshape(-1)

    def embed(self, crops: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Features of ``crops``: ``(N, H, W, 3)`` uint8 BGR → ``(N, dim)`` float32 unit rows."""
        images = as_crop_batch(crops, self.height, self.width)
        count = len(images)
        if count == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        pixels = self.height * self.width
        # One tall image per call: cvtColor and Sobel run once for the whole batch.
        tall = images.reshape(count * self.height, self.width, 3)
        hsv = cv2.cvtColor(tall, cv2.COLOR_BGR2HSV).reshape(count, pixels, 3).astype(np.float32)
        hue = hsv[..., 0] / 180.0
        saturation = hsv[..., 1] / 255.0
        value = hsv[..., 2] / 255.0

        base = self._centre[None, :]
        # Brightness relative to the crop's median: the same under any global gain (short of clipping).
        median_value = np.median(value, axis=1, keepdims=True)
        relative_value = value / np.maximum(median_value, 1e-3)
        # How "coloured" a pixel is: saturated and not too dark for its crop.
        chroma = _smoothstep(saturation, self.grey_saturation, 3 * self.grey_saturation) * _smoothstep(
            relative_value, 0.15, 0.35
        )

        part_offset = self._part[None, :] * self._colour_bins + np.arange(count)[:, None] * (
            len(BODY_PARTS) * self._colour_bins
        )
        colour = np.zeros(count * len(BODY_PARTS) * self._colour_bins)
        h_lo, h_hi, h_w = _soft_bins(hue, self.hue_bins, circular=True)
        s_lo, s_hi, s_w = _soft_bins(
            np.clip((saturation - self.grey_saturation) / (1 - self.grey_saturation), 0, 1),
            self.saturation_bins,
            circular=False,
        )
        coloured = base * chroma
        for h_bin, h_weight in ((h_lo, 1 - h_w), (h_hi, h_w)):
            for s_bin, s_weight in ((s_lo, 1 - s_w), (s_hi, s_w)):
                index = part_offset + h_bin * self.saturation_bins + s_bin
                colour += np.bincount(
                    index.ravel(), weights=(coloured * h_weight * s_weight).ravel(), minlength=colour.size
                )
        grey = base * (1.0 - chroma)
        g_lo, g_hi, g_w = _soft_bins(np.clip(relative_value / self.grey_range, 0, 1), self.grey_bins, circular=False)
        grey_offset = part_offset + self.hue_bins * self.saturation_bins
        for g_bin, g_weight in ((g_lo, 1 - g_w), (g_hi, g_w)):
            colour += np.bincount(
                (grey_offset + g_bin).ravel(), weights=(grey * g_weight).ravel(), minlength=colour.size
            )
        colour = colour.reshape(count, len(BODY_PARTS), self._colour_bins)

        luminance = cv2.cvtColor(tall, cv2.COLOR_BGR2GRAY).astype(np.float32)
        gx = cv2.Sobel(luminance, cv2.CV_32F, 1, 0, ksize=3).reshape(count, pixels)
        gy = cv2.Sobel(luminance, cv2.CV_32F, 0, 1, ksize=3).reshape(count, pixels)
        magnitude = np.hypot(gx, gy)
        # The first and last row of each crop see the neighbouring crop in the tall image: ignore them.
        magnitude[:, : self.width] = 0.0
        magnitude[:, -self.width :] = 0.0
        orientation = (np.arctan2(gy, gx) % np.pi) / np.pi
        o_lo, o_hi, o_w = _soft_bins(orientation, self.orientation_bins, circular=True)
        texture = np.zeros(count * len(BODY_PARTS) * self.orientation_bins)
        t_offset = self._part[None, :] * self.orientation_bins + np.arange(count)[:, None] * (
            len(BODY_PARTS) * self.orientation_bins
        )
        strength = base * magnitude
        for o_bin, o_weight in ((o_lo, 1 - o_w), (o_hi, o_w)):
            texture += np.bincount(
                (t_offset + o_bin).ravel(), weights=(strength * o_weight).ravel(), minlength=texture.size
            )
        texture = texture.reshape(count, len(BODY_PARTS), self.orientation_bins)

        colour = np.sqrt(colour / np.maximum(colour.sum(axis=2, keepdims=True), 1e-12))
        texture = np.sqrt(texture / np.maximum(texture.sum(axis=2, keepdims=True), 1e-12)) * self.texture_weight
        features = np.concatenate([colour.reshape(count, -1), texture.reshape(count, -1)], axis=1)
        return unit_rows(features)

    def __repr__(self) -> str:
        return f"FallbackEmbedder(dim={self.dim}, size={self.height}x{self.width})"

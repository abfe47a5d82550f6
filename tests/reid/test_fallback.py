"""The fast weights-free embedder gives the features of its definition, written out plainly here.

:func:`reference_features` is the fallback embedder's definition, one crop at a time, in float64,
with dense soft-bin weights per pixel and no lookup tables, chunks or padded bins. The embedder
(lookup tables, per-crop value tables, two ``bincount`` passes per histogram) must agree with it
to 1e-5 on synthetic crops of every kind it meets and on real ones from PETS09-S2L1.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streamreid.reid.fallback import BODY_PARTS, FallbackEmbedder
from streamreid.reid.features import as_crop_batch

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("STREAMREID_SHARED") or ROOT.parent / "shared")
PETS = SHARED / "data" / "pets09-s2l1"


def soft_bin_weights(values: np.ndarray, bins: int, *, circular: bool) -> np.ndarray:
    """``(n,)`` values in [0, 1] → ``(n, bins)``: each value shared linearly between the two nearest bin centres."""
    position = values * bins - 0.5
    lower = np.floor(position).astype(int)
    upper_share = position - lower
    upper = lower + 1
    if circular:
        lower, upper = lower % bins, upper % bins
    else:  # below the first centre or above the last: all in the end bin
        upper_share = np.where(lower < 0, 1.0, np.where(upper > bins - 1, 0.0, upper_share))
        lower, upper = np.clip(lower, 0, bins - 1), np.clip(upper, 0, bins - 1)
    weights = np.zeros((len(values), bins))
    np.add.at(weights, (np.arange(len(values)), lower), 1.0 - upper_share)
    np.add.at(weights, (np.arange(len(values)), upper), upper_share)
    return weights


def smoothstep(values: np.ndarray, low: float, high: float) -> np.ndarray:
    t = np.clip((values - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def reference_features(crop: np.ndarray, e: FallbackEmbedder) -> np.ndarray:
    """The embedder's features of one crop, computed per pixel in float64 with ``e``'s settings."""
    image = as_crop_batch([crop], e.height, e.width)[0]
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).reshape(-1, 3) / np.array([180.0, 255.0, 255.0])
    hue, saturation, value = hsv.T
    columns = (np.arange(e.width) + 0.5) / e.width - 0.5
    centre = np.tile(np.exp(-0.5 * (columns / 0.25) ** 2), e.height)
    relative = value / max(np.median(value), 1e-3)
    chroma = smoothstep(saturation, e.grey_saturation, 3 * e.grey_saturation) * smoothstep(relative, 0.15, 0.35)
    colourful = np.clip((saturation - e.grey_saturation) / (1 - e.grey_saturation), 0, 1)
    hue_saturation = (
        soft_bin_weights(hue, e.hue_bins, circular=True)[:, :, None]
        * soft_bin_weights(colourful, e.saturation_bins, circular=False)[:, None, :]
    )
    grey = soft_bin_weights(np.clip(relative / e.grey_range, 0, 1), e.grey_bins, circular=False)
    colour = np.concatenate(
        [hue_saturation.reshape(len(hue), -1) * (centre * chroma)[:, None], grey * (centre * (1 - chroma))[:, None]],
        axis=1,
    )
    luminance = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float64)
    gx = cv2.Sobel(luminance, cv2.CV_64F, 1, 0, ksize=3)
    gy = cv2.Sobel(luminance, cv2.CV_64F, 0, 1, ksize=3)
    magnitude = np.hypot(gx, gy)
    magnitude[[0, -1]] = 0.0  # the embedder ignores the first and last row
    orientation = np.mod(np.arctan2(gy, gx), np.pi).reshape(-1) / np.pi
    texture = (
        soft_bin_weights(orientation, e.orientation_bins, circular=True) * (centre * magnitude.reshape(-1))[:, None]
    )
    row = np.repeat(np.arange(e.height), e.width)
    colour_blocks, texture_blocks = [], []
    for _, top, bottom in BODY_PARTS:
        inside = (row >= round(top * e.height)) & (row < round(bottom * e.height))
        c, t = colour[inside].sum(axis=0), texture[inside].sum(axis=0)
        colour_blocks.append(np.sqrt(c / max(c.sum(), 1e-12)))
        texture_blocks.append(np.sqrt(t / max(t.sum(), 1e-12)) * e.texture_weight)
    features = np.concatenate(colour_blocks + texture_blocks)
    return features / np.linalg.norm(features)


def varied_crops() -> list[np.ndarray]:
    """Coloured, grey, dark, bright, striped, flat, pastel and odd-sized crops."""
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, size=(4, 256, 128, 3), dtype=np.uint8)
    coloured = [cv2.GaussianBlur(image, (0, 0), sigma) for image, sigma in zip(noise, (1, 3, 6, 12), strict=True)]
    grey = np.repeat(coloured[1][..., :1], 3, axis=2)
    dark = (coloured[2] // 12).astype(np.uint8)  # values 0..21
    bright = np.clip(coloured[3].astype(int) + 120, 0, 255).astype(np.uint8)  # clipped highlights
    yy, xx = np.mgrid[0:256, 0:128]
    stripes = [
        np.where(((yy // 8) % 2)[..., None] == 1, (200, 40, 40), (30, 30, 30)).astype(np.uint8),
        np.where(((xx // 5) % 2)[..., None] == 1, (250, 250, 250), (20, 140, 20)).astype(np.uint8),
        np.where((((xx + yy) // 6) % 2)[..., None] == 1, (90, 60, 200), (60, 200, 220)).astype(np.uint8),
    ]
    flat = [
        np.zeros((256, 128, 3), np.uint8),
        np.full((256, 128, 3), 255, np.uint8),
        np.full((256, 128, 3), 128, np.uint8),
    ]
    pastel = np.clip(200 + (coloured[0].astype(int) - 128) // 8, 0, 255).astype(np.uint8)  # near the grey threshold
    odd = [
        cv2.GaussianBlur(rng.integers(0, 256, size=shape, dtype=np.uint8), (0, 0), 2)
        for shape in ((90, 41, 3), (400, 170, 3))
    ]
    return [*coloured, grey, dark, bright, *stripes, *flat, pastel, *odd]


def assert_reference_features(embedder: FallbackEmbedder, crops: list[np.ndarray]) -> None:
    features = embedder.embed(crops)
    expected = np.stack([reference_features(crop, embedder) for crop in crops])
    assert features.shape == expected.shape and features.dtype == np.float32
    np.testing.assert_allclose(features, expected, rtol=0, atol=1e-5)


def test_fallback_features_are_those_of_the_plain_definition():
    assert_reference_features(FallbackEmbedder(), varied_crops())


def test_fallback_features_follow_the_settings_and_do_not_depend_on_chunks():
    crops = varied_crops()
    # An odd number of pixels (a median that is one value) and chunks that do not divide the batch.
    settings = dict(height=65, width=33, hue_bins=6, saturation_bins=2, grey_bins=4, orientation_bins=6)
    embedder = FallbackEmbedder(**settings, texture_weight=0.8, grey_saturation=0.1, grey_range=2.0, chunk=3)
    assert_reference_features(embedder, crops)
    whole = FallbackEmbedder(chunk=64).embed(crops)
    np.testing.assert_allclose(FallbackEmbedder(chunk=1).embed(crops), whole, rtol=0, atol=1e-6)
    np.testing.assert_allclose(FallbackEmbedder(chunk=5).embed(crops), whole, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="chunk"):
        FallbackEmbedder(chunk=0)


@pytest.mark.skipif(not (PETS / "vtest.avi").is_file(), reason=f"real footage not found in {SHARED}")
def test_fallback_features_are_those_of_the_plain_definition_on_real_crops():
    boxes = np.loadtxt(PETS / "gt.txt", delimiter=",")
    boxes = boxes[(boxes[:, 6] == 1) & np.isin(boxes[:, 0], (1, 40, 80, 120))]
    crops = []
    with av.open(str(PETS / "vtest.avi")) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index + 1 > 120:
                break
            image = frame.to_ndarray(format="bgr24")
            for _, _, left, top, width, height in boxes[boxes[:, 0] == index + 1, :6]:
                x0, y0 = max(int(left), 0), max(int(top), 0)
                crop = image[y0 : int(top + height), x0 : int(left + width)]
                if crop.shape[0] >= 8 and crop.shape[1] >= 4:
                    crops.append(crop)
    assert len(crops) >= 20
    assert_reference_features(FallbackEmbedder(), crops)

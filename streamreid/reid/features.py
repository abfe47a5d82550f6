"""What every embedder shares: the crop-batch contract and unit-length feature rows.

An embedder turns person crops into unit-length feature vectors, one per crop:
``embed(crops)`` takes ``(N, H, W, 3)`` uint8 BGR images and returns ``(N, dim)``
float32 rows of L2 norm 1, so the dot product of two rows is their cosine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from streamreid.weights.records import ResolvedWeights


@runtime_checkable
class Embedder(Protocol):
    """What the pipeline needs from an embedder.

    Attributes:
        name: Human-readable name, e.g. ``osnet_x0_25 (osnet_x0_25_msmt17.pt)``.
        kind: ``"osnet"`` or ``"fallback"``.
        dim: Length of each feature vector.
        weights: Where the weights came from, or ``None`` for the fallback.
        device: Where inference runs (``cpu``, ``cuda``, ...).
    """

    name: str
    kind: str
    dim: int
    weights: ResolvedWeights | None
    device: str

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3)`` uint8 BGR crops → ``(N, dim)`` float32 rows of unit L2 norm."""
        ...


def as_crop_batch(crops: np.ndarray | Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """Stack crops into ``(N, height, width, 3)`` uint8, resizing those of another size."""
    if isinstance(crops, np.ndarray) and crops.ndim == 4 and crops.shape[1:3] == (height, width):
        if crops.shape[3] != 3:
            raise ValueError(f"crops must have 3 channels (BGR), got shape {crops.shape}")
        return np.ascontiguousarray(crops, dtype=np.uint8)
    images = list(crops)
    out = np.empty((len(images), height, width, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f"crop {i} must be an (H, W, 3) BGR image, got shape {image.shape}")
        if image.shape[:2] != (height, width):
            shrinking = image.shape[0] > height
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        out[i] = image
    return out


def unit_rows(features: np.ndarray, *, dtype: type = np.float32) -> np.ndarray:
    """L2-normalise rows (computed in float64, returned as ``dtype``); all-zero rows stay zero."""
    features = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.where(norms > 0, norms, 1.0)).astype(dtype)


@dataclass(frozen=True)
class EmbedderInfo:
    """Which embedder produced the features (``run.json``'s and the outputs' ``embedder``)."""

    name: str
    kind: str
    dim: int
    device: str = "cpu"
    weights: dict[str, Any] | None = None

    @classmethod
    def of(cls, embedder: Embedder) -> EmbedderInfo:
        """Describe ``embedder``."""
        weights = getattr(embedder, "weights", None)
        return cls(name=embedder.name, kind=embedder.kind, dim=int(embedder.dim),
                   device=getattr(embedder, "device", "cpu"),
                   weights=weights.to_dict() if weights else None)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, in the order ``run.json`` has always shown."""
        return {"name": self.name, "kind": self.kind, "dim": self.dim, "device": self.device, "weights": self.weights}

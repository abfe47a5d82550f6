"""Whether an export finds the people PyTorch finds: the check every ONNX / OpenVINO export passes before it runs.

A runtime that silently loses people (as ONNX and OpenVINO exports of pose models did when
loaded as plain detectors) must fail loudly instead of reporting an empty video. The check
runs both on the pictures of people that ship with ultralytics.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import supervision as sv

_PROBE_IMAGES = ("bus.jpg", "zidane.jpg")
_AGREEMENT_IOU = {"f32": 0.9}  # overlap a clear person's box must keep in an export, by precision
_REDUCED_PRECISION_IOU = 0.75  # bf16 (and int8) move the edge of a close-up person's box by ~10 % (zidane.jpg)


def agreement_iou(precision: str) -> float:
    """The overlap a clear person's box must keep in an export running in ``precision``."""
    return _AGREEMENT_IOU.get(precision, _REDUCED_PRECISION_IOU)


def detections_agree(
    reference: Sequence[sv.Detections], candidate: Sequence[sv.Detections], *, confidence: float, min_iou: float = 0.9
) -> str | None:
    """Whether two runs of a model on the same images found the same people, allowing for precision.

    A clear person (confidence at least 0.1 above the threshold) in either run must be
    found by the other with IoU >= ``min_iou``; people near the threshold may come or go
    (reduced precision such as bf16 moves confidences a little), but no more than a fifth
    of them per image, and a run that finds people must not be matched by one that finds none.

    Args:
        reference: Detections per image of the trusted run (PyTorch).
        candidate: Detections per image of the run checked, same images in the same order.
        confidence: The detection threshold both ran with.
        min_iou: Overlap a clear person's box must keep.

    Returns:
        ``None`` when they agree, else one sentence saying how they differ.
    """
    found = sum(len(d) for d in reference), sum(len(d) for d in candidate)
    if found[0] != found[1] and min(found) == 0:
        return f"PyTorch finds {found[0]} people, this runtime {found[1]}"
    for image, (expected, got) in enumerate(zip(reference, candidate, strict=True)):
        if abs(len(got) - len(expected)) > max(1, len(expected) // 5):
            return f"on probe image {image} PyTorch finds {len(expected)} people, this runtime {len(got)}"
        for source, other in ((expected, got), (got, expected)):
            for box, score in zip(source.xyxy, source.confidence, strict=True):
                if score >= confidence + 0.1 and sv.box_iou_batch(other.xyxy, box[None]).max(initial=0.0) < min_iou:
                    return (
                        f"on probe image {image} a person at {np.round(box).astype(int).tolist()} is not found by both"
                    )
    return None


def probe_images() -> list[np.ndarray]:
    """Pictures of people that ship with ultralytics (``bus.jpg``, ``zidane.jpg``), BGR: the runtime check's input."""
    import cv2
    import ultralytics

    folder = Path(ultralytics.__file__).parent / "assets"
    images = [cv2.imread(str(folder / name)) for name in _PROBE_IMAGES]
    return [image for image in images if image is not None]

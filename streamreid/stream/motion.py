"""Observation-centric motion for the tracker (the two parts of OC-SORT that :mod:`.track` adds to ByteTrack).

* **Re-update after a gap** (:func:`virtual_trajectory`): a track lost for a few detected frames is predicted
  blind, and its Kalman velocity drifts; when a box is matched to it again, the filter is rewound to its last
  observation and fed boxes on the straight line from that observation to the new one, one per missed step, so
  that its velocity is the one the two observations imply.
* **Direction agreement** (:func:`motion_direction`, :func:`direction_agreement`): the direction a track was
  seen moving in (between two of its observations) against the direction from its older observation to each
  candidate box; a box ahead of the walker agrees (+0.5), one behind it disagrees (-0.5).

* **Noise in proportion to the box** (:func:`box_scaled_noise`): how far a detected corner strays and how much a
  walker's velocity changes from one frame to the next grow with the person's size in the picture, so the
  Kalman filter's noise is set from the box (as SORT and ByteTrack's original filter do), not in fixed pixels.

Pure functions over ``[x1, y1, x2, y2]`` boxes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _centres(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2.0, (boxes[:, 1] + boxes[:, 3]) / 2.0], axis=1)


def virtual_trajectory(last: np.ndarray, new: np.ndarray, steps: Sequence[float]) -> np.ndarray:
    """Boxes on the straight line from the last observation to the new one, at the times of the missed steps.

    Args:
        last: The track's last observed box.
        new: The box it is matched to now.
        steps: Lengths of the prediction steps since ``last`` (frame units; the last one ends at ``new``).

    Returns:
        ``(len(steps) - 1, 4)`` boxes, one at the end of each step but the last (where ``new`` itself is).
    """
    times = np.cumsum(np.asarray(steps, dtype=np.float64))
    if len(times) < 2 or times[-1] <= 0:
        return np.empty((0, 4))
    fractions = times[:-1] / times[-1]
    last = np.asarray(last, dtype=np.float64)
    return last + fractions[:, None] * (np.asarray(new, dtype=np.float64) - last)


def box_scaled_noise(box: np.ndarray, *, position: float = 1 / 20, velocity: float = 1 / 160) -> dict[str, np.ndarray]:
    """Kalman covariances for a corner-state filter (``x1, y1, x2, y2`` and their velocities) sized by ``box``.

    Args:
        box: The track's current box.
        position: Standard deviation of a corner's position, as a share of the box's width (x) or height (y).
        velocity: Standard deviation of a corner's velocity change per frame, likewise.

    Returns:
        ``measurement_noise`` (4 x 4), ``process_noise`` (8 x 8) and ``state_covariance`` (8 x 8: a new track's
        uncertainty, twice the position and ten times the velocity spread), diagonal.
    """
    x1, y1, x2, y2 = np.asarray(box, dtype=np.float64).reshape(4)
    size = np.array([x2 - x1, y2 - y1] * 2).clip(min=1.0)
    spread, drift = position * size, velocity * size
    return {
        "measurement_noise": np.diag(spread**2),
        "process_noise": np.diag(np.concatenate([spread, drift]) ** 2),
        "state_covariance": np.diag(np.concatenate([2 * spread, 10 * drift]) ** 2),
    }


def motion_direction(older: np.ndarray, newer: np.ndarray) -> np.ndarray | None:
    """Unit vector (x, y) from the centre of ``older`` to that of ``newer``; ``None`` where they coincide."""
    step = _centres(newer)[0] - _centres(older)[0]
    length = float(np.hypot(*step))
    return step / length if length > 1e-6 else None


def direction_agreement(directions: Sequence[np.ndarray | None], origins: np.ndarray,
                        boxes: np.ndarray) -> np.ndarray:  # fmt: skip
    """How well going to each box keeps each track's direction: ``(pi/2 - angle) / pi``, in [-0.5, 0.5].

    Args:
        directions: Per track, its observed direction of motion (unit x, y), or ``None`` (not known: 0 for every
            box).
        origins: ``(n_tracks, 4)``: per track, the observation its direction to a box is measured from.
        boxes: ``(n_boxes, 4)`` candidate boxes.

    Returns:
        ``(n_tracks, n_boxes)``: +0.5 for a box straight ahead, 0 at a right angle, -0.5 straight behind.
    """
    agreement = np.zeros((len(directions), len(boxes)))
    if not len(directions) or not len(boxes):
        return agreement
    targets = _centres(boxes)
    for row, (direction, origin) in enumerate(zip(directions, _centres(origins), strict=True)):
        if direction is None:
            continue
        offsets = targets - origin
        lengths = np.hypot(offsets[:, 0], offsets[:, 1])
        cosines = np.where(lengths > 1e-6, offsets @ direction / np.maximum(lengths, 1e-6), 0.0)
        agreement[row] = (np.pi / 2.0 - np.arccos(np.clip(cosines, -1.0, 1.0))) / np.pi
    return agreement

"""MOT-challenge text export, written as the stream goes.

One line per tracked box: ``frame,id,x,y,w,h,conf,-1,-1,-1`` with 1-based
frame numbers (the MOTChallenge convention), so the file loads in TrackEval,
``trackers``' MOT evaluation and most MOT tools. A box filled between two
detections of a track (``filling.py``) has ``conf`` -1.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import numpy as np
import supervision as sv


class MotSink:
    """Context-manager sink that appends tracked detections to a MOT text file.

    Args:
        path: File to write (truncated on open).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = None
        self.rows = 0

    def __enter__(self) -> MotSink:
        self._file = open(self.path, "w", encoding="ascii")  # noqa: SIM115 - closed in __exit__
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def write(self, frame_index: int, detections: sv.Detections) -> None:
        """Append one frame's tracked detections (0-based ``frame_index``)."""
        confidence = detections.confidence if detections.confidence is not None else np.ones(len(detections))
        self.write_rows(np.full(len(detections), frame_index), detections.tracker_id, detections.xyxy, confidence)

    def write_rows(
        self, frame_index: np.ndarray, tracker_id: np.ndarray, xyxy: np.ndarray, confidence: np.ndarray
    ) -> None:
        """Append tracked boxes: 0-based frame, track id, ``xyxy`` box and confidence of each (parallel arrays)."""
        if self._file is None:
            raise RuntimeError("MotSink is closed")
        if len(frame_index) == 0:
            return
        lines = [
            f"{int(frame) + 1},{int(tid)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{conf:.4f},-1,-1,-1\n"
            for frame, tid, (x1, y1, x2, y2), conf in zip(frame_index, tracker_id, xyxy, confidence, strict=True)
        ]
        self._file.writelines(lines)
        self.rows += len(lines)

    def flush(self) -> None:
        """Push written rows to disk."""
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Flush and close (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None

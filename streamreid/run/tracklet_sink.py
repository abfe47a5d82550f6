"""Where the streaming half's results go as they happen: tracked boxes, finished tracklets, their crops.

:class:`TrackletSink` writes the tracked boxes (detected and filled, ``filling.py``) to the
store and the MOT file, and moves each finished tracklet out of RAM: its statistics to the
``tracklet_stats.jsonl`` log, its crops (when it is long enough to count) to the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from streamreid.run.mot import MotSink
from streamreid.stream.filling import BoxRows
from streamreid.stream.stats import TrackletStatsAccumulator
from streamreid.types import TrackletStats

if TYPE_CHECKING:
    from streamreid.run.store import CropStore
    from streamreid.stream.reservoir import CropCollector


@dataclass
class TrackletSink:
    """The run's outputs while streaming: the store, the MOT file and the tracklet statistics log.

    Attributes:
        stats: The online statistics (finished tracklets are taken out of it).
        crops: The crop reservoirs, or ``None`` when crops are off.
        store: The run's crop store.
        stats_log: The open ``tracklet_stats.jsonl``.
        mot: The MOT file.
        min_detections: Tracklets with fewer detections keep no crops.
        finished: The most recent finished tracklets (all of them unless :meth:`forget_older` dropped some).
        forgotten: Finished tracklets no longer held in RAM (they are in the log).
        pending: Finished tracklets not yet flushed to disk.
    """

    stats: TrackletStatsAccumulator
    crops: CropCollector | None
    store: CropStore
    stats_log: IO[str]
    mot: MotSink
    min_detections: int
    finished: list[TrackletStats] = field(default_factory=list)
    forgotten: int = 0
    pending: bool = False

    def write_rows(self, rows: BoxRows) -> None:
        """Append tracked boxes (detected and filled, in frame order) to the store and the MOT file."""
        if not len(rows):
            return
        self.store.append_detections(frame_index=rows.frame_index, time=rows.time, tracker_id=rows.tracker_id,
                                     xyxy=rows.xyxy, confidence=rows.confidence)  # fmt: skip
        self.mot.write_rows(rows.frame_index, rows.tracker_id, rows.xyxy, rows.confidence)

    def close(self, tracker_ids: Iterable[int]) -> None:
        """Finish these tracklets: statistics to the log, crops to the store."""
        wrote = False
        for tracker_id in tracker_ids:
            final = self.stats.finish(tracker_id)
            samples, buffers = self.crops.pop(tracker_id) if self.crops is not None else ([], [])
            if final is None:
                continue
            self.finished.append(final)
            self.stats_log.write(json.dumps(final.to_dict()) + "\n")
            if samples and final.detection_count >= self.min_detections:
                self.store.write_tracklet(tracker_id, samples, buffers)
            wrote = True
        self.pending = self.pending or wrote

    def forget_older(self, *, keep: int) -> None:
        """Hold only the ``keep`` most recent finished tracklets in RAM (all are in the log): RAM stays flat."""
        if len(self.finished) > keep:
            self.forgotten += len(self.finished) - keep
            del self.finished[: len(self.finished) - keep]

    def flush(self) -> None:
        """Write everything buffered to disk."""
        self.pending = False
        self.stats_log.flush()
        self.mot.flush()
        self.store.flush()

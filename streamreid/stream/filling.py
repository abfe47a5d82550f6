"""A box on every frame of a track's life: the frames between two detections of a track, filled.

With ``detector.detect_stride`` above 1 the detector skips frames, and a tracker that loses a
person for a few frames leaves a hole too. MOT tools, annotation tools and every MOT metric
expect a box on every frame from a track's first box to its last, so :class:`GapFiller` fills
each hole once the next detection of the track arrives: the boxes are interpolated linearly in
time between the two detections (:func:`interpolate_boxes`). A filled row has confidence
:data:`FILLED_CONFIDENCE` (-1), which marks it everywhere it goes (``tracks.mot.txt``, the
store's detections, ``canonical_persons.npz``); it is never a detection: the tracklet statistics
and the crops see only the tracker's output, and "seen together" evidence needs a firm
confidence, which -1 never is. After a track's last detection nothing is filled (its life ended
there), and a cut between shots ends every track, so nothing is filled across a cut.

**Faint tails are trimmed.** ByteTrack's second association hands a track faint boxes (below
``tracker.high_conf_det_threshold``); at a track's end they are often another person's, taken by a
track whose own person was lost behind them. With ``firm`` set, a track's faint boxes (and the
boxes filled towards them) are held until the track has a firm box again; when the track ends
first (or the stream does), they are dropped: a track's life ends at its last firm box. A faint
run longer than ``max_faint_seconds`` (``tracker.faint_tail_seconds``) is the person seen faintly
for a while, not a tail, and is kept; it also bounds how long rows wait in the filler.

Rows leave the filler in frame order: a row is held until no live track can still get a filled
row at or before its frame (or a faint tail still open there), which is at most the time a lost
track is kept (``tracker.lost_track_seconds``), or ``max_faint_seconds`` behind a faint tail. The
filler holds only that: each live track's last box, its open faint tail, the frames since the
oldest of them and the rows not yet released.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import supervision as sv

from streamreid.config import TrackerConfig
from streamreid.types import TrackletStats

#: Confidence of a filled row (a detector's confidence is never negative).
FILLED_CONFIDENCE = -1.0


@dataclass(frozen=True)
class BoxRows:
    """Rows of tracked boxes, detected or filled (parallel arrays).

    Attributes:
        frame_index: ``(N,)`` int64 frame of each row.
        time: ``(N,)`` float64 its time in seconds.
        tracker_id: ``(N,)`` int64 the track.
        xyxy: ``(N, 4)`` float32 the box.
        confidence: ``(N,)`` float32 the detector's confidence, :data:`FILLED_CONFIDENCE` on a filled row.
    """

    frame_index: np.ndarray
    time: np.ndarray
    tracker_id: np.ndarray
    xyxy: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return len(self.frame_index)

    @property
    def filled(self) -> np.ndarray:
        """``(N,)`` bool: which rows are filled rather than detected."""
        return is_filled(self.confidence)

    def take(self, rows: np.ndarray) -> BoxRows:
        """The rows selected by an index or mask array."""
        return BoxRows(self.frame_index[rows], self.time[rows], self.tracker_id[rows], self.xyxy[rows],
                       self.confidence[rows])  # fmt: skip

    @staticmethod
    def empty() -> BoxRows:
        """No rows."""
        return BoxRows(np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int64),
                       np.zeros((0, 4), np.float32), np.zeros(0, np.float32))  # fmt: skip

    @staticmethod
    def of_frame(frame_index: int, time: float, tracked: sv.Detections) -> BoxRows:
        """One detected frame's tracked detections (a missing confidence is stored as 1)."""
        count = len(tracked)
        confidence = tracked.confidence if tracked.confidence is not None else np.ones(count)
        return BoxRows(np.full(count, frame_index, np.int64), np.full(count, time, np.float64),
                       np.asarray(tracked.tracker_id, np.int64).reshape(count),
                       np.asarray(tracked.xyxy, np.float32).reshape(count, 4),
                       np.asarray(confidence, np.float32).reshape(count))  # fmt: skip

    @staticmethod
    def concat(parts: Sequence[BoxRows]) -> BoxRows:
        """All rows of ``parts``, in order."""
        if not parts:
            return BoxRows.empty()
        return BoxRows(*(np.concatenate([getattr(p, name) for p in parts]) for name in
                         ("frame_index", "time", "tracker_id", "xyxy", "confidence")))  # fmt: skip


def faint_tail_filler(config: TrackerConfig) -> GapFiller:
    """The run's :class:`GapFiller`: trimming faint tails (``tracker.trim_faint_tails``) at the tracker's split."""
    if not config.trim_faint_tails:
        return GapFiller()
    return GapFiller(firm=config.high_conf_det_threshold, max_faint_seconds=config.faint_tail_seconds)


def is_filled(confidence: np.ndarray) -> np.ndarray:
    """Which rows of a confidence column are filled (:data:`FILLED_CONFIDENCE`) rather than detected."""
    return np.asarray(confidence) == FILLED_CONFIDENCE


def interpolate_boxes(
    start: tuple[float, np.ndarray], end: tuple[float, np.ndarray], times: Sequence[float]
) -> np.ndarray:
    """Boxes at ``times`` on the straight line from box ``start = (time, xyxy)`` to box ``end``: ``(len(times), 4)``.

    Two boxes at the same time (a variable frame rate gone wrong) give the start box.
    """
    (t0, box0), (t1, box1) = start, end
    span = t1 - t0
    weights = np.clip((np.asarray(times, np.float64) - t0) / span, 0.0, 1.0) if span > 0 else np.zeros(len(times))
    box0, box1 = np.asarray(box0, np.float64), np.asarray(box1, np.float64)
    return (box0 + weights[:, None] * (box1 - box0)).astype(np.float32)


class GapFiller:
    """Fills the frames between two detections of a track and releases every row in frame order.

    Call :meth:`frame` for every processed frame, then :meth:`detected` for the frames the
    tracker ran on; :meth:`end` when tracks end and :meth:`finish` at the end of the stream.
    Each returns the rows now final, in frame order (ties by track id).

    Args:
        firm: Confidence from which a box is firm; ``None``: every box is (nothing is trimmed).
        max_faint_seconds: The longest faint run that is trimmed at a track's end.
    """

    def __init__(self, *, firm: float | None = None, max_faint_seconds: float = math.inf) -> None:
        self.firm, self.max_faint_seconds = firm, max_faint_seconds
        self._last: dict[int, tuple[int, float, np.ndarray]] = {}  # live track -> its last detection
        self._frames: deque[tuple[int, float]] = deque()  # processed frames a live track may still fill
        self._held: list[BoxRows] = []
        self._faint: dict[int, list[BoxRows]] = {}  # live track -> its rows since its last firm box
        self._long: set[int] = set()  # live tracks in a faint run longer than max_faint_seconds

    def frame(self, index: int, time: float) -> None:
        """A processed frame (detected or not): a frame that may get filled boxes."""
        self._frames.append((index, time))

    def detected(self, index: int, time: float, tracked: sv.Detections) -> BoxRows:
        """A detected frame's tracked boxes; fills each track's frames since its previous detection."""
        rows = BoxRows.of_frame(index, time, tracked)
        ids = rows.tracker_id.tolist()
        firm = np.ones(len(ids), bool) if self.firm is None else rows.confidence >= self.firm
        plain = [(sure or t in self._long) and t not in self._faint for t, sure in zip(ids, firm.tolist(), strict=True)]
        self._held.append(rows.take(np.array(plain, dtype=bool)))
        for row, (tracker_id, box) in enumerate(zip(ids, rows.xyxy, strict=True)):
            last = self._last.get(tracker_id)
            filled = self._fill(tracker_id, last, (index, time, box)) if last is not None else BoxRows.empty()
            self._last[tracker_id] = (index, time, box)
            if plain[row]:
                self._held.append(filled)
            else:  # a faint box, or a firm one after a faint tail
                self._add(tracker_id, [filled, rows.take(np.array([row]))], firm=bool(firm[row]))
        return self._release()

    def _add(self, tracker_id: int, rows: list[BoxRows], *, firm: bool) -> None:
        """A track's new rows: held as its faint tail until a firm box confirms them (or the run grows long)."""
        run = self._faint.pop(tracker_id, []) + rows
        if firm or tracker_id in self._long:
            self._held.extend(run)  # a firm box: the faint run before it was the person
            if firm:
                self._long.discard(tracker_id)
            return
        since = min(float(part.time.min()) for part in run if len(part))
        if float(rows[-1].time.max()) - since > self.max_faint_seconds:
            self._held.extend(run)  # seen faintly for a while: the person, not a tail
            self._long.add(tracker_id)
        else:
            self._faint[tracker_id] = run

    def end(self, tracker_ids: Iterable[int]) -> BoxRows:
        """These tracks ended: their life ended at their last (firm) detection, nothing more is filled."""
        for tracker_id in tracker_ids:
            self._last.pop(int(tracker_id), None)
            self._faint.pop(int(tracker_id), None)  # a faint tail is dropped
            self._long.discard(int(tracker_id))
        return self._release()

    def finish(self) -> BoxRows:
        """End of stream: every row still held (faint tails dropped)."""
        self._last.clear()
        self._faint.clear()
        self._long.clear()
        return self._release()

    def _fill(
        self, tracker_id: int, last: tuple[int, float, np.ndarray], now: tuple[int, float, np.ndarray]
    ) -> BoxRows:
        """Filled rows on the processed frames strictly between two detections of one track."""
        between = [(i, t) for i, t in self._frames if last[0] < i < now[0]]
        if not between:
            return BoxRows.empty()
        frames, times = (np.array(values) for values in zip(*between, strict=True))
        boxes = interpolate_boxes((last[1], last[2]), (now[1], now[2]), times)
        count = len(frames)
        return BoxRows(frames.astype(np.int64), times.astype(np.float64), np.full(count, tracker_id, np.int64), boxes,
                       np.full(count, FILLED_CONFIDENCE, np.float32))  # fmt: skip

    def _release(self) -> BoxRows:
        """The held rows no live track can still add a row before, in frame order."""
        final = min((last[0] for last in self._last.values()), default=math.inf)
        for tail in self._faint.values():  # a tail confirmed later comes out in order
            final = min(final, min(int(part.frame_index.min()) for part in tail if len(part)) - 1)
        while self._frames and self._frames[0][0] <= final:
            self._frames.popleft()  # fills go strictly after a track's last detection
        held = BoxRows.concat(self._held)
        ready = held.frame_index <= final
        self._held = [held.take(~ready)] if not ready.all() else []
        out = held.take(ready)
        return out.take(np.lexsort((out.tracker_id, out.frame_index)))


def trimmed_ends(stats: Sequence[TrackletStats], detections: Mapping[str, np.ndarray]) -> list[TrackletStats]:
    """The tracklets ending at their last stored detection: where the filler trimmed a faint tail.

    The online statistics saw every box the tracker gave, the faint tail too; the stored rows are what
    :class:`GapFiller` released. A tracklet whose last stored detection comes before its ``end_frame``
    ends there instead (``end_frame``, ``end_time``, ``last_bbox``, ``duration``); its means stay as they
    were (a few boxes among many). Tracklets without stored detections (dropped by retention, outside
    the rows given) are left as they are.

    Args:
        stats: The tracklets.
        detections: The store's detection columns (``frame_index``, ``time``, ``tracker_id``, ``xyxy``,
            ``confidence``).
    """
    detected = ~is_filled(detections["confidence"])
    frames, owners = detections["frame_index"][detected], detections["tracker_id"][detected]
    if not len(frames):
        return list(stats)
    order = np.lexsort((frames, owners))
    owners_sorted = owners[order]
    last_rows = order[np.r_[owners_sorted[1:] != owners_sorted[:-1], True]]  # each tracklet's last detection
    last = {int(owners[r]): int(np.flatnonzero(detected)[r]) for r in last_rows}
    trimmed = []
    for item in stats:
        row = last.get(item.tracker_id)
        frame = int(detections["frame_index"][row]) if row is not None else None
        if frame is None or frame >= item.end_frame or frame < item.start_frame:
            trimmed.append(item)
            continue
        box = tuple(float(v) for v in detections["xyxy"][row])
        trimmed.append(dataclasses.replace(item, end_frame=frame, end_time=float(detections["time"][row]),
                                           last_bbox=box, duration=frame - item.start_frame + 1))  # fmt: skip
    return trimmed

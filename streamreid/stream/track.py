"""ByteTrack over ``sv.Detections``, reporting which tracks ended.

Wraps roboflow's ``trackers.ByteTrackTracker`` (the successor of supervision's
removed ``sv.ByteTrack``). Each update passes the frame's timestamp, so the
Kalman filter predicts across frames that were not detected (a detection
stride, a dropped frame, a variable frame rate) by the real elapsed time.

Faint boxes (below ``high_conf_det_threshold``) go to the tracks left over by ByteTrack's second
association. As in the ByteTrack paper, a faint box must overlap a track's prediction by
``tracker.second_iou_threshold`` (0.5), not by the first association's ``minimum_iou_threshold``
(0.1): a track whose person was lost behind another would otherwise take the faint box of a
neighbour half a body away, and end on the wrong person (:class:`_ByteTrack`).

Tracker ids are numbered per run (0, 1, 2, … in order of confirmation), whatever
the library does with its own counter: some ``trackers`` releases keep it on the
class, shared by every tracker in the process, so two runs in one process would
otherwise number each other's people.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from streamreid.config import TrackerConfig

#: ByteTrack counts its lost-track buffer in frames of a 30 fps video.
_TRACKERS_REFERENCE_FPS = 30.0


class _ByteTrack(ByteTrackTracker):
    """roboflow's ByteTrack whose second association (faint boxes) needs ``second_iou_threshold``.

    The library matches both associations with one ``minimum_iou_threshold``; the association
    it runs second in an update is the faint boxes' (its ``update`` calls
    :meth:`_get_associated_indices` once per association, high-confidence boxes first), so that
    call gets the stricter threshold. ``tests/stream/test_track.py`` pins the behaviour.
    """

    tracker_id = None  # not registered in the library's tracker registry under ByteTrack's name
    search_space: ClassVar[dict[str, dict]] = {}

    def __init__(self, *, second_iou_threshold: float, **options: float) -> None:
        super().__init__(**options)
        self.second_iou_threshold = float(second_iou_threshold)
        self._association = 0

    def update(self, detections: sv.Detections, frame: np.ndarray | None = None,
               timestamp: float | None = None) -> sv.Detections:  # fmt: skip
        """One update (the library's), counting its associations."""
        self._association = 0
        return super().update(detections, frame, timestamp)

    def _get_associated_indices(
        self, similarity_matrix: np.ndarray, min_similarity_thresh: float
    ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        self._association += 1
        if self._association == 2:  # faint boxes to the tracks the firm ones left
            min_similarity_thresh = max(min_similarity_thresh, self.second_iou_threshold)
        return super()._get_associated_indices(similarity_matrix, min_similarity_thresh)


class PersonTracker:
    """Assigns stable ids to people and says when an id is gone for good.

    Args:
        fps: Frame rate of the source (its nominal rate, before any stride).
            ``None`` falls back to 30 and relies on timestamps.
        config: Thresholds from the ``tracker`` section of the config.
    """

    def __init__(self, *, fps: float | None, config: TrackerConfig) -> None:
        self.fps = float(fps) if fps and fps > 0 else _TRACKERS_REFERENCE_FPS
        self.config = config
        self._tracker = self._new_tracker()
        self._live: set[int] = set()
        self._run_ids: dict[int, int] = {}  # the library's id -> this run's id, while the track lives
        self._next_id = 0

    def _new_tracker(self) -> ByteTrackTracker:
        config = self.config
        return _ByteTrack(
            second_iou_threshold=config.second_iou_threshold,
            lost_track_buffer=max(1, round(config.lost_track_seconds * _TRACKERS_REFERENCE_FPS)),
            frame_rate=self.fps,
            track_activation_threshold=config.track_activation_threshold,
            minimum_consecutive_frames=config.minimum_consecutive_frames,
            minimum_iou_threshold=config.minimum_iou_threshold,
            high_conf_det_threshold=config.high_conf_det_threshold,
        )

    def update(self, detections: sv.Detections, *, time: float) -> tuple[sv.Detections, list[int]]:
        """Track one detected frame.

        Args:
            detections: The frame's person detections.
            time: The frame's time in seconds (monotonic).

        Returns:
            The confirmed tracked detections (``tracker_id`` >= 0) and the ids that
            the tracker dropped at this update, in ascending order.
        """
        tracked = self._tracker.update(detections, timestamp=time)
        if tracked.tracker_id is not None and len(tracked):
            tracked = tracked[tracked.tracker_id >= 0]
        else:
            tracked = sv.Detections.empty()
            tracked.tracker_id = np.array([], dtype=int)
        tracked.tracker_id = self._to_run_ids(tracked.tracker_id)
        self._live.update(int(t) for t in tracked.tracker_id)
        alive = {self._run_ids[int(t.tracker_id)] for t in self._tracker.tracks if int(t.tracker_id) in self._run_ids}
        ended = sorted(self._live - alive)
        self._live -= set(ended)
        self._run_ids = {key: value for key, value in self._run_ids.items() if value not in ended}
        return tracked, ended

    def _to_run_ids(self, library_ids: np.ndarray) -> np.ndarray:
        """This run's ids for the library's; new ones are numbered in the library's order."""
        for library_id in sorted({int(t) for t in library_ids} - self._run_ids.keys()):
            self._run_ids[library_id] = self._next_id
            self._next_id += 1
        return np.array([self._run_ids[int(t)] for t in library_ids], dtype=int)

    def finish(self) -> list[int]:
        """End of stream: every id still live, in ascending order."""
        ended = sorted(self._live)
        self._live.clear()
        self._run_ids.clear()
        return ended

    def restart(self) -> list[int]:
        """A cut between shots: end every track (ids still live, ascending) and start afresh.

        Nothing carries over, the tracks the library keeps as lost included, so no id crosses
        the cut; the ids of the new shot's tracks continue this run's numbering.
        """
        ended = self.finish()
        self._tracker = self._new_tracker()
        return ended

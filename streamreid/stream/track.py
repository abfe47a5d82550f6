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

Two parts of OC-SORT, each behind its key (:mod:`.motion`): ``tracker.observation_reupdate`` (on) rewinds a
track's Kalman filter when a box is matched to it after missed detections and re-runs it over the straight
line between its last observation and the new one (its velocity is then the observations', not the blind
prediction's); ``tracker.direction_weight`` (0: off) adds to the first association's IoU the agreement between the
direction a track was seen moving in and the direction to each firm box (weighted by the box's confidence),
while a match still needs ``minimum_iou_threshold`` of IoU.

Tracker ids are numbered per run (0, 1, 2, … in order of confirmation), whatever
the library does with its own counter: some ``trackers`` releases keep it on the
class, shared by every tracker in the process, so two runs in one process would
otherwise number each other's people.
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar

import numpy as np
import supervision as sv
from scipy.optimize import linear_sum_assignment
from trackers import ByteTrackTracker
from trackers.core.bytetrack.tracklet import ByteTrackTracklet
from trackers.utils.detections import default_confidences
from trackers.utils.predict_timing import FIXED_RATE_TIMING, PredictTiming
from trackers.utils.state_representations import BaseStateEstimator, XYXYStateEstimator

from streamreid.config import TrackerConfig
from streamreid.stream.motion import box_scaled_noise, direction_agreement, motion_direction, virtual_trajectory

#: ByteTrack counts its lost-track buffer in frames of a 30 fps video.
_TRACKERS_REFERENCE_FPS = 30.0


class _Tracklet(ByteTrackTracklet):
    """ByteTrack's tracklet that remembers its observations: for the re-update after a gap and its direction.

    Args:
        bbox: The first box.
        reupdate: Re-run the filter over the virtual trajectory when matched after missed steps.
        lookback: Observations back that the direction of motion is measured over.
        scaled_noise: Kalman noise in proportion to the box (:func:`~streamreid.stream.motion.box_scaled_noise`),
            refreshed before each prediction and update; else the library's fixed noise.
    """

    def __init__(self, bbox: np.ndarray, *, reupdate: bool, lookback: int, scaled_noise: bool = False,
                 state_estimator_class: type[BaseStateEstimator] = XYXYStateEstimator) -> None:  # fmt: skip
        super().__init__(bbox, state_estimator_class)
        self.scaled_noise = scaled_noise and state_estimator_class is XYXYStateEstimator
        if self.scaled_noise:
            self.state_estimator.set_kf_covariances(**box_scaled_noise(bbox))
        self.reupdate = reupdate
        self.observations: deque[np.ndarray] = deque([np.asarray(bbox, dtype=np.float64)], maxlen=lookback + 1)
        self._observed_state = self.state_estimator.get_state()
        self._steps: list[PredictTiming] = []  # prediction steps since the last observation

    def predict(self, timing: PredictTiming = FIXED_RATE_TIMING) -> np.ndarray:
        """The library's prediction, remembered for a later re-update."""
        self._steps.append(timing)
        self._scale_noise()
        return super().predict(timing)

    def update(self, bbox: np.ndarray) -> None:
        """The library's update, after rewinding over the virtual trajectory where steps were missed."""
        if self.reupdate and len(self._steps) > 1:
            self._replay(bbox)
        self._scale_noise()
        super().update(bbox)
        self._observed_state = self.state_estimator.get_state()
        self._steps = []
        self.observations.append(np.asarray(bbox, dtype=np.float64))

    def _scale_noise(self) -> None:
        if self.scaled_noise:
            noise = box_scaled_noise(self.state_estimator.state_to_bbox())
            self.state_estimator.set_kf_covariances(measurement_noise=noise["measurement_noise"],
                                                    process_noise=noise["process_noise"])  # fmt: skip

    def _replay(self, bbox: np.ndarray) -> None:
        """Back to the last observation, then predict each missed step, updating with the virtual boxes."""
        estimator = self.state_estimator
        estimator.set_state(self._observed_state)
        virtual = virtual_trajectory(self.observations[-1], bbox, [step.frame_step for step in self._steps])
        for index, step in enumerate(self._steps):
            estimator.predict(step.frame_step, step.frame_rate)
            if index < len(virtual):
                estimator.update(virtual[index])

    @property
    def direction(self) -> np.ndarray | None:
        """Its observed direction of motion (unit x, y) over the remembered observations; ``None`` if unknown."""
        if len(self.observations) < 2:
            return None
        return motion_direction(self.observations[0], self.observations[-1])


def assign(score: np.ndarray, iou: np.ndarray, threshold: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """One-to-one assignment maximising ``score``, keeping the pairs whose IoU reaches ``threshold``.

    Returns:
        The matched (track, box) pairs, the unmatched tracks and the unmatched boxes (both ascending).
    """
    matched: list[tuple[int, int]] = []
    if score.size:
        rows, cols = linear_sum_assignment(score, maximize=True)
        matched = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= threshold]
    tracks = sorted(set(range(score.shape[0])) - {r for r, _ in matched})
    boxes = sorted(set(range(score.shape[1])) - {c for _, c in matched})
    return matched, tracks, boxes


class _ByteTrack(ByteTrackTracker):
    """roboflow's ByteTrack with a stricter second association and two parts of OC-SORT.

    The library matches both associations with one ``minimum_iou_threshold``; the association
    it runs second in an update is the faint boxes' (its ``update`` calls
    :meth:`_get_associated_indices` once per association, high-confidence boxes first), so that
    call gets the stricter threshold, and the first one the direction agreement.
    ``tests/stream/test_track.py`` pins the behaviour.
    """

    tracker_id = None  # not registered in the library's tracker registry under ByteTrack's name
    search_space: ClassVar[dict[str, dict]] = {}

    def __init__(self, *, second_iou_threshold: float, reupdate: bool = False, direction_weight: float = 0.0,
                 direction_lookback: int = 3, scaled_noise: bool = False, **options: float) -> None:  # fmt: skip
        super().__init__(**options)
        self.scaled_noise = bool(scaled_noise)
        self.second_iou_threshold = float(second_iou_threshold)
        self.reupdate = bool(reupdate)
        self.direction_weight = float(direction_weight)
        self.direction_lookback = int(direction_lookback)
        self._association = 0
        self._firm: tuple[np.ndarray, np.ndarray] = (np.empty((0, 4)), np.empty(0))

    def update(self, detections: sv.Detections, frame: np.ndarray | None = None,
               timestamp: float | None = None) -> sv.Detections:  # fmt: skip
        """One update (the library's), counting its associations."""
        self._association = 0
        confidences = default_confidences(detections)
        firm = confidences >= self.high_conf_det_threshold
        self._firm = (detections.xyxy[firm], confidences[firm])
        return super().update(detections, frame, timestamp)

    def _get_associated_indices(
        self, similarity_matrix: np.ndarray, min_similarity_thresh: float
    ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        self._association += 1
        if self._association == 2:  # faint boxes to the tracks the firm ones left
            min_similarity_thresh = max(min_similarity_thresh, self.second_iou_threshold)
        elif self._association == 1 and self.direction_weight > 0 and similarity_matrix.size:
            boxes, confidences = self._firm
            tracks = self.tracks
            origins = np.array([t.observations[0] for t in tracks])
            agreement = direction_agreement([t.direction for t in tracks], origins, boxes)
            score = similarity_matrix + self.direction_weight * agreement * confidences[None, :]
            return assign(score, similarity_matrix, min_similarity_thresh)
        return super()._get_associated_indices(similarity_matrix, min_similarity_thresh)

    def _spawn_new_tracks(self, detection_boxes: np.ndarray, *args: object) -> None:
        """The library's, each new track then made a :class:`_Tracklet` (one that remembers its observations)."""
        known = len(self.tracks)
        super()._spawn_new_tracks(detection_boxes, *args)
        self.tracks[known:] = [
            _Tracklet(track.get_state_bbox(), reupdate=self.reupdate, lookback=self.direction_lookback,
                      scaled_noise=self.scaled_noise, state_estimator_class=self.state_estimator_class)
            for track in self.tracks[known:]
        ]  # fmt: skip


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
            reupdate=config.observation_reupdate,
            direction_weight=config.direction_weight,
            direction_lookback=config.direction_lookback,
            scaled_noise=config.scaled_noise,
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

"""Each person's detections, and who was seen together with whom.

Pure functions over the store's detection columns: :func:`person_tracks` gathers a
person's rows in frame order into a :class:`PersonTrack`; :func:`co_visible_pairs` and
:func:`co_visible_tracklets` list the persons (or tracklets) seen in the same frame,
which are known to be different people — the negatives of every appearance decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from streamreid.types import Person


@dataclass(frozen=True)
class PersonTrack:
    """Every detection of one person, in frame order (parallel arrays).

    Attributes:
        frame_numbers: ``(N,)`` int64 frame index of each detection.
        bboxes: ``(N, 4)`` float32 ``xyxy`` boxes.
        confidences: ``(N,)`` float32 detector confidences.
        tracker_ids: ``(N,)`` int64 tracklet of each detection.
    """

    frame_numbers: np.ndarray
    bboxes: np.ndarray
    confidences: np.ndarray
    tracker_ids: np.ndarray

    def __post_init__(self) -> None:
        count = len(self.frame_numbers)
        if not (len(self.bboxes) == len(self.confidences) == len(self.tracker_ids) == count):
            raise ValueError("a PersonTrack's arrays must have one row per detection")

    def __len__(self) -> int:
        return len(self.frame_numbers)


def person_tracks(persons: Sequence[Person], detections: Mapping[str, np.ndarray]) -> list[PersonTrack]:
    """Every detection of each person (frame numbers, boxes, confidences, tracker ids), in frame order.

    Args:
        persons: The persons.
        detections: The store's detection columns (``frame_index``, ``tracker_id``, ``xyxy``, ``confidence``).
    """
    tracker_ids = detections["tracker_id"]
    order = np.argsort(detections["frame_index"], kind="stable")
    tracks = []
    for person in persons:
        rows = order[np.isin(tracker_ids[order], np.asarray(person.tracklet_ids))]
        tracks.append(
            PersonTrack(
                frame_numbers=detections["frame_index"][rows].astype(np.int64),
                bboxes=detections["xyxy"][rows].astype(np.float32),
                confidences=detections["confidence"][rows].astype(np.float32),
                tracker_ids=tracker_ids[rows].astype(np.int64),
            )
        )
    return tracks


def seen_together(frames: np.ndarray, owners: np.ndarray) -> set[tuple[int, int]]:
    """Pairs of owners ``(a, b)``, ``a < b``, with a row in the same frame."""
    if len(frames) == 0:
        return set()
    unique_pairs = np.unique(np.stack([frames, owners], axis=1), axis=0)
    pairs: set[tuple[int, int]] = set()
    boundaries = np.flatnonzero(np.diff(unique_pairs[:, 0])) + 1
    for group in np.split(unique_pairs[:, 1], boundaries):
        if len(group) > 1:
            members = group.tolist()
            pairs.update((a, b) for i, a in enumerate(members) for b in members[i + 1 :])
    return pairs


def co_visible_pairs(tracks: Sequence[PersonTrack]) -> set[tuple[int, int]]:
    """Pairs of persons (by index) seen in the same frame: known to be different people."""
    if len(tracks) < 2:
        return set()
    frames = np.concatenate([t.frame_numbers for t in tracks])
    owners = np.concatenate([np.full(len(t.frame_numbers), i) for i, t in enumerate(tracks)])
    return seen_together(frames, owners)


def co_visible_tracklets(tracks: Sequence[PersonTrack]) -> set[tuple[int, int]]:
    """Pairs of tracklet ids seen in the same frame, from the persons' tracks."""
    if not tracks:
        return set()
    frames = np.concatenate([t.frame_numbers for t in tracks])
    ids = np.concatenate([t.tracker_ids for t in tracks])
    return {(int(a), int(b)) for a, b in seen_together(frames, ids)}

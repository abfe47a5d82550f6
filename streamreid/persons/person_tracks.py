"""Each person's detections, and who was seen together with whom.

Pure functions over the store's detection columns: :func:`person_tracks` gathers a
person's rows in frame order into a :class:`PersonTrack`; :func:`co_visible_pairs` and
:func:`co_visible_tracklets` list the persons (or tracklets) seen in the same frame at
different places, which are known to be different people — the negatives of every
appearance decision. :func:`seen_together` is the rule itself, over plain rows.
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
        tracker_ids: ``(N,)`` int64 tracklet of each detection, or ``None`` where it is not kept
            (``canonical_persons.npz`` has each person's tracklets, not each detection's).
    """

    frame_numbers: np.ndarray
    bboxes: np.ndarray
    confidences: np.ndarray
    tracker_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        count = len(self.frame_numbers)
        ids = self.tracker_ids
        if not (len(self.bboxes) == len(self.confidences) == count and (ids is None or len(ids) == count)):
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


def seen_together(
    frames: np.ndarray,
    owners: np.ndarray,
    boxes: np.ndarray | None = None,
    confidences: np.ndarray | None = None,
    *,
    same_place: float = 0.5,
    min_confidence: float = 0.25,
    faint_frames: int = 2,
) -> set[tuple[int, int]]:
    """Pairs of owners ``(a, b)``, ``a < b``, seen in the same frame at different places.

    A pair counts in a frame where both were seen and none of its boxes there share a place
    (their intersection covers ``same_place`` of the smaller one): two boxes on one spot are a
    detector's duplicate of one person, or a track restarted on them before the old one ended.
    People who really are together stand apart in some frame.

    Such frames are evidence when both boxes are firm (``min_confidence`` or more), or when the
    pair stands apart in ``faint_frames`` frames or more whatever the confidences. One frame
    with a faint box is not: ByteTrack's second association gives faint boxes to tracks, and
    at a track's end such a box is sometimes another person's. Two people beside each other
    for a while are seen together even where one of them is only faintly detected. Filled rows
    (negative confidence, :mod:`streamreid.stream.filling`) are no evidence at all.

    Args:
        frames: Frame index of each row.
        owners: Owner (person index, tracklet id) of each row.
        boxes: ``xyxy`` of each row; ``None`` counts every shared frame.
        confidences: Detector confidence of each row; ``None`` counts every row as firm.
        same_place: Share of the smaller box two boxes must both cover to be one place.
        min_confidence: Boxes at or above it are firm.
        faint_frames: Frames apart that are evidence even on faint boxes.
    """
    frames, owners = np.asarray(frames), np.asarray(owners)
    boxes = np.full((len(frames), 4), np.nan) if boxes is None else np.asarray(boxes, dtype=np.float64)
    if confidences is not None:  # filled rows (negative confidence) were never seen: no evidence
        confidences = np.asarray(confidences)
        detected = confidences >= 0
        frames, owners, boxes, confidences = frames[detected], owners[detected], boxes[detected], confidences[detected]
    firm = np.ones(len(frames), dtype=bool) if confidences is None else confidences >= min_confidence
    order = np.argsort(frames, kind="stable")
    frames, owners, boxes, firm = frames[order], owners[order], boxes[order], firm[order]
    first, second = _rows_in_one_frame(frames)
    low, high = np.minimum(owners[first], owners[second]), np.maximum(owners[first], owners[second])
    two = low != high
    first, second, low, high = first[two], second[two], low[two], high[two]
    shared = share_a_place(boxes[first], boxes[second], same_place=same_place)
    # per (frame, pair): apart when none of its boxes there share a place; firm when two firm boxes are apart
    keys, which = np.unique(np.stack([frames[first], low, high], axis=1), axis=0, return_inverse=True)
    which = which.reshape(-1)
    apart = np.bincount(which, weights=shared, minlength=len(keys)) == 0
    sure = np.bincount(which, weights=firm[first] & firm[second], minlength=len(keys)) > 0
    pairs, pair_of = np.unique(keys[:, 1:], axis=0, return_inverse=True)
    pair_of = pair_of.reshape(-1)
    frames_apart = np.bincount(pair_of, weights=apart, minlength=len(pairs))
    firm_apart = np.bincount(pair_of, weights=apart & sure, minlength=len(pairs))
    seen = (firm_apart > 0) | (frames_apart >= faint_frames)
    return {(int(a), int(b)) for a, b in pairs[seen]}


def _rows_in_one_frame(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of rows ``i < j`` with the same frame, for ``frames`` sorted."""
    firsts, seconds = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for step in range(1, len(frames)):  # as many steps as the most rows one frame has
        rows = np.flatnonzero(frames[:-step] == frames[step:])
        if not len(rows):
            break
        firsts.append(rows)
        seconds.append(rows + step)
    return np.concatenate(firsts), np.concatenate(seconds)


def share_a_place(first: np.ndarray, second: np.ndarray, *, same_place: float) -> np.ndarray:
    """Whether boxes ``first[k]`` and ``second[k]`` overlap by ``same_place`` of the smaller (NaN boxes: no)."""
    inter = np.prod(np.clip(np.minimum(first[:, 2:], second[:, 2:]) - np.maximum(first[:, :2], second[:, :2]), 0, None),
                    axis=1)  # fmt: skip
    smaller = np.minimum(np.prod(first[:, 2:] - first[:, :2], axis=1), np.prod(second[:, 2:] - second[:, :2], axis=1))
    return inter >= same_place * np.maximum(smaller, 1e-9)


def _rows(tracks: Sequence[PersonTrack]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.concatenate([t.frame_numbers for t in tracks]),
        np.concatenate([t.bboxes for t in tracks]),
        np.concatenate([t.confidences for t in tracks]),
    )


def co_visible_pairs(
    tracks: Sequence[PersonTrack], *, same_place: float = 0.5, min_confidence: float = 0.25
) -> set[tuple[int, int]]:
    """Pairs of persons (by index) seen in the same frame at different places (see :func:`seen_together`)."""
    if len(tracks) < 2:
        return set()
    frames, boxes, confidences = _rows(tracks)
    owners = np.concatenate([np.full(len(t), i) for i, t in enumerate(tracks)])
    return seen_together(frames, owners, boxes, confidences, same_place=same_place, min_confidence=min_confidence)


def co_visible_tracklets(tracks: Sequence[PersonTrack], *, min_confidence: float = 0.25) -> set[tuple[int, int]]:
    """Pairs of tracklet ids seen in the same frame at different places, from the persons' tracks."""
    if not tracks:
        return set()
    if any(t.tracker_ids is None for t in tracks):
        raise ValueError("co_visible_tracklets needs each detection's tracker id")
    frames, boxes, confidences = _rows(tracks)
    ids = np.concatenate([t.tracker_ids for t in tracks])
    return {(int(a), int(b)) for a, b in seen_together(frames, ids, boxes, confidences, min_confidence=min_confidence)}

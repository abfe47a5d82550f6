"""Each person's detections, and who was seen together with whom.

Pure functions over the store's detection columns: :func:`person_tracks` gathers a
person's rows in frame order; :func:`co_visible_pairs` and :func:`co_visible_tracklets`
list the persons (or tracklets) seen in the same frame at different places, which
are known to be different people — the negatives of every appearance decision.
"""

from __future__ import annotations

import numpy as np

from streamreid.types import Person


def person_tracks(persons: list[Person], detections: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Every detection of each person (frame numbers, boxes, confidences, tracker ids), in frame order."""
    tracker_ids = detections["tracker_id"]
    order = np.argsort(detections["frame_index"], kind="stable")
    tracks = []
    for person in persons:
        rows = order[np.isin(tracker_ids[order], np.asarray(person.tracklet_ids))]
        tracks.append(
            {
                "frame_numbers": detections["frame_index"][rows].astype(np.int64),
                "bboxes": detections["xyxy"][rows].astype(np.float32),
                "confidences": detections["confidence"][rows].astype(np.float32),
                "tracker_ids": tracker_ids[rows].astype(np.int64),
            }
        )
    return tracks


def co_visible_pairs(
    tracks: list[dict[str, np.ndarray]], *, same_place: float = 0.5, min_confidence: float = 0.25
) -> set[tuple[int, int]]:
    """Pairs of persons (by index) seen in the same frame at different places: known to be different people.

    A hard constraint needs firm evidence, so two kinds of sightings do not count:

    * boxes below ``min_confidence``: ByteTrack's second association gives faint boxes to
      tracks, and at a track's end such a box is sometimes another person's;
    * two boxes in one frame that share a place (their intersection covers ``same_place`` of
      the smaller one): a detector's duplicate of one person, or a track restarted on them
      before the old one ended. People who really are together stand apart in some frame.

    Tracks without ``bboxes`` or ``confidences`` count every shared frame.
    """
    if len(tracks) < 2:
        return set()
    frames = np.concatenate([t["frame_numbers"] for t in tracks])
    owners = np.concatenate([np.full(len(t["frame_numbers"]), i) for i, t in enumerate(tracks)])
    boxes = np.concatenate([t.get("bboxes", np.full((len(t["frame_numbers"]), 4), np.nan)) for t in tracks])
    confidences = np.concatenate([t.get("confidences", np.ones(len(t["frame_numbers"]))) for t in tracks])
    firm = confidences >= min_confidence
    frames, owners, boxes = frames[firm], owners[firm], boxes[firm]
    order = np.argsort(frames, kind="stable")
    frames, owners, boxes = frames[order], owners[order], boxes[order]
    pairs: set[tuple[int, int]] = set()
    for rows in np.split(np.arange(len(frames)), np.flatnonzero(np.diff(frames)) + 1):
        if len(np.unique(owners[rows])) > 1:
            pairs |= _apart_in_frame(owners[rows], boxes[rows], same_place=same_place)
    return pairs


def _apart_in_frame(owners: np.ndarray, boxes: np.ndarray, *, same_place: float) -> set[tuple[int, int]]:
    """Pairs of owners in one frame none of whose boxes share a place."""
    low = np.maximum(boxes[:, None, :2], boxes[None, :, :2])
    high = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=2)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    shared = inter >= same_place * np.maximum(np.minimum(area[:, None], area[None, :]), 1e-9)  # NaN boxes: False
    together, close = set(), set()
    for i, j in zip(*np.triu_indices(len(owners), k=1), strict=True):
        a, b = sorted((int(owners[i]), int(owners[j])))
        if a != b:
            (close if shared[i, j] else together).add((a, b))
    return together - close


def co_visible_tracklets(tracks: list[dict[str, np.ndarray]]) -> set[tuple[int, int]]:
    """Pairs of tracklet ids seen in the same frame at different places, from the persons' tracks."""
    if not tracks:
        return set()
    frames = np.concatenate([t["frame_numbers"] for t in tracks])
    ids = np.concatenate([t["tracker_ids"] for t in tracks])
    unique = np.unique(ids)
    per_tracklet = [{"frame_numbers": frames[ids == t]} for t in unique]
    for key in ("bboxes", "confidences"):
        if all(key in t for t in tracks):
            column = np.concatenate([t[key] for t in tracks])
            per_tracklet = [{**track, key: column[ids == t]} for track, t in zip(per_tracklet, unique, strict=True)]
    pairs = co_visible_pairs(per_tracklet)
    return {(int(unique[a]), int(unique[b])) for a, b in pairs}

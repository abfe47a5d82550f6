"""Each person's detections, and who was seen together with whom.

Pure functions over the store's detection columns: :func:`person_tracks` gathers a
person's rows in frame order; :func:`co_visible_pairs` and :func:`co_visible_tracklets`
list the persons (or tracklets) seen in the same frame, which are known to be
different people — the negatives of every appearance decision.
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


def co_visible_pairs(tracks: list[dict[str, np.ndarray]]) -> set[tuple[int, int]]:
    """Pairs of persons (by index) seen in the same frame: known to be different people."""
    if len(tracks) < 2:
        return set()
    frames = np.concatenate([t["frame_numbers"] for t in tracks])
    owners = np.concatenate([np.full(len(t["frame_numbers"]), i) for i, t in enumerate(tracks)])
    unique_pairs = np.unique(np.stack([frames, owners], axis=1), axis=0)
    pairs: set[tuple[int, int]] = set()
    boundaries = np.flatnonzero(np.diff(unique_pairs[:, 0])) + 1
    for group in np.split(unique_pairs[:, 1], boundaries):
        if len(group) > 1:
            members = group.tolist()
            pairs.update((a, b) for i, a in enumerate(members) for b in members[i + 1 :])
    return pairs


def co_visible_tracklets(tracks: list[dict[str, np.ndarray]]) -> set[tuple[int, int]]:
    """Pairs of tracklet ids seen in the same frame, from the persons' tracks."""
    if not tracks:
        return set()
    frames = np.concatenate([t["frame_numbers"] for t in tracks])
    ids = np.concatenate([t["tracker_ids"] for t in tracks])
    unique = np.unique(ids)
    pairs = co_visible_pairs([{"frame_numbers": frames[ids == t]} for t in unique])
    return {(int(unique[a]), int(unique[b])) for a, b in pairs}

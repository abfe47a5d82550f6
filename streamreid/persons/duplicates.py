"""Duplicate tracks of one person: a track that starts on someone while the old track on them still lives.

ByteTrack sometimes starts a second track on a person it is still following (the old track holds a partial box,
the new one starts on the full box) and the old one ends a few frames later. The two tracklets overlap in time,
so the space-time checks (which need the later one to start after the earlier one ends) never link them. When
their boxes are at one place on **every** frame both were detected in (the intersection covers ``same_place`` of
the smaller box, as :func:`~streamreid.persons.person_tracks.seen_together` counts one place), the two are one
person: :func:`duplicate_tracks` names such pairs, and grouping joins them as it joins must-links (which may
overlap by half the gap limit).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from streamreid.persons.person_tracks import share_a_place


def duplicate_tracks(frames: np.ndarray, owners: np.ndarray, boxes: np.ndarray, confidences: np.ndarray, *,
                     spans: Mapping[int, tuple[int, int]], max_overlap: int,
                     same_place: float = 0.5) -> list[tuple[int, int]]:  # fmt: skip
    """Pairs ``(earlier, later)`` of tracklets that are one person followed twice for a few frames.

    The later one starts while the earlier one lives and outlives it; they share at most ``max_overlap`` frames;
    both were detected together in at least one of them, and their boxes are at one place in every such frame.

    Args:
        frames: Frame index of each row (tracked boxes).
        owners: Tracklet of each row.
        boxes: ``xyxy`` of each row.
        confidences: Detector confidence of each row; filled rows (negative) are not detections and do not count.
        spans: Per tracklet, its first and last frame (rows outside are left out, as a trimmed tail is).
        max_overlap: Most frames the two may share.
        same_place: Share of the smaller box the intersection must cover.
    """
    frames, owners = np.asarray(frames, dtype=np.int64), np.asarray(owners, dtype=np.int64)
    boxes, detected = np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(confidences) >= 0
    ids = np.array(list(spans), dtype=np.int64)
    firsts, lasts = (np.array([spans[int(t)][k] for t in ids], dtype=np.int64).reshape(-1) for k in (0, 1))
    pairs = []
    for later, (start, end) in spans.items():
        near = (firsts < start) & (start <= lasts) & (lasts < end) & (lasts - start + 1 <= max_overlap)
        for earlier, last in zip(ids[near].tolist(), lasts[near].tolist(), strict=True):
            shared = [_rows(frames, owners, detected, tid, start, last) for tid in (earlier, later)]
            common, left, right = np.intersect1d(frames[shared[0]], frames[shared[1]], return_indices=True)
            if len(common) and share_a_place(boxes[shared[0]][left], boxes[shared[1]][right],
                                              same_place=same_place).all():  # fmt: skip
                pairs.append((earlier, later))
    return sorted(pairs)


def _rows(frames: np.ndarray, owners: np.ndarray, detected: np.ndarray, owner: int, first: int,
          last: int) -> np.ndarray:  # fmt: skip
    """Indices of ``owner``'s detected rows in frames ``first`` to ``last``, one per frame (the first)."""
    rows = np.flatnonzero((owners == owner) & detected & (frames >= first) & (frames <= last))
    _, unique = np.unique(frames[rows], return_index=True)
    return rows[unique]

"""Who else was near when one tracklet ended and another began: hand-overs in a crowd.

Grouping links an earlier tracklet's end to a later one's start by position and timing alone
(:mod:`streamreid.persons.grouping`). That is sound when nobody else was there: the person who vanished
is the one who reappears. When another person walked within reach of the hand-over, the same
position and timing fit them as well: the tracker may have lost the first person behind the
second, and either of them may be the one who reappears. Such a link is a guess that position
cannot settle, and in a crowded street it chains different people into one person.

:func:`nearest_other` measures it without pixels: the distance from the hand-over to the
nearest other tracked person, in **body heights** (the height of the hand-over's boxes), over
every frame from the earlier tracklet's last box to the later one's first. The hand-over's place
at a frame between the two is on the straight line from the last box to the first, as a filled
box would be (:mod:`streamreid.stream.filling`). Filled boxes of the others count: they are where those
people were between two detections. Someone seen together with both tracklets (in one frame with
each, at another place: :func:`streamreid.persons.person_tracks.seen_together`) is neither of them, and
does not count: a companion walking beside a person whose track broke is no reason to doubt the link.

Such a link is left to appearance: grouping leaves it out, and the end-of-stream ReID joins the
two persons only when the video's calibrated rule is confident they are one
(:mod:`streamreid.decide.calibration`). A test at grouping time (the earlier tracklet more like the later
than like anyone near, both ways, on mean crop features) was measured on ADL-Rundle-6: it refused
the right crowded links as well as the wrong ones, with OSNet and with the fallback; features of
people half hidden behind each other are mixed (benchmarks/README.md, issue 19).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from streamreid.types import TrackletStats


@dataclass(frozen=True)
class Neighbours:
    """Every tracked box (detected or filled) in frame order: who was where, frame by frame.

    Attributes:
        frame_index: ``(N,)`` int64 frame of each box, ascending.
        tracker_id: ``(N,)`` int64 its tracklet.
        center: ``(N, 2)`` float64 its centre ``(x, y)``.
    """

    frame_index: np.ndarray
    tracker_id: np.ndarray
    center: np.ndarray

    @classmethod
    def of(cls, frame_index: np.ndarray, tracker_id: np.ndarray, xyxy: np.ndarray) -> Neighbours:
        """From the store's detection columns (any order)."""
        frames = np.asarray(frame_index, dtype=np.int64).reshape(-1)
        order = np.argsort(frames, kind="stable")
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)[order]
        center = np.stack([(boxes[:, 0] + boxes[:, 2]) * 0.5, (boxes[:, 1] + boxes[:, 3]) * 0.5], axis=1)
        return cls(frames[order], np.asarray(tracker_id, dtype=np.int64).reshape(-1)[order], center)

    def owners(self, first: int, last: int) -> set[int]:
        """The tracklets with a box in frames ``first`` to ``last`` (inclusive)."""
        return {int(t) for t in np.unique(self.tracker_id[self.between(first, last)])}

    def between(self, first: int, last: int) -> slice:
        """The rows of frames ``first`` to ``last`` (inclusive)."""
        low = int(np.searchsorted(self.frame_index, first, side="left"))
        return slice(low, int(np.searchsorted(self.frame_index, last, side="right")))


def _center_height(xyxy: tuple[float, float, float, float]) -> tuple[float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return (x1 + x2) * 0.5, (y1 + y2) * 0.5, max(y2 - y1, 1e-6)


def nearest_other(
    neighbours: Neighbours, earlier: TrackletStats, later: TrackletStats, *, exclude: Collection[int] = ()
) -> float:
    """Distance from the hand-over ``earlier`` → ``later`` to the nearest other person, in box heights.

    Args:
        neighbours: Every tracked box of the video.
        earlier: The tracklet that ended (its last box).
        later: The tracklet that began (its first box).
        exclude: More tracklets that are not "other people" (those already joined to either side).

    Returns:
        The least distance over the frames from ``earlier``'s end to ``later``'s start, each divided by
        the hand-over's box height at that frame; ``inf`` when nobody else was tracked then.
    """
    end, start = int(earlier.end_frame), int(later.start_frame)
    first, last = min(end, start), max(end, start)
    rows = neighbours.between(first, last)
    owners = neighbours.tracker_id[rows]
    others = ~np.isin(owners, [earlier.tracker_id, later.tracker_id, *exclude])
    if not others.any():
        return math.inf
    frames = neighbours.frame_index[rows][others].astype(np.float64)
    centers = neighbours.center[rows][others]
    x0, y0, h0 = _center_height(earlier.last_bbox)
    x1, y1, h1 = _center_height(later.first_bbox)
    share = (frames - end) / (start - end) if start != end else np.zeros(len(frames))
    share = np.clip(share, 0.0, 1.0)
    place_x, place_y = x0 + share * (x1 - x0), y0 + share * (y1 - y0)
    height = h0 + share * (h1 - h0)
    return float((np.hypot(centers[:, 0] - place_x, centers[:, 1] - place_y) / height).min())

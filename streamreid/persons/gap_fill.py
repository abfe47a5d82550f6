"""A box on every frame of a person's gap behind someone: two tracklets linked by position, the frames between filled.

Within one tracklet the stream already fills every frame between two detections
(:mod:`streamreid.stream.filling`). A person lost behind someone else comes back as a new tracklet,
and space-time grouping links the two (:mod:`streamreid.persons.grouping`); the frames between them
had no box. :func:`fill_person_gaps` fills them: boxes interpolated linearly between the last box of
the earlier tracklet and the first box of the later one, on every processed frame strictly between,
with confidence :data:`~streamreid.stream.filling.FILLED_CONFIDENCE` (-1), like every filled row
(never a detection: no statistics, crops or "seen together" evidence use it).

Which links are filled is ``grouping.fill_person_gaps`` (:func:`space_time_links`): ``position``, those
made by position and timing; ``near``, also those made by appearance (ReID merges, the user's joins)
whose gap and distance pass the position checks — in a crowd the crowd check leaves the link to
appearance exactly when someone hid the person. A link of appearance beyond those limits is a person
who left and came back, whose way in between nobody saw: never filled. Nor is a gap longer than the
grouping's gap limit, or one a shot cut lies in.
Frame indices and times agree on how far apart two frames are (:class:`streamreid.types.Frame`), so
the line in frame index is the line in time.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from streamreid.persons.grouping import GroupingResult, crosses_cut
from streamreid.persons.pair_checks import SPATIAL_DISTANCE, TEMPORAL_GAP
from streamreid.persons.person_tracks import PersonTrack
from streamreid.stream.filling import FILLED_CONFIDENCE, interpolate_boxes

#: ``grouping.fill_person_gaps``: no gap filled; gaps of links made by position alone; those and the gaps of
#: links made by appearance (ReID merges, the user's joins) where the position checks pass too.
FILL_MODES = ("off", "position", "near")


def space_time_links(grouping: GroupingResult, *, mode: str = "position") -> frozenset[tuple[int, int]]:
    """The chosen links ``(earlier, later)`` whose gap ``mode`` fills (:data:`FILL_MODES`).

    ``position``: the links the position checks made (not forced by appearance or the user). ``near``: also
    the forced ones whose gap and distance pass the checks (``temporal_gap``, ``spatial_distance``): someone
    hidden behind another person a moment, whom appearance told apart where the crowd left position unsure;
    not someone who left and came back.
    """
    if mode not in FILL_MODES:
        raise ValueError(f"fill mode must be one of {', '.join(FILL_MODES)}, got {mode!r}")
    if mode == "off":
        return frozenset()
    forced = set(grouping.forced)
    links = {link for link in grouping.chosen if link not in forced}
    if mode == "near":
        near = {(p.earlier, p.later) for p in grouping.pairs
                if p.checks[TEMPORAL_GAP][2] and p.checks[SPATIAL_DISTANCE][2]}  # fmt: skip
        links |= forced & near
    return frozenset(links)


def fill_person_gaps(
    tracks: Sequence[PersonTrack],
    links: Collection[tuple[int, int]],
    *,
    max_gap: int,
    shot_cuts: Sequence[int] = (),
    frame_step: int = 1,
) -> list[PersonTrack]:
    """Each person's track with the frames between two tracklets linked in ``links`` filled (see the module).

    Args:
        tracks: The persons' tracks, with each row's tracker id.
        links: Tracklet pairs ``(earlier, later)`` linked by position (:func:`space_time_links`).
        max_gap: The longest gap filled, in frames from the earlier's last box to the later's first
            (the grouping's ``max_temporal_gap``, scaled).
        shot_cuts: First frames of the shots after each cut: no gap across one is filled.
        frame_step: Frames between two processed frames (``source.stride``).

    Returns:
        The tracks, in the same order; those without a gap to fill are returned as they are.
    """
    return [_filled(track, links, max_gap=max_gap, shot_cuts=sorted(shot_cuts), frame_step=frame_step)
            for track in tracks]  # fmt: skip


def _filled(
    track: PersonTrack, links: Collection[tuple[int, int]], *, max_gap: int, shot_cuts: Sequence[int], frame_step: int
) -> PersonTrack:
    """One person's track with its gaps filled."""
    if track.tracker_ids is None:
        raise ValueError("fill_person_gaps needs each row's tracker id")
    owned = set(track.tracker_ids.tolist())
    parts = []
    for earlier, later in sorted(links):
        if earlier not in owned or later not in owned:
            continue
        before = np.flatnonzero(track.tracker_ids == earlier)
        after = np.flatnonzero(track.tracker_ids == later)
        last = before[np.argmax(track.frame_numbers[before])]
        first = after[np.argmin(track.frame_numbers[after])]
        end, start = int(track.frame_numbers[last]), int(track.frame_numbers[first])
        if not 1 < start - end <= max_gap or crosses_cut(end, start, shot_cuts):
            continue
        frames = np.arange(end + frame_step, start, frame_step, dtype=np.int64)
        frames = frames[~np.isin(frames, track.frame_numbers)]
        if len(frames):
            boxes = interpolate_boxes((end, track.bboxes[last]), (start, track.bboxes[first]), frames)
            parts.append((frames, boxes, earlier))
    if not parts:
        return track
    frames = np.concatenate([track.frame_numbers, *(p[0] for p in parts)])
    order = np.argsort(frames, kind="stable")
    return PersonTrack(
        frame_numbers=frames[order],
        bboxes=np.concatenate([track.bboxes, *(p[1] for p in parts)])[order],
        confidences=np.concatenate(
            [track.confidences, *(np.full(len(p[0]), FILLED_CONFIDENCE, np.float32) for p in parts)]
        )[order],  # fmt: skip
        tracker_ids=np.concatenate([track.tracker_ids, *(np.full(len(p[0]), p[2], np.int64) for p in parts)])[order],
    )

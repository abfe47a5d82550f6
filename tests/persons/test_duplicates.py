"""Duplicate tracks of one person (:mod:`streamreid.persons.duplicates`) and grouping joining them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import supervision as sv

from streamreid.config import GroupingConfig
from streamreid.persons.duplicates import duplicate_tracks
from streamreid.persons.working_set import WorkingSet, link_persons
from streamreid.stream.stats import TrackletStatsAccumulator
from streamreid.types import VideoInfo

FPS = 25.0


def _rows(tracks: dict[int, list[tuple[int, float]]], *, apart: int | None = None) -> dict[str, np.ndarray]:
    """Rows of ``tracks`` (id: [(frame, x), ...]); the row of frame ``apart`` of track 2 is moved 60 px away."""
    rows = [(frame, tid, x + (60.0 if tid == 2 and frame == apart else 0.0))
            for tid, walk in tracks.items() for frame, x in walk]  # fmt: skip
    rows.sort()
    frames = np.array([r[0] for r in rows], dtype=np.int64)
    xs = np.array([r[2] for r in rows])
    return {"frame_index": frames, "time": frames / FPS, "tracker_id": np.array([r[1] for r in rows], dtype=np.int64),
            "xyxy": np.stack([xs, np.full_like(xs, 100.0), xs + 40.0, np.full_like(xs, 200.0)], axis=1),
            "confidence": np.full(len(rows), 0.9)}  # fmt: skip


def _walker(first: int, last: int) -> list[tuple[int, float]]:
    return [(frame, 100.0 + 3.0 * frame) for frame in range(first, last + 1)]


def _spans(tracks):
    return {tid: (walk[0][0], walk[-1][0]) for tid, walk in tracks.items()}


def test_a_track_started_on_a_person_the_old_track_still_follows_is_them():
    """Track 2 starts on the walker at frame 20; track 1 follows them until frame 24: one person, twice."""
    tracks = {1: _walker(0, 24), 2: _walker(20, 60)}
    rows = _rows(tracks)
    args = (rows["frame_index"], rows["tracker_id"], rows["xyxy"], rows["confidence"])
    assert duplicate_tracks(*args, spans=_spans(tracks), max_overlap=15) == [(1, 2)]
    assert duplicate_tracks(*args, spans=_spans(tracks), max_overlap=4) == []  # they share 5 frames


def test_two_tracks_apart_on_one_shared_frame_are_two_people():
    tracks = {1: _walker(0, 24), 2: _walker(20, 60)}
    rows = _rows(tracks, apart=22)
    args = (rows["frame_index"], rows["tracker_id"], rows["xyxy"], rows["confidence"])
    assert duplicate_tracks(*args, spans=_spans(tracks), max_overlap=15) == []


@pytest.mark.parametrize(("tracks", "why"), [
    ({1: _walker(0, 24), 2: _walker(25, 60)}, "no shared frame: the space-time checks' case"),
    ({1: _walker(0, 60), 2: _walker(20, 40)}, "the later one ends first: a box inside a longer track"),
])  # fmt: skip
def test_only_a_short_overlap_at_a_hand_over_counts(tracks, why):
    rows = _rows(tracks)
    args = (rows["frame_index"], rows["tracker_id"], rows["xyxy"], rows["confidence"])
    assert duplicate_tracks(*args, spans=_spans(tracks), max_overlap=100) == [], why


def _stats(tid: int, walk: list[tuple[int, float]]):
    accumulator = TrackletStatsAccumulator()
    for frame, x in walk:
        box = np.array([[x, 100.0, x + 40.0, 200.0]], dtype=np.float32)
        accumulator.update(frame, frame / FPS, sv.Detections(xyxy=box, confidence=np.array([0.9], np.float32),
                                                             tracker_id=np.array([tid])))  # fmt: skip
    return accumulator.finish(tid)


@pytest.mark.parametrize(("join", "persons"), [(False, 2), (True, 1)])
def test_grouping_joins_the_duplicate_tracks_of_one_walker(join, persons):
    """``grouping.join_duplicates``: the two tracks overlap by 5 frames, so without it they stay two persons."""
    tracks = {1: _walker(0, 24), 2: _walker(20, 60)}
    work = WorkingSet(tracklets=tuple(_stats(tid, walk) for tid, walk in tracks.items()), detections=_rows(tracks),
                      info=VideoInfo(source="x.mp4", width=640, height=360, fps=FPS), frames_detected=61)  # fmt: skip
    config = dataclasses.replace(GroupingConfig(), join_duplicates=join)
    _, found = link_persons(work, config=config)
    assert len(found) == persons

"""What an end-of-stream analysis works on, and the persons it finds.

:func:`load_working_set` gathers from a run directory (finished, killed or still running)
the :class:`WorkingSet`: the tracklets the analysis looks at, their detections, the user's
decisions and the video. :func:`link_persons` and :func:`rank` are pure; together with each
person's detections they make :class:`PersonsFound`, which :func:`write_persons` writes
(``grouping_log.json``, ``reid_candidates.json``, ``ranking_results.json`` and the canonical
persons, docs/OUTPUTS.md). :class:`Analysis` is what an analysis returns to its caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from streamreid import rundir
from streamreid.config import Config, GroupingConfig, RankingConfig
from streamreid.persons.duplicates import duplicate_tracks
from streamreid.persons.evidence import enough_evidence
from streamreid.persons.grouping import GroupingResult, group_tracklets, time_key
from streamreid.persons.grouping_results import build_persons, grouping_log, reid_candidates
from streamreid.persons.handover import Neighbours
from streamreid.persons.pair_checks import scaled_grouping_config
from streamreid.persons.person_tracks import PersonTrack, seen_together
from streamreid.persons.ranking import PersonScore, rank_persons, ranking_results
from streamreid.reid.features import EmbedderInfo
from streamreid.run.live_tracklets import read_checkpoint
from streamreid.run.reviews import run_constraints
from streamreid.run.tracklet_stats import load_tracklet_stats
from streamreid.stream.detection_rate import saved_stride
from streamreid.stream.filling import is_filled, trimmed_ends
from streamreid.types import Person, TrackletStats, VideoInfo

if TYPE_CHECKING:
    from streamreid.run.store_reader import StoreReader

#: Analysis window of live sources when ``report.window_s`` is null.
LIVE_WINDOW_S = 3600.0


@dataclass(frozen=True)
class WorkingSet:
    """The tracklets an analysis works on and what it knows about them.

    Attributes:
        tracklets: The tracklets, long enough to count, within the working window.
        detections: Their detections, as the store's columns (``frame_index``, ``tracker_id``, ``xyxy``, ...).
        info: The video.
        frames_detected: Frames the detector ran on (what coverage is a share of).
        must_link: Tracklet pairs the user joined.
        cannot_link: Tracklet pairs the user kept apart.
        notes: Notes from the stream (a dropped connection, a damaged file).
        seen_together: Tracklet pairs seen in one frame at different places: never one person, whoever
            asks (:func:`streamreid.persons.person_tracks.seen_together`).
        firm_confidence: Boxes at or above it are evidence that two people were seen together (ByteTrack's
            first association, ``tracker.high_conf_det_threshold``; fainter boxes it hands to tracks are not).
        shot_cuts: First frames of the shots after each hard cut (``run.json``'s ``shot_cuts``): position and
            timing never link tracklets across one.
    """

    tracklets: tuple[TrackletStats, ...]
    detections: Mapping[str, np.ndarray]
    info: VideoInfo
    frames_detected: int
    must_link: tuple[tuple[int, int], ...] = ()
    cannot_link: tuple[tuple[int, int], ...] = ()
    notes: tuple[str, ...] = ()
    firm_confidence: float = 0.25
    seen_together: tuple[tuple[int, int], ...] = ()
    shot_cuts: tuple[int, ...] = ()


@dataclass(frozen=True)
class PersonsFound:
    """The persons of one grouping round, ranked, with their detections.

    Attributes:
        persons: The persons, in person-id order.
        grouping: How the tracklets were linked, or ``None`` when the persons were given (``streamreid apply``).
        scores: The ranking, best first.
        tracks: Each person's detections, parallel to ``persons``.
    """

    persons: tuple[Person, ...]
    grouping: GroupingResult | None
    scores: tuple[PersonScore, ...]
    tracks: tuple[PersonTrack, ...]

    def rank_of(self) -> dict[int, int]:
        """Rank per person id."""
        return {score.person_id: score.rank for score in self.scores}

    def ranked(self, limit: int | None = None) -> list[Person]:
        """The persons best first (the first ``limit`` of them)."""
        rank_of = self.rank_of()
        return sorted(self.persons, key=lambda p: rank_of.get(p.person_id, 1 << 30))[:limit]


@dataclass(frozen=True)
class Analysis:
    """What an end-of-stream analysis produced.

    Attributes:
        persons: How many persons it found.
        embedder: The embedder ReID used, or ``None`` (ReID off or skipped).
        report: The HTML report, or ``None`` when the report is off.
        notes: Warnings for the user.
        brief_tracklets: Tracklets of the persons left out as seen too briefly (``grouping.min_person_seconds``),
            or ``None`` when the persons were given (``streamreid apply``: the earlier count stands).
    """

    persons: int
    embedder: EmbedderInfo | None
    report: Path | None
    notes: tuple[str, ...]
    brief_tracklets: int | None = None

    def record(self, meta: Mapping[str, Any]) -> dict[str, Any]:
        """What ``run.json`` (``meta``) gets from the analysis: the embedder, the counts, the notes."""
        embedder = self.embedder.to_dict() if self.embedder else None
        counts = {**meta.get("counts", {}), "persons": self.persons}
        if self.brief_tracklets is not None:
            counts["brief_tracklets"] = self.brief_tracklets
        return {"embedder": embedder, "counts": counts, "notes": list(self.notes)}

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (``embedder`` as a dict or ``None``)."""
        return {"persons": self.persons, "embedder": self.embedder.to_dict() if self.embedder else None,
                "report": self.report, "notes": list(self.notes)}  # fmt: skip


def frames_detected(
    meta: Mapping[str, Any], frames_processed: int | None, *, last_frame_index: Callable[[], int | None]
) -> int:
    """Frames the detector ran on: what coverage is a share of (detect_stride counted).

    Args:
        meta: ``run.json``.
        frames_processed: Frames the pipeline processed, when known.
        last_frame_index: Called for the last stored detection's frame when the run never wrote its
            counts (a killed run).
    """
    counts = meta.get("counts", {})
    if counts.get("frames_detected"):
        return int(counts["frames_detected"])
    config = meta.get("config", {})
    detect_stride = saved_stride(config.get("detector", {}).get("detect_stride", 1))
    if frames_processed is None:
        # a killed run never wrote its counts: the last stored detection bounds the frames seen
        stride = int(config.get("source", {}).get("stride", 1)) * detect_stride
        last = last_frame_index()  # one row, not the whole run
        decoded = last + 1 if last is not None else 1
        return max(1, -(-decoded // stride))
    return max(1, -(-frames_processed // detect_stride))


def working_set(
    stats: Sequence[TrackletStats], *, config: Config, is_live: bool, dropped_until: float | None = None
) -> tuple[list[TrackletStats], float | None]:
    """The tracklets one analysis looks at, so its cost does not grow with the age of the stream.

    Those that ended within the window (``report.window_s``; live sources: the last
    :data:`LIVE_WINDOW_S` seconds, files: all) before the latest one, at most
    ``report.max_tracklets`` of them (the most recent), and none whose data the
    store's retention dropped.

    Returns:
        The tracklets in their original order, and the earliest start time among them
        (where reading detections may begin; ``None`` when nothing was left out).
    """
    if not stats:
        return [], None
    window = config.report.window_s if config.report.window_s is not None else (LIVE_WINDOW_S if is_live else None)
    latest = max(s.end_time for s in stats)
    keep = [s for s in stats if (window is None or s.end_time >= latest - window)
            and (dropped_until is None or s.end_time > dropped_until)]  # fmt: skip
    if len(keep) > config.report.max_tracklets:
        newest = sorted(keep, key=lambda s: (s.end_time, s.tracker_id))[-config.report.max_tracklets :]
        chosen = {s.tracker_id for s in newest}
        keep = [s for s in keep if s.tracker_id in chosen]
    if len(keep) == len(stats):
        return keep, None
    return keep, min((s.start_time for s in keep), default=latest)


def load_working_set(
    run_dir: Path,
    store: StoreReader,
    *,
    config: Config,
    stats: Sequence[TrackletStats] | None = None,
    info: VideoInfo | None = None,
    frames_processed: int | None = None,
) -> WorkingSet:
    """The tracklets an analysis of ``run_dir`` works on: a bounded window, with the user's decisions.

    Args:
        run_dir: The run directory.
        store: The run's open :class:`~streamreid.run.store_reader.StoreReader` (live crops are added to it).
        config: The configuration.
        stats: The tracklets, when the caller has them (else read from the run directory).
        info: The video, when the caller has it (else ``run.json``'s).
        frames_processed: Frames the pipeline processed, when known.
    """
    meta = rundir.read_json(run_dir / rundir.RUN_JSON)
    info = info if info is not None else VideoInfo(**meta["video"])
    stats = stats if stats is not None else load_tracklet_stats(run_dir)
    detected = frames_detected(meta, frames_processed, last_frame_index=store.last_frame_index)
    kept = [s for s in stats if s.detection_count >= config.tracker.min_tracklet_detections]
    _, live_crops = read_checkpoint(run_dir)  # people still on screen at the last refresh (or the kill)
    if live_crops:
        store.add_provisional(live_crops)
    # a bounded working set: the recent window, a capped gallery, nothing retention dropped
    kept, since = working_set(kept, config=config, is_live=info.is_live, dropped_until=store.dropped.get("until_time"))
    # the user's decisions from the report (streamreid apply), as tracklet constraints
    must, cannot = run_constraints(run_dir, {s.tracker_id for s in kept})
    detections, firm = store.detections(since=since), config.tracker.high_conf_det_threshold
    kept = trimmed_ends(kept, detections)  # a faint tail the filler dropped ends the tracklet earlier
    seen = seen_together(detections["frame_index"], detections["tracker_id"], detections["xyxy"],
                         detections["confidence"], min_confidence=firm)  # fmt: skip
    return WorkingSet(tracklets=tuple(kept), detections=detections, info=info,
                      frames_detected=detected, must_link=tuple(must), cannot_link=tuple(cannot),
                      notes=tuple(meta.get("stream_notes", [])), firm_confidence=firm,
                      shot_cuts=cut_frames(meta), seen_together=tuple(sorted(seen)))  # fmt: skip


def cut_frames(meta: Mapping[str, Any]) -> tuple[int, ...]:
    """The first frames of the shots after each cut that ``run.json`` (``meta``) records, ascending."""
    return tuple(sorted(int(cut["frame"]) for cut in meta.get("shot_cuts") or ()))


def link_persons(
    work: WorkingSet, *, config: GroupingConfig, must_link: Sequence[tuple[int, int]] = (), brief_out: bool = False
) -> tuple[GroupingResult, list[Person]]:
    """Link the working set's tracklets into persons (the user's and ``must_link`` joins honoured).

    With ``brief_out``, persons whose firm boxes span less than ``config.min_person_seconds`` are left
    out (:mod:`streamreid.persons.evidence`); the grouping keeps every group.
    """
    info, rows = work.info, work.detections
    scaled = scaled_grouping_config(config, fps=info.fps, frame_size=(info.width, info.height))
    neighbours = Neighbours.of(rows["frame_index"], rows["tracker_id"], rows["xyxy"])
    if config.join_duplicates:  # one person followed twice for a few frames: joined as must-links are
        spans = {s.tracker_id: (s.start_frame, s.end_frame) for s in work.tracklets}
        must_link = [*must_link, *duplicate_tracks(rows["frame_index"], rows["tracker_id"], rows["xyxy"],
                                                   rows["confidence"], spans=spans,
                                                   max_overlap=scaled.max_temporal_gap // 2)]  # fmt: skip
    grouping = group_tracklets(work.tracklets, config=scaled, must_link=[*work.must_link, *must_link],
                               cannot_link=work.cannot_link, seen_together=work.seen_together,
                               shot_cuts=work.shot_cuts, neighbours=neighbours)  # fmt: skip
    groups = grouping.groups
    if brief_out:
        groups = enough_evidence(groups, rows["time"], rows["tracker_id"], rows["confidence"],
                                 firm=work.firm_confidence, min_seconds=config.min_person_seconds)  # fmt: skip
    return grouping, build_persons(groups, work.tracklets)


def fixed_persons(work: WorkingSet, groups: Sequence[Sequence[int]]) -> list[Person]:
    """The persons ``groups`` name, as they are (tracklets outside the working set left out, new ones alone)."""
    known = {s.tracker_id: s for s in work.tracklets}
    kept = [[t for t in group if t in known] for group in groups]
    named = {t for group in kept for t in group}
    kept += [[t] for t in known if t not in named]
    kept = [group for group in kept if group]
    kept.sort(key=lambda group: min(time_key(known[t]) for t in group))  # person ids in the grouping's order
    return build_persons(kept, work.tracklets)


def rank(work: WorkingSet, persons: Sequence[Person], *, config: RankingConfig) -> list[PersonScore]:
    """Rank the persons (rank 1 = best)."""
    return rank_persons(persons, work.tracklets, total_frames=work.frames_detected,
                        frame_size=(work.info.width, work.info.height), config=config)  # fmt: skip


def write_persons(run_dir: Path, found: PersonsFound, work: WorkingSet, *, ranking: RankingConfig) -> None:
    """Write the grouping, the ranking and the canonical persons ``found`` in ``work`` into ``run_dir``."""
    if found.grouping is not None:  # persons given as they are keep the grouping that first linked them
        rundir.write_json(run_dir / rundir.GROUPING_LOG, grouping_log(found.grouping))
        rundir.write_json(run_dir / rundir.REID_CANDIDATES, reid_candidates(found.grouping, work.tracklets))
    rundir.write_json(run_dir / rundir.RANKING, ranking_results(found.scores, config=ranking))
    rank_of = found.rank_of()
    payload = []
    for person, track in zip(found.persons, found.tracks, strict=True):
        item = person.to_dict()
        item["rank"] = rank_of.get(person.person_id)
        item["frames_seen"] = len(track)
        payload.append(item)
    rundir.write_json(run_dir / rundir.CANONICAL_PERSONS, {"persons": payload, "video": work.info.to_dict()})
    np.savez_compressed(run_dir / rundir.CANONICAL_PERSONS_NPZ, **person_track_columns(found.persons, found.tracks))


def person_track_columns(persons: Sequence[Person], tracks: Sequence[PersonTrack]) -> dict[str, np.ndarray]:
    """The arrays of ``canonical_persons.npz``: ids, then per person: frames, boxes, confidences, fill flags, tracklets.

    A box filled between two detections (``filling.py``) has ``filled_<pid>`` true and confidence -1.
    """
    arrays: dict[str, np.ndarray] = {
        "person_ids": np.array([p.person_id for p in persons], dtype=np.int64),
        "num_tracklets_merged": np.array([p.num_tracklets_merged for p in persons], dtype=np.int64),
    }
    for person, track in zip(persons, tracks, strict=True):
        pid = person.person_id
        arrays[f"frame_numbers_{pid}"] = track.frame_numbers
        arrays[f"bboxes_{pid}"] = track.bboxes
        arrays[f"confidences_{pid}"] = track.confidences
        arrays[f"filled_{pid}"] = is_filled(track.confidences)
        arrays[f"original_tracklet_ids_{pid}"] = np.array(person.tracklet_ids, dtype=np.int64)
    return arrays

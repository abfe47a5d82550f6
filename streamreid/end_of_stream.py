"""The end of the stream's outline: persons, ranking, re-identification rounds, WebPs and the report.

:func:`analyse` runs over a run directory, so it also redoes a finished or killed run (``streamreid report``,
``streamreid apply``) and refreshes a live one (``periodic.py``): the
:class:`~streamreid.persons.working_set.WorkingSet` → persons (grouping and ranking,
:class:`~streamreid.persons.working_set.PersonsFound`) → re-identification rounds
(``decide/reid_stage.py``: :class:`~streamreid.decide.reid_stage.ReidResult`) → WebPs and the HTML report.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from streamreid import rundir
from streamreid.config import Config, ReidConfig
from streamreid.decide.reid_stage import (
    FALLBACK_NOTE,
    REID_OUTPUTS,
    AppliedMerge,
    ReidResult,
    applied_merges,
    decide,
    embed_persons,
    known_different,
    merge_links,
    merged_clusters,
    recorded_merges,
    write_reid,
)
from streamreid.errors import StreamReidError
from streamreid.persons.gap_fill import fill_person_gaps, space_time_links
from streamreid.persons.grouping import GroupingResult
from streamreid.persons.pair_checks import scaled_grouping_config
from streamreid.persons.person_tracks import PersonTrack, person_tracks
from streamreid.persons.working_set import (
    Analysis,
    PersonsFound,
    WorkingSet,
    fixed_persons,
    link_persons,
    load_working_set,
    rank,
    write_persons,
)
from streamreid.reid.embed import RememberingEmbedder, build_embedder, leaves_cores_free
from streamreid.reid.features import EmbedderInfo
from streamreid.report.html import write_report
from streamreid.report.webp import PersonAnimations
from streamreid.run.store_reader import open_store
from streamreid.run.timings import StageClock
from streamreid.types import TrackletStats, VideoInfo

if TYPE_CHECKING:
    from streamreid.reid.features import Embedder
    from streamreid.run.store_reader import StoreReader

log = logging.getLogger("streamreid")

#: Most rounds of applying confident merges and deciding again on the merged persons.
_MERGE_ROUNDS = 3


def analyse(
    run_dir: str | Path,
    *,
    config: Config,
    stats: list[TrackletStats] | None = None,
    info: VideoInfo | None = None,
    clock: StageClock | None = None,
    embedder: Embedder | None = None,
    frames_processed: int | None = None,
    groups: Sequence[Sequence[int]] | None = None,
) -> Analysis:
    """End-of-stream stages over a run directory: persons, ranking, ReID, report.

    Works on a finished run as well as on the store a killed run left behind.
    With ``groups`` (``streamreid apply``), the persons are those groups of tracklets as they are:
    nothing is linked or merged automatically, and the merges recorded before are kept on record.

    Args:
        run_dir: The run directory.
        config: The configuration.
        stats: The run's tracklets, when the caller has them (else read from ``run_dir``).
        info: The video, when the caller has it (else ``run.json``'s).
        clock: Where to add each stage's time.
        embedder: An embedder to use instead of building one from the config.
        frames_processed: Frames the pipeline processed, when known.
        groups: The persons, as tracker ids, when they are decided already.

    Returns:
        How many persons, the embedder used, the report and notes for the user.
    """
    run_dir = Path(run_dir)
    clock = clock or StageClock()
    store = open_store(run_dir / rundir.STORE)
    work = load_working_set(run_dir, store, config=config, stats=stats, info=info, frames_processed=frames_processed)
    carried = recorded_merges(run_dir) if groups is not None else ()
    found = initial = _find_persons(work, config=config, clock=clock, groups=groups)
    with clock.stage("grouping"):
        write_persons(run_dir, found, work, ranking=config.ranking)  # before ReID: kept if killed
    stale = set((run_dir / rundir.WEBP_DIR).glob("person_*.webp"))  # removed once the new report is written
    webps = None
    if config.report.enabled:
        # WebPs encode while ReID runs where the embedder leaves cores free (_reid), else after it; a person a
        # merge leaves alone keeps its animation (same tracklets)
        webps = PersonAnimations(run_dir, store, config=config.report)
    older = _versions(run_dir, REID_OUTPUTS)
    notes, embedder_info = list(work.notes), None
    if config.reid.enabled and found.persons:
        with clock.stage("reid"):
            found, embedder_info, reid_notes = _reid(run_dir, work, found, store, config=config, embedder=embedder,
                                                     clock=clock, webps=webps, carried=carried)  # fmt: skip
        notes += reid_notes
    elif found.grouping is not None and found.persons:
        brief = _without_brief(work, found, config=config, clock=clock)
        if brief is not found:
            found = brief
            with clock.stage("grouping"):
                write_persons(run_dir, found, work, ranking=config.ranking)
    for name, version in older.items():  # an older analysis's similarities this one did not replace: stale now
        if _versions(run_dir, (name,))[name] == version:
            (run_dir / name).unlink(missing_ok=True)
    brief = None if groups is not None else _tracklets_in(initial) - _tracklets_in(found)  # merges keep tracklets
    analysis = Analysis(persons=len(found.persons), embedder=embedder_info, report=None, notes=tuple(notes),
                        brief_tracklets=brief)  # fmt: skip
    if webps is not None:
        analysis = _animate_and_report(run_dir, analysis, found, webps, stale=stale, config=config, clock=clock)
    return analysis


def _animate_and_report(
    run_dir: Path, analysis: Analysis, found: PersonsFound, webps: PersonAnimations, *, stale: set[Path],
    config: Config, clock: StageClock,
) -> Analysis:  # fmt: skip
    """Write the persons' WebPs and the report; then remove the WebPs of persons that are gone."""
    with webps, clock.stage("webp"):
        written = webps.write(found.ranked())
    meta = rundir.read_json(run_dir / rundir.RUN_JSON)
    rundir.write_json(run_dir / rundir.RUN_JSON, {**meta, **analysis.record(meta)})
    with clock.stage("report"):
        report = write_report(run_dir, config=config.report, animations=set(written))
    analysis = dataclasses.replace(analysis, report=report)
    for path in stale - {Path(p) for p in written.values()}:  # only now: the old report showed them until here
        path.unlink(missing_ok=True)
    return analysis


def _versions(run_dir: Path, names: Iterable[str]) -> dict[str, tuple[int, int] | None]:
    """Which version of each file is there (inode and change time; ``None``: none), to tell a rewritten one."""
    versions: dict[str, tuple[int, int] | None] = {}
    for name in names:
        try:
            stat = (run_dir / name).stat()
        except FileNotFoundError:
            versions[name] = None
        else:
            versions[name] = (stat.st_ino, stat.st_mtime_ns)
    return versions


def _find_persons(
    work: WorkingSet,
    *,
    config: Config,
    clock: StageClock,
    must_link: list[tuple[int, int]] = (),
    groups: Sequence[Sequence[int]] | None = None,
    brief_out: bool = False,
) -> PersonsFound:
    """Link the tracklets into persons (or take ``groups`` as they are), rank them and gather their detections.

    With ``brief_out``, linked persons with too little firm evidence are left out (``link_persons``).
    """
    with clock.stage("grouping"):
        if groups is None:
            grouping, persons = link_persons(work, config=config.grouping, must_link=must_link, brief_out=brief_out)
        else:
            grouping, persons = None, fixed_persons(work, groups)
    with clock.stage("ranking"):
        scores = rank(work, persons, config=config.ranking)
    tracks = person_tracks(persons, work.detections)
    if grouping is not None and config.grouping.fill_person_gaps != "off":
        tracks = _gaps_filled(work, grouping, tracks, config=config)
    return PersonsFound(tuple(persons), grouping, tuple(scores), tuple(tracks))


def _gaps_filled(work: WorkingSet, grouping: GroupingResult, tracks: list[PersonTrack], *,
                 config: Config) -> list[PersonTrack]:  # fmt: skip
    """The persons' tracks with the frames between two of their tracklets filled (``grouping.fill_person_gaps``)."""
    info = work.info
    scaled = scaled_grouping_config(config.grouping, fps=info.fps, frame_size=(info.width, info.height))
    links = space_time_links(grouping, mode=config.grouping.fill_person_gaps)
    return fill_person_gaps(tracks, links, max_gap=scaled.max_temporal_gap, shot_cuts=work.shot_cuts,
                            frame_step=config.source.stride)  # fmt: skip


def _reid(
    run_dir: Path, work: WorkingSet, found: PersonsFound, store: StoreReader, *, config: Config,
    embedder: Embedder | None, clock: StageClock, webps: PersonAnimations | None = None,
    carried: Sequence[AppliedMerge] = (),
) -> tuple[PersonsFound, EmbedderInfo | None, list[str]]:  # fmt: skip
    """Compare the persons by appearance; with auto-merge, join the confident clusters and compare again.

    With ``carried`` (persons decided already, as by ``streamreid apply``) nothing is merged: the merges
    applied before are kept on record, and the persons compared once.

    Returns:
        The persons after the merges, the embedder used (``None`` when ReID was skipped) and notes.
    """
    notes: list[str] = []
    used, initial, applied = None, found, list(carried)
    try:
        if embedder is None:
            embedder, _ = build_embedder(config.reid)  # logs its choice
        if embedder.kind == "fallback":
            notes.append(FALLBACK_NOTE)
        beside = webps if webps is not None and leaves_cores_free(embedder) else None
        if beside is not None:
            beside.start(found.ranked())
        embedder = RememberingEmbedder(embedder)  # merge rounds below embed only crops not seen before
        result = _compare(run_dir, work, found, store, embedder, options=config.reid, applied=applied)
        used = result.embedder
        notes += result.decision.notes
        must_link = []
        for _ in range(0 if carried or found.grouping is None else _MERGE_ROUNDS):
            merged = merged_clusters(result.decision)
            if not (config.reid.auto_merge and merged):
                break
            # the confident clusters become must-links of the five-check grouping, then redo
            must_link += merge_links(found.persons, merged)
            applied += applied_merges(found.persons, merged, result.decision)
            found = _find_persons(work, config=config, clock=clock, must_link=must_link)
            if beside is not None:  # the merged persons' animations start now, beside the next round
                beside.start(found.ranked())
            result = _compare(run_dir, work, found, store, embedder, options=config.reid, applied=applied)
        merged = len(found.persons)
        if not carried and found.grouping is not None:  # brief persons took part in the merges; now they go
            brief = _without_brief(work, found, config=config, clock=clock, must_link=must_link)
            if brief is not found:
                found = brief
                result = _compare(run_dir, work, found, store, embedder, options=config.reid, applied=applied)
        write_reid(run_dir, result, options=config.reid)  # the last round's: earlier rounds were only steps
        if len(applied) > len(carried):
            notes.append(f"auto-merge joined {len(initial.persons)} persons into {merged} by appearance")
    except StreamReidError as exc:
        notes.append(f"re-identification skipped: {exc}")
        log.warning("re-identification skipped: %s", exc)
    if found is not initial:  # the persons on disk are those before the merges
        with clock.stage("grouping"):
            write_persons(run_dir, found, work, ranking=config.ranking)
    return found, used, notes


def _tracklets_in(found: PersonsFound) -> int:
    return sum(len(person.tracklet_ids) for person in found.persons)


def _without_brief(
    work: WorkingSet, found: PersonsFound, *, config: Config, clock: StageClock,
    must_link: Sequence[tuple[int, int]] = (),
) -> PersonsFound:  # fmt: skip
    """The persons again without those of too little firm evidence (``found`` itself when none is brief).

    ``grouping.min_person_seconds`` decides. Left out only now, after the merges: they took part in the
    video's calibration and could have joined someone.
    """
    if config.grouping.min_person_seconds <= 0:
        return found
    kept = _find_persons(work, config=config, clock=clock, must_link=list(must_link), brief_out=True)
    return found if len(kept.persons) == len(found.persons) else kept


def _compare(
    run_dir: Path, work: WorkingSet, found: PersonsFound, store: StoreReader, embedder: Embedder, *,
    options: ReidConfig, applied: list[tuple[tuple[int, ...], ...]] = (),
) -> ReidResult:  # fmt: skip
    """One ReID round: embed each person's best crops, compare and decide."""
    crops = embed_persons(found.persons, store, embedder, crops_per_person=options.crops_per_person)
    person_ids = tuple(p.person_id for p in found.persons)
    different = known_different(found.persons, found.tracks, work.cannot_link, firm_confidence=work.firm_confidence)
    decision = decide(crops, person_ids, different, tracks=found.tracks, options=options, merged=bool(applied),
                      command_dir=str(run_dir), firm_confidence=work.firm_confidence)  # fmt: skip
    return ReidResult(person_ids, crops, different, decision, EmbedderInfo.of(embedder),
                      auto_merged=bool(applied), applied=tuple(applied))  # fmt: skip

"""The pipeline's outline: it wires the stages together and decides when each one writes.

:func:`process` is one run. It opens the source (``sources.py``), builds the detector
(``runtimes.py``) and streams: each frame is decoded once → a cut between shots ends every track (``shots.py``) →
people are detected → tracked (``track.py``; the frames between a track's detections filled,
``filling.py``) → their statistics (``stats.py``) and crops (``reservoir.py``) are updated →
detections and finished tracklets go to the run directory as they happen
(``tracklet_sink.py``, ``store.py``), with periodic refreshes for live sources
(``periodic.py``). The stream's :class:`~streamreid.run.run_record.StreamSummary` then goes to
:func:`~streamreid.end_of_stream.analyse`, the end of the stream (``end_of_stream.py``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import supervision as sv

from streamreid import rundir
from streamreid.config import Config, validate
from streamreid.end_of_stream import Analysis, analyse
from streamreid.periodic import PeriodicResults, Progress, Refresh, refresh_interval
from streamreid.reid.embed import EmbedderInBackground
from streamreid.report.html import write_report
from streamreid.run.live_tracklets import clear_checkpoint
from streamreid.run.mot import MotSink
from streamreid.run.run_record import StreamSummary, final_status, now, start_record, stream_notes
from streamreid.run.timings import StageClock, iter_timed_detections, iter_timed_frames
from streamreid.run.tracklet_sink import TrackletSink
from streamreid.run.tracklet_stats import read_stats_log
from streamreid.stream.background import Prefetch
from streamreid.stream.detection_rate import resolve_detect_stride
from streamreid.stream.filling import faint_tail_filler
from streamreid.stream.picture import detector_size, in_frame_pixels
from streamreid.stream.progress import ProgressBar, expected_frames
from streamreid.stream.realtime import RealTimePacer, realtime_enabled
from streamreid.stream.scene import SceneKeeper
from streamreid.stream.shots import cut_detector
from streamreid.stream.sources import VideoStream, open_source
from streamreid.stream.stats import TrackletStatsAccumulator
from streamreid.stream.track import PersonTracker
from streamreid.types import Frame, VideoInfo
from streamreid.weights.records import ResolvedWeights

if TYPE_CHECKING:
    from streamreid.reid.features import Embedder
    from streamreid.run.store import CropStore

log = logging.getLogger("streamreid")

#: Longest time between two writes to disk while people stay on screen.
_FLUSH_SECONDS = 5.0
#: Batches of frames decoding and detection may run ahead of the stage after them (bounds memory).
_PREFETCH_BATCHES = 2
#: Longest time a finished tracklet of a live stream waits in RAM before it is flushed (flushes cost tens of
#: ms): a live stream cannot be replayed. A file can, so its tracklets wait for the next flush (_FLUSH_SECONDS).
_TRACKLET_FLUSH_SECONDS = 1.0


class Detector(Protocol):
    """What the pipeline needs from a detector (the YOLO one, or a scripted one in tests)."""

    weights: ResolvedWeights
    device: str

    def iter_detections(
        self, frames: Iterable[Frame], *, detect_stride: int = 1
    ) -> Iterator[tuple[Frame, sv.Detections | None]]:
        """Yield every frame in order with its detections, or ``None`` where the stride skipped it."""
        ...


@dataclass(frozen=True)
class RunResult:
    """What a run produced, for the CLI summary and for tests."""

    run_dir: Path
    status: str
    video: VideoInfo
    frames_decoded: int
    frames_processed: int
    detections: int
    tracklets: int
    persons: int
    report: Path | None
    timings: dict[str, float]
    detector: ResolvedWeights
    embedder: str | None
    notes: tuple[str, ...] = ()
    runtime: str = ""
    realtime: dict[str, Any] | None = None
    short_tracklets: int = 0  # of ``tracklets``, those under tracker.min_tracklet_detections: left out of persons
    brief_tracklets: int = 0  # of ``tracklets``, those of persons seen too briefly (grouping.min_person_seconds)


def build_detector(config: Config, *, frame_shape: tuple[int, int] | None = None, fps: float | None = None) -> Detector:
    """The YOLO person detector described by ``config.detector`` (``runtime: auto`` measured for ``frame_shape``).

    With ``imgsz: auto`` its input size is chosen from the stream, on probe frames about
    half a second of video apart (:mod:`streamreid.detect.input_size`).
    """
    from streamreid.detect.input_size import build_sized_detector, probe_every_for

    config = resolve_detect_stride(config, fps=fps)
    options = dataclasses.asdict(config.detector)
    del options["detect_rate"]  # the rate and the stride are the pipeline's business
    probe_every = probe_every_for(fps, frame_step=config.source.stride * options.pop("detect_stride"))
    return build_sized_detector(frame_shape=frame_shape, probe_every=probe_every,
                                people_confidence=config.tracker.track_activation_threshold, **options)  # fmt: skip


def process(
    source: str | int | Path,
    *,
    out_dir: str | Path,
    config: Config,
    detector: Detector | None = None,
    embedder: Embedder | None = None,
    progress: bool = True,
    on_progress: Callable[[int], None] | None = None,
    on_refresh: Callable[[Refresh], None] | None = None,
) -> RunResult:
    """Run streamreid on one source and write everything to ``out_dir``, which no other process may use meanwhile.

    ``out_dir`` is locked for the run (:func:`streamreid.rundir.locked`): a second run, or ``report``,
    ``apply`` or ``select`` on it, is refused with one line until this run ends. Arguments, return
    value and errors as :func:`_process`, plus :class:`~streamreid.rundir.RunDirBusyError`.
    """
    with rundir.locked(out_dir, command="process"):
        return _process(source, out_dir=out_dir, config=config, detector=detector, embedder=embedder,
                        progress=progress, on_progress=on_progress, on_refresh=on_refresh)  # fmt: skip


def _process(
    source: str | int | Path,
    *,
    out_dir: str | Path,
    config: Config,
    detector: Detector | None = None,
    embedder: Embedder | None = None,
    progress: bool = True,
    on_progress: Callable[[int], None] | None = None,
    on_refresh: Callable[[Refresh], None] | None = None,
) -> RunResult:
    """Run streamreid on one source and write everything to ``out_dir`` (in :func:`process`, which holds its lock).

    Args:
        source: File path, ``-`` for stdin, a stream URL, or a webcam index/device.
        out_dir: Run directory to create (existing files in it are replaced).
        config: The configuration.
        detector: A detector to use instead of building YOLO from the config (tests).
        embedder: An embedder to use instead of building one from the config (tests).
        progress: Show a progress bar on stderr.
        on_progress: Called with the number of processed frames after each frame.
        on_refresh: Called (from a background thread) after each periodic refresh of the
            results, which runs every ``config.report.every_s`` seconds (live sources: every
            minute by default).

    Returns:
        What the run produced. An interrupted run (Ctrl-C) still returns, with
        ``status == "interrupted"`` and every stage run over the frames seen so far.

    Raises:
        StreamReidError: The source, the config or the weights are unusable (before
            anything is written), with a one-line message.
    """
    validate(config)  # the whole config, before the first frame: a typo must not fail after hours
    clock = StageClock()
    start = time.perf_counter()
    with clock.stage("open"):
        stream = open_source(source, config=config.source)
    with stream:
        info = stream.info
        config = resolve_detect_stride(config, fps=info.fps)  # "auto": about detect_rate detections a second
        detector, embedder = _models(config, info, detector=detector, embedder=embedder, clock=clock)
        run_dir = Path(out_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        meta = start_record(source, info, detector, config)
        rundir.write_json(run_dir / rundir.RUN_JSON, meta)
        streamed = _stream(stream, detector, run_dir, config=config, clock=clock, embedder=embedder,
                           progress=progress, on_progress=on_progress, on_refresh=on_refresh)  # fmt: skip
    _record_stream(run_dir, meta, streamed, detector)
    stream_seconds = time.perf_counter() - start

    analysis = analyse(run_dir, config=config, stats=list(streamed.tracklets), info=info, clock=clock,
                       embedder=embedder or streamed.embedder, frames_processed=streamed.frames_processed)  # fmt: skip
    timings = {**clock.to_dict(), "stream_total": round(stream_seconds, 4)}
    timings["total"] = round(time.perf_counter() - start, 4)
    rundir.write_json(run_dir / rundir.RUN_JSON, {**meta, **analysis.record(meta), "timings": timings,
                                                  "finished_at": now()})  # fmt: skip
    return _run_result(run_dir, streamed, analysis, info=info, detector=detector, config=config, timings=timings)


def _models(
    config: Config, info: VideoInfo, *, detector: Detector | None, embedder: Embedder | None, clock: StageClock
) -> tuple[Detector, Embedder | None]:
    """The detector (built from the config unless given) and the embedder (loading in the background meanwhile)."""
    if detector is None:
        with clock.stage("load_detector"):
            detector = build_detector(config, frame_shape=(info.height, info.width), fps=info.fps)
    if embedder is None and config.reid.enabled:  # ready when the stream ends, not built after it
        embedder = EmbedderInBackground(config.reid)
    return detector, embedder


def _record_stream(run_dir: Path, meta: dict[str, Any], streamed: StreamSummary, detector: Detector) -> None:
    """Write the tracklets' statistics, and what the single pass saw into ``run.json`` (``meta`` updated)."""
    rundir.write_json(run_dir / rundir.TRACKLET_STATS, {"tracklets": [s.to_dict() for s in streamed.tracklets]})
    meta.update(streamed.record())
    meta["detector"].update(detector.to_dict() if hasattr(detector, "to_dict") else {})  # e.g. the size chosen
    rundir.write_json(run_dir / rundir.RUN_JSON, meta)


def _run_result(
    run_dir: Path, streamed: StreamSummary, analysis: Analysis, *, info: VideoInfo, detector: Detector, config: Config,
    timings: dict[str, float],
) -> RunResult:  # fmt: skip
    """What the run produced; the report is rendered again, now that the final timings exist."""
    report = analysis.report
    if report is not None:
        # the report was rendered before the final timings existed: render it again, it is cheap
        report = write_report(run_dir, config=config.report) or report
    return RunResult(
        run_dir=run_dir, status=streamed.status, video=info, frames_decoded=streamed.frames_decoded,
        frames_processed=streamed.frames_processed, detections=streamed.detections,
        tracklets=len(streamed.tracklets), persons=analysis.persons, report=report, timings=timings,
        detector=detector.weights, embedder=analysis.embedder.name if analysis.embedder else None,
        notes=analysis.notes, runtime=_runtime_line(detector, detect_stride=int(config.detector.detect_stride)),
        realtime=streamed.realtime, brief_tracklets=analysis.brief_tracklets or 0, short_tracklets=sum(
            t.detection_count < config.tracker.min_tracklet_detections for t in streamed.tracklets),
    )  # fmt: skip


def _stream(
    stream: VideoStream, detector: Detector, run_dir: Path, *, config: Config, clock: StageClock,
    embedder: Embedder | None, progress: bool, on_progress: Callable[[int], None] | None,
    on_refresh: Callable[[Refresh], None] | None,
) -> StreamSummary:  # fmt: skip
    """The single pass: decode → detect → track → statistics and crops → the run's files, as it happens."""
    from streamreid.run.store import CropStore

    info, options = stream.info, config.source
    every_s = refresh_interval(config.report.every_s, is_live=info.is_live)
    periodic = PeriodicResults(run_dir, config=config, info=info, every_s=every_s, embedder=embedder,
                               on_refresh=on_refresh)  # fmt: skip
    pacer = RealTimePacer(max_latency=options.max_latency) if realtime_enabled(options.realtime, info) else None
    # decoding and detection each run in their own thread, a few frames ahead (background.py); they start
    # first, so the first batch is detected while the sinks below are opened
    depth = _PREFETCH_BATCHES * max(1, config.detector.batch_size)
    if options.scaled_decode:  # each frame turned into BGR once, at the detector's size, where detected (picture.py)
        every = None if pacer is not None else config.detector.detect_stride  # live: the pacer picks the frames
        stream.scale_for_detector(_detector_size(detector, info), detect_every=every)
    frames = Prefetch(iter_timed_frames(stream, clock), depth=depth, name="decode")
    # live: detect only as often as the machine keeps up (the pacer runs in the detection thread)
    detected = in_frame_pixels(detector.iter_detections(pacer.pace(frames) if pacer is not None else frames,
                                                        detect_stride=config.detector.detect_stride))  # fmt: skip
    items = Prefetch(iter_timed_detections(detected, frames, clock), depth=depth, name="detect")
    try:
        with (
            CropStore(run_dir / rundir.STORE, crop_height=config.crops.height, crop_width=config.crops.width) as store,
            MotSink(run_dir / rundir.MOT) as mot,
            open(run_dir / rundir.TRACKLET_STATS_LOG, "w", encoding="utf-8") as stats_log,
            ProgressBar(enabled=progress, total=expected_frames(info, options)) as bar,
        ):
            stages = _StreamStages(run_dir, stream, config=config, clock=clock, store=store, mot=mot,
                                   stats_log=stats_log, periodic=periodic, pacer=pacer)  # fmt: skip
            status = "complete"
            try:
                while (item := _next(items, clock)) is not None:
                    bar.advance(item[0].time)
                    stages.update(*item)
                    if on_progress is not None:
                        on_progress(stages.frames_processed)
            except KeyboardInterrupt:
                status = "interrupted"
                log.warning("interrupted: finishing the report with the %d frames seen so far",
                            stages.frames_processed)  # fmt: skip
            finally:
                items.close()
                frames.close()
                periodic.wait()  # the final analysis must not race a refresh
            return stages.finish(status)
    finally:  # also where a sink failed to open: the stages stop reading (closing twice is harmless)
        items.close()
        frames.close()


def _detector_size(detector: Detector, info: VideoInfo) -> tuple[int, int] | None:
    """``(width, height)`` the detector scales the stream's frames to, where smaller than they are; else ``None``."""
    input_shape_for = getattr(detector, "input_shape_for", None)  # a scripted detector takes frames as they are
    if input_shape_for is None:
        return None
    return detector_size((info.height, info.width), input_shape_for(info.height, info.width))


class _StreamStages:
    """The stages after detection, wired to the run's sinks: :meth:`update` once per frame, then :meth:`finish`."""

    def __init__(self, run_dir: Path, stream: VideoStream, *, config: Config, clock: StageClock, store: CropStore,
                 mot: MotSink, stats_log: IO[str], periodic: PeriodicResults,
                 pacer: RealTimePacer | None) -> None:  # fmt: skip
        from streamreid.run.store import Retention
        from streamreid.stream.reservoir import CropCollector

        self.run_dir, self.stream, self.config, self.clock = run_dir, stream, config, clock
        self.store, self.periodic, self.pacer = store, periodic, pacer
        self.tracker = PersonTracker(fps=stream.info.fps, config=config.tracker)
        kept_fps = stream.info.fps / config.source.stride if stream.info.fps else None
        self.cuts = cut_detector(config.tracker, fps=kept_fps)  # None when tracker.shot_cuts is off
        self.filler = faint_tail_filler(config.tracker)  # a box on every frame of a track's life, faint tail trimmed
        self.stats = TrackletStatsAccumulator(frame_step=config.source.stride * config.detector.detect_stride)
        self.crops = CropCollector(config=config.crops) if config.crops.enabled else None
        self.sink = TrackletSink(stats=self.stats, crops=self.crops, store=store, stats_log=stats_log, mot=mot,
                                 min_detections=config.tracker.min_tracklet_detections)  # fmt: skip
        self.scene = SceneKeeper()  # a still of the scene (median of a few frames) for the report's paths
        self.retention = Retention(retain_s=config.store.retain_s, max_gb=config.store.max_gb)
        self.frames_processed = self.frames_detected = self.detections = 0
        self.last_time = 0.0
        self.last_flush = time.monotonic()
        self.tracklet_flush_s = _TRACKLET_FLUSH_SECONDS if stream.info.is_live else _FLUSH_SECONDS

    def update(self, frame: Frame, detections: sv.Detections | None) -> None:
        """One frame: the scene, and where the detector ran, tracking, statistics, crops and the store."""
        self.frames_processed += 1
        self.scene.update(frame)
        self.last_time = frame.time
        clock = self.clock
        self.filler.frame(frame.index, frame.time)
        if self.cuts is not None:
            with clock.stage("cuts"):
                cut = self.cuts.update(frame)
            if cut is not None:
                self._end(self.tracker.restart())  # a new shot: no track crosses the cut
        if detections is None:
            return
        self.frames_detected += 1
        if self.pacer is not None:
            self.pacer.detected(frame)
        with clock.stage("track"):
            tracked, ended = self.tracker.update(detections, time=frame.time)
        self.detections += len(tracked)
        with clock.stage("stats"):
            self.stats.update(frame.index, frame.time, tracked)
        if self.crops is not None:
            with clock.stage("crops"):
                self.crops.update(frame, tracked)
        rows = self.filler.detected(frame.index, frame.time, tracked)
        with clock.stage("store"):
            self.sink.write_rows(rows)
        if ended:
            self._end(ended)
        self._flush_if_due()
        if self.retention.due() and not self.periodic.busy:  # never under a refresh that is reading
            with clock.stage("store"):
                self.retention.apply(self.store, now=frame.time)
        if self.periodic.due():
            self._refresh(frame)

    def _end(self, tracker_ids: list[int]) -> None:
        """These tracklets ended: their last filled boxes, then their statistics and crops, to the sinks."""
        rows = self.filler.end(tracker_ids)
        with self.clock.stage("store"):
            self.sink.write_rows(rows)
            self.sink.close(tracker_ids)

    def _flush_if_due(self) -> None:
        # finished tracklets of a live stream reach the disk within a second, everything else within
        # five: that is all a kill can lose
        wait = self.tracklet_flush_s if self.sink.pending else _FLUSH_SECONDS
        if time.monotonic() - self.last_flush > wait:
            with self.clock.stage("store"):
                self.sink.flush()
                self.scene.write(self.run_dir, final=False)
            self.last_flush = time.monotonic()

    def _refresh(self, frame: Frame) -> None:
        """Start a periodic refresh of the results over what is on disk and in RAM now."""
        with self.clock.stage("store"):
            self.sink.flush()
        now = Progress(self.stream.decoded_frames, self.frames_processed, self.frames_detected, frame.time,
                       self.pacer.to_dict() if self.pacer is not None else {}, self._cut_list())  # fmt: skip
        live_crops = self.crops.peek() if self.crops is not None else {}
        self.periodic.start(finished=self.sink.finished, live=self.stats.snapshot(), crops=live_crops, progress=now)
        self.sink.forget_older(keep=self.config.report.max_tracklets)  # more than any refresh looks at

    def finish(self, status: str) -> StreamSummary:
        """Close every tracklet still open, close the store, and say what the stream produced."""
        self._end(self.tracker.finish())
        rows = self.filler.finish()
        with self.clock.stage("store"):
            self.sink.write_rows(rows)
            self.sink.close(self.stats.live_ids)
        stream, sink, dropped = self.stream, self.sink, self.retention.dropped
        end_reason = getattr(stream, "end_reason", "end")
        status = final_status(status, end_reason)
        self.store.close(complete=status == "complete")
        self.scene.write(self.run_dir)
        clear_checkpoint(self.run_dir)  # every live tracklet is in the log and the store now
        sink.stats_log.flush()  # the log is read back when RAM no longer holds every tracklet
        finished = sink.finished if not sink.forgotten else read_stats_log(self.run_dir / rundir.TRACKLET_STATS_LOG)
        notes = stream_notes(end_reason, stream.decoded_frames) + list(getattr(stream, "notes", []))
        retained = bool(dropped.get("crops") or dropped.get("detections"))
        if retained:
            notes.append(self.retention.note())
        return StreamSummary(
            status=status, end_reason=end_reason, frames_decoded=stream.decoded_frames,
            frames_processed=self.frames_processed, frames_detected=self.frames_detected,
            frames_skipped_corrupt=getattr(stream, "skipped_frames", 0), reconnects=getattr(stream, "reconnects", 0),
            detections=self.detections, seconds_of_video=self.last_time,
            tracklets=tuple(sorted(finished, key=lambda s: (s.start_frame, s.tracker_id))), notes=tuple(notes),
            periodic=self.periodic.to_dict() if self.periodic.refreshes else None,
            realtime=self.pacer.to_dict() if self.pacer is not None else None,
            retention=dropped if retained else None, embedder=self.periodic.embedder, shot_cuts=self._cut_list(),
        )  # fmt: skip

    def _cut_list(self) -> tuple[dict[str, Any], ...]:
        return tuple(self.cuts.to_list()) if self.cuts is not None else ()


def _next(items: Iterator[tuple[Frame, sv.Detections | None]], clock: StageClock) -> Any:
    """The next detected frame, or ``None`` at the end; the wait is charged to ``wait_for_detector``."""
    with clock.stage("wait_for_detector"):
        return next(items, None)


def _runtime_line(detector: Detector, *, detect_stride: int = 1) -> str:
    """How the detector runs, for the summary: the runtime ``auto`` chose and its figures, or the one given."""
    from streamreid.detect.runtimes import describe

    choice = getattr(detector, "runtime_choice", None)
    runtime = getattr(detector, "runtime", None)
    line = describe(choice) if choice is not None else ""
    if not line and runtime:
        line = f"{runtime} ({getattr(detector, 'precision', '?')}), as configured"
    sizing = getattr(detector, "size_choice", None)
    if sizing is not None:
        line += f"; input size {sizing.imgsz}: {sizing.reason}"
    region = getattr(detector, "region_choice", None)
    if region is not None:
        line += f"; {'region' if region.region is not None else 'no region'}: {region.reason}"
    return line + (f"; detecting one frame in {detect_stride}" if detect_stride > 1 else "")

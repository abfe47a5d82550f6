"""The one module that wires the stages together (the sinks and writers it calls do the I/O).

``process`` runs the single pass: decode each frame once → detect people → track
→ update tracklet statistics and crop reservoirs → write tracked detections and
finished tracklets to the run directory as they happen. When the stream ends (or
the user presses Ctrl-C) ``analyse`` runs the end-of-stream stages over what was
stored: grouping into persons, ranking, re-identification, similarity, merge
recommendations, WebPs and the HTML report.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import platform
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import supervision as sv

from streamreid import rundir
from streamreid.background import Prefetch
from streamreid.config import Config, validate
from streamreid.decisions import apart, run_constraints
from streamreid.detection_rate import resolve_detect_stride, saved_stride
from streamreid.errors import StreamReidError
from streamreid.live_tracklets import clear_checkpoint, read_checkpoint
from streamreid.mot import MotSink
from streamreid.periodic import PeriodicResults, Progress, Refresh, refresh_interval, working_set
from streamreid.person_tracks import co_visible_pairs, co_visible_tracklets, person_tracks
from streamreid.realtime import RealTimePacer, realtime_enabled
from streamreid.redact import redact
from streamreid.scene import SceneKeeper
from streamreid.sources import open_source
from streamreid.stats import TrackletStatsAccumulator
from streamreid.track import PersonTracker
from streamreid.types import Frame, Person, TrackletStats, VideoInfo
from streamreid.weights import ResolvedWeights

log = logging.getLogger("streamreid")

#: Files of the ReID stage, removed before it runs again.
_REID_OUTPUTS = (
    rundir.EMBEDDINGS, rundir.EMBEDDINGS_NPY, rundir.CROP_FEATURES, rundir.SIMILARITY, rundir.SIMILARITY_NPY,
    rundir.MERGE_RECOMMENDATIONS,
)  # fmt: skip

#: Most rounds of applying confident merges and deciding again on the merged persons.
_MERGE_ROUNDS = 3
#: Longest time between two writes to disk while people stay on screen.
_FLUSH_SECONDS = 5.0
#: Batches of frames decoding and detection may run ahead of the stage after them (bounds memory).
_PREFETCH_BATCHES = 2
_PROBE_SPACING_S = 0.5  # imgsz auto: seconds of video between two probe frames
#: Longest time a finished tracklet waits in RAM before it is flushed (flushes cost tens of ms).
_TRACKLET_FLUSH_SECONDS = 1.0

_VERSIONED_PACKAGES = (
    "streamreid", "av", "numpy", "torch", "torchvision", "ultralytics", "supervision", "trackers",
    "torchreid", "zarr", "imageio", "pillow", "scipy",
)  # fmt: skip


class Detector(Protocol):
    """What the pipeline needs from a detector (the YOLO one, or a scripted one in tests)."""

    weights: ResolvedWeights
    device: str

    def iter_detections(
        self, frames: Iterable[Frame], *, detect_stride: int = 1
    ) -> Iterator[tuple[Frame, sv.Detections | None]]:
        """Yield every frame in order with its detections, or ``None`` where the stride skipped it."""
        ...


@dataclass
class StageClock:
    """Wall-clock seconds per stage, accumulated over the run."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, stage: str, seconds: float) -> None:
        """Add ``seconds`` to ``stage``."""
        self.seconds[stage] += seconds

    def timed(self, stage: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``function`` and charge its duration to ``stage``."""
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            self.seconds[stage] += time.perf_counter() - start

    def to_dict(self) -> dict[str, float]:
        """Rounded plain dict, in insertion order."""
        return {stage: round(value, 4) for stage, value in self.seconds.items()}


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


@functools.lru_cache(maxsize=1)
def _installed_versions() -> tuple[tuple[str, str | None], ...]:
    return tuple(_package_version(name) for name in _VERSIONED_PACKAGES)


def _package_version(name: str) -> tuple[str, str | None]:
    try:
        return name, metadata.version(name)
    except metadata.PackageNotFoundError:
        return name, None


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a run depends on (looked up once per process: tens of ms)."""
    return {"python": platform.python_version(), **dict(_installed_versions())}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _timed_frames(frames: Iterable[Frame], clock: StageClock) -> Iterator[Frame]:
    iterator = iter(frames)
    while True:
        start = time.perf_counter()
        try:
            frame = next(iterator)
        except StopIteration:
            clock.add("decode", time.perf_counter() - start)
            return
        clock.add("decode", time.perf_counter() - start)
        yield frame


def _open_options(options: Any) -> dict[str, Any]:
    """The ``source`` options :func:`open_source` takes (the pacing ones are the pipeline's business)."""
    values = dataclasses.asdict(options)
    for name in ("realtime", "max_latency"):
        values.pop(name, None)
    return values


def _timed_detections(
    detections: Iterator[tuple[Frame, sv.Detections | None]], frames: Prefetch[Frame], clock: StageClock
) -> Iterator[tuple[Frame, sv.Detections | None]]:
    """Charge the detector's own time to ``detect``: each step's duration less its wait for decoded frames."""
    try:
        while True:
            waited, start = frames.waited, time.perf_counter()
            try:
                item = next(detections)
            except StopIteration:
                return
            finally:
                clock.add("detect", time.perf_counter() - start - (frames.waited - waited))
            yield item
    finally:
        close = getattr(detections, "close", None)
        if close is not None:
            close()


def build_detector(config: Config, *, frame_shape: tuple[int, int] | None = None, fps: float | None = None) -> Detector:
    """The YOLO person detector described by ``config.detector`` (``runtime: auto`` measured for ``frame_shape``).

    With ``imgsz: auto`` its input size is chosen from the stream, on probe frames about
    half a second of video apart (:mod:`streamreid.input_size`).
    """
    from streamreid.input_size import build_sized_detector

    config = resolve_detect_stride(config, fps=fps)
    options = dataclasses.asdict(config.detector)
    del options["detect_rate"]  # the rate and the stride are the pipeline's business
    frame_step = config.source.stride * options.pop("detect_stride")
    probe_every = max(1, round((fps or 2.0) * _PROBE_SPACING_S / frame_step))
    return build_sized_detector(frame_shape=frame_shape, probe_every=probe_every,
                                people_confidence=config.tracker.track_activation_threshold, **options)  # fmt: skip


class _TrackletCloser:
    """Moves finished tracklets out of RAM: stats to the log, crops to the store."""

    def __init__(self, *, stats: TrackletStatsAccumulator, crops: Any, store: Any, stats_log: Any, mot: MotSink,
                 min_detections: int) -> None:  # fmt: skip
        self.mot = mot
        self.stats = stats
        self.crops = crops
        self.store = store
        self.stats_log = stats_log
        self.min_detections = min_detections
        self.finished: list[TrackletStats] = []
        self.forgotten = 0  # finished tracklets no longer held in RAM (they are in the log)
        self.pending = False  # finished tracklets not yet flushed to disk

    def close(self, tracker_ids: Iterable[int]) -> None:
        wrote = False
        for tracker_id in tracker_ids:
            final = self.stats.finish(tracker_id)
            samples, buffers = self.crops.pop(tracker_id) if self.crops is not None else ([], [])
            if final is None:
                continue
            self.finished.append(final)
            self.stats_log.write(json.dumps(final.to_dict()) + "\n")
            if samples and final.detection_count >= self.min_detections:
                self.store.write_tracklet(tracker_id, samples, buffers)
            wrote = True
        self.pending = self.pending or wrote

    def forget_older(self, *, keep: int) -> None:
        """Hold only the ``keep`` most recent finished tracklets in RAM (all are in the log): RAM stays flat."""
        if len(self.finished) > keep:
            self.forgotten += len(self.finished) - keep
            del self.finished[: len(self.finished) - keep]

    def flush(self) -> None:
        self.pending = False
        self.stats_log.flush()
        self.mot.flush()
        self.store.flush()


def process(
    source: str | int | Path,
    *,
    out_dir: str | Path,
    config: Config,
    detector: Detector | None = None,
    embedder: Any = None,
    progress: bool = True,
    on_progress: Callable[[int], None] | None = None,
    on_refresh: Callable[[Refresh], None] | None = None,
) -> RunResult:
    """Run streamreid on one source and write everything to ``out_dir``.

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
    from streamreid.reservoir import CropCollector
    from streamreid.store import CropStore, Retention

    validate(config)  # the whole config, before the first frame: a typo must not fail after hours
    clock = StageClock()
    source_options = config.source
    start = time.perf_counter()
    stream = clock.timed("open", open_source, source, **_open_options(source_options))
    with stream:
        info = stream.info
        config = resolve_detect_stride(config, fps=info.fps)  # "auto": about detect_rate detections a second
        if detector is None:
            detector = clock.timed(
                "load_detector", build_detector, config, frame_shape=(info.height, info.width), fps=info.fps
            )
        run_dir = Path(out_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {
            "status": "running",
            "source": redact(source),  # never the camera password
            "video": info.to_dict(),
            "detector": {
                "weights": detector.weights.to_dict(),
                "device": getattr(detector, "device", None),
                "imgsz": config.detector.imgsz,
                "confidence": config.detector.confidence,
                "detect_stride": config.detector.detect_stride,
                **(detector.to_dict() if hasattr(detector, "to_dict") else {}),
            },
            "config": config.to_dict(),
            "versions": package_versions(),
            "started_at": _now(),
        }
        rundir.write_json(run_dir / rundir.RUN_JSON, meta)

        tracker = PersonTracker(fps=info.fps, config=config.tracker)
        stats = TrackletStatsAccumulator(frame_step=source_options.stride * config.detector.detect_stride)
        crops = CropCollector(config=config.crops) if config.crops.enabled else None
        status = "complete"
        frames_processed = 0
        frames_detected = 0
        detections_total = 0
        last_flush = time.monotonic()
        last_time = 0.0
        with (
            CropStore(run_dir / rundir.STORE, crop_height=config.crops.height, crop_width=config.crops.width) as store,
            MotSink(run_dir / rundir.MOT) as mot,
            open(run_dir / rundir.TRACKLET_STATS_LOG, "w", encoding="utf-8") as stats_log,
            _progress_bar(enabled=progress, total=_expected_frames(info, config)) as bar,
        ):
            closer = _TrackletCloser(stats=stats, crops=crops, store=store, stats_log=stats_log, mot=mot,
                                     min_detections=config.tracker.min_tracklet_detections)  # fmt: skip
            scene = SceneKeeper()  # a still of the scene (median of a few frames) for the report's paths
            retention = Retention(retain_s=config.store.retain_s, max_gb=config.store.max_gb)
            every_s = refresh_interval(config.report.every_s, is_live=info.is_live)
            periodic = PeriodicResults(run_dir, config=config, info=info, every_s=every_s, embedder=embedder,
                                       on_refresh=on_refresh)  # fmt: skip
            # decoding and detection each run in their own thread, a few frames ahead (background.py)
            depth = _PREFETCH_BATCHES * max(1, config.detector.batch_size)
            frames = Prefetch(_timed_frames(stream, clock), depth=depth, name="decode")
            pacer = RealTimePacer(max_latency=source_options.max_latency) if realtime_enabled(
                source_options.realtime, info) else None  # fmt: skip
            # live: detect only as often as the machine keeps up (the pacer runs in the detection thread)
            paced = pacer.pace(frames) if pacer is not None else frames
            detected = detector.iter_detections(paced, detect_stride=config.detector.detect_stride)
            items = Prefetch(_timed_detections(detected, frames, clock), depth=depth, name="detect")
            try:
                while True:
                    item = clock.timed("wait_for_detector", next, items, None)
                    if item is None:
                        break
                    frame, detections = item
                    frames_processed += 1
                    scene.update(frame)
                    last_time = frame.time
                    bar.advance(frame.time)
                    if on_progress is not None:
                        on_progress(frames_processed)
                    if detections is None:
                        continue
                    frames_detected += 1
                    if pacer is not None:
                        pacer.detected(frame)
                    tracked, ended = clock.timed("track", tracker.update, detections, time=frame.time)
                    detections_total += len(tracked)
                    clock.timed("stats", stats.update, frame.index, frame.time, tracked)
                    if crops is not None:
                        clock.timed("crops", crops.update, frame, tracked)
                    if len(tracked):
                        clock.timed("store", _write_detections, store, mot, frame, tracked)
                    if ended:
                        clock.timed("store", closer.close, ended)
                    wait = _TRACKLET_FLUSH_SECONDS if closer.pending else _FLUSH_SECONDS
                    if time.monotonic() - last_flush > wait:
                        # finished tracklets reach the disk within a second, detections of people who
                        # stay on screen within five: that is all a kill can lose
                        clock.timed("store", closer.flush)
                        clock.timed("store", scene.write, run_dir, final=False)
                        last_flush = time.monotonic()
                    if retention.due() and not periodic.busy:  # never under a refresh that is reading
                        clock.timed("store", retention.apply, store, now=frame.time)
                    if periodic.due():
                        clock.timed("store", closer.flush)
                        now = Progress(stream.decoded_frames, frames_processed, frames_detected, frame.time,
                                       pacer.to_dict() if pacer is not None else {})  # fmt: skip
                        live_crops = crops.peek() if crops is not None else {}
                        periodic.start(finished=closer.finished, live=stats.snapshot(), crops=live_crops, progress=now)
                        closer.forget_older(keep=config.report.max_tracklets)  # more than any refresh looks at
            except KeyboardInterrupt:
                status = "interrupted"
                log.warning("interrupted: finishing the report with the %d frames seen so far", frames_processed)
            finally:
                items.close()
                frames.close()
                periodic.wait()  # the final analysis must not race a refresh
            clock.timed("store", closer.close, tracker.finish())
            clock.timed("store", closer.close, stats.live_ids)
            end_reason = getattr(stream, "end_reason", "end")
            if status == "complete" and end_reason in ("gave_up", "read_error"):
                status = "interrupted" if end_reason == "gave_up" else "complete"
            store.close(complete=status == "complete")
            scene.write(run_dir)
            clear_checkpoint(run_dir)  # every live tracklet is in the log and the store now
        frames_decoded = stream.decoded_frames
        skipped = getattr(stream, "skipped_frames", 0)
        reconnects = getattr(stream, "reconnects", 0)

    finished = closer.finished if not closer.forgotten else _read_stats_log(run_dir / rundir.TRACKLET_STATS_LOG)
    finished = sorted(finished, key=lambda s: (s.start_frame, s.tracker_id))
    rundir.write_json(run_dir / rundir.TRACKLET_STATS, {"tracklets": [s.to_dict() for s in finished]})
    notes = []
    if end_reason == "gave_up":
        notes.append(f"the live source stopped answering after {frames_decoded} frames and did not come back")
    elif end_reason == "read_error":
        notes.append(f"the video could not be read past frame {frames_decoded} (damaged or truncated file)")
    if periodic.refreshes:
        meta["periodic"] = periodic.to_dict()
    if pacer is not None:
        meta["realtime"] = pacer.to_dict()
    if retention.dropped.get("crops") or retention.dropped.get("detections"):
        meta["retention"] = retention.dropped
        notes.append(retention.note())
    meta["detector"].update(detector.to_dict() if hasattr(detector, "to_dict") else {})  # e.g. the size chosen
    meta.update(
        status=status,
        end_reason=end_reason,
        stream_notes=notes,
        counts={
            "frames_decoded": frames_decoded,
            "frames_processed": frames_processed,
            "frames_detected": frames_detected,
            "frames_skipped_corrupt": skipped,
            "reconnects": reconnects,
            "detections": detections_total,
            "tracklets": len(finished),
            "seconds_of_video": round(last_time, 3),
        },
    )
    rundir.write_json(run_dir / rundir.RUN_JSON, meta)
    stream_seconds = time.perf_counter() - start

    analysis = analyse(run_dir, config=config, stats=finished, info=info, clock=clock,
                       embedder=embedder or periodic.embedder, frames_processed=frames_processed)  # fmt: skip
    timings = clock.to_dict()
    timings["stream_total"] = round(stream_seconds, 4)
    timings["total"] = round(time.perf_counter() - start, 4)
    meta.update(
        timings=timings,
        finished_at=_now(),
        embedder=analysis.get("embedder"),
        counts={**meta["counts"], "persons": analysis["persons"]},
        notes=analysis["notes"],
    )
    rundir.write_json(run_dir / rundir.RUN_JSON, meta)
    report = analysis.get("report")
    if report is not None:
        # the report was rendered before the final timings existed: render it again, it is cheap
        report = _write_report(run_dir, config) or report
    return RunResult(
        run_dir=run_dir,
        status=status,
        video=info,
        frames_decoded=frames_decoded,
        frames_processed=frames_processed,
        detections=detections_total,
        tracklets=len(finished),
        persons=analysis["persons"],
        report=report,
        timings=timings,
        detector=detector.weights,
        embedder=(analysis.get("embedder") or {}).get("name"),
        notes=tuple(analysis["notes"]),
        runtime=_runtime_line(detector, detect_stride=int(config.detector.detect_stride)),
        realtime=pacer.to_dict() if pacer is not None else None,
    )


def _runtime_line(detector: Detector, *, detect_stride: int = 1) -> str:
    """How the detector runs, for the summary: the runtime ``auto`` chose and its figures, or the one given."""
    from streamreid.runtimes import describe

    choice = getattr(detector, "runtime_choice", None)
    runtime = getattr(detector, "runtime", None)
    line = describe(choice) if choice is not None else ""
    if not line and runtime:
        line = f"{runtime} ({getattr(detector, 'precision', '?')}), as configured"
    sizing = getattr(detector, "size_choice", None)
    if sizing is not None:
        line += f"; input size {sizing.imgsz}: {sizing.reason}"
    return line + (f"; detecting one frame in {detect_stride}" if detect_stride > 1 else "")


def _write_detections(store: Any, mot: MotSink, frame: Frame, tracked: sv.Detections) -> None:
    count = len(tracked)
    confidence = tracked.confidence if tracked.confidence is not None else np.ones(count, dtype=np.float32)
    store.append_detections(
        frame_index=np.full(count, frame.index, dtype=np.int64),
        time=np.full(count, frame.time, dtype=np.float64),
        tracker_id=tracked.tracker_id.astype(np.int64),
        xyxy=tracked.xyxy.astype(np.float32),
        confidence=confidence.astype(np.float32),
    )
    mot.write(frame.index, tracked)


def _expected_frames(info: VideoInfo, config: Config) -> int | None:
    if info.frame_count is None:
        return None
    total = info.frame_count
    if config.source.max_frames is not None:
        total = min(total, config.source.max_frames)
    return -(-total // config.source.stride)


class _progress_bar:  # noqa: N801 - used like a function in a with-statement
    """A rich progress bar with frames per second, or nothing when disabled."""

    def __init__(self, *, enabled: bool, total: int | None) -> None:
        self.enabled = enabled
        self.total = total
        self._progress = None
        self._task = None

    def __enter__(self) -> _progress_bar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]processing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[fps]:>6.1f} fps"),
                TextColumn("video {task.fields[video]:>8.1f}s"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("frames", total=self.total, fps=0.0, video=0.0)
            self._started = time.perf_counter()
            self._count = 0
        return self

    def advance(self, video_time: float) -> None:
        if self._progress is None:
            return
        self._count += 1
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        self._progress.update(self._task, advance=1, fps=self._count / elapsed, video=video_time)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


# --------------------------------------------------------------------------- end of stream


def load_tracklet_stats(run_dir: Path) -> list[TrackletStats]:
    """Final tracklet statistics of a run: the JSON, else the line log a killed run leaves."""
    path = run_dir / rundir.TRACKLET_STATS
    if path.is_file():
        return [TrackletStats.from_dict(item) for item in rundir.read_json(path)["tracklets"]]
    stats = _read_stats_log(run_dir / rundir.TRACKLET_STATS_LOG)
    finished = {s.tracker_id for s in stats}
    live, _ = read_checkpoint(run_dir)  # tracklets still on screen at the last refresh before the kill
    stats.extend(s for s in live if s.tracker_id not in finished)
    return sorted(stats, key=lambda s: (s.start_frame, s.tracker_id))


def _read_stats_log(path: Path) -> list[TrackletStats]:
    """The tracklets of a ``tracklet_stats.jsonl`` log, up to a line cut by a kill."""
    stats = []
    if path.is_file():
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                try:
                    stats.append(TrackletStats.from_dict(json.loads(line)))
                except (json.JSONDecodeError, TypeError, KeyError):
                    break  # a line cut by a kill ends the usable log
    return stats


def analyse(
    run_dir: str | Path,
    *,
    config: Config,
    stats: list[TrackletStats] | None = None,
    info: VideoInfo | None = None,
    clock: StageClock | None = None,
    embedder: Any = None,
    frames_processed: int | None = None,
) -> dict[str, Any]:
    """End-of-stream stages over a run directory: persons, ranking, ReID, report.

    Works on a finished run as well as on the store a killed run left behind.

    Returns:
        A summary dict: ``persons`` (count), ``embedder`` (dict or None), ``report``
        (path or None) and ``notes`` (list of warnings for the user).
    """
    from streamreid.grouping import (
        build_persons,
        group_tracklets,
        grouping_log,
        reid_candidates,
        scaled_grouping_config,
    )
    from streamreid.ranking import rank_persons, ranking_results
    from streamreid.store import open_store

    run_dir = Path(run_dir)
    clock = clock or StageClock()
    meta = rundir.read_json(run_dir / rundir.RUN_JSON)
    notes: list[str] = list(meta.get("stream_notes", []))
    if info is None:
        info = VideoInfo(**meta["video"])
    if stats is None:
        stats = load_tracklet_stats(run_dir)
    frames_detected = _frames_detected(meta, frames_processed, store_path=run_dir / rundir.STORE)
    kept = [s for s in stats if s.detection_count >= config.tracker.min_tracklet_detections]

    store = open_store(run_dir / rundir.STORE)
    _, live_crops = read_checkpoint(run_dir)  # people still on screen at the last refresh (or the kill)
    if live_crops:
        store.add_provisional(live_crops)
    # a bounded working set: the recent window, a capped gallery, nothing retention dropped
    kept, since = working_set(kept, config=config, is_live=info.is_live, dropped_until=store.dropped.get("until_time"))
    detections = store.detections(since=since)
    # the user's decisions from the report (streamreid apply), as tracklet constraints
    user_must, user_cannot = run_constraints(run_dir, {s.tracker_id for s in kept})

    grouping_config = scaled_grouping_config(config.grouping, fps=info.fps, frame_size=(info.width, info.height))

    def persons_stage(must_link: list[tuple[int, int]]) -> tuple[list[Person], list[Any], list[dict[str, np.ndarray]]]:
        start = time.perf_counter()
        grouping = group_tracklets(kept, config=grouping_config, must_link=[*user_must, *must_link],
                                   cannot_link=user_cannot)  # fmt: skip
        persons = build_persons(grouping.groups, kept)
        rundir.write_json(run_dir / rundir.GROUPING_LOG, grouping_log(grouping))
        rundir.write_json(run_dir / rundir.REID_CANDIDATES, reid_candidates(grouping, kept))
        clock.add("grouping", time.perf_counter() - start)
        start = time.perf_counter()
        scores = rank_persons(persons, kept, total_frames=frames_detected,
                              frame_size=(info.width, info.height), config=config.ranking)  # fmt: skip
        rundir.write_json(run_dir / rundir.RANKING, ranking_results(scores, config=config.ranking))
        clock.add("ranking", time.perf_counter() - start)
        tracks = person_tracks(persons, detections)
        _write_persons(run_dir, persons, tracks, {s.person_id: s.rank for s in scores}, info)
        return persons, scores, tracks

    persons, scores, tracks = persons_stage([])
    stale = set((run_dir / rundir.WEBP_DIR).glob("person_*.webp"))  # removed once the new report is written
    webps = None
    if config.report.enabled:
        from streamreid.report.webp import PersonAnimations

        # WebPs encode while ReID runs; a person a merge leaves alone keeps its animation (same tracklets)
        webps = PersonAnimations(run_dir, store, config=config.report)
        webps.start(_in_rank_order(persons, scores))
    for name in _REID_OUTPUTS:  # a redone analysis must not show an older run's similarities
        (run_dir / name).unlink(missing_ok=True)
    embedder_info = None
    if config.reid.enabled and len(persons) > 0:
        start = time.perf_counter()
        try:
            if embedder is None:
                from streamreid.embed import build_embedder

                embedder, _ = build_embedder(config.reid)  # logs its choice
            from streamreid.embed import RememberingEmbedder

            embedder = RememberingEmbedder(embedder)  # merge rounds below embed only crops not seen before
            clusters = _reid(run_dir, persons, tracks, store, config=config, embedder=embedder, notes=notes,
                             cannot_link=user_cannot)  # fmt: skip
            embedder_info = _embedder_info(embedder)
            before, must_link, applied = len(persons), [], []
            for _ in range(_MERGE_ROUNDS):
                merged = [cluster for cluster in clusters if len(cluster) > 1]
                if not (config.reid.auto_merge and merged):
                    break
                # the confident clusters become must-links of the five-check grouping, then redo
                must_link += [
                    (persons[a].tracklet_ids[0], persons[b].tracklet_ids[0])
                    for cluster in merged
                    for a, b in zip(cluster, cluster[1:], strict=False)
                ]
                applied += [[list(persons[i].tracklet_ids) for i in cluster] for cluster in merged]
                persons, scores, tracks = persons_stage(must_link)
                if webps is not None:  # the merged persons' animations start now, beside the next round
                    webps.start(_in_rank_order(persons, scores))
                clusters = _reid(run_dir, persons, tracks, store, config=config, embedder=embedder, notes=[],
                                 merged=True, applied=applied, cannot_link=user_cannot)  # fmt: skip
            if applied:
                notes.append(f"auto-merge joined {before} persons into {len(persons)} by appearance")
        except StreamReidError as exc:
            notes.append(f"re-identification skipped: {exc}")
            log.warning("re-identification skipped: %s", exc)
        clock.add("reid", time.perf_counter() - start)
    report = None
    if webps is not None:
        with webps:
            written = clock.timed("webp", webps.write, _in_rank_order(persons, scores))
        meta = rundir.read_json(run_dir / rundir.RUN_JSON)
        meta.update(embedder=embedder_info, notes=notes)
        meta.setdefault("counts", {})["persons"] = len(persons)
        rundir.write_json(run_dir / rundir.RUN_JSON, meta)
        report = _write_report(run_dir, config, clock=clock)
        for path in stale - {Path(p) for p in written.values()}:  # only now: the old report showed them until here
            path.unlink(missing_ok=True)
    return {"persons": len(persons), "embedder": embedder_info, "report": report, "notes": notes}


def _in_rank_order(persons: list[Person], scores: list[Any]) -> list[Person]:
    """Persons best-ranked first (the report shows the first ``max_persons`` with animations)."""
    rank_of = {score.person_id: score.rank for score in scores}
    return sorted(persons, key=lambda p: rank_of.get(p.person_id, 1 << 30))


def _frames_detected(meta: dict[str, Any], frames_processed: int | None, *, store_path: Path) -> int:
    """Frames the detector ran on: what coverage is a share of (detect_stride counted)."""
    counts = meta.get("counts", {})
    if counts.get("frames_detected"):
        return int(counts["frames_detected"])
    config = meta.get("config", {})
    detect_stride = saved_stride(config.get("detector", {}).get("detect_stride", 1))
    stride = int(config.get("source", {}).get("stride", 1)) * detect_stride
    if frames_processed is None:
        # a killed run never wrote its counts: the last stored detection bounds the frames seen
        from streamreid.store import open_store

        last = open_store(store_path).last_frame_index()  # one row, not the whole run
        decoded = last + 1 if last is not None else 1
        return max(1, -(-decoded // stride))
    return max(1, -(-frames_processed // detect_stride))


def _write_report(run_dir: Path, config: Config, *, clock: StageClock | None = None) -> Path | None:
    from streamreid.report.html import write_report

    start = time.perf_counter()
    path = write_report(run_dir, config=config.report)
    if clock is not None:
        clock.add("report", time.perf_counter() - start)
    return path


def _write_persons(run_dir: Path, persons: list[Person], tracks: list[dict[str, np.ndarray]],
                   rank_of: dict[int, int], info: VideoInfo) -> None:  # fmt: skip
    payload = []
    for person, track in zip(persons, tracks, strict=True):
        item = person.to_dict()
        item["rank"] = rank_of.get(person.person_id)
        item["frames_seen"] = int(len(track["frame_numbers"]))
        payload.append(item)
    rundir.write_json(run_dir / rundir.CANONICAL_PERSONS, {"persons": payload, "video": info.to_dict()})
    arrays: dict[str, np.ndarray] = {
        "person_ids": np.array([p.person_id for p in persons], dtype=np.int64),
        "num_tracklets_merged": np.array([p.num_tracklets_merged for p in persons], dtype=np.int64),
    }
    for person, track in zip(persons, tracks, strict=True):
        pid = person.person_id
        arrays[f"frame_numbers_{pid}"] = track["frame_numbers"]
        arrays[f"bboxes_{pid}"] = track["bboxes"]
        arrays[f"confidences_{pid}"] = track["confidences"]
        arrays[f"original_tracklet_ids_{pid}"] = np.array(person.tracklet_ids, dtype=np.int64)
    np.savez_compressed(run_dir / rundir.CANONICAL_PERSONS_NPZ, **arrays)


def _embed_persons(
    persons: list[Person], store: Any, embedder: Any, *, crops_per_person: int
) -> tuple[list[np.ndarray], list[dict[str, np.ndarray]]]:
    """Each person's best crops through the embedder; crops embedded in an earlier round are not read again."""
    from streamreid.embed import RememberingEmbedder

    metas = [
        store.crop_rows_for(person.tracklet_ids, buffer="best", limit=crops_per_person, order="score")
        for person in persons
    ]
    remembering = embedder if isinstance(embedder, RememberingEmbedder) else RememberingEmbedder(embedder)
    return remembering.embed_stored(store, [meta["index"] for meta in metas]), metas


def _embedder_info(embedder: Any) -> dict[str, Any]:
    return {
        "name": embedder.name,
        "kind": embedder.kind,
        "dim": int(embedder.dim),
        "device": getattr(embedder, "device", "cpu"),
        "weights": embedder.weights.to_dict() if getattr(embedder, "weights", None) else None,
    }


def _reid(run_dir: Path, persons: list[Person], tracks: list[dict[str, np.ndarray]], store: Any, *,
          config: Config, embedder: Any, notes: list[str], merged: bool = False,
          applied: list[list[list[int]]] | None = None,
          cannot_link: list[tuple[int, int]] = ()) -> list[list[int]]:  # fmt: skip
    """Embed each person's best crops, compare persons, write similarity and merge recommendations.

    Returns:
        The appearance clusters (lists of person indices) under the cannot-link constraints.
    """
    from streamreid.merging import constrained_agglomerative, merge_recommendations_payload
    from streamreid.similarity import null_threshold, recommend_pairs, similarity_matrix

    options = config.reid
    embedder_info = _embedder_info(embedder)
    if embedder.kind == "fallback":
        notes.append(
            "appearance similarity comes from the weights-free fallback embedder (colour/texture histograms), "
            "not OSNet: treat its recommendations as hints"
        )
    features, metas = _embed_persons(persons, store, embedder, crops_per_person=options.crops_per_person)
    np.savez_compressed(
        run_dir / rundir.CROP_FEATURES,
        features=np.concatenate(features).astype(np.float32),
        person_id=np.concatenate(
            [np.full(len(f), p.person_id, dtype=np.int64) for f, p in zip(features, persons, strict=True)]
        ),
        tracker_id=np.concatenate([np.asarray(m["tracker_id"], dtype=np.int64) for m in metas]),
        frame_index=np.concatenate([np.asarray(m["frame_index"], dtype=np.int64) for m in metas]),
    )

    person_ids = [p.person_id for p in persons]
    # seen together, or kept apart by the user: known to be different people
    different = co_visible_pairs(tracks) | apart([p.tracklet_ids for p in persons], cannot_link)
    if options.decision == "calibrated":
        return _reid_calibrated(run_dir, features, metas, persons, tracks, different, options=options,
                                embedder_info=embedder_info, notes=notes, merged=merged, applied=applied)  # fmt: skip
    similarity = similarity_matrix(features, method=options.method, top_k=options.top_k)
    calibrated = null_threshold(similarity, different, percentile=options.null_percentile)
    recommendations = recommend_pairs(
        similarity,
        person_ids,
        threshold=options.threshold,
        near_threshold=options.near_threshold,
        calibrated_threshold=calibrated,
        different_pairs=different,
        run_dir=str(run_dir),
    )
    _write_similarity(run_dir, features, similarity, person_ids, different, calibrated, options=options,
                      embedder_info=embedder_info)  # fmt: skip
    # merge only what both the fixed and the per-video calibrated thresholds accept
    merge_threshold = max(options.threshold, calibrated) if calibrated is not None else options.threshold
    clusters, merges = constrained_agglomerative(
        similarity, cannot_link=different, threshold=merge_threshold, linkage=options.merge_linkage
    )
    rundir.write_json(
        run_dir / rundir.MERGE_RECOMMENDATIONS,
        merge_recommendations_payload(recommendations, clusters, person_ids, merges=merges, auto_merged=merged),
    )
    return clusters


def _write_similarity(run_dir: Path, features: list[np.ndarray], similarity: np.ndarray, person_ids: list[int],
                      different: set[tuple[int, int]], calibrated: float | None, *, options: Any,
                      embedder_info: dict[str, Any], extra: dict[str, Any] | None = None) -> None:  # fmt: skip
    from streamreid.similarity import embeddings_payload, mean_vectors, similarity_payload

    means = mean_vectors(features, normalise=True).astype(np.float32)
    np.save(run_dir / rundir.EMBEDDINGS_NPY, means)
    rundir.write_json(run_dir / rundir.EMBEDDINGS, embeddings_payload(means, person_ids, embedder=embedder_info))
    np.save(run_dir / rundir.SIMILARITY_NPY, similarity)
    payload = similarity_payload(
        similarity,
        person_ids,
        method=options.method,
        embedder=embedder_info,
        threshold=options.threshold,
        near_threshold=options.near_threshold,
        calibrated_threshold=calibrated,
        different_pairs=different,
    )
    rundir.write_json(run_dir / rundir.SIMILARITY, {**payload, **(extra or {})})


def _reid_calibrated(run_dir: Path, features: list[np.ndarray], metas: list[dict[str, np.ndarray]],
                     persons: list[Person], tracks: list[dict[str, np.ndarray]], different: set[tuple[int, int]], *,
                     options: Any, embedder_info: dict[str, Any], notes: list[str], merged: bool,
                     applied: list[list[list[int]]] | None) -> list[list[int]]:  # fmt: skip
    """The calibrated decision: adapt, fit the video's rule, keep confident clusters, list uncertain pairs."""
    from streamreid.calibration import decide_persons
    from streamreid.merging import merge_recommendations_payload
    from streamreid.similarity import recommendation_record

    person_ids = [p.person_id for p in persons]
    decision = decide_persons(
        features,
        [np.asarray(m["tracker_id"], dtype=np.int64) for m in metas],
        [np.asarray(m["frame_index"], dtype=np.int64) for m in metas],
        different=different,
        tracklet_negatives=co_visible_tracklets(tracks),
        method=options.method,
        top_k=options.top_k,
        linkage=options.merge_linkage,
        adapt=options.adapt,
        min_pairs=options.min_calibration_pairs,
        min_auc=options.min_separation,
        merge_percentile=options.null_percentile,
        recommend_percentile=options.recommend_percentile,
    )
    rule = decision.rule
    if not rule.trusted:
        notes.append(rule.reason)
    extra = {
        "decision": rule.to_dict(),
        "adaptation": decision.projection.to_dict() if decision.projection else None,
        "seen_together": sorted([person_ids[a], person_ids[b]] for a, b in different),
    }
    _write_similarity(run_dir, decision.features, decision.similarity, person_ids, different, rule.merge_threshold,
                      options=options, embedder_info=embedder_info, extra=extra)  # fmt: skip
    records = [
        recommendation_record(value, person_ids[a], person_ids[b], reference=rule.merge_threshold or 1.0,
                              near=rule.recommend_threshold or 1.0, level="calibrated", run_dir=str(run_dir))
        for a, b, value in decision.recommended
    ]  # fmt: skip
    # once merged, the persons are the confident clusters: what is left to show is the uncertain pairs
    clusters = [[i] for i in range(len(persons))] if merged else decision.clusters
    payload = merge_recommendations_payload(records, clusters, person_ids, merges=[] if merged else decision.merges,
                                            auto_merged=merged)  # fmt: skip
    payload.update(extra)
    payload["applied_merges"] = applied or []
    rundir.write_json(run_dir / rundir.MERGE_RECOMMENDATIONS, payload)
    return decision.clusters

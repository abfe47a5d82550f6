"""Periodic results while a stream runs: persons, similarity, recommendations and the report, refreshed.

A camera never ends, so waiting for the end of the stream means waiting forever.
:class:`PeriodicResults` runs the end-of-stream analysis every ``report.every_s``
seconds on what the run has seen so far, in a background thread, so the decode
loop only pays for a flush and a snapshot of the live tracklets (milliseconds).
At most one refresh runs at a time: a refresh still busy when the next one is due
makes that one wait, so a slow machine refreshes less often instead of piling up
work. Every file a refresh writes is replaced atomically, the report last, so a
reader sees either the previous report or the new one, never half of one.

Each refresh also checkpoints the live tracklets (:mod:`streamreid.run.live_tracklets`), so
people still on screen appear in the report, and in the report rebuilt after a kill.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamreid import rundir
from streamreid.config import Config
from streamreid.end_of_stream import analyse
from streamreid.reid.embed import build_embedder
from streamreid.run.live_tracklets import write_checkpoint
from streamreid.types import CropSample, Person, TrackletStats, VideoInfo

if TYPE_CHECKING:
    from streamreid.persons.working_set import Analysis
    from streamreid.reid.features import Embedder

log = logging.getLogger("streamreid")

#: Refresh interval of live sources when ``report.every_s`` is null.
LIVE_EVERY_S = 60.0


def refresh_interval(every_s: float | None, *, is_live: bool) -> float | None:
    """Seconds between refreshes, or ``None`` for none.

    Args:
        every_s: ``report.every_s``: ``None`` = :data:`LIVE_EVERY_S` for live sources and
            none for files, ``0`` = none, else that many seconds.
        is_live: Whether the source is live (a camera, a network stream, stdin).
    """
    if every_s is None:
        return LIVE_EVERY_S if is_live else None
    return float(every_s) if every_s > 0 else None


@dataclass(frozen=True)
class Progress:
    """How far the stream got when a refresh was taken.

    Attributes:
        frames_decoded: Frames decoded so far.
        frames_processed: Frames that went through the pipeline so far.
        frames_detected: Frames the detector ran on so far.
        seconds_of_video: Stream time of the last frame.
        extra: More figures to record under ``run.json``'s ``live`` (e.g. detection rate, latency).
        shot_cuts: The cuts between shots so far, as ``run.json``'s ``shot_cuts`` records them.
    """

    frames_decoded: int
    frames_processed: int
    frames_detected: int
    seconds_of_video: float
    extra: Mapping[str, Any] = field(default_factory=dict)
    shot_cuts: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Refresh:
    """One finished refresh, as handed to ``on_refresh``.

    Attributes:
        number: 1 for the first refresh of the run, then 2, 3, ...
        as_of: UTC time the snapshot was taken (ISO 8601).
        progress: How far the stream was.
        summary: What :func:`streamreid.end_of_stream.analyse` returned.
        seconds: Wall-clock seconds the refresh took.
        run_dir: The run directory.
        persons: The persons it found, in person-id order.
    """

    number: int
    as_of: str
    progress: Progress
    summary: Analysis
    seconds: float
    run_dir: Path
    persons: tuple[Person, ...]


def read_persons(run_dir: Path) -> tuple[Person, ...]:
    """The persons of a run directory's ``canonical_persons.json`` (none before the first analysis)."""
    path = Path(run_dir) / rundir.CANONICAL_PERSONS
    if not path.is_file():
        return ()
    names = {item.name for item in fields(Person)}
    persons = []
    for item in rundir.read_json(path)["persons"]:
        values = {key: value for key, value in item.items() if key in names}
        values["tracklet_ids"] = tuple(values["tracklet_ids"])
        values["mean_center"] = tuple(values["mean_center"])
        persons.append(Person(**values))
    return tuple(sorted(persons, key=lambda p: p.person_id))


class PeriodicResults:
    """Runs the analysis every ``every_s`` seconds in a background thread.

    Args:
        run_dir: The run directory being written.
        config: The run's configuration.
        info: The source.
        every_s: Seconds between refreshes (``None``: never; :meth:`due` is then always false).
        embedder: Embedder to reuse (built once, on the first refresh, when ``None``).
        on_refresh: Called (in the background thread) after each refresh.
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        config: Config,
        info: VideoInfo,
        every_s: float | None,
        embedder: Embedder | None = None,
        on_refresh: Callable[[Refresh], None] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.config = config
        self.info = info
        self.every_s = every_s
        self.embedder = embedder
        self.on_refresh = on_refresh
        self.refreshes = 0
        self.seconds_last: float | None = None
        self.seconds_max: float | None = None
        # one long-lived worker: a new thread per refresh would leave a malloc arena behind each time
        self._worker: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None
        self._last_start = time.monotonic()

    @property
    def busy(self) -> bool:
        """A refresh is running."""
        return self._pending is not None and not self._pending.done()

    def due(self) -> bool:
        """Time for a refresh, and none is running."""
        if self.every_s is None or self.busy:
            return False
        return time.monotonic() - self._last_start >= self.every_s

    def start(
        self,
        *,
        finished: Sequence[TrackletStats],
        live: Sequence[TrackletStats],
        crops: Mapping[int, tuple[Sequence[CropSample], Sequence[int]]],
        progress: Progress,
    ) -> None:
        """Start a refresh over a snapshot (the caller has flushed the store).

        Args:
            finished: Statistics of the finished tracklets (copied here).
            live: Statistics so far of the live tracklets.
            crops: Crops so far of the live tracklets.
            progress: How far the stream got.
        """
        self._last_start = time.monotonic()
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="streamreid-refresh")
        self._pending = self._worker.submit(self._refresh, list(finished), list(live), dict(crops), progress)

    def wait(self) -> None:
        """Wait for a running refresh to finish and stop the worker (before the final analysis)."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker, self._pending = None, None

    def to_dict(self) -> dict[str, Any]:
        """What to record in ``run.json``: the interval, how many refreshes and how long they took."""
        return {
            "every_s": self.every_s,
            "refreshes": self.refreshes,
            "seconds_last": None if self.seconds_last is None else round(self.seconds_last, 3),
            "seconds_max": None if self.seconds_max is None else round(self.seconds_max, 3),
        }

    def _refresh(
        self,
        finished: list[TrackletStats],
        live: list[TrackletStats],
        crops: dict[int, tuple[Sequence[CropSample], Sequence[int]]],
        progress: Progress,
    ) -> None:
        start = time.perf_counter()
        as_of = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:
            write_checkpoint(self.run_dir, live, crops, crop_shape=(self.config.crops.height, self.config.crops.width))
            self._record(as_of, progress)
            if self.embedder is None and self.config.reid.enabled:
                self.embedder, _ = build_embedder(self.config.reid)  # logs its choice
            stats = sorted([*finished, *live], key=lambda s: (s.start_frame, s.tracker_id))
            summary = analyse(self.run_dir, config=self.config, stats=stats, info=self.info, embedder=self.embedder,
                              frames_processed=progress.frames_processed)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a failed refresh must not end a live run; the next one retries
            log.warning("periodic results failed (the run goes on): %s: %s", type(exc).__name__, exc)
            return
        seconds = time.perf_counter() - start
        self.refreshes += 1
        self.seconds_last, self.seconds_max = seconds, max(seconds, self.seconds_max or 0.0)
        log.info("refreshed the results: %d persons after %.0f s of video (%.1f s)", summary.persons,
                 progress.seconds_of_video, seconds)  # fmt: skip
        if self.on_refresh is not None:
            persons = read_persons(self.run_dir)  # here, before another refresh can rewrite the file
            self.on_refresh(Refresh(self.refreshes, as_of, progress, summary, seconds, self.run_dir, persons))

    def _record(self, as_of: str, progress: Progress) -> None:
        """Say in run.json how recent the results are (the report shows it)."""
        path = self.run_dir / rundir.RUN_JSON
        meta = rundir.read_json(path)
        meta["status"] = "running"
        meta["shot_cuts"] = [dict(cut) for cut in progress.shot_cuts]  # grouping never links across them
        meta.setdefault("counts", {}).update(
            frames_decoded=progress.frames_decoded,
            frames_processed=progress.frames_processed,
            frames_detected=progress.frames_detected,
            seconds_of_video=round(progress.seconds_of_video, 3),
        )
        meta["live"] = {"as_of": as_of, "seconds_of_video": round(progress.seconds_of_video, 3),
                        **dict(progress.extra), **self.to_dict()}  # fmt: skip
        rundir.write_json(path, meta)

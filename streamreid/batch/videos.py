"""Many videos in one call: each gets its own run directory, as ``process`` writes it.

``run_batch`` finds the videos, skips those already finished (``run.json`` says
``complete``), hands the rest to an engine (a local process pool, or Ray) that
calls :func:`run_video` on each, records every outcome in ``batch.json``, finds
the same people across the videos and writes ``index.html``. A bad video is one
failed outcome with its one-line error; it never stops the others.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from streamreid import rundir
from streamreid.config import Config
from streamreid.errors import StoreError, StreamReidError

BATCH_JSON = "batch.json"

#: What a folder given as input contributes: files with these suffixes (any case).
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp"}
)

#: Environment variables that size the thread pools of torch, OpenMP, MKL and OpenBLAS.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class VideoJob:
    """One video of a batch, as sent to an engine (plain data: it crosses processes and machines).

    Attributes:
        source: Path of the video, as every worker sees it.
        name: Name of its run directory inside the batch folder.
        run_dir: The run directory (absolute; on a cluster, a path every node reaches).
        config: The run's configuration, as ``Config.to_dict()``.
        threads: CPU threads the run may use.
        detector: A picklable detector to use instead of the configured YOLO (tests), or None.
    """

    source: str
    name: str
    run_dir: str
    config: dict[str, Any]
    threads: int = 1
    detector: Any = None


@dataclass(frozen=True)
class VideoOutcome:
    """What became of one video.

    Attributes:
        name: Name of its run directory.
        source: The video.
        status: ``complete``, ``interrupted``, ``failed`` or ``skipped`` (finished by an earlier call).
        error: The one-line error of a failed video.
        persons: Persons found.
        tracklets: Tracklets found.
        frames: Frames processed.
        seconds: Wall-clock seconds of the run (0 for a skipped one).
        host: The machine that ran it.
    """

    name: str
    source: str
    status: str
    error: str | None = None
    persons: int | None = None
    tracklets: int | None = None
    frames: int | None = None
    seconds: float = 0.0
    host: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for ``batch.json``."""
        return asdict(self)


def find_videos(inputs: Sequence[str]) -> list[Path]:
    """The videos named by files, folders (their video files, recursively) and glob patterns.

    A file named as such is taken whatever its suffix (a broken one fails on its own
    later); folders and patterns contribute files with a video suffix. Duplicates are
    dropped, order kept.

    Raises:
        StreamReidError: An input names nothing, or no video was found at all.
    """
    found: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES))
        elif glob.has_magic(item):
            matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(item), recursive=True))
            files = [p for p in matches if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
            if not files:
                raise StreamReidError(f"no video file matches {item}")
            found.extend(files)
        else:
            raise StreamReidError(f"no such file or folder: {item}")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise StreamReidError(f"no video found in {' '.join(inputs)} (looked for {', '.join(sorted(VIDEO_SUFFIXES))})")
    return unique


def run_names(videos: Sequence[Path]) -> list[str]:
    """A run directory name per video: its stem, with its folder's name in front where stems clash.

    The names depend only on the list of videos, so a second call finds the same runs.
    """
    stems = [_safe(v.stem) for v in videos]
    names = [
        stem if stems.count(stem) == 1 else f"{_safe(v.parent.name)}_{stem}"
        for v, stem in zip(videos, stems, strict=True)
    ]
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return unique


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip(".") or "video"


def is_finished(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds a run that went through to its end (``run.json`` status ``complete``)."""
    try:
        meta = rundir.read_json(Path(run_dir) / rundir.RUN_JSON)
    except StoreError:
        return False
    return isinstance(meta, dict) and meta.get("status") == "complete" and "finished_at" in meta


def outcome_of_run(name: str, source: str, run_dir: str | Path, *, status: str | None = None) -> VideoOutcome:
    """An outcome read back from a run directory's ``run.json``."""
    meta = rundir.read_json(Path(run_dir) / rundir.RUN_JSON)
    counts = meta.get("counts", {})
    return VideoOutcome(
        name=name,
        source=source,
        status=status or meta.get("status", "failed"),
        persons=counts.get("persons"),
        tracklets=counts.get("tracklets"),
        frames=counts.get("frames_processed"),
        seconds=float(meta.get("timings", {}).get("total", 0.0)),
    )


def outcomes_for_index(out_dir: Path, run_dirs: Sequence[str | Path]) -> list[VideoOutcome]:
    """What ``index.html`` lists: the batch's outcomes when ``out_dir`` holds a batch, else ``run_dirs``."""
    from streamreid.batch.crossvideo import run_label

    if (out_dir / BATCH_JSON).is_file():
        return [VideoOutcome(**item) for item in rundir.read_json(out_dir / BATCH_JSON)["runs"]]
    outcomes = []
    for run in run_dirs:
        meta = rundir.read_json(Path(run) / rundir.RUN_JSON)
        outcomes.append(outcome_of_run(run_label(Path(run), out_dir), str(meta.get("source", "")), run))
    return outcomes


def limit_threads(threads: int) -> None:
    """Size this process's compute thread pools to ``threads`` (before and after torch is imported)."""
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(threads)
    import torch

    torch.set_num_threads(threads)


def run_video(job: VideoJob) -> VideoOutcome:
    """Process one video of a batch into its run directory: the function every engine runs.

    Args:
        job: The video, its run directory, configuration and thread budget.

    Returns:
        The outcome; errors are caught and returned as a ``failed`` outcome with one line.
    """
    import platform

    from streamreid.pipeline import process

    limit_threads(job.threads)
    start = time.perf_counter()
    host = platform.node()
    try:
        result = process(job.source, out_dir=job.run_dir, config=Config.from_dict(job.config), detector=job.detector,
                         progress=False)  # fmt: skip
    except StreamReidError as exc:
        return VideoOutcome(job.name, job.source, "failed", error=str(exc), seconds=_since(start), host=host)
    except KeyboardInterrupt:
        return VideoOutcome(job.name, job.source, "failed", error="interrupted before the run started", host=host)
    except Exception as exc:  # noqa: BLE001 - one video's crash must not stop the batch
        error = f"unexpected error: {type(exc).__name__}: {exc}".splitlines()[0]
        return VideoOutcome(job.name, job.source, "failed", error=error, seconds=_since(start), host=host)
    return VideoOutcome(
        name=job.name,
        source=job.source,
        status=result.status,
        persons=result.persons,
        tracklets=result.tracklets,
        frames=result.frames_processed,
        seconds=_since(start),
        host=host,
    )


def _since(start: float) -> float:
    return round(time.perf_counter() - start, 3)


@dataclass(frozen=True)
class BatchResult:
    """What a batch produced: every video's outcome, the index page and the cross-video matches."""

    out_dir: Path
    outcomes: tuple[VideoOutcome, ...]
    index: Path
    matches: Path | None
    matched: int = 0
    notes: tuple[str, ...] = ()

    @property
    def failed(self) -> list[VideoOutcome]:
        """The videos that failed."""
        return [o for o in self.outcomes if o.status == "failed"]


def plan_jobs(
    videos: Sequence[Path], out_dir: Path, config: Config, *, detector: Callable[[Path], Any] | None = None
) -> tuple[list[VideoJob], list[VideoOutcome]]:
    """Jobs for the videos still to do, and outcomes of those an earlier call finished."""
    jobs, done = [], []
    for video, name in zip(videos, run_names(videos), strict=True):
        run_dir = (out_dir / name).resolve()
        if is_finished(run_dir):
            done.append(outcome_of_run(name, str(video), run_dir, status="skipped"))
        else:
            scripted = detector(video) if detector is not None else None
            jobs.append(VideoJob(str(video), name, str(run_dir), config.to_dict(), detector=scripted))
    return jobs, done


def run_batch(
    inputs: Sequence[str],
    *,
    out_dir: str | Path,
    config: Config,
    engine: Any,
    match: bool = True,
    on_outcome: Callable[[VideoOutcome], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
    detector: Callable[[Path], Any] | None = None,
) -> BatchResult:
    """Process every video of ``inputs`` into ``out_dir/<name>/``, then match persons across them.

    Args:
        inputs: Files, folders and glob patterns.
        out_dir: The batch folder (on a cluster, a path every node reaches).
        config: Configuration of every run.
        engine: Runs the jobs: :class:`streamreid.batch.engines.LocalEngine` or ``RayEngine``.
        match: Compare persons across the videos afterwards.
        on_outcome: Called as each video ends (or is skipped).
        on_start: Called once with (videos to run, videos skipped).
        detector: Gives each video a picklable detector instead of the configured YOLO (tests).

    Returns:
        Every outcome (in input order), the index page and the matches file.

    Raises:
        StreamReidError: No video found, or an input names nothing (before anything runs).
    """
    videos = find_videos(inputs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs, skipped = plan_jobs(videos, out, config, detector=detector)
    if on_start is not None:
        on_start(len(jobs), len(skipped))
    outcomes = _run_jobs(out, run_names(videos), jobs, skipped, engine=engine, on_outcome=on_outcome)
    notes: list[str] = []
    matches = None
    if match:
        matches, notes = match_batch(out, outcomes, config=config)
    from streamreid.report.index import write_index

    index = write_index(out, outcomes, matches=matches)
    matched = len(rundir.read_json(matches)["matches"]) if matches is not None else 0
    return BatchResult(out_dir=out, outcomes=outcomes, index=index, matches=matches, matched=matched,
                       notes=tuple(notes))  # fmt: skip


def _run_jobs(
    out: Path,
    order: list[str],
    jobs: list[VideoJob],
    skipped: list[VideoOutcome],
    *,
    engine: Any,
    on_outcome: Callable[[VideoOutcome], None] | None,
) -> tuple[VideoOutcome, ...]:
    """Run ``jobs`` on ``engine``, keeping ``batch.json`` up to date as each ends; every outcome, in ``order``."""
    by_name: dict[str, VideoOutcome] = {}
    for outcome in skipped:
        by_name[outcome.name] = outcome
        if on_outcome is not None:
            on_outcome(outcome)
    started = _now()
    try:
        for outcome in engine.run(jobs):
            by_name[outcome.name] = outcome
            if on_outcome is not None:
                on_outcome(outcome)
            _write_batch_json(out, [by_name[n] for n in order if n in by_name], engine=engine, started=started)
    except KeyboardInterrupt:
        # Ctrl-C: runs in flight finished their reports; list what there is, then stop
        _finish(out, order, by_name, engine=engine, started=started)
        raise
    return _finish(out, order, by_name, engine=engine, started=started, write_index=False)


def _finish(out: Path, order: list[str], by_name: dict[str, VideoOutcome], *, engine: Any, started: str,
            write_index: bool = True) -> tuple[VideoOutcome, ...]:  # fmt: skip
    """The final outcomes (videos never run count as failed) in ``batch.json``, and the index page."""
    outcomes = tuple(by_name.get(n) or VideoOutcome(n, "", "failed", error="not run (batch stopped)") for n in order)
    _write_batch_json(out, list(outcomes), engine=engine, started=started, finished=True)
    if write_index:
        from streamreid.report.index import write_index as write

        write(out, outcomes)
    return outcomes


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_batch_json(out: Path, outcomes: list[VideoOutcome], *, engine: Any, started: str,
                      finished: bool = False) -> None:  # fmt: skip
    payload = {
        "format": "streamreid-batch",
        "version": 1,
        "engine": engine.describe(),
        "started_at": started,
        "finished_at": _now() if finished else None,
        "runs": [o.to_dict() for o in outcomes],
    }
    rundir.write_json(out / BATCH_JSON, payload)


def match_batch(out: Path, outcomes: Sequence[VideoOutcome], *, config: Config) -> tuple[Path | None, list[str]]:
    """Cross-video matching over the batch's runs that have ReID features; returns the matches file and notes."""
    from streamreid.batch.crossvideo import match_runs

    usable, notes = [], []
    for outcome in outcomes:
        if outcome.status == "failed":
            continue
        if (out / outcome.name / rundir.CROP_FEATURES).is_file():
            usable.append(out / outcome.name)
        elif outcome.persons:
            notes.append(f"{outcome.name} is left out of cross-video matching: it has no ReID features")
    if len(usable) < 2:
        return None, notes
    try:
        path, more = match_runs(usable, out_dir=out, config=config)
    except StreamReidError as exc:
        return None, [*notes, f"cross-video matching skipped: {exc}"]
    return path, notes + more

"""The Python API: :func:`process` a source to the end, or :func:`watch` it and act on the persons as they appear.

``process`` is the command line's ``streamreid process`` as a function. ``watch``
runs the same single pass in a background thread and yields a :class:`Snapshot`
after every periodic refresh (every ``every_s`` seconds) and once more at the end,
so code that owns its loop can act on the persons found so far. Leaving the loop
early (``break``, an exception, Ctrl-C) stops the run, which still finishes its
report with what it saw.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamreid import rundir
from streamreid.config import Config, load_config
from streamreid.periodic import read_persons as _persons
from streamreid.types import Person

#: Refresh interval of :func:`watch` when none is given.
WATCH_EVERY_S = 10.0


@dataclass(frozen=True)
class Snapshot:
    """The persons found so far, and what changed since the previous snapshot.

    A person is matched to the previous snapshot by its tracklets (person ids may be
    renumbered as the grouping learns more).

    Attributes:
        number: 1 for the first snapshot, then 2, 3, ...
        final: True for the last snapshot (the stream ended or the run was stopped).
        as_of: UTC time (ISO 8601) of the data, or ``None`` for the final snapshot.
        seconds_of_video: Stream time covered.
        persons: Every person so far, in person-id order.
        new: Ids (in ``persons``) of persons with no tracklet seen in the previous snapshot.
        updated: Ids of persons that existed before and gained tracklets or sightings.
        gone: Previous snapshot's person ids that share no tracklet with any person now.
        run_dir: The run directory (``report.html``, ``canonical_persons.json``, ...).
        report: The report, when one was written.
        result: The run's result (final snapshot only).
    """

    number: int
    final: bool
    as_of: str | None
    seconds_of_video: float
    persons: tuple[Person, ...]
    new: tuple[int, ...]
    updated: tuple[int, ...]
    gone: tuple[int, ...]
    run_dir: Path
    report: Path | None
    result: Any = None


def _config(config: Config | str | Path | None, overrides: Mapping[str, Any] | None) -> Config:
    if isinstance(config, Config):
        return load_config(None, dict(overrides or {}), base=config)
    return load_config(config, dict(overrides or {}))


def process(
    source: str | int | Path,
    *,
    out_dir: str | Path | None = None,
    config: Config | str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    progress: bool = False,
    **options: Any,
) -> Any:
    """Run streamreid on ``source`` to the end (or Ctrl-C) and return its :class:`~streamreid.pipeline.RunResult`.

    Args:
        source: A file, ``-`` (stdin), a stream URL, or a webcam (``/dev/video0`` or ``0``).
        out_dir: Run directory (default ``runs/<source name>``, numbered if taken).
        config: A :class:`~streamreid.config.Config`, a YAML file, or ``None`` for the defaults.
        overrides: Dotted keys over ``config``, e.g. ``{"detector.imgsz": 416, "report.every_s": 30}``.
        progress: Show a progress bar on stderr.
        **options: Passed on to :func:`streamreid.pipeline.process` (``detector``, ``embedder``,
            ``on_progress``, ``on_refresh``).

    Raises:
        StreamReidError: The source, the config or the weights are unusable (one line).
    """
    from streamreid.pipeline import process as run

    resolved = _config(config, overrides)
    out = Path(out_dir) if out_dir is not None else rundir.default_run_dir(str(source))
    return run(source, out_dir=out, config=resolved, progress=progress, **options)


def _changes(before: tuple[Person, ...], now: tuple[Person, ...]) -> tuple[tuple[int, ...], ...]:
    """``new``, ``updated`` and ``gone`` person ids, persons matched by shared tracklets."""
    owner = {tid: p for p in before for tid in p.tracklet_ids}
    new, updated = [], []
    for person in now:
        earlier = {owner[tid].person_id: owner[tid] for tid in person.tracklet_ids if tid in owner}
        if not earlier:
            new.append(person.person_id)
        elif any(set(person.tracklet_ids) != set(p.tracklet_ids) or person.detection_count != p.detection_count
                 for p in earlier.values()):  # fmt: skip
            updated.append(person.person_id)
    kept = {tid for p in now for tid in p.tracklet_ids}
    gone = [p.person_id for p in before if not kept & set(p.tracklet_ids)]
    return tuple(new), tuple(updated), tuple(gone)


class _Stop(KeyboardInterrupt):
    """Raised inside the run's thread when the consumer of :func:`watch` left the loop."""


def _start_run(source: str | int | Path, stop: threading.Event, events: queue.Queue[tuple[str, Any]], *,
               out_dir: str | Path | None, config: Config | str | Path | None, overrides: Mapping[str, Any],
               options: dict[str, Any]) -> threading.Thread:  # fmt: skip
    """Run :func:`process` in a thread that puts ``refresh``, then ``done`` or ``error`` events on ``events``.

    The run stops (like Ctrl-C) at the next frame once ``stop`` is set.
    """
    user_progress = options.pop("on_progress", None)

    def on_progress(count: int) -> None:
        if stop.is_set():
            raise _Stop()
        if user_progress is not None:
            user_progress(count)

    def on_refresh(refresh: Any) -> None:
        if not stop.is_set():
            events.put(("refresh", refresh))

    def run() -> None:
        try:
            result = process(source, out_dir=out_dir, config=config, overrides=overrides, on_progress=on_progress,
                             on_refresh=on_refresh, **options)  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer's thread
            events.put(("error", exc))
        else:
            events.put(("done", result))

    worker = threading.Thread(target=run, name="streamreid-watch", daemon=True)
    worker.start()
    return worker


def _snapshot(number: int, kind: str, value: Any, previous: tuple[Person, ...]) -> Snapshot:
    """The snapshot of a ``refresh`` event (a periodic refresh) or of the ``done`` event (the run's result)."""
    if kind == "refresh":
        persons = value.persons
        return Snapshot(number, False, value.as_of, value.progress.seconds_of_video, persons,
                        *_changes(previous, persons), run_dir=value.run_dir, report=value.summary.report)  # fmt: skip
    persons = _persons(value.run_dir)
    seconds = rundir.read_json(value.run_dir / rundir.RUN_JSON)["counts"]["seconds_of_video"]
    return Snapshot(number, True, None, float(seconds), persons, *_changes(previous, persons),
                    run_dir=value.run_dir, report=value.report, result=value)  # fmt: skip


def watch(
    source: str | int | Path,
    *,
    every_s: float = WATCH_EVERY_S,
    out_dir: str | Path | None = None,
    config: Config | str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    **options: Any,
) -> Iterator[Snapshot]:
    """Run streamreid on ``source`` and yield the persons found so far every ``every_s`` seconds.

    The run goes on in a background thread while the caller handles a snapshot; the
    last snapshot has ``final=True`` and the run's result. Leaving the loop early
    stops the run (its report covers what it saw).

    Args:
        source: As for :func:`process`.
        every_s: Seconds between snapshots (the ``report.every_s`` of the run).
        out_dir: As for :func:`process`.
        config: As for :func:`process`.
        overrides: As for :func:`process`.
        **options: As for :func:`process` (``detector``, ``embedder``, ``on_progress``, ``progress``).

    Yields:
        :class:`Snapshot` records.

    Raises:
        StreamReidError: The source, the config or the weights are unusable.
    """
    if every_s <= 0:
        raise ValueError(f"every_s must be > 0, got {every_s}")
    stop = threading.Event()
    events: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=2)  # the run waits rather than piling up snapshots
    overrides = {**(overrides or {}), "report.every_s": every_s}
    worker = _start_run(source, stop, events, out_dir=out_dir, config=config, overrides=overrides, options=options)
    previous: tuple[Person, ...] = ()
    number = 0
    try:
        while True:
            kind, value = events.get()
            if kind == "error":
                raise value
            number += 1
            snapshot = _snapshot(number, kind, value, previous)
            previous = snapshot.persons
            yield snapshot
            if snapshot.final:
                return
    finally:
        stop.set()
        while worker.is_alive():  # let the run finish its report; keep the queue from blocking it
            with contextlib.suppress(queue.Empty):
                events.get(timeout=0.1)

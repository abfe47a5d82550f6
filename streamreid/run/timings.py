"""Wall-clock time per stage of a run (``run.json``'s ``timings``).

:class:`StageClock` adds up seconds per stage name (``with clock.stage("track"):``); :func:`iter_timed_frames` and
:func:`iter_timed_detections` charge the decoder's and the detector's own time to
``decode`` and ``detect`` as the frames pass through.
"""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

Item = TypeVar("Item")


@dataclass
class StageClock:
    """Wall-clock seconds per stage, accumulated over the run."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, stage: str, seconds: float) -> None:
        """Add ``seconds`` to ``stage``."""
        self.seconds[stage] += seconds

    @contextlib.contextmanager
    def stage(self, stage: str) -> Iterator[None]:
        """Charge the time the ``with`` block takes to ``stage`` (also when it raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start

    def to_dict(self) -> dict[str, float]:
        """Rounded plain dict, in insertion order."""
        return {stage: round(value, 4) for stage, value in self.seconds.items()}


class Waiting(Protocol):
    """A source that counts the seconds its consumer waited on it (:class:`~streamreid.stream.background.Prefetch`)."""

    waited: float


def iter_timed_frames(frames: Iterable[Item], clock: StageClock, *, stage: str = "decode") -> Iterator[Item]:
    """Pass ``frames`` on, charging the time each took to arrive to ``stage``."""
    iterator = iter(frames)
    while True:
        start = time.perf_counter()
        try:
            frame = next(iterator)
        except StopIteration:
            clock.add(stage, time.perf_counter() - start)
            return
        clock.add(stage, time.perf_counter() - start)
        yield frame


def iter_timed_detections(detections: Iterator[Item], frames: Waiting, clock: StageClock) -> Iterator[Item]:
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

"""Run a stage of the pipeline in its own thread, a bounded number of items ahead of the next stage.

The single pass is a chain of generators: decode → detect → track, statistics, crops,
store. Run in one thread, each stage waits for the others. But decoding (FFmpeg) and
inference (OpenVINO, ONNX Runtime, PyTorch) release the GIL while they work, so the
stages can overlap: :class:`Prefetch` pulls an iterator in a background thread and
hands its items over a bounded queue. The consumer sees an ordinary iterator, in the
same order; memory stays bounded (``depth`` items at most wait in the queue, plus
the one being made); an exception in the stage comes out of the consumer's
``next()``, with its traceback; :meth:`Prefetch.close` stops the thread and closes
the stage's iterator in that thread, so generators run their ``finally`` blocks.

Build on it to put any stage of a streaming pipeline alongside the others::

    with Prefetch(decode(source), depth=8, name="decode") as frames:
        with Prefetch(detector.iter_detections(frames), depth=8, name="detect") as items:
            for frame, detections in items:
                ...  # tracking, statistics, crops, store: while the next frames decode and detect

While any stage runs, the interpreter's GIL switch interval is lowered to
:data:`SWITCH_INTERVAL` (Python's default is 5 ms) and put back when the last stage
closes: a stage coming back from native code (an inference, a decoded frame) needs
the GIL for its bit of Python, and would otherwise wait up to 5 ms behind the
consumer's Python (tracking) each time, leaving the inference engine idle meanwhile.

Ctrl-C arrives in the main thread (the consumer), which then closes the stages; the
background threads never see it. ``waited`` says how long the consumer was kept
waiting (the stage was the slower one for that long), ``backlog`` how many items wait
for the consumer (at ``depth``, the consumer is the slower one).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = 0, 1, 2
_POLL_SECONDS = 0.05
#: GIL switch interval (seconds) while stages run in their threads.
SWITCH_INTERVAL = 0.001


class _SwitchInterval:
    """Lowers ``sys.setswitchinterval`` while at least one stage runs; restores the previous value after."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved = sys.getswitchinterval()

    def acquire(self) -> None:
        with self._lock:
            if self._users == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, SWITCH_INTERVAL))
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                sys.setswitchinterval(self._saved)


_switching = _SwitchInterval()


class Prefetch(Generic[T]):
    """An iterator made by another thread, at most ``depth`` items ahead of its consumer.

    Args:
        iterable: The stage to run: any iterable, typically a generator.
        depth: Most items made but not yet consumed (the queue's size), >= 1.
        name: Name of the thread, for debuggers and ``threading.enumerate()``.

    Attributes:
        waited: Seconds the consumer spent blocked in ``next()``.
        produced: Items the stage has handed over so far.
    """

    def __init__(self, iterable: Iterable[T], *, depth: int, name: str) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.waited = 0.0
        self.produced = 0
        self._queue: queue.Queue[tuple[int, object]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._source = iterable
        self._thread = threading.Thread(target=self._run, name=f"streamreid-{name}", daemon=True)
        self._responsive = True
        _switching.acquire()
        self._thread.start()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        start = time.perf_counter()
        try:
            kind, value = self._queue.get()
        finally:
            self.waited += time.perf_counter() - start
        if kind == _ITEM:
            return value  # type: ignore[return-value]
        self._done = True
        self._leave_responsive()
        if kind == _ERROR:
            raise value  # type: ignore[misc]
        raise StopIteration

    @property
    def backlog(self) -> int:
        """Items made and waiting for the consumer: at ``depth``, the consumer is the slower side.

        A live source can watch the backlog of its decode stage to see detection falling behind
        (and, say, detect fewer frames) before frames are dropped.
        """
        return self._queue.qsize()

    def close(self) -> None:
        """Stop the stage: its thread ends after the item it is making, closing the stage's iterator.

        Idempotent; safe after the stage ended or failed. Waits for the thread, so the
        resources the stage reads from (a decoder, a model) may be released afterwards.
        """
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self._done = True
        self._leave_responsive()
        while True:  # free what was made but will never be consumed
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break

    def _leave_responsive(self) -> None:
        """Give back this stage's hold on the lowered switch interval (once: the stage ended or was closed)."""
        if self._responsive:
            self._responsive = False
            _switching.release()

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _run(self) -> None:
        iterator = iter(self._source)
        try:
            for item in iterator:
                if not self._hand_over(_ITEM, item):
                    return
                self.produced += 1
            self._hand_over(_END, None)
        except BaseException as exc:  # handed to the consumer, who decides
            self._hand_over(_ERROR, exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def _hand_over(self, kind: int, value: object) -> bool:
        """Queue one entry, waiting for room; ``False`` when the consumer closed the stage first."""
        while not self._stop.is_set():
            try:
                self._queue.put((kind, value), timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

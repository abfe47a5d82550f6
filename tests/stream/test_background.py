"""Prefetch: a pipeline stage in its own thread, bounded, ordered, closable, errors passed on."""

from __future__ import annotations

import threading
import time

import pytest

from streamreid.stream.background import Prefetch


def _counted(count: int, made: list[int], *, seconds: float = 0.0, finished: list[str] | None = None):
    try:
        for index in range(count):
            time.sleep(seconds)
            made.append(index)
            yield index
    finally:
        if finished is not None:
            finished.append(threading.current_thread().name)


def test_items_arrive_in_order_and_all_of_them():
    made: list[int] = []
    with Prefetch(_counted(100, made), depth=3, name="test") as items:
        assert list(items) == list(range(100))
        assert next(items, "end") == "end"
    assert items.produced == 100


def test_the_stage_runs_at_most_depth_items_ahead():
    made: list[int] = []
    items = Prefetch(_counted(50, made), depth=4, name="test")
    assert next(items) == 0
    time.sleep(0.3)  # plenty of time to run ahead, if it could
    assert len(made) <= 1 + 4 + 1  # consumed, queued, and the one waiting for room
    assert items.backlog == 4  # the consumer is the slower side
    items.close()


def test_an_error_in_the_stage_comes_out_of_next_after_the_items_before_it():
    def failing():
        yield 1
        yield 2
        raise KeyError("broken frame")

    items = Prefetch(failing(), depth=8, name="test")
    assert next(items) == 1 and next(items) == 2
    with pytest.raises(KeyError, match="broken frame"):
        next(items)
    assert next(items, "end") == "end"
    items.close()


def test_close_stops_the_thread_and_closes_the_stage_in_its_own_thread():
    made: list[int] = []
    finished: list[str] = []
    items = Prefetch(_counted(10_000, made, finished=finished), depth=2, name="decode-test")
    assert next(items) == 0
    items.close()
    assert finished == ["streamreid-decode-test"]  # the generator's finally ran, in the stage's thread
    assert not any(t.name == "streamreid-decode-test" for t in threading.enumerate())
    count = len(made)
    time.sleep(0.1)
    assert len(made) == count < 10_000
    assert next(items, "end") == "end"
    items.close()  # twice is fine


def test_stage_and_consumer_overlap():
    # the stage makes item k+1 while the consumer works on item k: their busy spans overlap
    # (checked on the spans themselves, not on a wall-clock total that a loaded machine stretches)
    making: list[tuple[float, float]] = []
    working: list[tuple[float, float]] = []

    def stage():
        for index in range(10):
            start = time.perf_counter()
            time.sleep(0.02)
            making.append((start, time.perf_counter()))
            yield index

    with Prefetch(stage(), depth=2, name="test") as items:
        for _ in items:
            start = time.perf_counter()
            time.sleep(0.02)  # the consumer's own work
            working.append((start, time.perf_counter()))
    overlapping = [w for w in working if any(m[0] < w[1] and w[0] < m[1] for m in making)]
    assert len(overlapping) >= 5, f"only {len(overlapping)} of 10 items were worked on while the next was made"


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth must be at least 1"):
        Prefetch([], depth=0, name="test")


def test_the_switch_interval_is_lowered_while_stages_run_and_restored_after():
    import sys

    from streamreid.stream.background import SWITCH_INTERVAL

    before = sys.getswitchinterval()
    assert before > SWITCH_INTERVAL  # Python's default, 5 ms
    outer = Prefetch(range(3), depth=1, name="outer")
    inner = Prefetch(range(100), depth=1, name="inner")
    assert sys.getswitchinterval() == SWITCH_INTERVAL
    assert list(outer) == [0, 1, 2]  # run to its end: that stage lets go
    assert sys.getswitchinterval() == SWITCH_INTERVAL  # the other still runs
    inner.close()
    inner.close()  # idempotent: lets go once
    outer.close()
    assert sys.getswitchinterval() == before

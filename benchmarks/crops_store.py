"""Micro-benchmark of the crop stages: ``CropCollector.update`` per frame and the Zarr crop store.

The first ``--frames`` frames of the street sample are detected (``PersonDetector``) and
tracked (``PersonTracker``) once, untimed; then, timed:

1. ``CropCollector.update`` on every frame with the real tracked detections (median and
   90th percentile milliseconds per frame, medians over ``--repeats``);
2. the same with 10 synthetic walkers on every frame (a crowded scene; steady state after
   the reservoirs have filled, and while they fill);
3. ``CropStore.write_tracklet`` + ``flush`` of the collected crops (crops/s, bytes per crop
   on disk against the raw 256x128x3 = 98,304 bytes), a bulk write of about 4,000 crops,
   and reading the 16 best crops of two tracklets back.

Usage::

    python benchmarks/crops_store.py [--frames 300] [--repeats 3] [--imgsz 416] [--runtime openvino] [--json out.json]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import _bench
import numpy as np
import supervision as sv

from streamreid.config import Config, CropConfig
from streamreid.pipeline import build_detector
from streamreid.run.store import CropStore
from streamreid.run.store_reader import open_store
from streamreid.stream.reservoir import CropCollector
from streamreid.stream.track import PersonTracker
from streamreid.types import Frame

RAW_CROP_BYTES = 256 * 128 * 3


def track_frames(frames: list[Frame], *, imgsz: int, runtime: str) -> list[sv.Detections]:
    """Tracked detections of every frame (untimed preparation)."""
    config = Config().with_overrides({"detector.imgsz": imgsz, "detector.runtime": runtime})
    detector = build_detector(config)
    tracker = PersonTracker(fps=30.0, config=config.tracker)
    tracked = []
    for frame, detections in detector.iter_detections(frames):
        kept, _ = tracker.update(detections, time=frame.time)
        tracked.append(kept)
    return tracked


def time_updates(frames: list[Frame], tracked: list[sv.Detections]) -> tuple[list[float], CropCollector]:
    collector = CropCollector(config=CropConfig())
    milliseconds = []
    for frame, detections in zip(frames, tracked, strict=True):
        start = time.perf_counter()
        collector.update(frame, detections)
        milliseconds.append(1000 * (time.perf_counter() - start))
    return milliseconds, collector


def crowd(frames: list[Frame], steps: int, *, people: int = 10) -> tuple[list[float], list[float], CropCollector]:
    """``people`` synthetic walkers on every frame (real images underneath), ``steps`` frames."""
    rng = np.random.default_rng(0)
    height, width = frames[0].height, frames[0].width
    starts = np.column_stack([rng.uniform(20, width - 80, people), rng.uniform(30, height - 210, people)])
    sizes = np.column_stack([rng.uniform(30, 60, people), rng.uniform(80, 180, people)])
    collector = CropCollector(config=CropConfig())
    steady, filling = [], []
    for step in range(steps):
        offset = np.array([np.sin(step / 50) * 30, np.cos(step / 70) * 10])
        xy = starts + offset
        xyxy = np.column_stack([xy, xy + sizes]).clip(0, [width, height, width, height])
        detections = sv.Detections(
            xyxy=xyxy.astype(np.float32),
            confidence=rng.uniform(0.4, 0.95, people).astype(np.float32),
            tracker_id=np.arange(people),
        )
        frame = Frame(index=step, time=step / 30, image=frames[step % len(frames)].image)
        start = time.perf_counter()
        collector.update(frame, detections)
        (filling if step < 60 else steady).append(1000 * (time.perf_counter() - start))
    return steady, filling, collector


def store_throughput(samples_by_id: dict[int, tuple[list, list[int]]]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="crops-store-") as folder:
        path = Path(folder) / "store.zarr"
        total = sum(len(samples) for samples, _ in samples_by_id.values())
        flush_ms = []
        with CropStore(path) as store:
            empty = store.bytes_on_disk
            start = time.perf_counter()
            for tracker_id, (samples, flags) in samples_by_id.items():
                store.write_tracklet(tracker_id, samples, flags)
                flushed = time.perf_counter()
                store.flush()
                flush_ms.append(1000 * (time.perf_counter() - flushed))
            elapsed = time.perf_counter() - start
        stored = open_store(path).num_crops
        bytes_per_crop = (store.bytes_on_disk - empty) / stored

        bulk_path = Path(folder) / "bulk.zarr"
        every = [sample for samples, _ in samples_by_id.values() for sample in samples]
        written = 0
        with CropStore(bulk_path) as bulk:
            start = time.perf_counter()
            for tracker_id in range(max(1, 4000 // len(every))):
                bulk.write_tracklet(tracker_id, every, [1] * len(every))
                written += len(every)
            bulk.flush()
            bulk_seconds = time.perf_counter() - start
        reader = open_store(bulk_path)
        start = time.perf_counter()
        reader.crops_for([0, 1], buffer="best", limit=16)
        read_ms = 1000 * (time.perf_counter() - start)
    return {
        "tracklets": len(samples_by_id),
        "crops": total,
        "crops_per_s_flush_each": total / elapsed,
        "flush_ms_median": _bench.median(flush_ms),
        "bytes_per_crop": bytes_per_crop,
        "bulk_crops": written,
        "bulk_crops_per_s": written / bulk_seconds,
        "bulk_raw_mb_per_s": written * RAW_CROP_BYTES / bulk_seconds / 1e6,
        "read_16_best_of_2_ms": read_ms,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--imgsz", type=int, default=416, help="detector size for the untimed preparation")
    parser.add_argument("--runtime", default=_bench.fastest_runtime(), choices=["torch", "onnx", "openvino"])
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    logging.getLogger("streamreid").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")

    info = _bench.machine()
    print(_bench.describe_machine(info))
    frames = _bench.decode_frames(_bench.sample_video(), args.frames)
    start = time.perf_counter()
    tracked = track_frames(frames, imgsz=args.imgsz, runtime=args.runtime)
    counts = [len(d) for d in tracked]
    print(
        f"prepared {len(frames)} frames in {time.perf_counter() - start:.0f} s (untimed): tracked detections "
        f"per frame median {_bench.median(counts):.0f}, max {max(counts)}"
    )

    real_median, real_p90, crowd_steady, crowd_filling = [], [], [], []
    for _ in range(args.repeats):
        milliseconds, collector = time_updates(frames, tracked)
        real_median.append(_bench.median(milliseconds))
        real_p90.append(float(np.percentile(milliseconds, 90)))
        steady, filling, ten = crowd(frames, 1000)
        crowd_steady.append(_bench.median(steady))
        crowd_filling.append(_bench.median(filling))
    samples = {tracker_id: collector.pop(tracker_id) for tracker_id in collector.live_ids()}
    samples.update({1_000_000 + tracker_id: ten.pop(tracker_id) for tracker_id in ten.live_ids()})
    store = store_throughput(samples)

    rows = [
        {"what": "update, real video", "ms": _bench.median(real_median), "p90": _bench.median(real_p90)},
        {"what": "update, 10 walkers, steady", "ms": _bench.median(crowd_steady)},
        {"what": "update, 10 walkers, reservoirs filling", "ms": _bench.median(crowd_filling)},
    ]
    print(f"\nCropCollector.update, milliseconds per frame (medians of {args.repeats} repeats)")
    print(_bench.format_table(rows, [("what", "case"), ("ms", "median ms"), ("p90", "p90 ms")]))
    print(
        f"\nstore: {store['crops']} crops of {store['tracklets']} tracklets, flush after each tracklet "
        f"{store['crops_per_s_flush_each']:.0f} crops/s (flush median {store['flush_ms_median']:.1f} ms); "
        f"{store['bytes_per_crop']:.0f} bytes/crop on disk (raw {RAW_CROP_BYTES})\n"
        f"bulk: {store['bulk_crops']} crops at {store['bulk_crops_per_s']:.0f} crops/s "
        f"({store['bulk_raw_mb_per_s']:.0f} MB/s raw); read 16 best crops of 2 tracklets: "
        f"{store['read_16_best_of_2_ms']:.1f} ms"
    )
    _bench.write_json(args.json, {"machine": info, "frames": len(frames), "update": rows, "store": store})
    return 0


if __name__ == "__main__":
    sys.exit(main())

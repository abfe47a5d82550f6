"""Benchmark: CropCollector.update per frame, crop store bytes per crop and write throughput.

Real parts: the sample street video (PyAV), the offline default detector, ByteTrack (streamreid.track).
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import supervision as sv
from ultralytics import YOLO

from streamreid.assets import FALL_DETECTOR, SAMPLE_VIDEO, fetch_asset
from streamreid.config import CropConfig, TrackerConfig
from streamreid.reservoir import CropCollector
from streamreid.store import CropStore, open_store
from streamreid.track import PersonTracker
from streamreid.types import Frame

FRAMES = int(sys.argv[1]) if len(sys.argv) > 1 else 300

video, _ = fetch_asset(SAMPLE_VIDEO)
weights, _ = fetch_asset(FALL_DETECTOR)
cache = Path(f"/tmp/bench_tracked_{FRAMES}.npz")
frames: list[Frame] = []
tracked_per_frame: list[sv.Detections] = []
t0 = time.perf_counter()
if cache.exists():
    saved = np.load(cache)
    with av.open(str(video)) as container:
        for index, av_frame in enumerate(container.decode(video=0)):
            if index >= FRAMES:
                break
            frames.append(Frame(index=index, time=index / 30.0, image=av_frame.to_ndarray(format="bgr24")))
            tracked_per_frame.append(
                sv.Detections(xyxy=saved[f"x{index}"], confidence=saved[f"c{index}"], tracker_id=saved[f"t{index}"])
            )
else:
    model = YOLO(str(weights))
    tracker = PersonTracker(fps=30.0, config=TrackerConfig())
    with av.open(str(video)) as container:
        for index, av_frame in enumerate(container.decode(video=0)):
            if index >= FRAMES:
                break
            image = av_frame.to_ndarray(format="bgr24")
            frame = Frame(index=index, time=index / 30.0, image=image)
            result = model.predict(image, imgsz=640, conf=0.25, verbose=False)[0]
            tracked, _ = tracker.update(sv.Detections.from_ultralytics(result), time=frame.time)
            frames.append(frame)
            tracked_per_frame.append(tracked)
    arrays = {}
    for i, d in enumerate(tracked_per_frame):
        arrays.update({f"x{i}": d.xyxy, f"c{i}": d.confidence, f"t{i}": d.tracker_id})
    np.savez(cache, **arrays)
print(f"detected+tracked {len(frames)} frames in {time.perf_counter() - t0:.1f} s")
counts = [len(d) for d in tracked_per_frame]
print(f"tracked detections per frame: median {statistics.median(counts)}, max {max(counts)}")

# 1. CropCollector.update on the real tracked detections (one pass, as in the pipeline)
collector = CropCollector(config=CropConfig())
update_ms = []
for frame, tracked in zip(frames, tracked_per_frame):
    t = time.perf_counter()
    collector.update(frame, tracked)
    update_ms.append((time.perf_counter() - t) * 1000)
print(f"real video update: median {statistics.median(update_ms):.2f} ms, p90 {np.percentile(update_ms, 90):.2f} ms")

# 2. A frame with 10 people: 10 tracklets walking for 1000 frames over the real frames
rng = np.random.default_rng(0)
starts = np.column_stack([rng.uniform(20, 560, 10), rng.uniform(30, 150, 10)])
sizes = np.column_stack([rng.uniform(30, 60, 10), rng.uniform(80, 180, 10)])
ten = CropCollector(config=CropConfig())
steady, filling = [], []
for step in range(1000):
    frame = frames[step % len(frames)]
    offset = np.array([np.sin(step / 50) * 30, np.cos(step / 70) * 10])
    xy = starts + offset
    xyxy = np.column_stack([xy, xy + sizes]).clip(0, [640, 360, 640, 360])
    detections = sv.Detections(xyxy=xyxy, confidence=rng.uniform(0.4, 0.95, 10), tracker_id=np.arange(10))
    t = time.perf_counter()
    ten.update(Frame(index=step, time=step / 30, image=frame.image), detections)
    (filling if step < 60 else steady).append((time.perf_counter() - t) * 1000)
print(
    f"10 people: update median {statistics.median(steady):.2f} ms steady (after 60 frames), "
    f"{statistics.median(filling):.2f} ms while the reservoirs fill; crops held {ten.num_crops()}"
)

# 3. Store: the real tracklets' crops, then write throughput on replicated crops
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "store.zarr"
    samples_by_id = {tid: collector.pop(tid) for tid in collector.live_ids()}
    samples_by_id.update({1_000_000 + tid: ten.pop(tid) for tid in ten.live_ids()})
    total = sum(len(s) for s, _ in samples_by_id.values())
    with CropStore(path) as store:
        empty = store.bytes_on_disk
        t = time.perf_counter()
        flush_ms = []
        for tid, (samples, flags) in samples_by_id.items():
            store.write_tracklet(tid, samples, flags)
            tf = time.perf_counter()
            store.flush()
            flush_ms.append((time.perf_counter() - tf) * 1000)
        elapsed = time.perf_counter() - t
    size = open_store(path).num_crops, store.bytes_on_disk
    print(
        f"store: {total} crops of {len(samples_by_id)} tracklets, flush after each: {total / elapsed:.0f} crops/s, "
        f"flush median {statistics.median(flush_ms):.1f} ms; {(size[1] - empty) / size[0]:.0f} bytes/crop on disk "
        f"(raw {256 * 128 * 3})"
    )
    path2 = Path(folder) / "bulk.zarr"
    all_samples = [s for samples, _ in samples_by_id.values() for s in samples]
    with CropStore(path2) as store:
        t = time.perf_counter()
        written = 0
        for k in range(max(1, 4000 // len(all_samples))):
            store.write_tracklet(k, all_samples, [1] * len(all_samples))
            written += len(all_samples)
        store.flush()
        elapsed = time.perf_counter() - t
    print(f"store bulk: {written} crops in {elapsed:.2f} s = {written / elapsed:.0f} crops/s ({written * 98304 / elapsed / 1e6:.0f} MB/s raw)")
    reader = open_store(path2)
    t = time.perf_counter()
    images, _ = reader.crops_for([0, 1], buffer="best", limit=16)
    print(f"read 16 best crops of 2 tracklets: {(time.perf_counter() - t) * 1000:.1f} ms")

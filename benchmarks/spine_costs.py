"""What the single pass costs beside the detector (issue 23): per-stage wall and CPU ms per frame, detections replayed.

The detector runs in its own thread and, with OpenVINO, on every core: each millisecond of CPU the rest of the
pass takes is taken from it. This replays ADL-Rundle-6's cached detections (1920x1080, 30 fps; yolo11n-pose at
1280, OpenVINO f32, from ``identity.cached_detections``) through ``streamreid.pipeline.process`` with crops,
statistics and the store on, ReID and the report off, ``detect_stride`` 2, so that only the spine costs. The
replayed detector is sized like YOLO's letterbox (1280x720), so the frames take the scaled decode as with the
real detector (``--whole``: whole BGR frames, ``source.scaled_decode: false``). It prints, per frame of video:

* ``wall``: ``run.json``'s timings (``decode`` runs in its own thread beside the main thread's stages);
* ``cpu``: the CPU time the main thread spent in each of its stages, and the decoding thread's own;
* ``main``: all of the main thread's CPU; ``process``: every thread's (FFmpeg's decoding threads, the store's
  compression, OpenCV's workers), with a detector that costs nothing: what the spine takes from the detector.

Compare two checkouts by running it under each (``PYTHONPATH``), interleaved. Usage::

    python benchmarks/spine_costs.py [--whole] [--frames N] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _bench
import identity
import numpy as np

import streamreid.pipeline as pipeline
from streamreid.config import Config
from streamreid.run import timings

VIDEO = identity.SHARED / "data" / "adl-rundle-6" / "ADL-Rundle-6.mp4"


class ScaledReplay(identity.ReplayDetector):
    """Replayed detections from a detector that letterboxes to ``imgsz`` (its boxes in the picture it was given)."""

    imgsz = 1280

    def input_shape_for(self, height: int, width: int) -> tuple[int, int]:
        ratio = min(self.imgsz / height, self.imgsz / width)
        return int(round(height * ratio)), int(round(width * ratio))

    def iter_detections(self, frames: Any, *, detect_stride: int = 1) -> Iterator[tuple[Any, Any]]:
        for frame, found in super().iter_detections(frames, detect_stride=detect_stride):
            if found is not None and getattr(frame, "full", None) is not None:
                scale_x, scale_y = frame.image_scale  # the cache is in source pixels; the pipeline maps back
                found.xyxy = (found.xyxy / np.array([scale_x, scale_y, scale_x, scale_y])).astype(np.float32)
            yield frame, found


def _thread_cpu(cpu: dict[str, float]) -> None:
    """Also count each stage's CPU (thread time), and the decoding thread's, into ``cpu``."""
    stage = timings.StageClock.stage

    @contextlib.contextmanager
    def counted(self: timings.StageClock, name: str) -> Iterator[None]:
        start = time.thread_time()
        try:
            with stage(self, name):
                yield
        finally:
            cpu[name] = cpu.get(name, 0.0) + time.thread_time() - start

    frames = pipeline.iter_timed_frames

    def decoded(source: Any, clock: timings.StageClock, **options: Any) -> Iterator[Any]:
        iterator = frames(source, clock, **options)
        while True:
            start = time.thread_time()
            try:
                frame = next(iterator)
            except StopIteration:
                return
            finally:
                cpu["decode_thread"] = cpu.get("decode_thread", 0.0) + time.thread_time() - start
            yield frame

    timings.StageClock.stage = counted
    pipeline.iter_timed_frames = decoded


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--whole", action="store_true", help="whole BGR frames (source.scaled_decode: false)")
    parser.add_argument("--frames", type=int, default=None, help="only the first N frames")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if not VIDEO.is_file():
        print(f"error: {VIDEO} not found (set STREAMREID_SHARED)", file=sys.stderr)
        return 2
    data = identity.cached_detections(VIDEO, model="pose", imgsz=1280, runtime="openvino", precision="f32")
    detector = (identity.ReplayDetector if args.whole else ScaledReplay)(data, name="adl", confidence=0.1)
    overrides = {"reid.enabled": False, "report.enabled": False, "detector.detect_stride": 2,
                 "source.scaled_decode": not args.whole, "source.max_frames": args.frames}  # fmt: skip
    config = Config().with_overrides(overrides)
    cpu: dict[str, float] = {}
    _thread_cpu(cpu)
    load = os.getloadavg()[0]
    main_start, process_start = time.thread_time(), _process_cpu()
    with tempfile.TemporaryDirectory(prefix="spine-costs-") as folder:
        result = pipeline.process(VIDEO, out_dir=Path(folder) / "run", config=config, detector=detector, progress=False)
    frames = result.frames_decoded

    def per_frame(values: dict[str, float]) -> dict[str, float]:
        return {stage: round(1000 * seconds / frames, 2) for stage, seconds in values.items()}

    report = {
        "mode": "whole" if args.whole else "scaled", "frames": frames, "load_average": round(load, 2),
        "wall": per_frame(result.timings), "cpu": per_frame(cpu),
        "main": round(1000 * (time.thread_time() - main_start) / frames, 2),
        "process": round(1000 * (_process_cpu() - process_start) / frames, 2),
        "detections": result.detections, "tracklets": result.tracklets,
    }  # fmt: skip
    print(f"{report['mode']}, {frames} frames, load {load:.1f}: CPU ms/frame main {report['main']}, "
          f"process {report['process']}")  # fmt: skip
    for kind in ("wall", "cpu"):
        print(f"  {kind}: " + ", ".join(f"{stage} {value}" for stage, value in report[kind].items()))
    _bench.write_json(args.json, {"machine": _bench.machine(), **report})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Cost of the crop reservoirs, and one full run of the whole sample video.

1. Overhead: on the first ``--frames`` frames of the street sample, with one prebuilt
   detector, interleaved repeats of ``streamreid.pipeline.process`` with crops, quality
   scores and the crop store ON versus the spine alone (crops OFF); ReID and the report are
   off in both. Prints median fps, the median of per-repeat ratios (target >= 0.95) and the
   same ratio in CPU time, plus the seconds spent in the crops and store stages.
2. Full run (skip with ``--full-frames 0``): the whole video once through the FULL
   pipeline (crops, ReID with the weights-free fallback embedder, report), recording the
   store size on disk, crops stored, bytes per crop, tracklets, persons, per-stage timings
   and the total time.

Usage::

    python benchmarks/crops_overhead.py [--frames 150] [--repeats 3] [--imgsz 416] \
        [--runtime openvino] [--full-frames 1799] [--json out.json]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import _bench

from streamreid.config import Config
from streamreid.detect.detector import PersonDetector
from streamreid.pipeline import build_detector, process
from streamreid.run.store_reader import open_store

COLUMNS = (
    ("runtime", "runtime"),
    ("imgsz", "imgsz"),
    ("frames", "frames"),
    ("spine_fps", "spine fps"),
    ("crops_fps", "spine + crops fps"),
    ("ratio", "crops / spine"),
    ("ratio_cpu", "same, CPU time"),
    ("crops_stage_ms", "crops ms/frame"),
    ("store_stage_ms", "store ms/frame"),
)


def overrides(frames: int | None, *, imgsz: int, model: str | None, runtime: str, crops: bool, full: bool) -> Config:
    """The config of one variant: the spine, the spine with crops, or the full pipeline."""
    return Config().with_overrides(
        {
            "crops.enabled": crops,
            "reid.enabled": full,
            "reid.embedder": "fallback",
            "report.enabled": full,
            "source.max_frames": frames,
            "detector.imgsz": imgsz,
            "detector.model": model,
            "detector.runtime": runtime,
        }
    )


def run(video: Path, config: Config, detector: PersonDetector, *, keep: Path | None = None) -> dict[str, Any]:
    """One ``process`` call; the run directory is a temporary one unless ``keep`` names it."""
    with tempfile.TemporaryDirectory(prefix="crops-") as folder:
        run_dir = keep or Path(folder) / "run"
        wall, cpu, result = _bench.timed_cpu(
            lambda: process(video, out_dir=run_dir, config=config, detector=detector, progress=False)
        )
        outcome: dict[str, Any] = {
            "fps": result.frames_processed / result.timings["stream_total"],
            "cpu_ms": 1000 * cpu / result.frames_processed,
            "frames": result.frames_processed,
            "timings": result.timings,
            "tracklets": result.tracklets,
            "persons": result.persons,
            "detections": result.detections,
            "wall_s": wall,
            "embedder": result.embedder,
        }
        store_path = run_dir / "store.zarr"
        if store_path.is_dir():
            outcome.update(store_sizes(store_path))
    return outcome


def store_sizes(path: Path) -> dict[str, Any]:
    """Crops in the store, file bytes (apparent) and allocated bytes (what ``du`` shows)."""
    apparent = allocated = files = 0
    for folder, _, names in os.walk(path):
        for name in names:
            status = os.stat(os.path.join(folder, name))
            apparent += status.st_size
            allocated += status.st_blocks * 512
            files += 1
    crops = open_store(path).num_crops
    return {
        "store_crops": crops,
        "store_bytes": apparent,
        "store_bytes_du": allocated,
        "store_files": files,
        "bytes_per_crop": apparent / crops if crops else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="first N frames for the overhead comparison")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--runtime", default=_bench.fastest_runtime(), choices=["torch", "onnx", "openvino"])
    parser.add_argument("--model", default=None, help="detector weights (default: streamreid's offline default)")
    parser.add_argument("--full-frames", type=int, default=None, help="frames of the full run (default: all; 0: skip)")
    parser.add_argument("--keep-full-run", default=None, help="keep the full run's directory here")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    logging.getLogger("streamreid").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")

    info = _bench.machine()
    print(_bench.describe_machine(info))
    video = _bench.sample_video()
    spine = overrides(args.frames, imgsz=args.imgsz, model=args.model, runtime=args.runtime, crops=False, full=False)
    with_crops = overrides(
        args.frames, imgsz=args.imgsz, model=args.model, runtime=args.runtime, crops=True, full=False
    )
    detector = build_detector(spine)
    print(f"detector: {detector.runtime} imgsz {detector.imgsz}, {detector.model_path.name}")
    run(video, spine.with_overrides({"source.max_frames": 8}), detector)  # warm-up

    runs: dict[str, list[dict[str, Any]]] = {"spine": [], "crops": []}
    for repeat in range(args.repeats):
        order = [("spine", spine), ("crops", with_crops)]
        for name, config in order if repeat % 2 == 0 else order[::-1]:
            outcome = run(video, config, detector)
            runs[name].append(outcome)
            print(f"  repeat {repeat + 1}: {name:6s} {outcome['fps']:7.2f} fps", flush=True)

    frames = runs["crops"][0]["frames"]
    row = {
        "runtime": detector.runtime,
        "imgsz": detector.imgsz,
        "frames": frames,
        "spine_fps": _bench.median(r["fps"] for r in runs["spine"]),
        "crops_fps": _bench.median(r["fps"] for r in runs["crops"]),
        "ratio": _bench.median(c["fps"] / s["fps"] for s, c in zip(runs["spine"], runs["crops"], strict=True)),
        "ratio_cpu": _bench.median(
            s["cpu_ms"] / c["cpu_ms"] for s, c in zip(runs["spine"], runs["crops"], strict=True)
        ),
        "crops_stage_ms": _bench.median(1000 * r["timings"].get("crops", 0.0) / frames for r in runs["crops"]),
        "store_stage_ms": _bench.median(1000 * r["timings"].get("store", 0.0) / frames for r in runs["crops"]),
        "spine_store_stage_ms": _bench.median(1000 * r["timings"].get("store", 0.0) / frames for r in runs["spine"]),
    }
    print(f"\ncrop reservoirs: medians of {args.repeats} interleaved repeats, ratios of per-repeat pairs")
    print(_bench.format_table([row], COLUMNS))
    print(
        f"  store stage without crops (detections only): {row['spine_store_stage_ms']:.2f} ms/frame; "
        f"crops stored in {frames} frames: {runs['crops'][0].get('store_crops')}"
    )

    full = None
    if args.full_frames != 0:
        config = overrides(
            args.full_frames, imgsz=args.imgsz, model=args.model, runtime=args.runtime, crops=True, full=True
        )
        keep = Path(args.keep_full_run) if args.keep_full_run else None
        print(f"\nfull pipeline over {'all' if args.full_frames is None else args.full_frames} frames ...", flush=True)
        full = run(video, config, detector, keep=keep)
        timings = full["timings"]
        print(
            f"full run: {full['frames']} frames, {full['tracklets']} tracklets, {full['persons']} persons, "
            f"embedder {full['embedder']}\n"
            f"  store: {full['store_crops']} crops, {full['store_bytes'] / 1e6:.1f} MB in {full['store_files']} files "
            f"({full['store_bytes_du'] / 1e6:.1f} MB allocated, du), {full['bytes_per_crop']:.0f} bytes/crop "
            f"(raw 256x128x3 = 98304)\n"
            f"  stream part {timings['stream_total']:.1f} s ({full['fps']:.2f} fps), total {timings['total']:.1f} s"
        )
        print("  stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))

    _bench.write_json(
        args.json,
        {"machine": info, "video": str(video), "repeats": args.repeats, "overhead": row, "runs": runs, "full": full},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A 1080p camera (issue 23): the single pass per stage on ADL-Rundle-6, against the detector alone and ultralytics.

On the first ``--frames`` frames of ``ADL-Rundle-6.mp4`` (1920x1080, 30 fps; ``$STREAMREID_SHARED/data`` or
``--video``), in each repeat, interleaved (the order rotates between repeats):

* ``decode``: iterating ``open_source`` (every frame turned into BGR whole), and ``decode, scaled``: the same
  with ``scale_for_detector`` (each frame scaled and converted once, at the detector's size);
* ``detector``: the detector alone on the frames the spine detects (every ``detect_stride``-th, decoded
  into RAM beforehand, at the size the spine gives it), fps counted in video frames like the spine's;
* ``spine, whole frames`` (``source.scaled_decode: false``, the pass before issue 23) and ``spine`` (the
  defaults): ``streamreid.pipeline.process`` with crops, statistics and the store on, ReID and the report
  off, a prebuilt detector; fps over ``stream_total``, and each stage's ms per frame from ``run.json``'s
  timings (``decode`` and ``detect`` run in their own threads, beside the main thread's ``cuts``, ``track``,
  ``crops``, ``store``; ``wait_for_detector`` is the main thread idle);
* with ``--region-every N,M``: ``detector, region every N`` and ``spine, region every N``, the same with the
  ``imgsz: auto`` detector once it has chosen its region (``detector.region``, :mod:`streamreid.detect.regions`:
  640 on the whole frame, 1280's scale on the region, the region on one detected frame in N), its probe run
  beforehand on the video's first frames, outside the timings;
* with ``--int8``: ``detector, int8`` and ``spine, int8``, the same with ``detector.precision: int8`` (the INT8
  model quantized once beforehand, outside the timings);
* ``ultralytics track``: ``YOLO(same .pt).track(stream=True, imgsz=same, classes=people)`` with everything
  else as ultralytics ships it (PyTorch, its thresholds, every frame detected), the same frames.

The detector is the default (yolo11n-pose, ``runtime: auto``) at ``--imgsz`` (1280: what ``imgsz: auto`` picks
on this video, fixed here so that no probing runs inside the timings) and the default stride for 30 fps (2).

Usage::

    python benchmarks/spine_1080p.py [--frames 90] [--repeats 3] [--imgsz 1280] [--no-peer] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import _bench
from spine import Peer

from streamreid.config import Config
from streamreid.detect.runtimes import describe
from streamreid.pipeline import build_detector, process
from streamreid.stream.detection_rate import resolve_detect_stride
from streamreid.stream.picture import detector_size
from streamreid.stream.sources import open_source

STAGES = ("decode", "detect", "wait_for_detector", "cuts", "track", "stats", "crops", "store")


def default_video() -> Path:
    shared = Path(os.environ.get("STREAMREID_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    return shared / "data" / "adl-rundle-6" / "ADL-Rundle-6.mp4"


def run_decode(video: Path, frames: int, size: tuple[int, int] | None) -> dict[str, Any]:
    def count() -> int:
        with open_source(video, max_frames=frames) as stream:
            stream.scale_for_detector(size)
            return sum(1 for _ in stream)

    seconds, cpu, counted = _bench.timed_cpu(count)
    return {"fps": counted / seconds, "cpu_ms": 1000 * cpu / counted}


def run_detector(detector: Any, images: list, covered: int) -> dict[str, Any]:
    seconds, cpu, _ = _bench.timed_cpu(lambda: detector.detect(images))
    return {"fps": covered / seconds, "cpu_ms": 1000 * cpu / covered, "detected_fps": len(images) / seconds}


def run_spine(video: Path, config: Config, detector: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="spine1080-") as folder:
        _, cpu, result = _bench.timed_cpu(
            lambda: process(video, out_dir=Path(folder) / "run", config=config, detector=detector, progress=False)
        )
    frames, timings = result.frames_processed, result.timings
    return {
        "fps": frames / timings["stream_total"],
        "cpu_ms": 1000 * cpu / frames,
        "ms_per_frame": {stage: 1000 * timings.get(stage, 0.0) / frames for stage in (*STAGES, "stream_total")},
        "tracked_detections": result.detections,
        "tracklets": result.tracklets,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=None, help="default: ADL-Rundle-6.mp4 of the shared data")
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--imgsz", type=int, default=1280)
    parser.add_argument("--no-peer", action="store_true", help="skip ultralytics' YOLO.track")
    parser.add_argument("--region-every", default="", help="also the region detector, at these region_every (1,2)")
    parser.add_argument("--region-max-cost", type=float, default=None, help="detector.region_max_cost")
    parser.add_argument("--detect-rate", type=float, default=None, help="detector.detect_rate (default: the config's)")
    parser.add_argument("--int8", action="store_true", help="also the detector and the spine in INT8")
    parser.add_argument(
        "--int8-recipes",
        default="",
        help="also the detector (and spine) in INT8 by these recipes of int8_recipes.py (e.g. stem+attn)",
    )
    parser.add_argument("--skip", default="", help='passes left out, separated by ; (e.g. "decode;decode, scaled")')
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    logging.getLogger("streamreid").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    video = args.video or default_video()
    info = _bench.machine()
    print(_bench.describe_machine(info))

    base = Config().with_overrides({"reid.enabled": False, "report.enabled": False,
                                    "source.max_frames": args.frames, "detector.imgsz": args.imgsz,
                                    **({"detector.detect_rate": args.detect_rate} if args.detect_rate else {}),
                                    })  # fmt: skip
    with open_source(video, max_frames=1) as stream:
        shape = (stream.info.height, stream.info.width)
        fps = stream.info.fps
    detector = build_detector(base, frame_shape=shape, fps=fps)
    stride = int(resolve_detect_stride(base, fps=fps).detector.detect_stride)  # what the spine will use
    if detector.runtime_choice is not None:
        print(f"auto: {describe(detector.runtime_choice)}")
    size = detector_size(shape, detector.input_shape_for(*shape))
    with open_source(video, max_frames=args.frames) as stream:
        stream.scale_for_detector(size)
        images = [frame.image for i, frame in enumerate(stream) if i % stride == 0]
    print(f"{args.frames} frames of {video.name} ({shape[1]}x{shape[0]}), detector input {size}, "
          f"stride {stride}: {len(images)} detected")  # fmt: skip
    detector.detect(images[:4])  # warm
    peer = None
    if not args.no_peer and importlib.util.find_spec("lap") is None:
        print("ultralytics track skipped: its ByteTrack needs `lap` (pip install -r benchmarks/requirements.txt)")
    elif not args.no_peer:
        peer = Peer(detector, video, its_defaults=True)

    jobs = {
        "decode": lambda: run_decode(video, args.frames, None),
        "decode, scaled": lambda: run_decode(video, args.frames, size),
        "detector": lambda: run_detector(detector, images, args.frames),
        "spine, whole frames": lambda: run_spine(video, base.with_overrides({"source.scaled_decode": False}), detector),
        "spine": lambda: run_spine(video, base, detector),
    }
    if peer is not None:
        jobs["ultralytics track"] = lambda: peer.run(args.frames, torch_threads=None)
    for every in (int(v) for v in args.region_every.split(",") if v):
        region = region_detector(video, base, shape=shape, fps=fps, size=size, every=every,
                                 max_cost=args.region_max_cost)  # fmt: skip
        config = base.with_overrides({"detector.imgsz": "auto", "detector.region_every": every})
        jobs[f"detector, region every {every}"] = lambda d=region: run_detector(d, images, args.frames)
        jobs[f"spine, region every {every}"] = lambda d=region, c=config: run_spine(video, c, d)
    if args.int8:
        int8_config = base.with_overrides({"detector.precision": "int8"})
        int8 = build_detector(int8_config, frame_shape=shape, fps=fps)
        print(f"int8: {int8.runtime} ({int8.precision}), {int8.model_path.parent.name}")
        int8.detect(images[:4])  # warm
        jobs["detector, int8"] = lambda: run_detector(int8, images, args.frames)
        jobs["spine, int8"] = lambda: run_spine(video, int8_config, int8)
    for name in (n for n in args.int8_recipes.split(",") if n):
        from int8_recipes import RECIPES

        from streamreid.detect.detector import PersonDetector

        d = base.detector
        made = PersonDetector(runtime="openvino", precision="int8", imgsz=args.imgsz, confidence=d.confidence,
                              iou=d.iou, batch_size=d.batch_size, int8_recipe=RECIPES[name])  # fmt: skip
        print(f"int8 {name}: {made.model_path.parent.name}")
        made.detect(images[:4])  # warm
        jobs[f"detector, int8 {name}"] = lambda m=made: run_detector(m, images, args.frames)
        jobs[f"spine, int8 {name}"] = lambda m=made: run_spine(video, base, m)
    for name in (n for n in args.skip.split(";") if n.strip()):
        jobs.pop(name.strip(), None)
    names = list(jobs)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    loads = []
    for repeat in range(args.repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            loads.append(os.getloadavg()[0])
            runs[name].append(jobs[name]())
            print(f"  repeat {repeat + 1}: {name:20s} {runs[name][-1]['fps']:8.2f} fps", flush=True)
    report(runs, loads=loads, repeats=args.repeats)
    _bench.write_json(args.json, {"machine": info, "video": str(video), "frames": args.frames, "imgsz": args.imgsz,
                                  "detect_stride": stride, "detector_input": size, "runs": runs,
                                  "load_averages": loads})  # fmt: skip
    return 0


def region_detector(video: Path, base: Config, *, shape: tuple[int, int], fps: float, size: Any, every: int,
                    max_cost: float | None) -> Any:  # fmt: skip
    """The ``imgsz: auto`` detector with its region chosen on the video's first frames (probing done here)."""
    overrides = {"detector.imgsz": "auto", "detector.region": True, "detector.region_every": every,
                 **({"detector.region_max_cost": max_cost} if max_cost is not None else {})}  # fmt: skip
    detector = build_detector(base.with_overrides(overrides), frame_shape=shape, fps=fps)
    stride = int(resolve_detect_stride(base, fps=fps).detector.detect_stride)
    with open_source(video, max_frames=300) as stream:
        stream.scale_for_detector(size)
        batch = []
        for index, frame in enumerate(stream):
            if index % stride == 0:
                batch.append(frame.image)
            if len(batch) == 4:
                detector.detect(batch)
                batch = []
                if detector.size_choice is not None:
                    break
    choice = getattr(detector, "region_choice", None)
    print(f"region every {every}: size {detector.imgsz}, {choice.reason if choice else 'no region decided'}")
    return detector


def report(runs: dict[str, list[dict[str, Any]]], *, loads: list[float], repeats: int) -> None:
    """Medians of fps, ratios within each repeat, and the spine's stages in ms per frame."""

    def ratio(top: str, bottom: str) -> float:
        if top not in runs or bottom not in runs:
            return float("nan")
        return _bench.median(a["fps"] / b["fps"] for a, b in zip(runs[top], runs[bottom], strict=True))

    print(f"\nmedians of {repeats} interleaved repeats (load average 1 min: {min(loads):.2f}-{max(loads):.2f})")
    for name, results in runs.items():
        print(f"  {name:20s} {_bench.median(r['fps'] for r in results):8.2f} fps, "
              f"CPU {_bench.median(r['cpu_ms'] for r in results):7.1f} ms/frame")  # fmt: skip
    for top, bottom in [("spine", "detector"), ("spine, whole frames", "detector"), ("spine", "spine, whole frames"),
                        ("spine", "ultralytics track"), ("spine, whole frames", "ultralytics track"),
                        ("decode, scaled", "decode"), ("detector, int8", "detector"), ("spine, int8", "spine"),
                        ("spine, int8", "detector, int8"), ("spine, int8", "ultralytics track"),
                        *((n, "detector") for n in runs if n.startswith("detector, int8 ")),
                        *((n, "spine") for n in runs if n.startswith("spine, int8 ")),
                        *((f"spine, region every {n.rsplit(' ', 1)[-1]}", n) for n in runs
                          if n.startswith("detector, r")),
                        *((n, "spine") for n in runs if n.startswith("spine, region")),
                        *((n, "ultralytics track") for n in runs if n.startswith("spine, region"))]:  # fmt: skip
        print(f"  {top} / {bottom}: {ratio(top, bottom):.3f}")
    print("\nms per frame (medians)  | " + " | ".join(STAGES) + " | stream_total")
    for name in (n for n in runs if n.startswith("spine")):
        cells = [_bench.median(r["ms_per_frame"][s] for r in runs[name]) for s in (*STAGES, "stream_total")]
        print(f"  {name:22s} | " + " | ".join(f"{c:.1f}" for c in cells))
        print(f"    tracked detections {runs[name][0]['tracked_detections']}, tracklets {runs[name][0]['tracklets']}")


if __name__ == "__main__":
    sys.exit(main())

"""Single-pass spine throughput: decode, detector alone, the whole spine, and ultralytics' own tracker.

On the SAME first ``--frames`` frames of the street sample, for each runtime and image size:

* decode only: iterating ``streamreid.stream.sources.open_source``;
* detector only: frames decoded beforehand into RAM, ``PersonDetector.detect`` on all of
  them (batches of ``detector.batch_size``);
* spine: ``streamreid.pipeline.process`` with crops, ReID and the report off, a prebuilt
  detector (model loading excluded), fps over ``RunResult.timings["stream_total"]``
  (decode + detect + track + stats + detection store, from opening the video to the
  last frame written);
* peer, its defaults: ``YOLO(same .pt weights).track(source=video, stream=True,
  tracker="bytetrack.yaml", imgsz=same, classes=people)``, everything else as ultralytics
  ships it (PyTorch, its confidence threshold, its thread count), stopped after the same
  number of frames: the loop a user would write instead. This is the peer of the targets;
* peer: the same loop on the same export as the variant (``--runtime onnx``...), with the
  variant's thresholds. Ultralytics sets PyTorch to ``cpu_count - 1`` threads when it picks
  the CPU (1 thread on a 2-core machine); for the torch runtime ``peer, all threads`` puts
  PyTorch's threads back after its setup;
* with ``--slice-decode``, the spine again with ``source.threads`` off (FFmpeg slice
  threads only: no decoder frame threads competing with inference for the cores).

``--runtime`` takes ``runtime[-precision]``: ``openvino-f32``, ``openvino-int8`` (INT8, issue 10)
and plain ``openvino`` (its fastest precision here: bf16 on AMX CPUs) side by side.

Variants and passes are interleaved in each repeat (the order rotates between repeats);
ratios are taken within a repeat, then the median over repeats is printed. ``--runtime auto``
(the default) is streamreid as shipped: the runtime ``runtime: auto`` picks on this machine.
Needs ``lap`` for the peer (``pip install -r benchmarks/requirements.txt``: ultralytics'
tracker installs it on first use; the peer is skipped without it rather than letting
ultralytics install packages).

Usage::

    python benchmarks/spine.py [--frames 150] [--repeats 3] [--imgsz 640] \
        [--runtime auto torch onnx openvino openvino-f32 openvino-int8] [--model PATH] [--batch-size 1 4] \
        [--slice-decode] [--no-peer] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import _bench
import torch

from streamreid.config import Config
from streamreid.detect.detector import PersonDetector
from streamreid.detect.runtimes import describe
from streamreid.pipeline import build_detector, process
from streamreid.stream.sources import open_source

COLUMNS = (
    ("runtime", "runtime"),
    ("imgsz", "imgsz"),
    ("batch", "batch"),
    ("frames", "frames"),
    ("decode_fps", "decode fps"),
    ("detector_fps", "detector fps"),
    ("spine_fps", "spine fps"),
    ("spine_over_detector", "spine / detector"),
    ("spine_over_detector_cpu", "same, CPU time"),
    ("spine_slice_decode_fps", "spine, slice-thread decode fps"),
    ("peer_defaults_fps", "peer, its defaults fps"),
    ("spine_over_peer_defaults", "spine / peer, its defaults"),
    ("peer_fps", "peer, same runtime fps"),
    ("spine_over_peer", "spine / peer"),
    ("peer_all_threads_fps", "peer, all threads fps"),
    ("spine_over_peer_all_threads", "spine / peer, all threads"),
)


def spine_config(
    frames: int, *, imgsz: int, model: str | None, runtime: str = "torch", batch_size: int | None = None
) -> Config:
    """The spine alone: no crops, no ReID, no report; stop after ``frames`` frames.

    ``runtime`` may name a precision too (``openvino-int8``).
    """
    runtime, _, precision = runtime.partition("-")
    return Config().with_overrides(
        {
            "crops.enabled": False,
            "reid.enabled": False,
            "report.enabled": False,
            "source.max_frames": frames,
            "detector.imgsz": imgsz,
            "detector.model": model,
            "detector.runtime": runtime,
            "detector.precision": precision or "auto",
            "detector.batch_size": batch_size,
            # every frame detected, as in the detector-alone pass: spine / detector compares like with like
            "detector.detect_stride": 1,
        }
    )


def run_decode(video: Path, frames: int) -> dict[str, Any]:
    def count_frames() -> int:
        with open_source(video, max_frames=frames) as stream:
            return sum(1 for _ in stream)

    seconds, count = _bench.timed(count_frames)
    return {"fps": count / seconds, "frames": count}


def run_detector(detector: PersonDetector, images: list) -> dict[str, Any]:
    seconds, cpu, found = _bench.timed_cpu(lambda: detector.detect(images))
    return {"fps": len(images) / seconds, "cpu_ms": 1000 * cpu / len(images), "detections": sum(len(d) for d in found)}


def run_spine(video: Path, config: Config, detector: PersonDetector) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="spine-") as folder:
        _, cpu, result = _bench.timed_cpu(
            lambda: process(video, out_dir=Path(folder) / "run", config=config, detector=detector, progress=False)
        )
    seconds = result.timings["stream_total"]
    return {
        "fps": result.frames_processed / seconds,
        "cpu_ms": 1000 * cpu / result.frames_processed,  # the whole call (stream part and the small analysis)
        "frames": result.frames_processed,
        "tracked_detections": result.detections,
        "tracklets": result.tracklets,
        "timings": result.timings,
    }


class Peer:
    """Ultralytics' ``YOLO.track`` with ByteTrack on the same model file, as a user would run it."""

    def __init__(self, detector: PersonDetector, video: Path, *, its_defaults: bool = False) -> None:
        from ultralytics import YOLO
        from ultralytics.utils import NUM_THREADS

        self.video = video
        self.shipped_threads = NUM_THREADS  # what ultralytics' select_device sets on CPU
        weights = detector.weights.path if its_defaults else detector.model_path
        self.model = YOLO(str(weights))  # an export carries its task in its metadata
        self.options = {
            "tracker": "bytetrack.yaml",
            "imgsz": detector.imgsz,
            "classes": list(detector.person_class_ids),
            "verbose": False,
        }
        if not its_defaults:
            self.options.update(conf=detector.confidence, iou=detector.iou, device=detector.device)
        self.run(2, torch_threads=None)  # set-up (model load, fuse, warm-up) outside the timings

    def run(self, frames: int, *, torch_threads: int | None) -> dict[str, Any]:
        """Track the first ``frames`` frames; ``torch_threads`` None leaves ultralytics' choice."""
        saved = torch.get_num_threads()
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
        count = tracked = 0

        def loop() -> None:
            nonlocal count, tracked
            for result in self.model.track(source=str(self.video), stream=True, **self.options):
                count += 1
                if result.boxes is not None and result.boxes.id is not None:
                    tracked += len(result.boxes)
                if count >= frames:
                    break

        try:
            seconds, cpu, _ = _bench.timed_cpu(loop)
        finally:
            torch.set_num_threads(saved)
        return {
            "fps": count / seconds,
            "cpu_ms": 1000 * cpu / count,
            "frames": count,
            "tracked_detections": tracked,
            "torch_threads": torch_threads,
        }


def _label(runtime: str, detector: PersonDetector) -> str:
    """``auto=openvino-bf16`` for the default, else the runtime asked for, with the precision it runs in."""
    ran = f"{detector.runtime}-{detector.precision}"
    return f"auto={ran}" if runtime == "auto" else ran


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="first N frames of the sample video")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--imgsz", type=int, nargs="+", default=[640])
    parser.add_argument(
        "--runtime",
        nargs="+",
        default=["auto"],
        choices=["auto", "torch", "onnx", "openvino", "openvino-f32", "openvino-int8"],
        help="detector runtimes (auto: the one streamreid picks here)",
    )
    parser.add_argument("--model", default=None, help="detector weights (default: streamreid's offline default)")
    parser.add_argument(
        "--batch-size", type=int, nargs="+", default=None, help="detector.batch_size values (default: the config's)"
    )
    parser.add_argument("--no-peer", action="store_true", help="skip ultralytics' YOLO.track")
    parser.add_argument(
        "--slice-decode",
        action="store_true",
        help="also run the spine with source.threads off (FFmpeg slice threads only, no frame threads)",
    )
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    logging.getLogger("streamreid").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")

    info = _bench.machine()
    print(_bench.describe_machine(info))
    video = _bench.sample_video()
    frames = _bench.decode_frames(video, args.frames)
    images = [frame.image for frame in frames]
    print(f"{len(frames)} frames of {video.name} ({frames[0].width}x{frames[0].height}) decoded into RAM")
    peer_ok = not args.no_peer and importlib.util.find_spec("lap") is not None
    if not args.no_peer and not peer_ok:
        print("peer skipped: ultralytics' ByteTrack needs the lap package (pip install lap)")

    variants = []
    for runtime in args.runtime:
        for imgsz in args.imgsz:
            for batch_size in args.batch_size or [None]:
                config = spine_config(
                    len(frames), imgsz=imgsz, model=args.model, runtime=runtime, batch_size=batch_size
                )
                detector = build_detector(config, frame_shape=images[0].shape[:2])
                if runtime != "auto" and detector.runtime != runtime.partition("-")[0]:
                    print(f"{runtime} unavailable, got {detector.runtime}: skipped")
                    continue
                if detector.runtime_choice is not None:
                    print(f"auto: {describe(detector.runtime_choice)}")
                peer = Peer(detector, video) if peer_ok else None
                peer_defaults = Peer(detector, video, its_defaults=True) if peer_ok else None
                run_detector(detector, images[: detector.batch_size])  # warm the runtime on real frames
                variants.append(
                    {"key": (_label(runtime, detector), imgsz, detector.batch_size), "config": config,
                     "detector": detector, "peer": peer, "peer_defaults": peer_defaults,
                     "slice_config": config.with_overrides({"source.threads": False})}
                )  # fmt: skip
                print(f"ready: {runtime} imgsz {imgsz} ({detector.model_path.name}, batch {detector.batch_size})")

    passes: dict[tuple[str, int, int], dict[str, list[dict[str, Any]]]] = {}
    decode_runs = []
    for repeat in range(args.repeats):
        decode_runs.append(run_decode(video, len(frames)))
        for variant in variants:
            key = variant["key"]
            jobs = [
                ("detector", lambda v=variant: run_detector(v["detector"], images)),
                ("spine", lambda v=variant: run_spine(video, v["config"], v["detector"])),
            ]
            if args.slice_decode:
                jobs.append(
                    ("spine_slice_decode", lambda v=variant: run_spine(video, v["slice_config"], v["detector"]))
                )
            if variant["peer_defaults"] is not None:
                shipped = variant["peer_defaults"]
                jobs.append(("peer_defaults", lambda p=shipped: p.run(len(frames), torch_threads=None)))
            if variant["peer"] is not None:
                peer = variant["peer"]
                jobs.append(("peer", lambda p=peer: p.run(len(frames), torch_threads=p.shipped_threads)))
                if variant["detector"].runtime == "torch" and peer.shipped_threads != torch.get_num_threads():
                    threads = torch.get_num_threads()
                    jobs.append(("peer_all_threads", lambda p=peer, t=threads: p.run(len(frames), torch_threads=t)))
            shift = repeat % len(jobs)
            for name, job in jobs[shift:] + jobs[:shift]:
                outcome = job()
                passes.setdefault(key, {}).setdefault(name, []).append(outcome)
                print(
                    f"  repeat {repeat + 1}: {key[0]:14s} {key[1]} batch {key[2]} {name:17s} {outcome['fps']:7.2f} fps",
                    flush=True,
                )

    decode_fps = _bench.median(run["fps"] for run in decode_runs)
    rows = []
    for variant in variants:
        key = variant["key"]
        runs = passes[key]
        row: dict[str, Any] = {"runtime": key[0], "imgsz": key[1], "batch": key[2], "frames": len(frames),
                               "decode_fps": decode_fps}  # fmt: skip
        for name in ("detector", "spine", "spine_slice_decode", "peer_defaults", "peer", "peer_all_threads"):
            if name in runs:
                row[f"{name}_fps"] = _bench.median(run["fps"] for run in runs[name])
                row[f"{name}_best_fps"] = max(run["fps"] for run in runs[name])
                row[f"{name}_cpu_ms_per_frame"] = _bench.median(run["cpu_ms"] for run in runs[name])

        def ratio(top: str, bottom: str, runs: dict = runs) -> float | None:
            if top not in runs or bottom not in runs:
                return None
            return _bench.median(a["fps"] / b["fps"] for a, b in zip(runs[top], runs[bottom], strict=True))

        row["spine_over_detector"] = ratio("spine", "detector")
        row["spine_over_detector_cpu"] = _bench.median(
            d["cpu_ms"] / s["cpu_ms"] for s, d in zip(runs["spine"], runs["detector"], strict=True)
        )
        row["spine_over_peer_defaults"] = ratio("spine", "peer_defaults")
        row["spine_over_peer"] = ratio("spine", "peer")
        row["spine_over_peer_all_threads"] = ratio("spine", "peer_all_threads")
        row["spine_tracked_detections"] = runs["spine"][0]["tracked_detections"]
        row["spine_tracklets"] = runs["spine"][0]["tracklets"]
        if "peer" in runs:
            row["peer_defaults_tracked_detections"] = runs["peer_defaults"][0]["tracked_detections"]
            row["peer_tracked_detections"] = runs["peer"][0]["tracked_detections"]
            row["peer_torch_threads"] = runs["peer"][0]["torch_threads"]
        row["runs"] = runs
        rows.append(row)

    print(f"\nmedians of {args.repeats} interleaved repeats; ratios are medians of per-repeat ratios")
    print("(CPU time: detector CPU ms per frame / spine CPU ms per frame, all threads of this process)")
    print(_bench.format_table(rows, COLUMNS))
    for row in rows:
        print(
            f"  {row['runtime']} {row['imgsz']} batch {row['batch']}: spine kept {row['spine_tracked_detections']} "
            f"tracked detections in {row['spine_tracklets']} tracklets; "
            f"peer kept {row.get('peer_tracked_detections', '-')}, "
            f"peer with its defaults {row.get('peer_defaults_tracked_detections', '-')}"
        )
    _bench.write_json(
        args.json,
        {
            "machine": info,
            "video": str(video),
            "frames": len(frames),
            "repeats": args.repeats,
            "decode_runs": decode_runs,
            "rows": rows,
        },  # fmt: skip
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

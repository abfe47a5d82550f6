"""Videos per hour of ``streamreid batch`` with 1 and 2 workers, on the local pool and on a local Ray cluster.

Four clips are cut from the sample street film (PyAV); each configuration processes all
four into a fresh batch folder, with the real detector and OSNet. Configurations are
interleaved over ``--repeats`` rounds; the table gives medians.

Run: ``python benchmarks/batch_throughput.py [--frames 150] [--repeats 2] [--imgsz 640] [--runtime torch]
[--json out.json]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import _bench  # noqa: E402
from cross_video import REID_WEIGHTS, cut_video  # noqa: E402

CONFIGURATIONS = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))


def clips(folder: Path, *, count: int, frames: int) -> list[Path]:
    """``count`` consecutive cuts of ``frames`` frames from the sample film."""
    film = _bench.sample_video()
    return [cut_video(film, folder / f"clip{i}.mp4", i * frames, (i + 1) * frames) for i in range(count)]


def run_once(engine_name: str, workers: int, videos: list[Path], out: Path, config) -> tuple[float, int]:
    """Seconds for the whole batch (engine start included) and the number of videos completed."""
    from streamreid.batch.engines import LocalEngine, RayEngine
    from streamreid.batch.videos import run_batch

    shutil.rmtree(out, ignore_errors=True)
    engine = LocalEngine(workers=workers) if engine_name == "local" else RayEngine(workers=workers)
    start = time.perf_counter()
    result = run_batch([str(v) for v in videos], out_dir=out, config=config, engine=engine, match=False)
    seconds = time.perf_counter() - start
    failed = [f"{o.name}: {o.error}" for o in result.failed]
    if failed:
        print("failed:", failed)
    return seconds, sum(o.status == "complete" for o in result.outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/streamreid-batch-throughput"))
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--runtime", default="torch", help="detector runtime (torch, onnx, openvino)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from streamreid.config import Config

    info = _bench.machine()
    videos = clips(args.work / "clips", count=4, frames=args.frames)
    overrides = {"detector.imgsz": args.imgsz, "detector.runtime": args.runtime}
    if REID_WEIGHTS.is_file():
        overrides.update({"reid.weights": str(REID_WEIGHTS), "reid.embedder": "osnet"})
    config = Config().with_overrides(overrides)
    run_once("local", 1, videos[:1], args.work / "warm-up", config)  # model exports and caches, not timed
    seconds: dict[tuple[str, int], list[float]] = {c: [] for c in CONFIGURATIONS}
    for round_ in range(args.repeats):
        for engine, workers in CONFIGURATIONS if round_ % 2 == 0 else CONFIGURATIONS[::-1]:
            elapsed, done = run_once(engine, workers, videos, args.work / f"{engine}-{workers}", config)
            print(f"round {round_}: {engine} x{workers}: {elapsed:.1f} s, {done}/4 complete", flush=True)
            seconds[(engine, workers)].append(elapsed)
    rows = []
    for (engine, workers), values in seconds.items():
        median = _bench.median(values)
        single = _bench.median(seconds[(engine, 1)])
        rows.append({"engine": engine, "workers": workers, "seconds": median, "videos_per_hour": 4 * 3600 / median,
                     "speedup": single / median, "repeats": len(values)})  # fmt: skip
    print(_bench.describe_machine(info))
    print(f"4 clips x {args.frames} frames of the sample film, imgsz {args.imgsz}, runtime {args.runtime}")
    print(_bench.format_table(rows, [("engine", "engine"), ("workers", "workers"), ("seconds", "batch s (median)"),
                                     ("videos_per_hour", "videos/hour"), ("speedup", "vs 1 worker"),
                                     ("repeats", "repeats")]))  # fmt: skip
    _bench.write_json(args.json, {"machine": info, "frames": args.frames, "imgsz": args.imgsz,
                                  "runtime": args.runtime, "rows": rows,
                                  "seconds": {f"{e}-{w}": v for (e, w), v in seconds.items()}})  # fmt: skip


if __name__ == "__main__":
    main()

"""Peak memory of the full pipeline on a synthetic stream at 1x and 10x the length.

People keep coming and going: a new walker enters every ``--every`` frames and crosses
the 640x360 picture in about 5 s, so about 4 are on screen at any time and the number of
distinct people grows with the length. The full pipeline runs (crops, quality, Zarr
store, ReID with the weights-free fallback embedder, report) with the scripted
ground-truth detector from ``tests/synthetic.py`` (no YOLO: the benchmark is about what
streamreid keeps in memory, not the detector's fixed footprint).

Each length runs in a FRESH Python process, started by a parent that imports nothing heavy
(Linux carries the parent's peak RSS into a forked child's ``ru_maxrss``; the videos are
written by yet another process for the same reason). Each run reports:

* ``ru_maxrss`` at the end (``resource.getrusage(RUSAGE_SELF)``: the peak of the whole run);
* RSS right after the imports (the fixed cost of torch, ultralytics, zarr ...);
* RSS sampled with psutil every ``--sample-interval`` seconds in a thread, to show it
  stays flat while the video plays: the peak over the stream part, and RSS at 10 %, 25 %,
  50 %, 75 % and 100 % of the frames.

Usage::

    python benchmarks/memory.py [--frames 600 6000] [--every 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))  # tests/synthetic.py: the synthetic scenes and the scripted detector
FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)
WIDTH, HEIGHT, FPS = 640, 360, 25.0


def come_and_go(num_frames: int, *, every: int, seed: int = 0) -> Any:
    """A scenario where a new walker enters every ``every`` frames and leaves ~5 s later."""
    import numpy as np
    from synthetic import Actor, Scenario

    rng = np.random.default_rng(seed)
    actors = []
    crossing = round(5 * FPS)
    for identity, start in enumerate(range(0, num_frames, every)):
        height = int(rng.integers(90, 140))
        width = int(height * rng.uniform(0.38, 0.46))
        lane = float(rng.uniform(0.35, 0.8) * HEIGHT)
        left, right = -width / 2.0, WIDTH + width / 2.0
        x0, x1 = (left, right) if identity % 2 == 0 else (right, left)
        actors.append(
            Actor(
                identity=identity,
                top_bgr=tuple(int(v) for v in rng.integers(0, 256, 3)),
                bottom_bgr=tuple(int(v) for v in rng.integers(0, 256, 3)),
                width=width,
                height=height,
                keyframes=((start, x0, lane), (start + crossing, x1, lane)),
                visible=((start, start + crossing),),
            )
        )
    return Scenario(width=WIDTH, height=HEIGHT, fps=FPS, num_frames=num_frames, actors=tuple(actors))


def rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


class ChunkedEmbedder:
    """An embedder that hands crops to another ``chunk`` at a time (bounds the fallback's temporaries)."""

    def __init__(self, embedder: Any, chunk: int) -> None:
        self.embedder = embedder
        self.chunk = chunk
        self.kind, self.dim, self.name = embedder.kind, embedder.dim, f"{embedder.name}, chunks of {chunk}"
        self.weights, self.device = getattr(embedder, "weights", None), getattr(embedder, "device", "cpu")

    def embed(self, crops: Any) -> Any:
        import numpy as np

        parts = [self.embedder.embed(crops[i : i + self.chunk]) for i in range(0, len(crops), self.chunk)]
        return np.concatenate(parts) if parts else self.embedder.embed(crops)


def child(frames: int, every: int, video: Path, interval: float, *, chunk: int) -> dict[str, Any]:
    """Run the full pipeline once in this (fresh) process and report its memory.

    ``chunk`` > 0 embeds crops that many at a time (a what-if for the fallback embedder,
    which otherwise gets all persons' crops in one call).
    """
    import numpy as np  # noqa: F401 - part of the import baseline
    from synthetic import ScriptedDetector

    import streamreid.reid.embed  # noqa: F401 - imported by the ReID stage anyway; count it in the baseline
    import streamreid.report.html  # noqa: F401
    import streamreid.report.webp  # noqa: F401
    import streamreid.run.store  # noqa: F401
    import streamreid.run.store_reader  # noqa: F401
    import streamreid.stream.reservoir  # noqa: F401
    from streamreid.config import Config
    from streamreid.pipeline import process

    baseline = rss_bytes()
    scenario = come_and_go(frames, every=every)
    detector = ScriptedDetector(scenario, jitter_px=1.5, drop_rate=0.02)
    config = Config().with_overrides({"reid.embedder": "fallback"})
    embedder = None
    if chunk > 0:
        from streamreid.reid.fallback import FallbackEmbedder

        embedder = ChunkedEmbedder(FallbackEmbedder(), chunk)

    progress = {"frames": 0, "streaming": True}
    samples: list[tuple[float, int, int, bool]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter(), progress["frames"], rss_bytes(), progress["streaming"]))
            stop.wait(interval)

    def on_progress(count: int) -> None:
        progress["frames"] = count
        if count >= frames:
            progress["streaming"] = False

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory(prefix="memory-") as folder:
        result = process(video, out_dir=Path(folder) / "run", config=config, detector=detector, embedder=embedder,
                         progress=False, on_progress=on_progress)  # fmt: skip
    stop.set()
    sampler.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux

    stream = [s for s in samples if s[3] and s[1] > 0]
    at_fraction = {}
    for fraction in FRACTIONS:
        wanted = fraction * frames
        reached = [s for s in stream if s[1] >= wanted] or stream[-1:]
        at_fraction[f"{int(fraction * 100)}%"] = reached[0][2] if reached else None
    return {
        "embedder": result.embedder,
        "chunk": chunk,
        "frames": result.frames_processed,
        "actors": len(scenario.actors),
        "tracklets": result.tracklets,
        "persons": result.persons,
        "baseline_rss": baseline,
        "stream_peak_rss": max((s[2] for s in stream), default=None),
        "peak_rss": peak,
        "rss_at": at_fraction,
        "samples": [(round(t - samples[0][0], 2), f, r) for t, f, r, _ in samples],
        "timings": result.timings,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[600, 6000], help="stream lengths to compare")
    parser.add_argument("--every", type=int, default=30, help="a new walker every N frames")
    parser.add_argument("--sample-interval", type=float, default=0.1, help="seconds between RSS samples")
    parser.add_argument(
        "--fallback-chunk",
        type=int,
        default=128,
        help="also run with the fallback embedder fed this many crops at a time (0: only as shipped)",
    )
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # internal: measure on VIDEO
    parser.add_argument("--write-video", default=None, help=argparse.SUPPRESS)  # internal: write VIDEO
    args = parser.parse_args()
    logging.getLogger("streamreid").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")

    if args.write_video:
        from synthetic import write_video

        write_video(come_and_go(args.frames[0], every=args.every), Path(args.write_video))
        return 0
    if args.child:
        import _bench

        outcome = child(args.frames[0], args.every, Path(args.child), args.sample_interval, chunk=args.fallback_chunk)
        outcome["machine"] = _bench.machine()
        print("RESULT " + json.dumps(outcome))
        return 0

    import _bench  # cheap: no torch in this process

    rows = []
    with tempfile.TemporaryDirectory(prefix="memory-videos-") as folder:
        for frames in args.frames:
            video = Path(folder) / f"come_and_go_{frames}.mp4"
            common = ["--frames", str(frames), "--every", str(args.every)]
            start = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--write-video", str(video), *common], check=True)
            print(f"wrote {frames} frames ({video.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - start:.0f} s")
            for chunk in [0] + ([args.fallback_chunk] if args.fallback_chunk > 0 else []):
                command = [sys.executable, __file__, "--child", str(video), *common,
                           "--sample-interval", str(args.sample_interval), "--fallback-chunk", str(chunk)]  # fmt: skip
                start = time.perf_counter()
                completed = subprocess.run(command, capture_output=True, text=True, env={**os.environ}, check=False)
                lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
                if completed.returncode != 0 or not lines:
                    print(completed.stdout[-3000:], completed.stderr[-3000:], sep="\n")
                    raise SystemExit(f"the child run of {frames} frames failed")
                outcome = json.loads(lines[-1].removeprefix("RESULT "))
                outcome["wall_s"] = time.perf_counter() - start
                if not rows:
                    print(_bench.describe_machine(outcome["machine"]))
                rows.append(outcome)
                mib = 2**20
                print(
                    f"  {frames} frames, embed chunk {chunk or 'all'}: peak {outcome['peak_rss'] / mib:.0f} MiB, "
                    f"stream part peak {outcome['stream_peak_rss'] / mib:.0f} MiB, after imports "
                    f"{outcome['baseline_rss'] / mib:.0f} MiB, {outcome['persons']} persons, {outcome['wall_s']:.0f} s",
                    flush=True,
                )

    mib = 2**20
    table = []
    for row in rows:
        item = {
            "embedding": f"chunks of {row['chunk']}" if row["chunk"] else "as shipped",
            "reid_s": row["timings"].get("reid"),
            "frames": row["frames"],
            "people": row["actors"],
            "persons": row["persons"],
            "imports": row["baseline_rss"] / mib,
            "stream_peak": row["stream_peak_rss"] / mib,
            "peak": row["peak_rss"] / mib,
        }
        item.update({key: value / mib for key, value in row["rss_at"].items() if value is not None})
        table.append(item)
    columns = [("frames", "frames"), ("embedding", "fallback embedding"), ("people", "people"),
               ("persons", "persons found"), ("reid_s", "reid stage s"),
               ("imports", "RSS after imports MiB")]  # fmt: skip
    columns += [(f"{int(f * 100)}%", f"RSS at {int(f * 100)}% MiB") for f in FRACTIONS]
    columns += [("stream_peak", "stream peak MiB"), ("peak", "peak (ru_maxrss) MiB")]
    print("\nfresh process per run; RSS at x% = first sample after x% of the frames were processed")
    print(_bench.format_table(table, columns))
    for chunk in sorted({row["chunk"] for row in rows}):
        same = [row for row in rows if row["chunk"] == chunk]
        if len(same) >= 2:
            first, last = same[0], same[-1]
            how = f"in chunks of {chunk}" if chunk else "as shipped"
            print(
                f"{last['frames']}/{first['frames']} frames, embedding {how}: "
                f"peak ratio {last['peak_rss'] / first['peak_rss']:.3f}, "
                f"stream-part peak ratio {last['stream_peak_rss'] / first['stream_peak_rss']:.3f}"
            )
    _bench.write_json(args.json, {"machine": rows[0]["machine"], "every": args.every, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())

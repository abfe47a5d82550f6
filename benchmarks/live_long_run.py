"""An endless camera, accelerated: is memory, disk and the periodic analysis flat over an hour of video?

A synthetic live stream (people keep walking through the picture, a new one every
``--every`` seconds, each in view for ``--life`` seconds) is fed to the real pipeline
with the scripted ground-truth detector from ``tests/synthetic.py``, as fast as the
CPU allows: an hour of video takes minutes. Frames are rendered in memory rather than
decoded (decoding an hour of video is not what is measured; the single pass, the
store, the checkpoints and the periodic analysis are). Everything else is the real
thing: tracking, crops, the Zarr store with its retention, the periodic refresh in
its background thread (fallback embedder, WebPs, report).

Two variants, each in its own process:

* ``bounded``: ``store.retain_s`` and ``report.window_s`` of 10 minutes;
* ``unbounded``: keep and analyse everything, no gallery cap (the behaviour before issue 11).

At 1, 10, 30 and 60 minutes of video it records the process RSS (now and its peak so
far), the store's size on disk and the duration of the latest periodic refresh; after
each refresh, its duration, persons and the RSS.

Usage::

    python benchmarks/live_long_run.py [--minutes 60] [--fps 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _bench import describe_machine, format_table, machine, write_json  # noqa: E402

WIDTH, HEIGHT = 320, 180
CHECKPOINTS_MIN = (1, 10, 30, 60)
VARIANTS = {
    "bounded": {"store.retain_s": 600.0, "report.window_s": 600.0},
    "unbounded": {"report.window_s": 1e9, "report.max_tracklets": 10**9},
}


class EndlessStreet:
    """People walking across a 320x180 street forever; ``boxes(frame)`` costs O(people in view)."""

    def __init__(self, *, fps: float, every_s: float, life_s: float, seed: int = 0) -> None:
        import numpy as np

        self.fps, self.every, self.life = fps, max(1, round(every_s * fps)), max(2, round(life_s * fps))
        rng = np.random.default_rng(seed)
        self.background = rng.integers(60, 90, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
        self._rng_seed = seed

    def _actor(self, identity: int) -> tuple[float, float, float, float, tuple[int, int, int]]:
        import numpy as np

        rng = np.random.default_rng([self._rng_seed, identity])
        height = float(rng.uniform(50, 80))
        lane = float(rng.uniform(0.3, 0.75) * HEIGHT)
        colour = tuple(int(c) for c in rng.integers(40, 255, size=3))
        return height, height * 0.42, lane, (1.0 if identity % 2 == 0 else -1.0), colour

    def boxes(self, frame: int) -> tuple[Any, Any]:
        """Boxes ``(N, 4)`` and identities of the people in view at ``frame``."""
        import numpy as np

        first = max(0, (frame - self.life) // self.every + 1)
        rows, ids = [], []
        for identity in range(first, frame // self.every + 1):
            age = (frame - identity * self.every) / self.life
            if not 0 <= age <= 1:
                continue
            height, width, lane, direction, _ = self._actor(identity)
            x = (age if direction > 0 else 1 - age) * (WIDTH + width) - width / 2
            rows.append([x - width / 2, lane - height / 2, x + width / 2, lane + height / 2])
            ids.append(identity)
        xyxy = np.clip(np.array(rows, dtype=np.float32).reshape(-1, 4), 0, [WIDTH, HEIGHT, WIDTH, HEIGHT])
        return xyxy, np.array(ids, dtype=np.int64)

    def image(self, frame: int) -> Any:
        """The picture: background and a two-colour figure per person."""
        import cv2

        picture = self.background.copy()
        xyxy, ids = self.boxes(frame)
        for (x1, y1, x2, y2), identity in zip(xyxy.astype(int), ids, strict=True):
            colour = self._actor(int(identity))[4]
            middle = (y1 + y2) // 2
            cv2.rectangle(picture, (x1, y1), (x2, middle), colour, -1)
            cv2.rectangle(picture, (x1, middle), (x2, y2), tuple(255 - c for c in colour), -1)
        return picture


class EndlessStream:
    """Stands in for ``VideoStream``: a live source that yields ``frames`` rendered frames."""

    def __init__(self, street: EndlessStreet, frames: int) -> None:
        from streamreid.types import VideoInfo

        self.street, self.frames = street, frames
        self.info = VideoInfo(source="rtsp://***@street/live", width=WIDTH, height=HEIGHT, fps=street.fps,
                              is_live=True, codec="h264")  # fmt: skip
        self.decoded_frames = 0

    def __enter__(self) -> EndlessStream:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def scale_for_detector(self, size: tuple[int, int] | None, *, detect_every: int | None = 1) -> None:
        """Frames are rendered whole (the scripted detector takes them as they are): nothing to scale."""

    def __iter__(self) -> Any:
        from streamreid.types import Frame

        for index in range(self.frames):
            self.decoded_frames += 1
            yield Frame(index=index, time=index / self.street.fps, image=self.street.image(index))


class StreetDetector:
    """The street's ground truth as detections, with a little jitter."""

    def __init__(self, street: EndlessStreet) -> None:
        from streamreid.weights import ResolvedWeights

        self.street = street
        self.weights = ResolvedWeights(path=None, origin="scripted", detail="scripted ground truth (benchmark)")
        self.device = "cpu"

    def iter_detections(self, frames: Any, *, detect_stride: int = 1) -> Any:
        import numpy as np
        import supervision as sv

        for frame in frames:
            xyxy, _ = self.street.boxes(frame.index)
            noise = np.random.default_rng(frame.index).normal(0, 1.0, size=xyxy.shape).astype(np.float32)
            yield frame, sv.Detections(xyxy=xyxy + noise, confidence=np.full(len(xyxy), 0.9, np.float32),
                                       class_id=np.zeros(len(xyxy), int))  # fmt: skip


def child(variant: str, minutes: float, fps: float, every_s: float, life_s: float) -> dict[str, Any]:
    """One run in this process; returns the measurements."""
    import psutil

    import streamreid.pipeline as pipeline
    from streamreid.config import Config
    from streamreid.run.store import _directory_size

    street = EndlessStreet(fps=fps, every_s=every_s, life_s=life_s)
    frames = round(minutes * 60 * fps)
    pipeline.open_source = lambda source, **options: EndlessStream(street, frames)
    config = Config().with_overrides({"reid.embedder": "fallback", "report.every_s": 5.0, "source.realtime": False,
                                      "report.max_persons": 20, **VARIANTS[variant]})  # fmt: skip
    process = psutil.Process()
    refreshes: list[dict[str, float]] = []
    samples: list[dict[str, float]] = []
    marks = [round(m * 60 * fps) for m in CHECKPOINTS_MIN if m <= minutes]
    out = Path(tempfile.mkdtemp(prefix=f"live_{variant}_"))
    started = time.perf_counter()

    def on_progress(count: int) -> None:
        if marks and count >= marks[0]:
            marks.pop(0)
            latest = refreshes[-1] if refreshes else {}
            samples.append({"minutes": count / fps / 60, "rss_mb": process.memory_info().rss / 2**20,
                            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                            "store_mb": _directory_size(out / "store.zarr") / 1e6,
                            "refresh_s": latest.get("seconds"), "refresh_at_min": latest.get("minutes"),
                            "wall_s": time.perf_counter() - started})  # fmt: skip

    def on_refresh(refresh: Any) -> None:
        rss_mb = process.memory_info().rss / 2**20
        refreshes.append({"minutes": refresh.progress.seconds_of_video / 60, "seconds": refresh.seconds,
                          "persons": refresh.summary.persons, "rss_mb": rss_mb})  # fmt: skip

    result = pipeline.process("rtsp://street/live", out_dir=out, config=config, detector=StreetDetector(street),
                              progress=False, on_progress=on_progress, on_refresh=on_refresh)  # fmt: skip
    meta = json.loads((out / "run.json").read_text())
    return {"variant": variant, "samples": samples, "refreshes": refreshes, "persons": result.persons,
            "tracklets": result.tracklets, "retention": meta.get("retention"), "timings": result.timings,
            "run_dir": str(out)}  # fmt: skip


def main() -> int:
    """Run each variant in a fresh process, print a table, record JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="minutes of video per run")
    parser.add_argument("--fps", type=float, default=5.0, help="frame rate of the synthetic camera")
    parser.add_argument("--every", type=float, default=6.0, help="seconds between two people entering")
    parser.add_argument("--life", type=float, default=20.0, help="seconds each person stays in view")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--json", type=Path, help="write the measurements here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.minutes, args.fps, args.every, args.life)))
        return 0
    runs = []
    for variant in args.variants:
        command = [sys.executable, __file__, "--child", variant, "--minutes", str(args.minutes), "--fps",
                   str(args.fps), "--every", str(args.every), "--life", str(args.life)]  # fmt: skip
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    info = machine()
    print(describe_machine(info))
    rows = [{"variant": run["variant"], **sample} for run in runs for sample in run["samples"]]
    columns = [("variant", "variant"), ("minutes", "video min"), ("rss_mb", "RSS MB"), ("peak_rss_mb", "peak RSS MB"),
               ("store_mb", "store MB"),
               ("refresh_s", "last refresh s"), ("refresh_at_min", "refresh at min"), ("wall_s", "wall s")]  # fmt: skip
    print(format_table(rows, columns))
    for run in runs:
        print(f"{run['variant']}: {run['tracklets']} tracklets, {run['persons']} persons in the final analysis,"
              f" retention {run['retention']}")  # fmt: skip
    write_json(args.json, {"machine": info, "args": {k: v for k, v in vars(args).items() if k != "json"},
                           "runs": runs})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The same person across videos, measured on PETS09-S2L1 cut into two "cameras".

Frames 0-399 become camera 1 and frames 400-794 camera 2 (cut with PyAV). Both go
through ``streamreid batch`` (real YOLO detector, OSNet x0.25 MSMT17 from
``../shared/models/reid/``), which writes ``cross_video_matches.json``. Our persons
are mapped to the humans of ``persons.json`` by box overlap with ``gt.txt``; a
predicted pair is right when both persons are the same human. Reported: pair
precision and recall (all (person in camera 1, person in camera 2) pairs of one
human), and the share of humans seen by both cameras that get at least one match.

Run: ``python benchmarks/cross_video.py [--imgsz auto|640|1280] [--json out.json]``.
tests/batch/test_crossvideo.py runs the same evaluation with ground-truth boxes as detector.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PETS = ROOT.parent / "shared" / "data" / "pets09-s2l1"
REID_WEIGHTS = ROOT.parent / "shared" / "models" / "reid" / "osnet_x0_25_msmt17.pth"
CUTS = {"cam1": (0, 400), "cam2": (400, 795)}  # [first, end) 0-based frame indices of vtest.avi
MIN_IOU = 0.5


def cut_video(source: Path, dest: Path, first: int, end: int) -> Path:
    """Frames ``[first, end)`` of ``source`` re-encoded into ``dest`` (H.264, near lossless), with PyAV."""
    import av

    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part{dest.suffix}")
    with av.open(str(source)) as reader, av.open(str(tmp), mode="w") as writer:
        video = reader.streams.video[0]
        rate = Fraction(video.average_rate or 10).limit_denominator(1001)
        stream = writer.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "14"}
        for index, frame in enumerate(reader.decode(video)):
            if index >= end:
                break
            if index >= first:
                out = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
                out.pts, out.time_base = index - first, 1 / rate
                writer.mux(stream.encode(out))
        writer.mux(stream.encode(None))
    tmp.replace(dest)
    return dest


def cut_cameras(folder: Path) -> dict[str, Path]:
    """The two camera clips in ``folder`` (made once)."""
    return {name: cut_video(PETS / "vtest.avi", folder / f"{name}.mp4", *span) for name, span in CUTS.items()}


def load_gt() -> tuple[dict[int, list[tuple[int, np.ndarray]]], dict[int, int]]:
    """Visible gt boxes per 0-based frame (``(track id, xyxy)``), and each gt track's human."""
    boxes: dict[int, list[tuple[int, np.ndarray]]] = {}
    for line in (PETS / "gt.txt").read_text().splitlines():
        frame, track, x, y, w, h, flag = (float(v) for v in line.split(",")[:7])
        if flag == 0:
            continue
        boxes.setdefault(int(frame) - 1, []).append((int(track), np.array([x, y, x + w, y + h])))
    persons = json.loads((PETS / "persons.json").read_text())["persons"]
    human_of = {int(t): int(p["human"]) for p in persons for t in p["gt_track_ids"]}
    return boxes, human_of


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = np.maximum(a[:2], b[:2])
    x2, y2 = np.minimum(a[2:], b[2:])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def humans_of_run(run_dir: Path, offset: int, gt: dict, human_of: dict[int, int]) -> dict[int, int | None]:
    """Each person of a run -> the human most of its boxes overlap (IoU ≥ 0.5), or None."""
    out: dict[int, int | None] = {}
    with np.load(run_dir / "canonical_persons.npz") as tracks:
        for pid in (int(p) for p in tracks["person_ids"]):
            votes: Counter[int] = Counter()
            frames, boxes = tracks[f"frame_numbers_{pid}"], tracks[f"bboxes_{pid}"]
            for frame, box in zip(frames, boxes, strict=True):
                candidates = [(_iou(box, g), t) for t, g in gt.get(int(frame) + offset, [])]
                best = max(candidates, default=(0.0, -1))
                if best[0] >= MIN_IOU:
                    votes[human_of[best[1]]] += 1
            human, count = votes.most_common(1)[0] if votes else (None, 0)
            out[pid] = human if count >= 0.5 * len(frames) else None
    return out


@dataclass(frozen=True)
class Score:
    """Precision and recall of the cross-video matches against the humans."""

    predicted: int
    correct: int
    true_pairs: int
    unjudged: int
    humans_in_both: int
    humans_found: int

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.true_pairs if self.true_pairs else 1.0

    @property
    def human_recall(self) -> float:
        return self.humans_found / self.humans_in_both if self.humans_in_both else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "human_recall": round(self.human_recall, 4)}  # fmt: skip


def score(batch_dir: Path) -> Score:
    """Score ``batch_dir/cross_video_matches.json`` against the ground truth."""
    gt, human_of = load_gt()
    humans = {name: humans_of_run(batch_dir / name, CUTS[name][0], gt, human_of) for name in CUTS}
    matches = json.loads((batch_dir / "cross_video_matches.json").read_text())["matches"]
    correct = unjudged = 0
    found: set[int] = set()
    for match in matches:
        (run_a, run_b), (pa, pb) = match["runs"], match["persons"]
        ha, hb = humans[run_a][pa], humans[run_b][pb]
        if ha is None or hb is None:
            unjudged += 1
        elif ha == hb:
            correct += 1
            found.add(ha)
    cam1, cam2 = (Counter(h for h in humans[name].values() if h is not None) for name in CUTS)
    true_pairs = sum(cam1[h] * cam2[h] for h in cam1)
    in_both = {h for h in cam1 if cam2[h]}
    return Score(predicted=len(matches) - unjudged, correct=correct, true_pairs=true_pairs, unjudged=unjudged,
                 humans_in_both=len(in_both), humans_found=len(found & in_both))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/streamreid-cross-video"))
    parser.add_argument("--imgsz", default="auto", help="detector input size, or auto (the default)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    import _bench

    from streamreid.batch.engines import LocalEngine
    from streamreid.batch.videos import run_batch
    from streamreid.config import Config

    clips = cut_cameras(args.work / "clips")
    config = Config().with_overrides({"reid.weights": str(REID_WEIGHTS), "reid.embedder": "osnet",
                                      "detector.imgsz": args.imgsz})  # fmt: skip
    out = args.work / f"batch-{args.imgsz}"
    start = time.perf_counter()
    result = run_batch([str(p) for p in clips.values()], out_dir=out, config=config, engine=LocalEngine(workers=1))
    seconds = time.perf_counter() - start
    found = score(out)
    info = _bench.machine()
    print(_bench.describe_machine(info))
    for outcome in result.outcomes:
        print(f"{outcome.name}: {outcome.status} {outcome.persons} persons {outcome.error or ''}")
    print(json.dumps(found.to_dict(), indent=1))
    print(f"batch + matching: {seconds:.1f} s; index: {result.index}")
    _bench.write_json(args.json, {"machine": info, "imgsz": args.imgsz, "score": found.to_dict(), "seconds": seconds})


if __name__ == "__main__":
    main()

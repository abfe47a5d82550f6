"""Detector recall and precision on the development set (issue 19): which boxes a bigger detector would add.

For every real sequence of ``devset.py`` (PETS09-S2L1, PETS09-S3MF1, ADL-Rundle-6) and every detector setting
(``MODEL@IMGSZ``; ``MODEL`` is ``pose`` for the default yolo11n-pose, ``fall`` for the fall detector kept for
comparison, or a weights name or path), the detections of every frame are computed once in OpenVINO f32
(cached as ``identity.cached_detections`` does) and scored against the ground truth at IoU 0.5, at confidence
0.1 (streamreid's default) and 0.25: recall (one-to-one matches: a box over two people counts once), precision,
and recall of the *visible* people, of the *hidden* ones (a ground-truth box at least 60 % covered by another:
MOT15 annotates people walking behind others) and of the small ones (the least tall quarter of the boxes).
``MODEL@IMGSZ:NMS_IOU`` runs the detector at another NMS IoU threshold than ``detector.iou``'s 0.7.
``--timing N`` then measures each detector's CPU milliseconds per frame on the same ``N`` frames of
ADL-Rundle-6, the detectors taking turns frame by frame so that the load of a shared machine falls on all of
them alike; the ratio to the first detector is what to read.
Usage::

    python benchmarks/detector_recall.py --detectors pose@1280,pose@1920 --timing 40
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import devset  # noqa: E402
import identity  # noqa: E402
import numpy as np  # noqa: E402

from streamreid import evaluation  # noqa: E402

RUNTIME, PRECISION = "openvino", "f32"
CONFIDENCES = (0.1, 0.25)


NMS_IOU = 0.7
"""The detector's NMS IoU threshold by default (``detector.iou``); ``identity.cached_detections`` runs at it."""
HIDDEN = 0.6
"""A ground-truth box this much covered by another one is *hidden* (MOT15 annotates people behind people)."""


@dataclasses.dataclass(frozen=True)
class Spec:
    """One detector setting: ``MODEL@IMGSZ`` or ``MODEL@IMGSZ:NMS_IOU``."""

    model: str
    imgsz: int
    iou: float = NMS_IOU

    @property
    def label(self) -> str:
        """How the tables name it."""
        return f"{Path(self.model).stem}@{self.imgsz}" + ("" if self.iou == NMS_IOU else f" nms{self.iou:g}")


def parse_detector(spec: str) -> Spec:
    """``MODEL@IMGSZ[:NMS_IOU]`` as a :class:`Spec`."""
    head, _, iou = spec.partition(":")
    model, _, size = head.rpartition("@")
    try:
        return Spec(model, int(size), float(iou) if iou else NMS_IOU)
    except ValueError:
        raise SystemExit(f"detector {spec!r}: expected MODEL@IMGSZ[:NMS_IOU], e.g. pose@1280:0.8") from None


def hidden_share(gt: np.ndarray) -> np.ndarray:
    """Per ground-truth box, the largest share of its area that one other box of the same frame covers."""
    share = np.zeros(len(gt))
    for frame in np.unique(gt[:, 0]):
        rows = np.nonzero(gt[:, 0] == frame)[0]
        x1, y1 = gt[rows, 2], gt[rows, 3]
        x2, y2 = x1 + gt[rows, 4], y1 + gt[rows, 5]
        wide = np.clip(np.minimum(x2[:, None], x2[None]) - np.maximum(x1[:, None], x1[None]), 0, None)
        tall = np.clip(np.minimum(y2[:, None], y2[None]) - np.maximum(y1[:, None], y1[None]), 0, None)
        covered = wide * tall / (gt[rows, 4] * gt[rows, 5])[:, None]
        np.fill_diagonal(covered, 0.0)
        share[rows] = covered.max(axis=1)
    return share


def recall_at(gt: np.ndarray, rows: np.ndarray, *, hidden: np.ndarray) -> dict[str, float]:
    """Recall and precision at IoU 0.5; recall of the visible people, of the hidden ones and of the smallest quarter."""
    scores = evaluation.box_tightness(gt, rows)
    short = gt[:, 5] <= np.percentile(gt[:, 5], 25)
    part = {
        name: evaluation.box_tightness(gt[mask], rows)["recall"] if mask.any() else float("nan")
        for name, mask in (("visible_recall", ~hidden), ("hidden_recall", hidden), ("small_recall", short))
    }
    return {"recall": scores["recall"], "precision": scores["precision"], **part}  # fmt: skip


def detections(video: Path, spec: Spec) -> dict[str, Any]:
    """Every frame's detections of one setting in OpenVINO f32, cached (other NMS thresholds under their own key)."""
    if spec.iou == NMS_IOU:
        return identity.cached_detections(video, model=spec.model, imgsz=spec.imgsz, runtime=RUNTIME,
                                          precision=PRECISION)  # fmt: skip
    from streamreid.detect.detector import PersonDetector
    from streamreid.stream.sources import open_source

    name = f"{video.stem}-{Path(spec.model).stem}-{spec.imgsz}-{RUNTIME}-{PRECISION}-nms{spec.iou:g}.npz"
    path = identity.bench_cache() / "detections" / name
    if path.is_file():
        return dict(np.load(path, allow_pickle=False))
    detector = PersonDetector(model=identity.detector_path(spec.model), imgsz=spec.imgsz, iou=spec.iou,
                              confidence=0.05, runtime=RUNTIME, precision=PRECISION)  # fmt: skip
    frames, boxes, scores = [], [], []
    start = time.perf_counter()
    with open_source(video) as stream:
        for frame, found in detector.iter_detections(stream):
            frames.append(np.full(len(found), frame.index))
            boxes.append(found.xyxy)
            scores.append(found.confidence)
        count = stream.decoded_frames
    data = {"frame_index": np.concatenate(frames).astype(np.int64), "xyxy": np.concatenate(boxes).astype(np.float32),
            "confidence": np.concatenate(scores).astype(np.float32), "frames": np.array(count),
            "class_name": np.full(sum(len(f) for f in frames), "person", dtype="U16"),
            "seconds": np.array(time.perf_counter() - start)}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **data)
    return data


def sequence_rows(sequence: devset.Sequence, detectors: list[Spec]) -> list[dict]:
    """One row per detector and confidence on one sequence."""
    rows = []
    for spec in detectors:
        data = detections(sequence.video, spec)
        frames = int(data["frames"])
        gt = sequence.gt[sequence.gt[:, 0] <= frames]
        hidden = hidden_share(gt) >= HIDDEN
        for confidence in CONFIDENCES:
            scores = recall_at(gt, identity.detection_rows(data, confidence=confidence), hidden=hidden)
            found = round(scores["recall"] * len(gt))
            rows.append({"sequence": sequence.name, "detector": spec.label, "conf": confidence,
                         **scores, "missed": f"{len(gt) - found}/{len(gt)}",
                         "cached ms/frame": 1000 * float(data["seconds"]) / max(frames, 1)})  # fmt: skip
    return rows


def interleaved_ms(video: Path, detectors: list[Spec], *, frames: int) -> list[dict[str, Any]]:
    """Median milliseconds per frame of each detector on the same frames, the detectors taking turns."""
    from streamreid.detect.detector import PersonDetector
    from streamreid.stream.sources import open_source

    built = [PersonDetector(model=identity.detector_path(d.model), imgsz=d.imgsz, iou=d.iou, runtime=RUNTIME,
                            precision=PRECISION, confidence=0.1) for d in detectors]  # fmt: skip
    images = []
    with open_source(video) as stream:
        for frame in stream:
            images.append(frame.image)
            if len(images) >= frames:
                break
    for detector in built:  # warm up: compile, first-call allocations
        detector.detect(images[:1])
    spent: list[list[float]] = [[] for _ in built]
    for image in images:
        for position, detector in enumerate(built):
            start = time.perf_counter()
            detector.detect([image])
            spent[position].append(1000 * (time.perf_counter() - start))
    base = float(np.median(spent[0]))
    return [{"detector": d.label, "median ms/frame": float(np.median(ms)), "ratio": float(np.median(ms)) / base,
             "frames": len(ms)} for d, ms in zip(detectors, spent, strict=True)]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--detectors", default="pose@1280", help="MODEL@IMGSZ list; the first is the baseline")
    parser.add_argument("--sequences", default=",".join(devset.REAL))
    parser.add_argument("--timing", type=int, default=0, help="frames of ADL-Rundle-6 for interleaved timing")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    detectors = [parse_detector(s) for s in args.detectors.split(",") if s]
    import _bench

    print(f"CPU: {_bench.cpu_model()}")
    rows = []
    for sequence in devset.sequences(args.sequences.split(",")):
        rows += sequence_rows(sequence, detectors)
        print(json.dumps(rows[-1], default=float), file=sys.stderr, flush=True)
    identity.print_table(rows, list(rows[0]))
    results: dict[str, Any] = {"recall": rows}
    if args.timing:
        timing = interleaved_ms(devset.real_sequence("adl-rundle-6").video, detectors, frames=args.timing)
        identity.print_table(timing, list(timing[0]))
        results["timing"] = timing
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

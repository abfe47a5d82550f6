"""The region detector (issue 23, ``detector.region``) on the development set: detections and identity, before/after.

For each real sequence of ``devset.py`` the real detector runs once over the frames ``detect_stride: auto``
detects, as the spine runs it with ``imgsz: auto`` (probe frames, the size choice, then the region choice and its
re-checks), with ``detector.region`` on at the given ``region_every`` / ``region_max_cost`` (cached per setting,
like ``identity.cached_detections``; whole BGR frames, as those caches are). Then, against the detections the
defaults gave before (the size ``imgsz: auto`` picks, whole frame, every frame):

* the detector against the ground truth (recall, precision, on the detected frames);
* streamreid's defaults over each set of detections at ``detect_stride: auto``, both embedders: tracklets,
  tracklet IDF1 / HOTA, persons, person IDF1 / HOTA (as ``crowd_links.py``).

Usage::

    python benchmarks/region_identity.py --out /tmp/region --json /tmp/region.json
    python benchmarks/region_identity.py --out /tmp/region --set detector.region_every=2 --set detector.detect_rate=10
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import devset  # noqa: E402
import identity  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from streamreid import evaluation  # noqa: E402


def region_detections(sequence: devset.Sequence, *, config: Any) -> dict[str, Any]:
    """The detections of the frames the spine detects, by the ``imgsz: auto`` detector with ``config``'s region."""
    from streamreid.pipeline import build_detector
    from streamreid.stream.detection_rate import detect_stride_for
    from streamreid.stream.sources import open_source

    stride = detect_stride_for(sequence.fps, detect_rate=config.detector.detect_rate)
    d = config.detector
    text = (f"{sequence.video.resolve()}|region|{d.region}|{d.region_every}|{d.region_max_cost}|{stride}|"
            f"{d.confidence}|{devset.RUNTIME}")  # fmt: skip
    path = identity.bench_cache() / "region" / f"{sequence.video.stem}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"
    if path.with_suffix(".npz").is_file():
        data = np.load(path.with_suffix(".npz"), allow_pickle=False)
        return {name: data[name] for name in data.files}
    runtime, precision = devset.RUNTIME
    config = config.with_overrides({"detector.runtime": runtime, "detector.precision": precision})
    frames, boxes, scores, detected = [], [], [], []
    with open_source(sequence.video) as stream:
        info = stream.info
        detector = build_detector(config, frame_shape=(info.height, info.width), fps=sequence.fps)
        start = time.perf_counter()
        for frame, found in detector.iter_detections(stream, detect_stride=stride):
            if found is None:
                continue
            detected.append(frame.index)
            frames.append(np.full(len(found), frame.index))
            boxes.append(np.asarray(found.xyxy, dtype=np.float32).reshape(-1, 4))
            scores.append(np.asarray(found.confidence, dtype=np.float32))
        seconds = time.perf_counter() - start
        count = stream.decoded_frames
    data = {
        "frame_index": np.concatenate(frames).astype(np.int64),
        "xyxy": np.concatenate(boxes).astype(np.float32).reshape(-1, 4),
        "confidence": np.concatenate(scores).astype(np.float32),
        "class_name": np.full(sum(len(f) for f in frames), "person", dtype="U16"),
        "frames": np.array(count),
        "detected_frames": np.array(detected, dtype=np.int64),
        "seconds": np.array(seconds),
        "weights_sha256": np.array(""),
        "sizing": np.array(json.dumps(detector.to_dict().get("input_size", {}), default=float)),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path.with_suffix(".npz"), **data)
    return data


def detector_scores(sequence: devset.Sequence, data: dict[str, Any], *, frames: np.ndarray) -> dict[str, Any]:
    """Recall and precision against the ground truth on ``frames`` (0-based), at the tracker's activation level."""
    from streamreid.config import Config

    confidence = Config().tracker.track_activation_threshold
    keep = np.isin(data["frame_index"], frames)
    sub = {**data, "frame_index": data["frame_index"][keep], "xyxy": data["xyxy"][keep],
           "confidence": data["confidence"][keep], "class_name": data["class_name"][keep]}  # fmt: skip
    truth = sequence.gt[np.isin(sequence.gt[:, 0], frames + 1)]
    scores = evaluation.box_tightness(truth, identity.detection_rows(sub, confidence=confidence))
    return {"recall": scores["recall"], "precision": scores["precision"], "boxes": len(truth)}


def identity_rows(sequence: devset.Sequence, data: dict[str, Any], *, label: str, out: Path,
                  overrides: dict[str, Any], embedders: list[str]) -> list[dict[str, Any]]:  # fmt: skip
    """streamreid at ``detect_stride: auto`` over ``data``, one row per embedder."""
    rows = []
    for embedder in embedders:
        run_dir = devset.streamreid_run(sequence, data, embedder=embedder, out=out / label, stride="auto",
                                        overrides=overrides)  # fmt: skip
        scores = identity.score_run(run_dir, gt=sequence.gt, humans=sequence.humans)
        rows.append({
            "sequence": sequence.name, "detections": label, "embedder": embedder, "tracklets": scores["tracklets"],
            "IDF1": scores["tracklet"]["IDF1"], "HOTA": scores["tracklet"]["HOTA"],
            "persons": f"{scores['persons']}/{sequence.human_count}",
            "person IDF1": scores["person"]["IDF1"], "person HOTA": scores["person"]["HOTA"],
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    """Detections and identity before/after the region, per sequence."""
    import _bench

    from streamreid.config import Config
    from streamreid.stream.detection_rate import detect_stride_for

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequences", default=",".join(devset.REAL))
    parser.add_argument("--embedders", default="osnet-msmt17,fallback")
    parser.add_argument("--set", action="append", default=[], help="config override KEY=VALUE (YAML value)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-before", dest="before", action="store_false", help="skip the rows before")
    args = parser.parse_args(argv)
    overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
    config = Config().with_overrides(overrides)
    print(f"CPU: {_bench.cpu_model()}, load average {' '.join(f'{v:.2f}' for v in __import__('os').getloadavg())}")
    label = "region" + "".join(f",{k.split('.')[-1]}={v}" for k, v in overrides.items())
    embedders = args.embedders.split(",")
    results = []
    for sequence in devset.sequences(args.sequences.split(",")):
        before, before_label = devset.sequence_detections(sequence)
        after = region_detections(sequence, config=config)
        stride = detect_stride_for(sequence.fps, detect_rate=config.detector.detect_rate)
        frames = after["detected_frames"]
        sizing = json.loads(str(after["sizing"]))
        print(f"\n{sequence.name}: stride {stride}, {len(frames)} detected frames, {float(after['seconds']):.1f} s "
              f"detecting; sizing {json.dumps(sizing, default=float)}")  # fmt: skip
        for name, data in ((before_label, before), (label, after)):
            print(f"  detector {name}: {json.dumps(detector_scores(sequence, data, frames=frames), default=float)}")
        rows = identity_rows(sequence, after, label=label, out=args.out, overrides=overrides, embedders=embedders)
        if args.before:
            rows = identity_rows(sequence, before, label="before", out=args.out, overrides={},
                                 embedders=embedders) + rows  # fmt: skip
        results += rows
        identity.print_table([{k: f"{v:.3f}" if isinstance(v, float) else v for k, v in r.items()} for r in rows],
                             list(rows[0]))  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Space-time links in crowds (issue 19): streamreid's rows of the development set, compact, with mixed persons.

For each sequence of ``devset.py`` (same cached detections) and each embedder, streamreid runs its defaults
(``detect_stride`` as given, ``auto`` by default: what a user gets) with the ``--set`` overrides, and prints one
line: tracklets, tracklet IDF1 / HOTA, persons / humans, person IDF1 / HOTA, and **mixed persons** (persons whose
tracklets match two or more humans by ``evaluation.tracklet_truth``, the crowd failure of issue 19). With
``--reanalyse`` and ``--out`` a run directory left by an earlier call is analysed again (grouping, ReID, merges
redone; tracking kept), which is enough for changes after tracking. Usage::

    python benchmarks/crowd_links.py --out /tmp/crowd/base --json /tmp/crowd/base.json
    python benchmarks/crowd_links.py --out /tmp/crowd/base --reanalyse --set grouping.crowd_radius=0
"""

from __future__ import annotations

import argparse
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

from streamreid import evaluation, rundir  # noqa: E402


def mixed_persons(run_dir: Path, *, gt: np.ndarray, humans: dict[int, int]) -> int:
    """Persons whose tracklets match two or more humans."""
    tracks = evaluation.read_mot(run_dir / rundir.MOT, visible_only=False)
    truth = {t: humans.get(g) for t, g in evaluation.tracklet_truth(gt, tracks).items()}
    persons = rundir.read_json(run_dir / rundir.CANONICAL_PERSONS)["persons"]
    mixed = 0
    for person in persons:
        found = {truth[t] for t in person["tracklet_ids"] if truth.get(t) is not None}
        mixed += len(found) > 1
    return mixed


def npz_person_scores(run_dir: Path, *, gt: np.ndarray, humans: dict[int, int], filled: bool) -> dict[str, float]:
    """Person IDF1/HOTA from ``canonical_persons.npz`` (the persons' own rows), with or without the filled boxes.

    The ``person IDF1`` column scores ``tracks.mot.txt`` relabelled by person: it has the boxes filled inside a
    tracklet but never those filled between two tracklets of a person (``grouping.fill_person_gaps``).
    """
    rows = []
    with np.load(run_dir / rundir.CANONICAL_PERSONS_NPZ) as arrays:
        for pid in arrays["person_ids"].tolist():
            frames, boxes = arrays[f"frame_numbers_{pid}"], arrays[f"bboxes_{pid}"].astype(np.float64)
            confidence = arrays[f"confidences_{pid}"].astype(np.float64)
            keep = np.ones(len(frames), bool) if filled else confidence >= 0
            rows.append(np.column_stack([frames[keep] + 1, np.full(keep.sum(), pid), boxes[keep, :2],
                                         boxes[keep, 2:] - boxes[keep, :2], confidence[keep],
                                         -np.ones((keep.sum(), 3))]))  # fmt: skip
    tracks = np.concatenate(rows) if rows else np.zeros((0, 10))
    return evaluation.mot_scores(evaluation.relabel(gt, humans), tracks)


def run_one(sequence: devset.Sequence, data: dict[str, Any], *, embedder: str, out: Path, stride: int | str,
            overrides: dict[str, Any], reanalyse: bool) -> Path:  # fmt: skip
    """One streamreid run (or re-analysis) of a sequence; its run directory."""
    run_dir = out / f"{sequence.name}-{embedder}-stride{stride}"
    if reanalyse and (run_dir / rundir.TRACKLET_STATS).is_file():
        from streamreid.config import Config
        from streamreid.end_of_stream import analyse

        options = {"report.enabled": False, "reid.download": False, "detector.confidence": devset.CONFIDENCE,
                   "detector.detect_stride": stride, **overrides}  # fmt: skip
        analyse(run_dir, config=Config().with_overrides(options), embedder=identity.build_embedder(embedder))
        return run_dir
    return devset.streamreid_run(sequence, data, embedder=embedder, out=out, stride=stride, overrides=overrides)


def _idf1_hota(scores: dict[str, float]) -> dict[str, float]:
    return {"IDF1": scores["IDF1"], "HOTA": scores["HOTA"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequences", default="all")
    parser.add_argument("--embedders", default="osnet-msmt17,fallback")
    parser.add_argument("--stride", default="auto", help="detector.detect_stride (auto or an integer)")
    parser.add_argument("--set", action="append", default=[], help="config override KEY=VALUE (YAML value)")
    parser.add_argument("--out", type=Path, required=True, help="run directories (kept)")
    parser.add_argument("--reanalyse", action="store_true", help="redo only the end of stream where a run exists")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
    stride = args.stride if args.stride == "auto" else int(args.stride)
    rows = []
    for sequence in devset.sequences(args.sequences.split(",")):
        data, _ = devset.sequence_detections(sequence)
        for embedder in args.embedders.split(","):
            start = time.perf_counter()
            run_dir = run_one(sequence, data, embedder=embedder, out=args.out, stride=stride, overrides=overrides,
                              reanalyse=args.reanalyse)  # fmt: skip
            scores = identity.score_run(run_dir, gt=sequence.gt, humans=sequence.humans)
            row = {
                "sequence": sequence.name, "embedder": embedder, "tracklets": scores["tracklets"],
                "IDF1": scores["tracklet"]["IDF1"], "HOTA": scores["tracklet"]["HOTA"],
                "persons": f"{scores['persons']}/{sequence.human_count}",
                "person IDF1": scores["person"]["IDF1"], "person HOTA": scores["person"]["HOTA"],
                "mixed": mixed_persons(run_dir, gt=sequence.gt, humans=sequence.humans),
                **{f"npz {name} {metric}": value for name, filled in (("all", True), ("detected", False))
                   for metric, value in _idf1_hota(npz_person_scores(run_dir, gt=sequence.gt, humans=sequence.humans,
                                                                     filled=filled)).items()},
                "seconds": round(time.perf_counter() - start),
            }  # fmt: skip
            rows.append(row)
            print(json.dumps(row, default=float), file=sys.stderr, flush=True)
    identity.print_table([{k: f"{v:.3f}" if isinstance(v, float) else v for k, v in r.items()} for r in rows],
                         list(rows[0]))  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

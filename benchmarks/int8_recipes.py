"""INT8 recipes against float32 on the development set: detections and identity (issue 23, INT8 without bf16).

For each real sequence of ``devset.py``, at the input size ``imgsz: auto`` picks there (devset's choice, on the
float32 detections), the rows are the float32 detector (``openvino-f32``, devset's own cached detections on a CPU
without bf16) and yolo11n-pose in INT8 made by each ``--recipes`` recipe (:class:`streamreid.detect.quantize.
Int8Recipe`: calibration frames, colour views of ultralytics' bundled pictures, full bias correction, stem or
attention kept in float). Each INT8 model is quantized once and cached; detections of every frame are cached
like ``identity.cached_detections``. Per row:

* the detector against the ground truth over every frame: recall and precision at the tracker's activation
  threshold (0.35: what starts tracks) and at the detector's confidence (0.1);
* with ``--identity``: streamreid's defaults over the detections at ``detect_stride: auto`` (as ``crowd_links.py``):
  tracklets, IDF1, HOTA, persons, person IDF1 / HOTA and mixed persons, per embedder.

The synthetic sequence has scripted detections (no detector): INT8 cannot change it, so it is not listed.

Usage::

    python benchmarks/int8_recipes.py --recipes plain,stem+attn --out /tmp/int8 --identity --json /tmp/int8.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import crowd_links  # noqa: E402
import devset  # noqa: E402
import identity  # noqa: E402

from streamreid import evaluation  # noqa: E402
from streamreid.detect.quantize import Int8Recipe  # noqa: E402

_PLAIN = {"float_stem": False, "float_attention": False}
RECIPES = {
    "plain": Int8Recipe(**_PLAIN),
    "colour": Int8Recipe(frames=240, colour_views=60, **_PLAIN),
    "bias": Int8Recipe(fast_bias_correction=False, **_PLAIN),
    "stem": Int8Recipe(float_attention=False),
    "attn": Int8Recipe(float_stem=False),
    "stem+attn": Int8Recipe(),
    "bias+stem+attn": Int8Recipe(fast_bias_correction=False),
    "colour+stem+attn": Int8Recipe(frames=240, colour_views=60),
    "colour+bias": Int8Recipe(frames=240, colour_views=60, fast_bias_correction=False, **_PLAIN),
}
"""Recipes by name: ``plain`` is issue 10's (everything but the box decoding in INT8), ``stem+attn`` today's default
(the first convolution and the attention block in float too)."""


def recipe_detections(sequence: devset.Sequence, *, imgsz: int, recipe: Int8Recipe) -> dict[str, Any]:
    """yolo11n-pose in INT8 made by ``recipe``: detections of every frame, cached."""
    return identity.cached_detections(sequence.video, model="pose", imgsz=imgsz, runtime="openvino",
                                      precision="int8", int8_recipe=recipe)  # fmt: skip


def detector_scores(sequence: devset.Sequence, data: dict[str, Any], *, confidence: float) -> dict[str, float]:
    """Recall and precision (IoU 0.5) against the visible ground truth over every frame."""
    scores = evaluation.box_tightness(sequence.gt, identity.detection_rows(data, confidence=confidence))
    return {"recall": round(scores["recall"], 4), "precision": round(scores["precision"], 4)}


def identity_rows(sequence: devset.Sequence, data: dict[str, Any], *, label: str, out: Path,
                  embedders: list[str]) -> list[dict[str, Any]]:  # fmt: skip
    """streamreid's defaults over ``data`` at ``detect_stride: auto``, one row per embedder."""
    rows = []
    for embedder in embedders:
        run_dir = devset.streamreid_run(sequence, data, embedder=embedder, out=out / label, stride="auto")
        scores = identity.score_run(run_dir, gt=sequence.gt, humans=sequence.humans)
        rows.append({
            "sequence": sequence.name, "detections": label, "embedder": embedder, "tracklets": scores["tracklets"],
            "IDF1": scores["tracklet"]["IDF1"], "HOTA": scores["tracklet"]["HOTA"],
            "MOTA": scores["tracklet"].get("MOTA"),
            "persons": f"{scores['persons']}/{sequence.human_count}",
            "person IDF1": scores["person"]["IDF1"], "person HOTA": scores["person"]["HOTA"],
            "mixed": crowd_links.mixed_persons(run_dir, gt=sequence.gt, humans=sequence.humans),
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    """Detections (and identity) of float32 and each INT8 recipe, per sequence."""
    import _bench

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", default="stem+attn", help=f"comma-separated, of {', '.join(RECIPES)}")
    parser.add_argument("--sequences", default=",".join(devset.REAL))
    parser.add_argument("--embedders", default="osnet-msmt17,fallback")
    parser.add_argument("--identity", action="store_true", help="also streamreid's identity figures")
    parser.add_argument("--no-f32", dest="f32", action="store_false", help="skip the float32 rows")
    parser.add_argument("--out", type=Path, default=Path("/tmp/int8-recipes"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    unknown = [name for name in args.recipes.split(",") if name not in RECIPES]
    if unknown:
        print(f"unknown recipe {', '.join(unknown)}: choose from {', '.join(RECIPES)}", file=sys.stderr)
        return 2
    print(f"CPU: {_bench.cpu_model()}, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    detections, rows = [], []
    for sequence in devset.sequences(args.sequences.split(",")):
        imgsz = devset.chosen_imgsz(sequence)
        variants = ([("f32", None)] if args.f32 else []) + [(name, RECIPES[name]) for name in args.recipes.split(",")]
        for label, recipe in variants:
            start = time.perf_counter()
            data = devset.pose_detections(sequence, imgsz=imgsz) if recipe is None else recipe_detections(
                sequence, imgsz=imgsz, recipe=recipe)  # fmt: skip
            row = {"sequence": sequence.name, "imgsz": imgsz, "detections": label,
                   **{f"{k}@0.35": v for k, v in detector_scores(sequence, data, confidence=0.35).items()},
                   **{f"{k}@0.1": v for k, v in detector_scores(sequence, data, confidence=0.1).items()},
                   "seconds": round(time.perf_counter() - start)}  # fmt: skip
            detections.append(row)
            print(json.dumps(row), flush=True)
            if args.identity:
                rows += identity_rows(sequence, data, label=label, out=args.out, embedders=args.embedders.split(","))
                for row in rows[-len(args.embedders.split(",")) :]:
                    print(json.dumps(row, default=float), flush=True)
    identity.print_table(detections, list(detections[0]))
    if rows:
        identity.print_table([{k: f"{v:.3f}" if isinstance(v, float) else v for k, v in r.items()} for r in rows],
                             list(rows[0]))  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"detections": detections, "identity": rows}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Edited footage: pieces of two development sequences played one after another with hard cuts.

Builds, in a temporary folder and never in the repository, a 10 fps video from ``../shared``:
PETS09-S2L1 frames 0-149 | ADL-Rundle-6 frames 0-299 (every 3rd, letterboxed to 768x576) | PETS 150-299 |
ADL 300-524 (every 3rd) | PETS 300-449. Four cuts, two scenes; the PETS pieces continue each other, so the
same humans come back after each ADL insert. Its ground truth is the two sequences' own, renumbered (ADL ids
+ 1000). The detections are the two sequences' cached ones (``benchmarks/identity.py``'s cache, YOLO11n-pose
at 1280 by default, mapped onto the edited frames), or ``--detections gt``: the ground-truth boxes.

Scores, per setting (cut detection on, and off for comparison): the cuts found against the true ones,
**tracklets across a cut** and **persons mixing the two scenes** (both must be 0), tracklet and person IDF1
against the edited ground truth, and the least share of a track's frames that have a box.

``--false-cuts`` also runs the cut detector alone over the three development sequences and the sample film
(none has a cut) and prints the cuts it finds (should be none) and the largest change between two frames.

    python benchmarks/edited_footage.py [--detections pose1280|gt] [--embedder osnet-msmt17|fallback] [--false-cuts]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))

import identity  # noqa: E402

from streamreid import evaluation, rundir  # noqa: E402

DATA = identity.SHARED / "data"
PETS = DATA / "pets09-s2l1" / "vtest.avi"
ADL = DATA / "adl-rundle-6" / "ADL-Rundle-6.mp4"
S3MF1 = DATA / "pets09-s3mf1" / "PETS09-S3MF1.mp4"
SIZE = (768, 576)
ADL_SCALE, ADL_TOP = 0.4, 72  # 1920x1080 -> 768x432, centred in 768x576
ADL_ID_OFFSET = 1000
FPS = 10
#: (scene, first frame, last frame + 1, step) of each piece, in playing order.
PIECES = (("pets", 0, 150, 1), ("adl", 0, 300, 3), ("pets", 150, 300, 1), ("adl", 300, 525, 3), ("pets", 300, 450, 1))


def edit_plan() -> list[tuple[str, int]]:
    """(scene, source frame) of every frame of the edited video."""
    return [(scene, f) for scene, start, stop, step in PIECES for f in range(start, stop, step)]


def true_cuts(plan: list[tuple[str, int]]) -> list[int]:
    """Edited frames where a new piece starts."""
    lengths = np.cumsum([len(range(start, stop, step)) for _, start, stop, step in PIECES])
    return [int(v) for v in lengths[:-1]]


def _letterbox(image: np.ndarray) -> np.ndarray:
    small = cv2.resize(image, None, fx=ADL_SCALE, fy=ADL_SCALE, interpolation=cv2.INTER_AREA)
    out = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    out[ADL_TOP : ADL_TOP + small.shape[0], : small.shape[1]] = small
    return out


def _source_frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    frames = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                frames[index] = frame.to_ndarray(format="bgr24")
            if index >= max(wanted):
                break
    return frames


def write_edited_video(path: Path, plan: list[tuple[str, int]]) -> Path:
    """Encode the edited video (H.264, CRF 18, 10 fps)."""
    pets = _source_frames(PETS, {f for s, f in plan if s == "pets"})
    adl = _source_frames(ADL, {f for s, f in plan if s == "adl"})
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "18"}
        for index, (scene, f) in enumerate(plan):
            image = pets[f] if scene == "pets" else _letterbox(adl[f])
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _to_edited(rows: np.ndarray, frame_map: dict[int, int], *, frame_column: int = 0) -> np.ndarray:
    """Rows of a source sequence (0-based frames in ``frame_column``) on the edited frames they appear in."""
    keep = np.array([int(f) in frame_map for f in rows[:, frame_column]], dtype=bool)
    out = rows[keep].copy()
    out[:, frame_column] = [frame_map[int(f)] for f in out[:, frame_column]]
    return out


def edited_truth(plan: list[tuple[str, int]]) -> tuple[np.ndarray, dict[int, int]]:
    """Ground-truth MOT rows of the edited video and the gt id -> human map (ADL ids offset)."""
    parts, humans = [], dict(evaluation.load_humans(PETS.parent / "persons.json"))
    for scene, path in (("pets", PETS.parent / "gt.txt"), ("adl", ADL.parent / "gt.txt")):
        frame_map = {f: i for i, (s, f) in enumerate(plan) if s == scene}
        rows = evaluation.read_mot(path)
        rows[:, 0] -= 1  # 0-based
        rows = _to_edited(rows, frame_map)
        if scene == "adl":
            rows[:, 2:6] *= ADL_SCALE
            rows[:, 3] += ADL_TOP
            rows[:, 1] += ADL_ID_OFFSET
            humans.update({int(t): int(t) for t in np.unique(rows[:, 1])})
        rows[:, 0] += 1
        parts.append(rows)
    gt = np.concatenate(parts)
    return gt[np.argsort(gt[:, 0], kind="stable")], humans


def edited_detections(plan: list[tuple[str, int]], *, model: str, variant: str = "openvino-f32") -> dict[str, Any]:
    """The two sequences' detections mapped onto the edited frames (ADL boxes letterboxed)."""
    if model == "gt":
        gt, _ = edited_truth(plan)
        rows = gt.copy()
        rows[:, 6] = 1.0
    else:
        name, size = model[:4], int(model[4:])
        runtime, precision = identity.resolved_variant(variant)
        parts = []
        for scene, video in (("pets", PETS), ("adl", ADL)):
            data = identity.cached_detections(video, model=name, imgsz=size, runtime=runtime, precision=precision)
            frame_map = {f: i for i, (s, f) in enumerate(plan) if s == scene}
            rows = np.column_stack([data["frame_index"], data["xyxy"], data["confidence"]]).astype(np.float64)
            rows = rows[data["class_name"] == "person"] if "class_name" in data else rows
            rows = _to_edited(rows, frame_map)
            if scene == "adl":
                rows[:, 1:5] *= ADL_SCALE
                rows[:, [2, 4]] += ADL_TOP
            parts.append(rows)
        det = np.concatenate(parts)
        det = det[np.argsort(det[:, 0], kind="stable")]
        return {"frame_index": det[:, 0].astype(np.int64), "xyxy": det[:, 1:5].astype(np.float32),
                "confidence": det[:, 5].astype(np.float32), "class_name": np.full(len(det), "person", "U16"),
                "frames": np.array(len(plan)), "weights_sha256": np.array("")}  # fmt: skip
    rows[:, 0] -= 1
    return {"frame_index": rows[:, 0].astype(np.int64),
            "xyxy": np.column_stack([rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]]).astype(np.float32),
            "confidence": rows[:, 6].astype(np.float32), "class_name": np.full(len(rows), "person", "U16"),
            "frames": np.array(len(plan)), "weights_sha256": np.array("")}  # fmt: skip


def _shot_scene(plan: list[tuple[str, int]]) -> np.ndarray:
    return np.array([scene == "adl" for scene, _ in plan], dtype=int)


def score(run_dir: Path, *, plan: list[tuple[str, int]], gt: np.ndarray, humans: dict[int, int]) -> dict[str, Any]:
    """The edited-footage scores of one run directory."""
    cuts = true_cuts(plan)
    meta = rundir.read_json(run_dir / rundir.RUN_JSON)
    found = [int(c["frame"]) for c in meta.get("shot_cuts", [])]
    tracks = evaluation.read_mot(run_dir / rundir.MOT, visible_only=False)
    persons = rundir.read_json(run_dir / rundir.CANONICAL_PERSONS)["persons"]
    person_of = {int(t): int(p["person_id"]) for p in persons for t in p["tracklet_ids"]}
    scene = _shot_scene(plan)
    detected = tracks[tracks[:, 6] >= 0]
    scenes_of = {int(t): set(scene[(detected[detected[:, 1] == t, 0] - 1).astype(int)].tolist())
                 for t in np.unique(detected[:, 1])}  # fmt: skip
    across = 0
    for t in np.unique(tracks[:, 1]):
        frames = tracks[tracks[:, 1] == t, 0] - 1
        across += any(frames.min() < c <= frames.max() for c in cuts)
    mixing = sum(len(set().union(*(scenes_of.get(t, set()) for t in p["tracklet_ids"]))) > 1 for p in persons)
    kept = tracks[np.isin(tracks[:, 1].astype(int), list(person_of))]
    coverage = evaluation.box_coverage(kept) if len(kept) else {}
    return {
        "cuts found": f"{len(set(found) & set(cuts))}/{len(cuts)} (+{len(set(found) - set(cuts))} false)",
        "tracklets": len(person_of),
        "tracklets across a cut": int(across),
        "persons": len(persons),
        "humans": len({humans[int(g)] for g in np.unique(gt[:, 1]) if int(g) in humans}),
        "persons mixing scenes": int(mixing),
        "tracklet IDF1": evaluation.mot_scores(gt, kept)["IDF1"],
        "person IDF1": evaluation.mot_scores(evaluation.relabel(gt, humans), evaluation.relabel(kept, person_of))[
            "IDF1"
        ],
        "least box coverage": min(coverage.values()) if coverage else None,
    }


def run(video: Path, data: dict[str, Any], *, out: Path, embedder: str, overrides: dict[str, Any]) -> Path:
    """streamreid on the edited video, the detections replayed."""
    from streamreid.config import Config
    from streamreid.pipeline import process

    config = Config().with_overrides({"report.enabled": False, "reid.download": False, **overrides})
    detector = identity.ReplayDetector(data, name="edited", confidence=config.detector.confidence)
    process(video, out_dir=out, config=config, detector=detector, embedder=identity.build_embedder(embedder),
            progress=False)  # fmt: skip
    return out


def false_cuts() -> list[dict[str, Any]]:
    """The cut detector alone over footage without cuts: cuts found and the largest change."""
    from streamreid.stream.shots import ShotCutDetector, frame_change, thumbnail
    from streamreid.types import Frame
    from streamreid.weights.catalog import SAMPLE_VIDEO
    from streamreid.weights.resolve import resolve_required

    rows = []
    for path in (PETS, S3MF1, ADL, resolve_required(SAMPLE_VIDEO).path):
        with av.open(str(path)) as container:
            fps = float(container.streams.video[0].average_rate or 25)
            detector = ShotCutDetector(fps=fps, threshold=0.3, ratio=3.0)
            largest, previous, frames, spent = 0.0, None, 0, 0.0
            for index, frame in enumerate(container.decode(video=0)):
                image = frame.to_ndarray(format="bgr24")
                start = time.perf_counter()
                detector.update(Frame(index, index / fps, image))
                spent += time.perf_counter() - start
                thumb = thumbnail(image)
                largest = max(largest, frame_change(previous, thumb)) if previous is not None else largest
                previous, frames = thumb, frames + 1
        rows.append({"footage": path.name, "frames": frames, "size": f"{image.shape[1]}x{image.shape[0]}",
                     "cuts found": len(detector.cuts), "largest change": round(largest, 3),
                     "ms per frame": round(1000 * spent / frames, 2)})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--detections", default="pose1280", help="pose1280, pose640 (cached) or gt")
    parser.add_argument("--variant", default="openvino-f32", help="the cached detections' runtime[-precision]")
    parser.add_argument("--embedder", default="osnet-msmt17", help="as benchmarks/identity.py names them")
    parser.add_argument("--false-cuts", action="store_true", help="also the cut detector alone on uncut footage")
    parser.add_argument("--set", action="append", default=[], help="config override KEY=VALUE (YAML value)")
    parser.add_argument("--json", type=Path, default=None, help="write the scores as JSON here")
    args = parser.parse_args(argv)
    if not (PETS.is_file() and ADL.is_file()):
        print(f"PETS09-S2L1 and ADL-Rundle-6 not found in {DATA}", file=sys.stderr)
        return 2
    import yaml

    overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
    plan = edit_plan()
    gt, humans = edited_truth(plan)
    data = edited_detections(plan, model=args.detections, variant=args.variant)
    results: dict[str, Any] = {"cuts": true_cuts(plan)}
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        video = write_edited_video(Path(folder) / "edited.mp4", plan)
        for name, cut_overrides in (("cuts on", {}), ("cuts off", {"tracker.shot_cuts": False})):
            run_dir = run(video, data, out=Path(folder) / name.replace(" ", "-"), embedder=args.embedder,
                          overrides={**overrides, **cut_overrides})  # fmt: skip
            rows.append({"setting": f"{name}, {args.detections}, {args.embedder}",
                         **score(run_dir, plan=plan, gt=gt, humans=humans)})  # fmt: skip
    results["edited"] = rows
    identity.print_table(rows, list(rows[0]))
    if args.false_cuts:
        results["false_cuts"] = false_cuts()
        identity.print_table(results["false_cuts"], list(results["false_cuts"][0]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

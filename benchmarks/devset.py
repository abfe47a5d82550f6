"""The development set of issue 19: streamreid beside its peers on every sequence with identity ground truth.

Sequences (``../shared/data``, see its README): PETS09-S2L1 (``persons.json`` groups its 19 gt ids into 10
humans), PETS09-S3MF1 and ADL-Rundle-6 (each gt id one human), and the synthetic scene of ``tests/synthetic.py``
(scripted detections with its exact truth). One table per sequence, every row on the **same detections**:
yolo11n-pose at the input size streamreid's ``imgsz: auto`` picks for that video (worked out from the cached
detections of both candidate sizes, as the probe does), confidence ≥ 0.1, every frame.

Rows: streamreid (defaults on those detections, ``detect_stride: 1``) with OSNet MSMT17 and with no ReID weights
(the fallback); streamreid with ``detect_stride: auto`` (as a user runs it); ultralytics BoT-SORT (no ReID: it
has no feature maps of cached detections); and BoxMOT's trackers, run in their own virtual environment
(``--boxmot-python``, see ``benchmarks/README.md``) as a subprocess over the detections saved to ``.npz``
(:mod:`boxmot_peers`), the ReID ones with the same OSNet weights. Every row is scored by the same code
(``identity.score_run`` / ``identity.peer_scores``: ``trackers``' TrackEval-compatible IDF1, HOTA, MOTA on the
tracks; person IDF1 with gt ids replaced by humans; a peer's track id is its person).

Run: ``python benchmarks/devset.py --sequences all --boxmot-python
/work/venv-boxmot/bin/python``.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import identity
import numpy as np

from streamreid import evaluation

DATA = identity.SHARED / "data"
OSNET = identity.REID / "osnet_x0_25_msmt17.pth"
CONFIDENCE = 0.1
"""The detections every row gets: streamreid's default detector confidence."""
RUNTIME = identity.resolved_variant("openvino")
"""The detector's runtime and precision: OpenVINO, bf16 where the CPU has it (``runtime: auto``'s choice on CPU)."""
BOXMOT_TRACKERS = ("bytetrack", "ocsort", "botsort", "boosttrack", "deepocsort", "strongsort")
"""BoxMOT trackers compared, in the table's order (the last four take ReID weights)."""


@dataclasses.dataclass(frozen=True)
class Sequence:
    """One sequence of the development set.

    Attributes:
        name: Short name (the folder under ``../shared/data``, or ``synthetic-...``).
        video: The video file.
        gt: Visible ground-truth MOT rows (1-based frames).
        humans: Ground-truth id → human id (each gt id its own human where no grouping exists).
        fps: The container's frame rate (what streamreid sees).
        detections: Scripted detections (synthetic scenes) in the cache's layout; ``None``: yolo11n-pose, cached.
    """

    name: str
    video: Path
    gt: np.ndarray = dataclasses.field(repr=False, compare=False)
    humans: dict[int, int] = dataclasses.field(repr=False, compare=False)
    fps: float
    detections: dict[str, Any] | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def human_count(self) -> int:
        """Humans in the ground truth."""
        return len(set(self.humans.values()))


def _container_fps(video: Path) -> float:
    import av

    with av.open(str(video)) as container:
        return float(container.streams.video[0].average_rate or 0.0)


def real_sequence(name: str) -> Sequence:
    """A sequence of ``../shared/data`` by folder name."""
    folder = DATA / name
    video = next(p for p in sorted(folder.iterdir()) if p.suffix in (".avi", ".mp4"))
    gt = evaluation.read_mot(folder / "gt.txt")
    persons = folder / "persons.json"
    humans = evaluation.load_humans(persons) if persons.is_file() else {int(g): int(g) for g in np.unique(gt[:, 1])}
    return Sequence(name=name, video=video, gt=gt, humans=humans, fps=_container_fps(video))


REAL = ("pets09-s2l1", "pets09-s3mf1", "adl-rundle-6")


def synthetic_sequence(*, seed: int = 0, drop_rate: float = 0.05) -> Sequence:
    """``tests/synthetic.py``'s re-entry and crossing scene with its scripted detections (video cached once)."""
    sys.path.insert(0, str(identity.ROOT / "tests"))
    from synthetic import ScriptedDetector, scenario_reentry_crossing, write_video

    from streamreid.types import Frame

    scene = scenario_reentry_crossing()
    video = identity.bench_cache() / "synthetic" / "reentry-crossing.mp4"
    if not video.is_file():
        video.parent.mkdir(parents=True, exist_ok=True)
        write_video(scene, video.with_suffix(".part.mp4"))
        video.with_suffix(".part.mp4").rename(video)
    detector = ScriptedDetector(scene, drop_rate=drop_rate, seed=seed)
    gt_rows, frames, boxes, scores = [], [], [], []
    for index in range(scene.num_frames):
        xyxy, ids, _ = scene.boxes(index)
        for (x1, y1, x2, y2), gt_id in zip(xyxy, ids, strict=True):
            gt_rows.append([index + 1, gt_id, x1, y1, x2 - x1, y2 - y1, 1, 1, -1, -1])
        found = detector.detect(
            Frame(index=index, time=index / scene.fps, image=np.zeros((scene.height, scene.width, 3), np.uint8))
        )
        frames.append(np.full(len(found), index))
        boxes.append(found.xyxy)
        scores.append(found.confidence)
    data = {
        "frame_index": np.concatenate(frames).astype(np.int64),
        "xyxy": np.concatenate(boxes).astype(np.float32),
        "confidence": np.concatenate(scores).astype(np.float32),
        "class_name": np.full(sum(len(f) for f in frames), "person", dtype="U16"),
        "frames": np.array(scene.num_frames),
        "weights_sha256": np.array(""),
    }
    gt = np.array(gt_rows, dtype=float)
    humans = {int(i): int(i) for i in np.unique(gt[:, 1])}
    return Sequence(name="synthetic-reentry", video=video, gt=gt, humans=humans, fps=scene.fps, detections=data)


def sequences(names: Iterable[str]) -> list[Sequence]:
    """``all`` or a list of names (``synthetic`` for the synthetic scene)."""
    names = list(names)
    if names == ["all"]:
        names = [*REAL, "synthetic"]
    unknown = [n for n in names if n not in (*REAL, "synthetic")]
    if unknown:
        raise SystemExit(f"unknown sequence {', '.join(unknown)}: choose from {', '.join((*REAL, 'synthetic'))}")
    return [synthetic_sequence() if n == "synthetic" else real_sequence(n) for n in names]


# ---------------------------------------------------------------------------------------------------- detections


def chosen_imgsz(sequence: Sequence, *, candidates: tuple[int, ...] = (640, 1280)) -> int:
    """The input size ``imgsz: auto`` picks for this video, replayed on the cached detections of every candidate.

    As :class:`streamreid.detect.input_size.AdaptiveSizeDetector` does: probe frames about 0.5 s apart among the frames
    ``detect_stride: auto`` detects, people counted at the track activation threshold, decided after each
    batch of four detected frames.
    """
    from streamreid.config import Config
    from streamreid.detect.input_size import SizeProbe, choose_input_size, count_people, probe_every_for
    from streamreid.stream.detection_rate import detect_stride_for

    config = Config()
    stride = detect_stride_for(sequence.fps, detect_rate=config.detector.detect_rate)
    probe_every = probe_every_for(sequence.fps, frame_step=stride)
    data = {size: pose_detections(sequence, imgsz=size) for size in candidates}
    detectors = {size: identity.ReplayDetector(d, name=str(size), confidence=CONFIDENCE) for size, d in data.items()}
    probe = SizeProbe.start(candidates)
    detected = list(range(0, int(data[candidates[-1]]["frames"]), stride))
    for start in range(0, len(detected), config.detector.batch_size):
        for position in range(start, min(start + config.detector.batch_size, len(detected))):
            if position % probe_every:
                continue
            frame = detected[position]
            threshold = config.tracker.track_activation_threshold
            counts = [count_people(_frame_detections(detectors[s], frame), confidence=threshold) for s in probe.sizes]
            probe = probe.add(counts)
        choice = choose_input_size(probe)
        if choice is not None:
            return choice.imgsz
    return candidates[-1]


def _frame_detections(detector: identity.ReplayDetector, frame: int) -> Any:
    class _Frame:
        index = frame

    return next(detector.iter_detections([_Frame()]))[1]


def sequence_detections(sequence: Sequence) -> tuple[dict[str, Any], str]:
    """The detections every row of the sequence gets, and how to name them."""
    if sequence.detections is not None:
        return sequence.detections, "scripted ground truth + noise"
    imgsz = chosen_imgsz(sequence)
    return pose_detections(sequence, imgsz=imgsz), f"yolo11n-pose@{imgsz} OpenVINO-{RUNTIME[1]}"


def pose_detections(sequence: Sequence, *, imgsz: int) -> dict[str, Any]:
    """yolo11n-pose's detections of every frame at ``imgsz`` in OpenVINO (streamreid's runtime on CPU), cached."""
    runtime, precision = RUNTIME
    return identity.cached_detections(sequence.video, model="pose", imgsz=imgsz, runtime=runtime, precision=precision)


# ---------------------------------------------------------------------------------------------------- streamreid


def streamreid_run(
    sequence: Sequence,
    data: dict[str, Any],
    *,
    embedder: str,
    out: Path,
    stride: int | str = 1,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """streamreid's defaults over the cached detections (``detector.detect_stride`` = ``stride``); its run dir."""
    from streamreid.config import Config
    from streamreid.pipeline import process

    options = {"report.enabled": False, "reid.download": False, "detector.confidence": CONFIDENCE,
               "detector.detect_stride": stride, **(overrides or {})}  # fmt: skip
    config = Config().with_overrides(options)
    detector = identity.ReplayDetector(data, name=sequence.name, confidence=CONFIDENCE)
    run_dir = out / f"{sequence.name}-{embedder}-stride{stride}"
    process(sequence.video, out_dir=run_dir, config=config, detector=detector,
            embedder=identity.build_embedder(embedder), progress=False)  # fmt: skip
    return run_dir


# ---------------------------------------------------------------------------------------------------- BoxMOT


def boxmot_tracks(
    sequence: Sequence, data: dict[str, Any], *, tracker: str, python: str, label: str
) -> np.ndarray | None:
    """A BoxMOT tracker over the detections, in its own venv (``python``): MOT rows, cached; ``None`` if it failed."""
    folder = identity.bench_cache() / "boxmot"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{sequence.name}-{label}-{tracker}.txt"
    if out.is_file():
        return evaluation.read_mot(out, visible_only=False)
    npz = folder / f"{sequence.name}-{label}.npz"
    keep = data["confidence"] >= CONFIDENCE
    np.savez(npz, frame_index=data["frame_index"][keep], xyxy=data["xyxy"][keep],
             confidence=data["confidence"][keep], frames=np.array(int(data["frames"])))  # fmt: skip
    command = [python, str(Path(__file__).with_name("boxmot_peers.py")), "--detections", str(npz),
               "--video", str(sequence.video), "--tracker", tracker, "--reid", str(OSNET),
               "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"BoxMOT {tracker} on {sequence.name} failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return evaluation.read_mot(out, visible_only=False)


# ---------------------------------------------------------------------------------------------------- tables


def sequence_rows(
    sequence: Sequence, *, out: Path, boxmot_python: str | None, embedders: tuple[str, ...], stride_auto: bool
) -> list[dict[str, Any]]:
    """Every row of one sequence's table."""
    data, label = sequence_detections(sequence)
    print(f"{sequence.name}: {label}, {int(data['frames'])} frames, {sequence.human_count} humans", file=sys.stderr)
    rows = []
    runs = [(e, 1) for e in embedders] + ([(embedders[0], "auto")] if stride_auto else [])
    for embedder, stride in runs:
        start = time.perf_counter()
        run_dir = streamreid_run(sequence, data, embedder=embedder, out=out, stride=stride)
        scores = identity.score_run(run_dir, gt=sequence.gt, humans=sequence.humans)
        name = f"streamreid, {embedder}" + ("" if stride == 1 else ", detect_stride auto")
        rows.append(_row(name, scores, sequence))
        print(f"  {name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    tracks = identity.peer_tracks_cached(sequence.video, data, confidence=CONFIDENCE)
    rows.append(
        _row(
            "ultralytics BoT-SORT (no ReID)",
            identity.peer_scores(tracks, gt=sequence.gt, humans=sequence.humans),
            sequence,
        )
    )
    for tracker in BOXMOT_TRACKERS if boxmot_python else ():
        tracks = boxmot_tracks(
            sequence, data, tracker=tracker, python=boxmot_python, label=label.replace("@", "-").replace(" ", "_")
        )
        if tracks is not None:
            scores = identity.peer_scores(tracks, gt=sequence.gt, humans=sequence.humans)
            rows.append(_row(f"BoxMOT {tracker}", scores, sequence))
    return rows


def _row(name: str, scores: dict[str, Any], sequence: Sequence) -> dict[str, Any]:
    return {
        "config": name,
        "tracklets": scores["tracklets"],
        "IDF1": scores["tracklet"]["IDF1"],
        "HOTA": scores["tracklet"]["HOTA"],
        "MOTA": scores["tracklet"]["MOTA"],
        "persons": f"{scores['persons']}/{sequence.human_count}",
        "person IDF1": scores["person"]["IDF1"],
        "person HOTA": scores["person"]["HOTA"],
        "pair P": scores["pairs"]["precision"],
        "pair R": scores["pairs"]["recall"],
    }


def main(argv: list[str] | None = None) -> int:
    """Run the development set and print one table per sequence."""
    import argparse
    import json
    import tempfile

    import _bench

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequences", default="all",
                        help="all, or of pets09-s2l1,pets09-s3mf1,adl-rundle-6,synthetic")  # fmt: skip
    parser.add_argument("--boxmot-python", default=None,
                        help="python of a venv with boxmot, for its trackers (benchmarks/README.md)")  # fmt: skip
    parser.add_argument("--embedders", default="osnet-msmt17,fallback", help="streamreid's embedders")
    parser.add_argument("--no-stride-auto", dest="stride_auto", action="store_false",
                        help="skip the detect_stride auto row")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="keep the run directories here")
    parser.add_argument("--json", type=Path, default=None, help="write all scores as JSON here")
    args = parser.parse_args(argv)
    print(f"CPU: {_bench.cpu_model()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    embedders = tuple(args.embedders.split(","))
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        out = args.out or Path(folder)
        for sequence in sequences(args.sequences.split(",")):
            rows = sequence_rows(sequence, out=out, boxmot_python=args.boxmot_python, embedders=embedders,
                                 stride_auto=args.stride_auto)  # fmt: skip
            results[sequence.name] = rows
            print(
                f"\n### {sequence.name} ({sequence.human_count} humans, {len(np.unique(sequence.gt[:, 1]))} gt ids)\n"
            )
            identity.print_table(rows, list(rows[0]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())

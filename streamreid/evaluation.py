"""Scoring a run against identity ground truth: MOT metrics per tracklet and per person.

Two questions, two levels. *Tracklet level*: do our tracks follow the ground-truth
tracks (IDF1, HOTA, MOTA, computed by roboflow ``trackers``' TrackEval-compatible
evaluation, never by hand)? *Person level*: are our persons the humans? The ground
truth gives a returning human a new track id; a ``persons.json`` maps those ids to
humans, and the same MOT evaluation then runs with human ids against person ids.
On top: precision and recall of "same person" pairs of tracklets, and top-1 of
the appearance similarity.

Everything here is a pure function of arrays, so tests can call it on synthetic tracks.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MOT_COLUMNS = 10
"""``frame,id,x,y,w,h,conf,x,y,z``: the MOTChallenge text layout."""


def read_mot(path: str | Path, *, visible_only: bool = True) -> np.ndarray:
    """MOT rows as a float array ``(N, 10)``; ground-truth rows flagged 0 (invisible) dropped."""
    text = Path(path).read_text(encoding="utf-8").strip()
    if not text:
        return np.zeros((0, MOT_COLUMNS))
    rows = np.array([[float(v) for v in line.split(",")[:MOT_COLUMNS]] for line in text.splitlines()])
    if rows.shape[1] < MOT_COLUMNS:
        rows = np.pad(rows, ((0, 0), (0, MOT_COLUMNS - rows.shape[1])), constant_values=-1)
    if visible_only:
        rows = rows[rows[:, 6] != 0]
    return rows


def write_mot(path: str | Path, rows: np.ndarray) -> Path:
    """Write MOT rows (1-based frames) with ids and the class column (index 7) as integers."""
    path = Path(path)
    lines = [
        f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},{r[6]:.4f},{int(r[7])},-1,-1"
        for r in rows
    ]
    path.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    return path


def relabel(rows: np.ndarray, mapping: Mapping[int, int]) -> np.ndarray:
    """Rows with each id replaced by ``mapping[id]``; ids missing from the mapping are dropped."""
    ids = rows[:, 1].astype(int)
    keep = np.array([i in mapping for i in ids], dtype=bool)
    out = rows[keep].copy()
    out[:, 1] = [mapping[i] for i in ids[keep]]
    return out


def load_humans(path: str | Path) -> dict[int, int]:
    """``persons.json`` as a map from ground-truth track id to human id."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {int(t): int(p["human"]) for p in data["persons"] for t in p["gt_track_ids"]}


def box_coverage(rows: np.ndarray, *, frame_step: int = 1) -> dict[int, float]:
    """Share of the frames of each track's life (first box to last) that have a box, per track id.

    Args:
        rows: MOT rows (1-based frames in column 0, track ids in column 1).
        frame_step: Frames between two processed frames (``source.stride``): only those can have a box.
    """
    coverage = {}
    for track in np.unique(rows[:, 1]).astype(int).tolist():
        frames = np.unique(rows[rows[:, 1] == track, 0])
        coverage[track] = len(frames) / (int((frames[-1] - frames[0]) // frame_step) + 1)
    return coverage


def mot_scores(gt_rows: np.ndarray, tracker_rows: np.ndarray) -> dict[str, float]:
    """IDF1, HOTA, MOTA, IDSW (and friends) from ``trackers.eval`` for two sets of MOT rows."""
    from trackers.eval import evaluate_mot_sequence

    with tempfile.TemporaryDirectory() as folder:
        gt = write_mot(Path(folder) / "gt.txt", _as_gt(gt_rows))
        ours = write_mot(Path(folder) / "ours.txt", tracker_rows)
        result = evaluate_mot_sequence(gt, ours, metrics=["CLEAR", "HOTA", "Identity"])
    return {
        "IDF1": float(result.Identity.IDF1),
        "IDP": float(result.Identity.IDP),
        "IDR": float(result.Identity.IDR),
        "HOTA": float(result.HOTA.HOTA),
        "AssA": float(result.HOTA.AssA),
        "DetA": float(result.HOTA.DetA),
        "MOTA": float(result.CLEAR.MOTA),
        "IDSW": int(result.CLEAR.IDSW),
        "ids": int(len(np.unique(tracker_rows[:, 1]))) if len(tracker_rows) else 0,
    }


def _as_gt(rows: np.ndarray) -> np.ndarray:
    out = rows.copy()
    out[:, 6] = 1  # every row given is visible ground truth
    out[:, 7] = 1  # of the pedestrian class (PETS' gt.txt has world coordinates in that column)
    return out


def box_iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of two sets of ``x, y, w, h`` boxes."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    w = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, 0, None], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, 1, None], b[None, :, 1]), 0, None)
    inter = w * h
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def _matched_frames(
    gt_rows: np.ndarray, tracker_rows: np.ndarray
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per ground-truth frame with boxes of ours: ``(gt rows, our rows, IoU)`` of the best one-to-one matching."""
    from scipy.optimize import linear_sum_assignment

    ours_by_frame = defaultdict(list)
    for row in tracker_rows:
        ours_by_frame[int(row[0])].append(row)
    gt_by_frame = defaultdict(list)
    for row in gt_rows:
        gt_by_frame[int(row[0])].append(row)
    for frame, gts in gt_by_frame.items():
        ours = ours_by_frame.get(frame)
        if not ours:
            continue
        g, o = np.array(gts), np.array(ours)
        overlap = box_iou_xywh(g[:, 2:6], o[:, 2:6])
        rows, cols = linear_sum_assignment(-overlap)
        yield g[rows], o[cols], overlap[rows, cols]


def match_frames(gt_rows: np.ndarray, tracker_rows: np.ndarray, *, iou: float = 0.5) -> list[tuple[int, int, float]]:
    """Per frame, the one-to-one IoU matching of ground truth to our boxes: ``(gt id, our id, iou)``."""
    return [
        (int(g[1]), int(o[1]), float(v))
        for gs, os_, overlap in _matched_frames(gt_rows, tracker_rows)
        for g, o, v in zip(gs, os_, overlap, strict=True)
        if v >= iou
    ]


def tracklet_truth(
    gt_rows: np.ndarray, tracker_rows: np.ndarray, *, iou: float = 0.5, min_share: float = 0.5
) -> dict[int, int]:
    """Each of our track ids → the ground-truth id it matches most often (when that is ≥ ``min_share`` of its boxes)."""
    counts: dict[int, Counter] = defaultdict(Counter)
    for gt_id, our_id, _ in match_frames(gt_rows, tracker_rows, iou=iou):
        counts[our_id][gt_id] += 1
    sizes = Counter(tracker_rows[:, 1].astype(int).tolist())
    truth = {}
    for our_id, counter in counts.items():
        gt_id, hits = counter.most_common(1)[0]
        if hits >= min_share * sizes[our_id]:
            truth[our_id] = gt_id
    return truth


def box_tightness(gt_rows: np.ndarray, tracker_rows: np.ndarray, *, iou: float = 0.3) -> dict[str, float]:
    """Detection recall and precision at IoU 0.5, and how wide and tall our matched boxes are against the truth.

    Precision counts only our boxes in frames that have ground truth.
    """
    matches, hits = [], 0
    for g, o, overlap in _matched_frames(gt_rows, tracker_rows):
        good = overlap >= iou
        matches += list(zip(o[good, 4] / g[good, 4], o[good, 5] / g[good, 5], overlap[good], strict=True))
        hits += int((overlap >= 0.5).sum())
    gt_frames = set(gt_rows[:, 0].astype(int).tolist())
    in_gt_frames = int(np.isin(tracker_rows[:, 0].astype(int), list(gt_frames)).sum())
    m = np.array(matches) if matches else np.zeros((0, 3))
    return {
        "recall": hits / max(len(gt_rows), 1),
        "precision": hits / max(in_gt_frames, 1),
        "width_ratio": float(np.median(m[:, 0])) if len(m) else float("nan"),
        "height_ratio": float(np.median(m[:, 1])) if len(m) else float("nan"),
        "iou": float(np.median(m[:, 2])) if len(m) else float("nan"),
    }


@dataclass(frozen=True)
class PairScores:
    """Precision and recall of "same person" pairs of tracklets."""

    precision: float
    recall: float
    predicted: int
    true: int
    correct: int


def same_person_pairs(truth: Mapping[int, int], assigned: Mapping[int, int]) -> PairScores:
    """Pairs of our tracklets put in one person, against the pairs that are one human.

    Args:
        truth: Our tracklet id → human id (tracklets matching no human are left out).
        assigned: Our tracklet id → our person (or cluster) id.
    """
    ids = sorted(set(truth) & set(assigned))
    predicted = true = correct = 0
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            same_truth = truth[a] == truth[b]
            same_ours = assigned[a] == assigned[b]
            predicted += same_ours
            true += same_truth
            correct += same_ours and same_truth
    return PairScores(
        precision=correct / predicted if predicted else 1.0,
        recall=correct / true if true else 1.0,
        predicted=predicted,
        true=true,
        correct=correct,
    )


def top1(
    similarity: np.ndarray, labels: list[int | None], *, excluded: Iterable[tuple[int, int]] = ()
) -> tuple[float, int]:
    """Share of items whose most similar other item (excluded pairs aside) has their label.

    Only items with a label that some other allowed item shares are asked. Returns the share and the count asked.
    """
    blocked = {(min(a, b), max(a, b)) for a, b in excluded}
    asked = right = 0
    for i, label in enumerate(labels):
        if label is None:
            continue
        allowed = [
            j for j in range(len(labels)) if j != i and (min(i, j), max(i, j)) not in blocked and labels[j] is not None
        ]
        if not any(labels[j] == label for j in allowed):
            continue
        values = [similarity[i, j] if np.isfinite(similarity[i, j]) else -np.inf for j in allowed]
        asked += 1
        right += labels[allowed[int(np.argmax(values))]] == label
    return (right / asked if asked else float("nan")), asked

"""Where a run's person IDF1 is lost (issue 19): the identity errors of one run directory, decomposed.

IDF1 = 2·IDTP / (2·IDTP + IDFP + IDFN), with IDTP from the best one-to-one assignment of ground-truth ids to our
ids (persons, or tracklets with ``--level tracklet``) over the frames where their boxes overlap at IoU ≥ 0.5 (as
TrackEval's Identity metric counts them). Every box of ours that is not an IDTP is an IDFP of one kind:

* ``unmatched``: it overlaps no ground-truth box (a false detection, or a person the ground truth does not
  annotate), split by whether its tracklet matches a gt id at all (``evaluation.tracklet_truth``);
* ``other id``: it overlaps a ground-truth box of an id not assigned to its person (a mixed person, or the
  shorter part of a person the assignment gave to another gt id).

Every ground-truth box that is not an IDTP is an IDFN of one kind:

* ``missed``: no box of ours overlaps it (the detector missed it, or its tracklet was dropped);
* ``other person``: a box of another person of ours overlaps it (fragmentation: the person is split).

With ``--tracklets`` it lists every tracklet with its matched gt id, person, frames, boxes and share of firm boxes.
Usage::

    python benchmarks/identity_breakdown.py RUN_DIR --sequence adl-rundle-6 [--tracklets]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import devset  # noqa: E402
import numpy as np  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

from streamreid import evaluation, rundir  # noqa: E402


def _pair_counts(gt: np.ndarray, ours: np.ndarray, *, iou: float = 0.5) -> tuple[Counter, set, set]:
    """Frames each (gt id, our id) pair overlaps at ``iou``; which gt rows and our rows overlap anything."""
    counts: Counter = Counter()
    gt_hit, ours_hit = set(), set()
    gt_by_frame, ours_by_frame = defaultdict(list), defaultdict(list)
    for i, row in enumerate(gt):
        gt_by_frame[int(row[0])].append(i)
    for j, row in enumerate(ours):
        ours_by_frame[int(row[0])].append(j)
    for frame, gis in gt_by_frame.items():
        ojs = ours_by_frame.get(frame, [])
        if not ojs:
            continue
        overlap = evaluation.box_iou_xywh(gt[gis, 2:6], ours[ojs, 2:6])
        for a, b in zip(*np.nonzero(overlap >= iou), strict=True):
            counts[int(gt[gis[a], 1]), int(ours[ojs[b], 1])] += 1
            gt_hit.add(gis[a])
            ours_hit.add(ojs[b])
    return counts, gt_hit, ours_hit


def breakdown(gt: np.ndarray, ours: np.ndarray, *, tracklet_gt: dict[int, int]) -> dict[str, Any]:
    """IDTP, and IDFP / IDFN by kind, of our rows (column 1: the id scored) against ``gt``.

    Args:
        gt: Ground-truth rows (ids as scored: gt ids or humans).
        ours: Our rows, the id scored in column 1 and the tracklet in column 10.
        tracklet_gt: Tracklet → matched gt id (``evaluation.tracklet_truth``), for the unmatched split.
    """
    counts, gt_hit, ours_hit = _pair_counts(gt, ours)
    gt_ids, our_ids = sorted({g for g, _ in counts}), sorted({o for _, o in counts})
    matrix = np.zeros((len(gt_ids), len(our_ids)))
    for (g, o), n in counts.items():
        matrix[gt_ids.index(g), our_ids.index(o)] = n
    rows, cols = linear_sum_assignment(-matrix)
    assigned = {our_ids[c]: gt_ids[r] for r, c in zip(rows, cols, strict=True) if matrix[r, c] > 0}
    idtp = int(sum(matrix[r, c] for r, c in zip(rows, cols, strict=True)))
    # an our-row is an IDTP when it overlaps a gt box of its assigned id in its frame (one per frame at most)
    gt_keys = {(int(r[0]), int(r[1])): i for i, r in enumerate(gt)}
    fp = Counter()
    for j, row in enumerate(ours):
        frame, oid, tid = int(row[0]), int(row[1]), int(row[10])
        g = assigned.get(oid)
        i = gt_keys.get((frame, g)) if g is not None else None
        if i is not None and evaluation.box_iou_xywh(gt[i : i + 1, 2:6], row[None, 2:6])[0, 0] >= 0.5:
            continue
        if j in ours_hit:
            fp["other id"] += 1
        elif tid in tracklet_gt:
            fp["unmatched, in a matched tracklet"] += 1
        else:
            fp["unmatched, tracklet matches no gt id"] += 1
    fn = Counter()
    owner = {g: o for o, g in assigned.items()}
    for i, row in enumerate(gt):
        o = owner.get(int(row[1]))
        if i not in gt_hit:
            fn["missed"] += 1
        elif o is None or counts[int(row[1]), o] == 0 or not _hit_by(ours, row, o):
            fn["other person"] += 1
    idf1 = 2 * idtp / max(2 * idtp + len(ours) - idtp + len(gt) - idtp, 1)
    return {"IDTP": idtp, "IDFP": len(ours) - idtp, "IDFN": len(gt) - idtp, "IDF1": idf1, "fp": dict(fp),
            "fn": dict(fn), "assigned": assigned}  # fmt: skip


def _hit_by(ours: np.ndarray, gt_row: np.ndarray, our_id: int) -> bool:
    same = ours[(ours[:, 0] == gt_row[0]) & (ours[:, 1] == our_id)]
    return bool(len(same)) and bool((evaluation.box_iou_xywh(gt_row[None, 2:6], same[:, 2:6]) >= 0.5).any())


def tracklet_table(run_dir: Path, tracks: np.ndarray, *, gt: np.ndarray, person_of: dict[int, int],
                   firm: float) -> list[dict[str, Any]]:  # fmt: skip
    """Per tracklet: person, matched gt id (and its share), frames, boxes detected, firm share."""
    truth = evaluation.tracklet_truth(gt, tracks)
    matches = Counter((o, g) for g, o, _ in evaluation.match_frames(gt, tracks))
    out = []
    for tid in sorted(np.unique(tracks[:, 1]).astype(int).tolist()):
        rows = tracks[tracks[:, 1] == tid]
        detected = rows[rows[:, 6] >= 0]
        best = max(((n, g) for (o, g), n in matches.items() if o == tid), default=(0, None))
        out.append({"tracklet": tid, "person": person_of.get(tid), "gt": truth.get(tid), "best_gt": best[1],
                    "share": round(best[0] / len(rows), 2), "first": int(rows[0, 0]), "last": int(rows[-1, 0]),
                    "boxes": len(detected), "firm": int((detected[:, 6] >= firm).sum()),
                    "max_conf": round(float(detected[:, 6].max()), 2) if len(detected) else None})  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--sequence", required=True, help="a sequence of devset.py (its gt.txt)")
    parser.add_argument("--tracklets", action="store_true", help="list every tracklet")
    parser.add_argument("--firm", type=float, default=0.25, help="firm box confidence (tracker split)")
    args = parser.parse_args(argv)
    sequence = devset.sequences([args.sequence])[0]
    tracks = evaluation.read_mot(args.run_dir / rundir.MOT, visible_only=False)
    persons = rundir.read_json(args.run_dir / rundir.CANONICAL_PERSONS)["persons"]
    person_of = {int(t): int(p["person_id"]) for p in persons for t in p["tracklet_ids"]}
    tracks = tracks[np.isin(tracks[:, 1].astype(int), list(person_of))]
    tracklet_gt = evaluation.tracklet_truth(sequence.gt, tracks)
    gt_h = evaluation.relabel(sequence.gt, sequence.humans)
    for level, ids in (("tracklet", None), ("person", person_of)):
        ours = np.column_stack([tracks, tracks[:, 1]])
        gt_rows = sequence.gt if ids is None else gt_h
        if ids is not None:
            ours[:, 1] = [ids[int(t)] for t in tracks[:, 1]]
        result = breakdown(gt_rows, ours, tracklet_gt=tracklet_gt)
        result.pop("assigned")
        print(f"{level}: {json.dumps(result, default=float)}")
    if args.tracklets:
        for row in tracklet_table(args.run_dir, tracks, gt=sequence.gt, person_of=person_of, firm=args.firm):
            print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

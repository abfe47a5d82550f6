"""One BoxMOT tracker over cached detections: the peer rows of ``devset.py --sequences`` (issue 19).

Runs in its own virtual environment, where ``boxmot`` is installed (``benchmarks/README.md``: it pins other
versions than streamreid's), so it imports neither streamreid nor its dependencies. ``identity.py`` saves the
detections it gives streamreid to an ``.npz`` (``frame_index`` 0-based and sorted, ``xyxy``, ``confidence``,
``frames``), calls this script with the venv's python, and scores the MOT file it writes. Frames are decoded
with OpenCV only for the trackers that look at pixels (ReID crops, camera-motion compensation).

Usage::

    /work/venv-boxmot/bin/python benchmarks/boxmot_peers.py --detections dets.npz --video v.mp4 \\
        --tracker strongsort --reid osnet_x0_25_msmt17.pth --out tracks.txt
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

TRACKERS = {
    "bytetrack": "ByteTrack",
    "ocsort": "OcSort",
    "botsort": "BotSort",
    "boosttrack": "BoostTrack",
    "deepocsort": "DeepOcSort",
    "strongsort": "StrongSort",
}
"""Our name → BoxMOT class. BoT-SORT, BoostTrack, Deep OC-SORT and StrongSORT take ReID weights."""
WITH_REID = ("botsort", "boosttrack", "deepocsort", "strongsort")


def build(name: str, reid: Path | None) -> object:
    """The tracker with BoxMOT's defaults; the ReID ones with ``reid`` (a torchreid OSNet ``.pth``) on CPU."""
    import boxmot

    cls = getattr(boxmot, TRACKERS[name])
    if name not in WITH_REID:
        return cls()
    return cls(reid_weights=reid, device="cpu", half=False)


def frames(video: Path, count: int):
    """Every frame of ``video`` as BGR, ``count`` of them (a missing frame repeats the last one)."""
    import cv2

    capture = cv2.VideoCapture(str(video))
    last = None
    for _ in range(count):
        ok, image = capture.read()
        last = image if ok else last
        yield last
    capture.release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--detections", type=Path, required=True)
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--tracker", choices=sorted(TRACKERS), required=True)
    parser.add_argument("--reid", type=Path, default=None, help="OSNet weights (.pth or .pt)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    data = np.load(args.detections)
    frame_of, xyxy, confidence = data["frame_index"], data["xyxy"], data["confidence"]
    count = int(data["frames"])
    starts = np.searchsorted(frame_of, np.arange(count + 1))
    reid = args.reid
    with tempfile.TemporaryDirectory() as folder:
        if reid is not None and reid.suffix == ".pth":  # BoxMOT's PyTorch backend knows ".pt"; same state dict
            reid = Path(folder) / reid.with_suffix(".pt").name
            shutil.copyfile(args.reid, reid)
        tracker = build(args.tracker, reid)
        rows = []
        for index, image in enumerate(frames(args.video, count)):
            lo, hi = starts[index], starts[index + 1]
            dets = np.column_stack([xyxy[lo:hi], confidence[lo:hi], np.zeros(hi - lo)]).astype(np.float32)
            tracks = tracker.update(dets, image)
            for x1, y1, x2, y2, tid, score, *_ in np.asarray(tracks).reshape(-1, max(np.asarray(tracks).shape[-1], 1)):
                rows.append(
                    f"{index + 1},{int(tid)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{score:.4f},-1,-1,-1"
                )
    args.out.write_text("\n".join(rows) + ("\n" if rows else ""), encoding="utf-8")
    print(f"{args.tracker}: {len(rows)} boxes, {len({r.split(',')[1] for r in rows})} ids", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

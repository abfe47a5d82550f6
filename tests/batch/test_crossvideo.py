"""The same person across two "cameras" of PETS09-S2L1, with floors (benchmarks/cross_video.py is the full run).

Ground-truth boxes stand in for the detector and every second frame is used (the matching
is the point here, and it keeps the test short); OSNet x0.25 MSMT17 from
../shared/models/reid/ embeds the crops.
"""

from collections.abc import Iterable, Iterator

import numpy as np
import pytest
import supervision as sv
from benchmark_modules import load_benchmark

from streamreid.batch.crossvideo import match_runs
from streamreid.config import Config
from streamreid.pipeline import process
from streamreid.types import Frame
from streamreid.weights import ResolvedWeights

bench = load_benchmark("cross_video")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (bench.PETS / "gt.txt").is_file() or not bench.REID_WEIGHTS.is_file(),
        reason="needs ../shared (PETS09-S2L1 and the OSNet weights), which only our machines and CI have",
    ),
]


class GroundTruthDetector:
    """The visible gt boxes of each frame of a cut (frame index + ``offset`` in the full video)."""

    def __init__(self, offset: int) -> None:
        self.boxes, _ = bench.load_gt()
        self.offset = offset
        self.weights = ResolvedWeights(path=None, origin="scripted", detail="PETS09-S2L1 ground-truth boxes")
        self.device = "cpu"

    def iter_detections(
        self, frames: Iterable[Frame], *, detect_stride: int = 1
    ) -> Iterator[tuple[Frame, sv.Detections | None]]:
        for frame in frames:
            boxes = [box for _, box in self.boxes.get(frame.index + self.offset, [])]
            xyxy = np.array(boxes, dtype=np.float32).reshape(-1, 4)
            yield frame, sv.Detections(xyxy=xyxy, confidence=np.full(len(xyxy), 0.9, dtype=np.float32),
                                       class_id=np.zeros(len(xyxy), dtype=int))  # fmt: skip


def test_people_seen_by_both_cameras_are_matched(tmp_path_factory):
    work = tmp_path_factory.mktemp("cross_video")
    clips = bench.cut_cameras(work / "clips")
    config = Config().with_overrides(
        {"reid.embedder": "osnet", "reid.weights": str(bench.REID_WEIGHTS), "report.enabled": False, "source.stride": 2}
    )
    for name, clip in clips.items():
        process(str(clip), out_dir=work / name, config=config, detector=GroundTruthDetector(bench.CUTS[name][0]),
                progress=False)  # fmt: skip
    match_runs([work / name for name in clips], out_dir=work, config=config)
    score = bench.score(work)
    assert score.humans_in_both >= 5
    assert score.precision >= 0.9, score
    assert score.recall >= 0.8, score
    assert score.human_recall >= 0.8, score

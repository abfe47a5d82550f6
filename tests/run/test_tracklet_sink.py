"""The streaming half's outputs: boxes to the store and the MOT file, a finished tracklet out of RAM."""

import io
import json

import numpy as np
import pytest
import supervision as sv

from streamreid.run.mot import MotSink
from streamreid.run.store import CropStore
from streamreid.run.store_reader import open_store
from streamreid.run.tracklet_sink import TrackletSink
from streamreid.stream.filling import BoxRows
from streamreid.stream.reservoir import BEST
from streamreid.stream.stats import TrackletStatsAccumulator
from streamreid.types import CropSample, QualityComponents


class _Crops:
    """Crop reservoirs holding two crops for every tracklet; remembers which were popped."""

    def __init__(self):
        self.popped = []

    def pop(self, tracker_id):
        self.popped.append(tracker_id)
        quality = QualityComponents(0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.5)
        samples = [CropSample(tracker_id, f, f / 25, (0, 0, 4, 8), quality, np.zeros((8, 4, 3), np.uint8))
                   for f in (0, 1)]  # fmt: skip
        return samples, [BEST, BEST]


@pytest.fixture
def sink(tmp_path):
    stats = TrackletStatsAccumulator()
    for frame in range(4):  # tracklet 1 seen 4 times, tracklet 2 once
        ids = [1, 2] if frame == 0 else [1]
        stats.update(frame, frame / 25, sv.Detections(xyxy=np.tile([0, 0, 4, 8], (len(ids), 1)).astype(np.float32),
                                                      tracker_id=np.array(ids)))  # fmt: skip
    store = CropStore(tmp_path / "store.zarr", crop_height=8, crop_width=4, chunk_crops=4, chunk_rows=8)
    with MotSink(tmp_path / "mot.txt") as mot:
        yield TrackletSink(stats=stats, crops=_Crops(), store=store, stats_log=io.StringIO(), mot=mot,
                           min_detections=3)  # fmt: skip
    store.close()


def test_a_finished_tracklet_goes_to_the_log_and_its_crops_only_when_long_enough(sink, tmp_path):
    sink.close([1, 2, 99])
    assert sink.crops.popped == [1, 2, 99]
    assert [s.tracker_id for s in sink.finished] == [1, 2] and sink.pending
    logged = [json.loads(line)["tracker_id"] for line in sink.stats_log.getvalue().splitlines()]
    assert logged == [1, 2]
    sink.flush()
    assert not sink.pending
    sink.store.close()
    assert open_store(tmp_path / "store.zarr").tracker_ids().tolist() == [1]


def test_boxes_go_to_the_store_and_the_mot_file(sink, tmp_path):
    rows = BoxRows(
        frame_index=np.array([0, 1]),
        time=np.array([0.0, 0.04]),
        tracker_id=np.array([1, 1]),
        xyxy=np.array([[0, 0, 4, 8], [1, 0, 5, 8]], np.float32),
        confidence=np.array([0.9, -1], np.float32),
    )
    sink.write_rows(rows)
    sink.write_rows(rows.take(np.array([], dtype=int)))
    sink.flush()
    assert sink.mot.rows == 2
    assert (tmp_path / "mot.txt").read_text().splitlines()[1].startswith("2,1,1.00,0.00,4.00,8.00,-1.0000")
    sink.store.close()
    assert open_store(tmp_path / "store.zarr").detections()["frame_index"].tolist() == [0, 1]


def test_ram_holds_only_the_most_recent_finished_tracklets(sink):
    sink.close([2, 1])
    sink.forget_older(keep=1)
    assert ([s.tracker_id for s in sink.finished], sink.forgotten) == ([1], 1)
    sink.forget_older(keep=5)
    assert sink.forgotten == 1

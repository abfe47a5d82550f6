"""The checkpoint of tracklets still on screen: every best crop, a thinned animation, damage reads as empty."""

import json

import numpy as np
import supervision as sv

from streamreid.run.live_tracklets import (
    ANIMATION_CROPS,
    CHECKPOINT,
    clear_checkpoint,
    read_checkpoint,
    write_checkpoint,
)
from streamreid.stream.reservoir import ANIMATION, BEST
from streamreid.stream.stats import TrackletStatsAccumulator
from streamreid.types import CropSample, QualityComponents


def _sample(tracker_id, frame_index, score=0.5):
    quality = QualityComponents(0.9, 0.8, 0.7, 0.6, 0.5, 0.4, score)
    image = np.full((8, 4, 3), frame_index % 256, np.uint8)
    return CropSample(tracker_id, frame_index, frame_index / 25, (0.0, 0.0, 4.0, 8.0), quality, image)


def _stats(tracker_id):
    accumulator = TrackletStatsAccumulator()
    for frame in range(3):
        accumulator.update(frame, frame / 25, sv.Detections(xyxy=np.array([[0, 0, 4, 8]], np.float32),
                                                            tracker_id=np.array([tracker_id])))  # fmt: skip
    return accumulator.finish(tracker_id)


def test_a_checkpoint_reads_back_its_statistics_and_crops(tmp_path):
    crops = {4: ([_sample(4, 1), _sample(4, 2)], [BEST, BEST | ANIMATION]), 6: ([], [])}
    path = write_checkpoint(tmp_path, [_stats(4), _stats(6)], crops, crop_shape=(8, 4))
    assert path == tmp_path / CHECKPOINT
    stats, rows = read_checkpoint(tmp_path)
    assert [s.tracker_id for s in stats] == [4, 6] and stats[0] == _stats(4)
    assert rows["tracker_id"].tolist() == [4, 4]
    assert rows["frame_index"].tolist() == [1, 2]
    assert rows["images"].shape == (2, 8, 4, 3)


def test_a_long_live_tracklet_keeps_every_best_crop_and_a_bounded_animation(tmp_path):
    samples = [_sample(1, frame) for frame in range(200)]
    flags = [BEST if frame % 50 == 0 else ANIMATION for frame in range(200)]
    write_checkpoint(tmp_path, [_stats(1)], {1: (samples, flags)}, crop_shape=(8, 4))
    _, rows = read_checkpoint(tmp_path)
    kept = rows["frame_index"].tolist()
    assert {0, 50, 100, 150} <= set(kept)
    assert len(kept) - 4 <= ANIMATION_CROPS
    assert kept == sorted(kept) and kept[-1] > 150  # spread over the whole tracklet


def test_an_empty_checkpoint_has_crops_of_the_given_size(tmp_path):
    write_checkpoint(tmp_path, [], {}, crop_shape=(8, 4))
    stats, rows = read_checkpoint(tmp_path)
    assert stats == [] and rows["images"].shape == (0, 8, 4, 3)


def test_a_missing_or_damaged_checkpoint_reads_as_empty_and_clear_removes_it(tmp_path):
    assert read_checkpoint(tmp_path) == ([], {})
    (tmp_path / CHECKPOINT).write_bytes(b"PK\x03\x04 cut by a full disk")
    assert read_checkpoint(tmp_path) == ([], {})
    write_checkpoint(tmp_path, [_stats(2)], {2: ([_sample(2, 1)], [BEST])}, crop_shape=(8, 4))
    whole = (tmp_path / CHECKPOINT).read_bytes()
    (tmp_path / CHECKPOINT).write_bytes(whole[: len(whole) // 2])
    assert read_checkpoint(tmp_path) == ([], {})
    write_checkpoint(tmp_path, [_stats(2)], {}, crop_shape=(8, 4))
    assert json.dumps(read_checkpoint(tmp_path)[0][0].to_dict())
    clear_checkpoint(tmp_path)
    clear_checkpoint(tmp_path)
    assert not (tmp_path / CHECKPOINT).exists()

"""Reading a run's crop store: images in any order, the last detection, live tracklets' crops served after the rest."""

import numpy as np
import pytest

from streamreid.run.store import CropStore
from streamreid.run.store_layout import crop_rows
from streamreid.run.store_reader import open_store
from streamreid.stream.reservoir import ANIMATION, BEST
from streamreid.types import CropSample, QualityComponents


def _sample(tracker_id, frame_index, score):
    quality = QualityComponents(0.9, 0.8, 0.7, 0.6, 0.5, 0.4, score)
    image = np.full((8, 4, 3), tracker_id * 10 + frame_index, np.uint8)
    return CropSample(tracker_id, frame_index, frame_index / 25, (0.0, 0.0, 4.0, 8.0), quality, image)


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "store.zarr"
    with CropStore(path, crop_height=8, crop_width=4, chunk_crops=4, chunk_rows=4) as store:
        for frame in range(3):
            store.append_detections(frame_index=frame * 2, time=frame * 0.5, tracker_id=np.array([1]),
                                    xyxy=np.zeros((1, 4), np.float32), confidence=np.ones(1, np.float32))  # fmt: skip
        store.write_tracklet(1, [_sample(1, 0, 0.2), _sample(1, 2, 0.9)], [BEST, ANIMATION])
        store.write_tracklet(2, [_sample(2, 1, 0.5)], [BEST | ANIMATION])
    return path


def test_images_come_in_the_order_asked_even_repeated(store_path):
    reader = open_store(store_path)
    images = reader.images([2, 0, 2])
    assert images[:, 0, 0, 0].tolist() == [21, 10, 21]
    assert reader.images([]).shape == (0, 8, 4, 3)
    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        reader.images([3])


def test_the_last_detection_and_an_empty_store(store_path, tmp_path):
    reader = open_store(store_path)
    assert (reader.last_frame_index(), reader.last_time()) == (4, 1.0)
    with CropStore(tmp_path / "empty.zarr", crop_height=8, crop_width=4):
        pass
    empty = open_store(tmp_path / "empty.zarr")
    assert (empty.last_frame_index(), empty.last_time(), empty.tracker_ids().tolist()) == (None, None, [])


def test_crop_rows_for_picks_the_buffer_and_orders_by_score_or_time_without_reading_images(store_path):
    reader = open_store(store_path)
    assert reader.crop_rows_for([1], buffer="best")["frame_index"].tolist() == [0]
    assert reader.crop_rows_for([1, 2], buffer="any", order="time")["frame_index"].tolist() == [0, 1, 2]
    assert reader.crop_rows_for([1], buffer="any", order="score")["score"].tolist() == pytest.approx([0.9, 0.2])
    assert reader.crop_rows_for([1, 2], buffer="animation", limit=1)["tracker_id"].tolist() == [1]
    with pytest.raises(ValueError, match="order"):
        reader.crop_rows_for([1], order="size")


def test_live_tracklets_crops_are_served_after_the_stored_ones_and_never_twice(store_path):
    reader = open_store(store_path)
    live = {name: np.concatenate([a, b]) for (name, a), b in zip(
        crop_rows(2, [_sample(2, 9, 0.4)], [BEST]).items(), crop_rows(7, [_sample(7, 5, 0.8)], [BEST]).values(),
        strict=True)}  # fmt: skip
    assert reader.add_provisional(live) == 1  # tracklet 2 is in the store already
    assert reader.tracker_ids().tolist() == [1, 2, 7]
    images, rows = reader.crops_for([7])
    assert rows["index"].tolist() == [3] and images[0, 0, 0, 0] == 75
    assert reader.images([3, 0])[:, 0, 0, 0].tolist() == [75, 10]
    assert reader.add_provisional(crop_rows(1, [_sample(1, 4, 0.1)], [BEST])) == 0

"""One tracklet's crops as store rows: every column, ranked by score, ties by frame."""

import numpy as np
import pytest

from streamreid.run.store_layout import CROP_COLUMNS, crop_rows
from streamreid.stream.quality import COLUMNS as QUALITY_COLUMNS
from streamreid.stream.reservoir import ANIMATION, BEST
from streamreid.types import CropSample, QualityComponents


def _sample(frame_index, score):
    quality = QualityComponents(0.9, 0.8, 0.7, 0.6, 0.5, 0.4, score)
    image = np.full((8, 4, 3), frame_index, np.uint8)
    return CropSample(3, frame_index, frame_index / 25, (frame_index, 1.0, frame_index + 4.0, 9.0), quality, image)


def test_rows_hold_every_column_with_its_dtype_and_shape():
    rows = crop_rows(3, [_sample(10, 0.5), _sample(11, 0.9)], [BEST, ANIMATION])
    assert set(rows) == {"images", *CROP_COLUMNS}
    for name, (dtype, tail) in CROP_COLUMNS.items():
        assert rows[name].dtype == np.dtype(dtype) and rows[name].shape == (2, *tail), name
    assert rows["images"].shape == (2, 8, 4, 3) and rows["images"][1, 0, 0, 0] == 11
    assert rows["tracker_id"].tolist() == [3, 3]
    assert rows["buffers"].tolist() == [BEST, ANIMATION]
    assert rows["quality"][0].tolist() == pytest.approx([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.5])
    assert rows["quality"].shape[1] == len(QUALITY_COLUMNS)


def test_rank_is_best_score_first_and_earlier_frame_on_a_tie():
    samples = [_sample(5, 0.3), _sample(6, 0.9), _sample(7, 0.3), _sample(8, 0.6)]
    assert crop_rows(1, samples, [BEST] * 4)["rank"].tolist() == [2, 0, 3, 1]


def test_a_flag_for_every_sample():
    with pytest.raises(ValueError, match="2 samples but 1 buffer flags"):
        crop_rows(1, [_sample(1, 0.5), _sample(2, 0.5)], [BEST])

"""What every embedder shares: crops stacked at its input size, unit rows, the description run.json keeps."""

from types import SimpleNamespace

import numpy as np
import pytest

from streamreid.reid.features import EmbedderInfo, as_crop_batch, unit_rows


def test_crops_of_the_right_size_pass_through_and_others_are_resized():
    batch = np.zeros((2, 8, 4, 3), np.uint8)
    assert as_crop_batch(batch, 8, 4).shape == (2, 8, 4, 3)
    mixed = [np.full((16, 8, 3), 200, np.uint8), np.full((4, 2, 3), 10, np.uint8), np.full((8, 4, 3), 7, np.uint8)]
    stacked = as_crop_batch(mixed, 8, 4)
    assert stacked.shape == (3, 8, 4, 3) and stacked.dtype == np.uint8
    assert stacked[:, 4, 2, 0].tolist() == [200, 10, 7]  # a flat colour stays that colour at any size


@pytest.mark.parametrize("bad", [np.zeros((8, 4), np.uint8), np.zeros((0, 4, 3), np.uint8), np.zeros((8, 4, 4))])
def test_a_crop_that_is_no_bgr_image_is_refused(bad):
    with pytest.raises(ValueError, match="crop 0 must be an"):
        as_crop_batch([bad], 8, 4)


def test_a_batch_with_four_channels_is_refused():
    with pytest.raises(ValueError, match="3 channels"):
        as_crop_batch(np.zeros((1, 8, 4, 4), np.uint8), 8, 4)


def test_unit_rows_and_zero_rows_stay_zero():
    rows = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0], [1e-30, 0.0]]))
    assert rows.dtype == np.float32
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, 0.0], [1.0, 0.0]])
    assert unit_rows(np.ones((1, 4)), dtype=np.float64).dtype == np.float64


def test_embedder_info_describes_an_embedder_with_or_without_weights():
    weights = SimpleNamespace(to_dict=lambda: {"path": "/w/osnet.pth", "sha256": "ab"})
    osnet = SimpleNamespace(name="osnet_x0_25", kind="osnet", dim=np.int64(512), device="cuda:0", weights=weights)
    described = {"name": "osnet_x0_25", "kind": "osnet", "dim": 512, "device": "cuda:0",
                 "weights": {"path": "/w/osnet.pth", "sha256": "ab"}}  # fmt: skip
    assert EmbedderInfo.of(osnet).to_dict() == described
    fallback = SimpleNamespace(name="fallback", kind="fallback", dim=96)
    assert EmbedderInfo.of(fallback) == EmbedderInfo(name="fallback", kind="fallback", dim=96)
    assert list(EmbedderInfo.of(fallback).to_dict()) == ["name", "kind", "dim", "device", "weights"]

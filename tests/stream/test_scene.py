"""The scene still: a median of a few frames kept evenly over the stream, so passers-by vanish."""

import cv2
import numpy as np
import pytest

from streamreid import rundir
from streamreid.stream.scene import SceneKeeper, downscale, pixel_median
from streamreid.types import Frame


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_pixel_median_equals_numpys(count):
    rng = np.random.default_rng(count)
    images = [rng.integers(0, 256, (5, 6, 3), dtype=np.uint8) for _ in range(count)]
    expected = np.median(np.stack(images), axis=0).astype(np.uint8)
    np.testing.assert_array_equal(pixel_median(images), expected)


def test_pixel_median_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="at least one image"):
        pixel_median([])


def test_downscale_only_shrinks_and_keeps_the_aspect():
    image = np.zeros((300, 1000, 3), np.uint8)
    assert downscale(image, width=500).shape == (150, 500, 3)
    small = np.zeros((30, 40, 3), np.uint8)
    assert downscale(small, width=500).shape == (30, 40, 3)
    assert downscale(small, width=500) is not small


def _frame(index, image):
    return Frame(index=index, time=index / 25, image=image)


def test_someone_walking_through_is_gone_from_the_scene_and_memory_stays_bounded():
    keeper = SceneKeeper(width=64, samples=5)
    background = np.full((48, 64, 3), 90, np.uint8)
    for index in range(40):
        image = background.copy()
        x = index * 2 % 56
        image[10:40, x : x + 8] = 250  # a person a few frames at each place
        keeper.update(_frame(index, image))
    assert len(keeper.frames) == 5 and keeper.seen == 40
    assert np.abs(keeper.image.astype(int) - 90).max() == 0


def test_frames_of_another_size_are_scaled_to_the_first():
    keeper = SceneKeeper(width=64, samples=3)
    keeper.update(_frame(0, np.zeros((48, 64, 3), np.uint8)))
    keeper.update(_frame(1, np.zeros((96, 80, 3), np.uint8)))
    assert keeper.image.shape == (48, 64, 3)


def test_write_once_during_the_stream_and_again_at_the_end(tmp_path):
    keeper = SceneKeeper(width=32, samples=2)
    assert keeper.write(tmp_path) is None
    keeper.update(_frame(0, np.full((24, 32, 3), 40, np.uint8)))
    path = keeper.write(tmp_path, final=False)
    assert path == tmp_path / rundir.SCENE and path.exists()
    keeper.update(_frame(1, np.full((24, 32, 3), 200, np.uint8)))
    stamp = path.stat().st_mtime_ns
    keeper.write(tmp_path, final=False)
    assert path.stat().st_mtime_ns == stamp
    keeper.write(tmp_path)
    assert abs(int(cv2.imread(str(path)).mean()) - 120) <= 2

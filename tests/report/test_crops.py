"""The crop strips of the report: each person's best-scored crops side by side."""

import imageio.v3 as iio
import numpy as np
from fake_run import build_fake_run

from streamreid.config import ReportConfig
from streamreid.report import write_report
from streamreid.report.crops import (
    crop_strip,
    crops_path_for,
    tracklets_strip_path,
    write_crop_strips,
    write_tracklet_strips,
)
from streamreid.run.store_reader import open_store

CONFIG = ReportConfig()


def test_best_crops_strip_holds_the_best_scored_crops(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    write_report(fake.run_dir, config=CONFIG)
    strip = iio.imread(fake.run_dir / "crops" / "person_0.jpg")
    best = sum(1 for t in fake.person(0).tracklet_ids for f in fake.buffers[t] if f & 1)
    assert strip.shape == (128, 64 * min(6, best), 3)


def test_a_strip_is_the_crops_side_by_side_in_rgb():
    crops = np.zeros((3, 16, 8, 3), np.uint8)
    crops[1, :, :, 0] = 255  # blue in BGR
    strip = crop_strip(crops, size=(32, 16))
    assert strip.shape == (32, 48, 3)
    assert strip[0, 20].tolist() == [0, 0, 255]  # blue in RGB, in the second tile


def test_a_group_of_tracklets_has_one_strip_name_whatever_their_order_and_number(tmp_path):
    assert tracklets_strip_path(tmp_path, [9, 3]) == tmp_path / "crops" / "tracklets_3-9.jpg"
    many = list(range(100, 140))
    name = tracklets_strip_path(tmp_path, many).name
    assert name.startswith("tracklets_100-40-") and len(name) < 60
    assert tracklets_strip_path(tmp_path, many[::-1]) == tracklets_strip_path(tmp_path, many)
    assert tracklets_strip_path(tmp_path, many[:-1]) != tracklets_strip_path(tmp_path, many)


def test_tracklet_strips_are_written_once_and_those_no_group_needs_removed(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=2, with_webps=False)
    store = open_store(fake.run_dir / "store.zarr")
    groups = [p.tracklet_ids for p in fake.persons]
    stale = tracklets_strip_path(fake.run_dir, [999])
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"old")
    assert write_tracklet_strips(fake.run_dir, groups, store) == 2
    assert not stale.exists()
    assert write_tracklet_strips(fake.run_dir, groups, store) == 0  # already there
    assert write_tracklet_strips(fake.run_dir, groups[:1], store) == 0
    assert not tracklets_strip_path(fake.run_dir, groups[1]).exists()


def test_person_strips_replace_older_ones_only_for_persons_still_there(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=3, with_webps=False)
    store = open_store(fake.run_dir / "store.zarr")
    written = write_crop_strips(fake.run_dir, fake.persons, store, count=2)
    assert sorted(written) == [0, 1, 2]
    assert iio.imread(crops_path_for(fake.run_dir, 0)).shape == (128, 128, 3)
    write_crop_strips(fake.run_dir, fake.persons[:1], store)
    assert not crops_path_for(fake.run_dir, 2).exists()

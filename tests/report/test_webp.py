"""The persons' animated WebPs: frames, colours, timing, the animation buffer of every tracklet, kept across merges."""

from dataclasses import replace

import numpy as np
import pytest
from fake_run import build_fake_run, render_figure
from PIL import Image

from streamreid.config import ReportConfig
from streamreid.report import write_person_webp, write_person_webps
from streamreid.report.webp import PersonAnimations, evenly_spaced, webp_path_for
from streamreid.run.store_reader import open_store
from streamreid.stream.reservoir import ANIMATION

CONFIG = ReportConfig()


def test_webp_is_animated_loops_and_keeps_colours_and_timing(tmp_path):
    crops = np.stack([render_figure(4, step) for step in range(7)])
    path = write_person_webp(crops, tmp_path / "p.webp", fps=10.0, quality=80, size=(256, 128))
    with Image.open(path) as image:
        assert image.format == "WEBP"
        assert image.n_frames == 7
        assert image.is_animated
        assert image.size == (128, 256)
        assert image.info["loop"] == 0
        image.load()
        assert image.info["duration"] == 100
        first = np.asarray(image.convert("RGB"))
    # the shirt (BGR in the crop) comes out as the same colour in RGB
    shirt_bgr = crops[0, 90:100, 50:60].reshape(-1, 3).mean(axis=0)
    shirt_rgb = first[90:100, 50:60].reshape(-1, 3).mean(axis=0)
    assert np.abs(shirt_rgb - shirt_bgr[::-1]).max() < 12


def test_webp_resizes_to_the_requested_size(tmp_path):
    crops = np.stack([render_figure(1, 0), render_figure(1, 1)])
    path = write_person_webp(crops, tmp_path / "small.webp", fps=5.0, size=(96, 48))
    with Image.open(path) as image:
        assert image.size == (48, 96)
        assert image.n_frames == 2
        image.load()
        assert image.info["duration"] == 200


def test_single_crop_makes_a_valid_one_frame_webp(tmp_path):
    path = write_person_webp(render_figure(2, 0)[None], tmp_path / "one.webp")
    with Image.open(path) as image:
        assert getattr(image, "n_frames", 1) == 1
        image.load()
        assert image.size == (128, 256)


@pytest.mark.parametrize(
    ("crops", "options", "message"),
    [
        (np.zeros((0, 256, 128, 3), np.uint8), {}, "non-empty"),
        (np.zeros((256, 128, 3), np.uint8), {}, "non-empty"),
        (np.zeros((2, 256, 128, 3), np.uint8), {"fps": 0}, "fps"),
        (np.zeros((2, 256, 128, 3), np.uint8), {"quality": 101}, "quality"),
    ],
)
def test_webp_rejects_bad_input(tmp_path, crops, options, message):
    with pytest.raises(ValueError, match=message):
        write_person_webp(crops, tmp_path / "bad.webp", **options)
    assert not (tmp_path / "bad.webp").exists()


def test_evenly_spaced_keeps_ends_and_limit():
    assert list(evenly_spaced(5, 10)) == [0, 1, 2, 3, 4]
    picked = evenly_spaced(100, 7)
    assert len(picked) == 7 and picked[0] == 0 and picked[-1] == 99
    assert np.all(np.diff(picked) > 0)


def test_person_webps_come_from_the_animation_buffer_of_all_tracklets(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=4, with_webps=False)
    store = open_store(fake.run_dir / "store.zarr")
    ranked = sorted(fake.persons, key=lambda p: fake.ranks[p.person_id])
    written = write_person_webps(fake.run_dir, ranked, store, config=replace(CONFIG, max_persons=3))

    assert list(written) == [p.person_id for p in ranked[:3]]
    assert not webp_path_for(fake.run_dir, ranked[3].person_id).exists()
    for person in ranked[:3]:
        # every tracklet's animation crops, merged (best-only crops left out)
        expected = sum(1 for t in person.tracklet_ids for flags in fake.buffers[t] if flags & ANIMATION)
        assert expected < sum(len(fake.buffers[t]) for t in person.tracklet_ids)
        with Image.open(written[person.person_id]) as image:
            assert image.n_frames == expected
    two_tracklets = next(p for p in ranked[:3] if len(p.tracklet_ids) == 2)
    with Image.open(written[two_tracklets.person_id]) as image:
        image.seek(image.n_frames - 1)
        last = np.asarray(image.convert("RGB"))
    last_tracklet = fake.crops[two_tracklets.tracklet_ids[-1]]
    final = [
        s for s, f in zip(last_tracklet, fake.buffers[two_tracklets.tracklet_ids[-1]], strict=True) if f & ANIMATION
    ]
    assert np.abs(last.astype(int) - final[-1].image[:, :, ::-1].astype(int)).mean() < 6  # time order: last is last


def test_person_webps_are_thinned_to_the_frame_limit(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=1, with_webps=False, frames_per_tracklet=40)
    store = open_store(fake.run_dir / "store.zarr")
    written = write_person_webps(fake.run_dir, fake.persons, store, config=replace(CONFIG, webp_max_frames=5))
    with Image.open(written[0]) as image:
        assert image.n_frames == 5


def test_animations_started_before_a_merge_are_kept_for_the_persons_it_leaves_alone(tmp_path, monkeypatch):
    fake = build_fake_run(tmp_path / "run", num_persons=3, with_webps=False)
    store = open_store(fake.run_dir / "store.zarr")
    encoded: list[tuple[int, ...]] = []
    encode = PersonAnimations._encode
    monkeypatch.setattr(PersonAnimations, "_encode", lambda self, key: encoded.append(key) or encode(self, key))
    first, second, third = fake.persons
    with PersonAnimations(fake.run_dir, store, config=CONFIG) as animations:
        animations.start(fake.persons)  # before ReID
        # ReID merged the second and the third person into a new one (a new id)
        merged = replace(second, person_id=7, tracklet_ids=(*second.tracklet_ids, *third.tracklet_ids))
        written = animations.write([merged, first])
    assert set(written) == {7, first.person_id}
    assert encoded.count(tuple(sorted(first.tracklet_ids))) == 1  # encoded once, before the merge
    assert encoded.count(tuple(sorted(merged.tracklet_ids))) == 1
    assert not webp_path_for(fake.run_dir, second.person_id).exists()
    with Image.open(written[7]) as image:
        expected = sum(1 for t in merged.tracklet_ids for flags in fake.buffers[t] if flags & ANIMATION)
        assert image.n_frames == expected
    with Image.open(written[first.person_id]) as image:
        direct = write_person_webps(tmp_path / "direct", [first], store, config=CONFIG)[first.person_id]
        assert image.n_frames == Image.open(direct).n_frames
        assert written[first.person_id].read_bytes() == direct.read_bytes()  # the same file as written directly

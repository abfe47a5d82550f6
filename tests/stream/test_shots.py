"""Hard cuts between shots (streamreid/stream/shots.py): the measure, the rule, synthetic and real footage.

The real-footage checks need ``../shared`` beside the repository (or ``$STREAMREID_SHARED``) and are skipped
without it: PETS09-S2L1 and ADL-Rundle-6 (a busy 1080p street) have no cut, and pieces of the two played
one after the other have exactly the cuts between the pieces.
"""

import os
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from synthetic import scenario_reentry_crossing, scenario_two_scenes_edited, write_video

from streamreid.stream.shots import (
    ShotCut,
    ShotCutDetector,
    frame_change,
    frame_thumbnail,
    is_cut,
    is_flat,
    thumbnail,
)
from streamreid.stream.sources import open_source
from streamreid.types import Frame

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("STREAMREID_SHARED") or ROOT.parent / "shared") / "data"
PETS = DATA / "pets09-s2l1" / "vtest.avi"
ADL = DATA / "adl-rundle-6" / "ADL-Rundle-6.mp4"
needs_footage = pytest.mark.skipif(not (PETS.is_file() and ADL.is_file()), reason=f"real footage not in {DATA}")


def _cuts(frames, **options):
    detector = ShotCutDetector(fps=options.pop("fps", 25.0), threshold=options.pop("threshold", 0.3),
                               ratio=options.pop("ratio", 3.0))  # fmt: skip
    return [cut.frame for frame in frames if (cut := detector.update(frame)) is not None]


def _decoded(path, *, limit=None, size=None):
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if limit is not None and index >= limit:
                return
            image = frame.to_ndarray(format="bgr24")
            yield cv2.resize(image, size, interpolation=cv2.INTER_AREA) if size else image


def _as_frames(images, fps):
    return [Frame(i, i / fps, image) for i, image in enumerate(images)]


def test_thumbnail_is_small_grey_and_keeps_the_aspect():
    thumb = thumbnail(np.zeros((1080, 1920, 3), np.uint8))
    assert thumb.shape == (36, 64) and thumb.dtype == np.float32
    assert thumbnail(np.zeros((576, 768, 3), np.uint8)).shape == (48, 64)


def test_change_ignores_brightness_and_contrast_but_not_another_picture():
    rng = np.random.default_rng(0)
    picture, other = (cv2.resize(rng.uniform(40, 200, (9, 16, 3)).astype(np.float32), (640, 360)) for _ in range(2))
    a = thumbnail(picture.astype(np.uint8))
    brighter = thumbnail(np.clip(picture * 1.4 + 30, 0, 255).astype(np.uint8))
    assert frame_change(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frame_change(a, brighter) < 0.05
    assert frame_change(a, thumbnail(other.astype(np.uint8))) > 0.6
    flat = np.full_like(a, 12.0)
    assert is_flat(flat) and not is_flat(a)
    assert frame_change(a, flat) == 0.0
    assert frame_change(a, a[:10]) == 1.0


def test_a_cut_must_pass_the_threshold_and_stand_out_from_the_last_second():
    assert is_cut(0.9, [], threshold=0.3, ratio=3.0)
    assert not is_cut(0.25, [], threshold=0.3, ratio=3.0)
    assert is_cut(0.9, [0.01, 0.05, 0.1], threshold=0.3, ratio=3.0)
    assert not is_cut(0.9, [0.35, 0.4, 0.3], threshold=0.3, ratio=3.0)  # a shaking camera changes a lot anyway


def test_the_synthetic_edited_video_has_exactly_its_cuts():
    edited = scenario_two_scenes_edited()
    assert _cuts(edited.frames()) == list(edited.cuts) == [40, 80]
    assert ShotCut(40, 1.6, 0.9).to_dict() == {"frame": 40, "time": 1.6}


def test_walking_people_are_no_cut():
    assert _cuts(scenario_reentry_crossing().frames()) == []


def test_a_fade_through_black_into_another_scene_is_one_cut_and_a_dark_flicker_is_none():
    edited = scenario_two_scenes_edited()
    frames = list(edited.frames())
    black = np.zeros_like(frames[0].image)
    faded = [*frames[:40], *(Frame(40 + k, 0, black) for k in range(5)), *(Frame(45 + k, 0, f.image) for k, f in
                                                                           enumerate(frames[40:60]))]  # fmt: skip
    assert _cuts(faded) == [45]
    flicker = [*frames[:20], Frame(20, 0, black), *frames[21:40]]
    assert _cuts(flicker) == []


def test_the_recorded_cuts_are_run_json_shaped():
    detector = ShotCutDetector(fps=25.0, threshold=0.3, ratio=3.0)
    for frame in scenario_two_scenes_edited().frames():
        detector.update(frame)
    assert detector.to_list() == [{"frame": 40, "time": 1.6}, {"frame": 80, "time": 3.2}]


@needs_footage
def test_no_false_cut_on_real_footage_without_cuts():
    assert _cuts(_as_frames(_decoded(PETS), 10.0), fps=10.0) == []
    assert _cuts(_as_frames(_decoded(ADL, limit=300), 30.0), fps=30.0) == []  # people walking close to a 1080p camera


@needs_footage
def test_real_footage_edited_together_has_exactly_its_cuts():
    size = (768, 576)
    pets, adl = list(_decoded(PETS, limit=60, size=size)), list(_decoded(ADL, limit=60, size=size))
    pieces = [pets[:30], adl[:30], pets[30:60], adl[30:60]]
    assert _cuts(_as_frames([image for piece in pieces for image in piece], 10.0), fps=10.0) == [30, 60, 90]


def _luma_and_bgr_thumbnails(path, *, limit=None):
    """Thumbnails of frames kept in planes (from their luma) and of the same frames decoded whole, in BGR."""
    with open_source(path, max_frames=limit) as whole:
        reference = [thumbnail(frame.image) for frame in whole]
    with open_source(path, max_frames=limit) as stream:
        stream.scale_for_detector((stream.info.width // 2 // 2 * 2, stream.info.height // 2 // 2 * 2))
        frames = list(stream)
    assert all(frame.full is not None for frame in frames)
    return [frame_thumbnail(frame) for frame in frames], reference, frames


def test_frames_kept_in_planes_are_measured_on_their_luma_alike(tmp_path):
    edited = scenario_two_scenes_edited()
    luma, reference, frames = _luma_and_bgr_thumbnails(write_video(edited, tmp_path / "edited.mp4"))
    for a, b in zip(luma, reference, strict=True):
        assert a.shape == b.shape and np.abs(a - b).mean() < 2.0  # grey levels, not the limited range's
    changes = [frame_change(a, b) for a, b in zip(luma, luma[1:], strict=False)]
    old = [frame_change(a, b) for a, b in zip(reference, reference[1:], strict=False)]
    assert np.abs(np.subtract(changes, old)).max() < 0.02
    assert _cuts(frames) == list(edited.cuts) == [40, 80]


@needs_footage
def test_a_1080p_street_reads_alike_from_its_luma():
    luma, reference, frames = _luma_and_bgr_thumbnails(ADL, limit=90)
    changes = [frame_change(a, b) for a, b in zip(luma, luma[1:], strict=False)]
    old = [frame_change(a, b) for a, b in zip(reference, reference[1:], strict=False)]
    assert np.abs(np.subtract(changes, old)).max() < 0.01 and _cuts(frames, fps=30.0) == []

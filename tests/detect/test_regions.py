"""``detector.region``: the large input size only where the small one misses people (issue 23).

The decisions (where the region is, whether it is worth it) and the merge of the tile's boxes
with the whole frame's are pure functions, checked on tables; the region detector is checked
with scripted detectors (which pixels went to which size) and with the real yolo11n-pose on
real pictures: a PETS09-S2L1 frame (the people 640 misses are found in the region) and
``bus.jpg`` (a region that cuts people in half adds no pieces of them).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import supervision as sv
import ultralytics

from streamreid.config import ConfigError, load_config
from streamreid.detect.input_size import RECHECK_PROBES, AdaptiveSizeDetector
from streamreid.detect.regions import (
    ProbeFrame,
    Region,
    RegionDetector,
    RegionEvidence,
    choose_region,
    merge_tile,
    missed_people,
    tile_input_size,
)

PETS = Path(__file__).parents[2] / ".." / "shared" / "data" / "pets09-s2l1" / "vtest.avi"


def _detections(boxes, confidence=None) -> sv.Detections:
    xyxy = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.full(len(xyxy), 0.9, np.float32) if confidence is None else np.asarray(confidence, np.float32)
    return sv.Detections(xyxy=xyxy, confidence=scores, class_id=np.zeros(len(xyxy), dtype=int))


# --- where the region is -----------------------------------------------------------------------------------------


def test_region_pixels_grow_out_to_the_stride_and_stay_in_the_image():
    assert Region(0.0, 0.3, 1.0, 0.74).pixels((720, 1280, 3)) == (0, 192, 1280, 544)
    assert Region(0.1, 0.0, 0.5, 1.0).pixels((576, 768)) == (64, 0, 384, 576)
    assert Region(0.99, 0.99, 1.0, 1.0).pixels((100, 100)) == (96, 96, 100, 100)


def test_missed_people_are_the_large_sizes_confident_people_the_small_one_has_no_box_for():
    large = _detections([[0, 0, 10, 30], [100, 100, 110, 130], [200, 0, 210, 30]], [0.9, 0.8, 0.2])
    small = _detections([[1, 1, 10, 29], [100, 100, 110, 130]], [0.9, 0.2])  # the second is too faint to count
    frame = missed_people(small, large, confidence=0.35)
    assert frame.people == 2 and frame.missed == ((100.0, 100.0, 110.0, 130.0),)
    assert missed_people(_detections([]), _detections([]), confidence=0.35) == ProbeFrame(people=0, missed=())


def test_evidence_keeps_only_the_latest_probe_frames():
    evidence = RegionEvidence(shape=(100, 100), max_frames=3)
    for people in range(5):
        evidence = evidence.add(ProbeFrame(people=people, missed=((0, 0, 1, 1),) * people))
    assert [f.people for f in evidence.frames] == [2, 3, 4] and evidence.people == 9 and len(evidence.missed) == 9


def _band(rows: tuple[float, float], *, frames: int = 8, missed_per_frame: int = 4, found_per_frame: int = 4,
          stray: tuple[float, float, float, float] | None = None) -> RegionEvidence:  # fmt: skip
    """Probe frames of a 1000x500 image: people of height 50 missed between ``rows``, spread over the width."""
    rng = np.random.default_rng(0)
    evidence = RegionEvidence(shape=(500, 1000))
    for index in range(frames):
        tops = rng.uniform(rows[0], rows[1] - 50, missed_per_frame)
        lefts = rng.uniform(0, 980, missed_per_frame)
        missed = tuple((float(x), float(y), float(x) + 20, float(y) + 50) for x, y in zip(lefts, tops, strict=True))
        if stray is not None and index == 0:
            missed = (*missed, stray)
        evidence = evidence.add(ProbeFrame(people=missed_per_frame + found_per_frame + (len(missed) > 4),
                                           missed=missed))  # fmt: skip
    return evidence


def test_people_missed_in_a_band_give_that_band():
    choice = choose_region(_band((150, 300)), sizes=(640, 1280), max_cost=0.7)
    assert choice is not None and choice.region is not None
    region = choice.region
    assert region.y1 < 0.3 and 0.6 < region.y2 < 0.7 and region.y1 > 0.25  # 150-300 of 500, 12.5 px of margin
    assert region.x2 - region.x1 > 0.9  # across the frame, as the people were
    assert choice.found > 0.95 and choice.cost == pytest.approx(0.25 + region.area)  # the trimmed ends: 1 or 2 people
    assert "misses 32 of 64 people" in choice.reason and "of the work" in choice.reason


def test_one_stray_person_does_not_stretch_the_region():
    evidence = _band((150, 300), frames=20, stray=(10, 440, 30, 490))  # one of 81 missed, at the bottom
    choice = choose_region(evidence, sizes=(640, 1280), max_cost=0.7)
    assert choice.region is not None and choice.region.y2 < 0.7
    assert 0.95 < choice.found < 1.0  # the stray person is the price


def test_a_region_that_costs_too_much_is_not_used():
    choice = choose_region(_band((50, 450)), sizes=(640, 1280), max_cost=0.7)
    assert choice.region is None and "would cost" in choice.reason
    every_other = choose_region(_band((50, 450)), sizes=(640, 1280), max_cost=0.7, tile_every=2)
    assert every_other.region is not None  # half as often, it pays


def test_no_region_where_the_small_size_alone_misses_most_people():
    choice = choose_region(_band((150, 300), found_per_frame=1), sizes=(640, 1280), max_cost=0.7)  # 1 of 5 alone
    assert choice.region is None and "too few people" in choice.reason
    assert choose_region(_band((150, 300), found_per_frame=1), sizes=(640, 1280), min_alone=0.15).region is not None


def test_people_who_move_about_are_not_a_region():
    evidence = RegionEvidence(shape=(500, 1000))
    for index in range(8):  # the far people walk from the right of the frame to its left
        left = 900 - 110 * index
        missed = tuple((float(left + dx), 200.0, float(left + dx + 20), 250.0) for dx in (0, 30))
        evidence = evidence.add(ProbeFrame(people=6, missed=missed))
    choice = choose_region(evidence, sizes=(640, 1280), max_cost=2.0)
    assert choice.region is None and "move about" in choice.reason
    assert "would find 67% of the people of the next 4" in choice.reason  # 640's 16 of 24, none of the 8 in it


def test_people_missed_everywhere_are_not_a_region():
    evidence = RegionEvidence(shape=(500, 1000))
    spread = [(0, 0, 20, 50)] + [(490, 225, 510, 275)] * 8 + [(980, 450, 1000, 500)]  # a fifth in the corners
    for _ in range(8):
        evidence = evidence.add(ProbeFrame(people=16, missed=tuple(spread)))  # 640 finds the other 6
    choice = choose_region(evidence, sizes=(640, 1280), max_cost=2.0, trim=0.2)  # the corners are trimmed
    assert choice.region is None and "too spread out" in choice.reason


@pytest.mark.parametrize(
    ("frames", "missed_per_frame", "found_per_frame"),
    [(3, 4, 8), (8, 1, 1), (8, 0, 6)],  # too few frames, too few people, nobody missed
)
def test_no_decision_without_evidence(frames, missed_per_frame, found_per_frame):
    evidence = _band((150, 300), frames=frames, missed_per_frame=missed_per_frame, found_per_frame=found_per_frame)
    assert choose_region(evidence, sizes=(640, 1280), min_people=30, min_frames=4) is None


def test_tile_input_size_keeps_the_large_sizes_scale():
    assert tile_input_size((288, 1280, 3), (720, 1280, 3), large=1280) == 1280
    assert tile_input_size((300, 1920), (1080, 1920), large=1280) == 1280  # 1080p decoded whole: scaled by 2/3
    assert tile_input_size((192, 768), (576, 768), large=1280) == 1280  # PETS: enlarged as the whole frame is
    assert tile_input_size((192, 384), (576, 768), large=1280) == 640


# --- merging the tile's boxes ------------------------------------------------------------------------------------


def test_merge_moves_tile_boxes_into_the_image_and_keeps_the_more_confident_of_a_pair():
    whole = _detections([[100, 100, 140, 200], [500, 50, 520, 100]], [0.5, 0.9])
    tile = _detections([[101, 5, 139, 99], [300, 10, 320, 60]], [0.8, 0.7])  # tile at y 100-300 of a 400x1000 image
    merged = merge_tile(whole, tile, tile_box=(0, 100, 1000, 300), image_shape=(400, 1000))
    boxes = {tuple(np.round(b).astype(int)) for b in merged.xyxy}
    assert boxes == {(101, 105, 139, 199), (500, 50, 520, 100), (300, 110, 320, 160)}
    assert np.allclose(tile.xyxy[0], [101, 5, 139, 99])  # the caller's detections are left as they were


def test_merge_drops_a_piece_cut_by_the_tiles_inner_edge_where_the_whole_frame_shows_the_person():
    whole = _detections([[100, 50, 140, 200]], [0.6])  # a person from y 50 to 200
    tile = _detections([[100, 4, 140, 100], [400, 0, 420, 40]], [0.9, 0.4])  # tile from y 100: both near its top
    merged = merge_tile(whole, tile, tile_box=(0, 100, 1000, 300), image_shape=(400, 1000))
    boxes = {tuple(np.round(b).astype(int)) for b in merged.xyxy}
    assert boxes == {(100, 50, 140, 200), (400, 100, 420, 140)}  # the piece goes; the uncovered one stays


def test_inside_the_tile_the_tile_decides():
    whole = _detections([[100, 120, 140, 200], [300, 150, 320, 200], [500, 50, 520, 350]], [0.9, 0.5, 0.8])
    tile = _detections([[101, 22, 139, 99]], [0.6])  # tile at y 100-300: the first person again, less sure
    merged = merge_tile(whole, tile, tile_box=(0, 100, 1000, 300), image_shape=(400, 1000))
    boxes = {tuple(np.round(b).astype(int)) for b in merged.xyxy}
    assert boxes == {(101, 122, 139, 199), (500, 50, 520, 350)}  # the whole frame's boxes inside it are dropped


def test_merge_does_not_count_the_images_own_edge_as_a_cut():
    whole = _detections([[0, 0, 30, 80]], [0.3])
    tile = _detections([[0, 0, 30, 80]], [0.9])  # the tile starts at the image's corner
    merged = merge_tile(whole, tile, tile_box=(0, 0, 500, 200), image_shape=(400, 1000))
    assert len(merged) == 1 and merged.confidence[0] == pytest.approx(0.9)


def test_merge_with_nothing_on_one_side():
    whole, tile = _detections([[0, 0, 10, 10]]), _detections([[5, 5, 15, 15]])
    assert len(merge_tile(whole, _detections([]), tile_box=(0, 0, 50, 50), image_shape=(100, 100))) == 1
    only = merge_tile(_detections([]), tile, tile_box=(10, 20, 60, 70), image_shape=(100, 100))
    assert np.allclose(only.xyxy, [[15, 25, 25, 35]])


# --- the region detector, scripted ------------------------------------------------------------------------------


class _Scripted:
    """Returns one box per image at ``box`` (image pixels); records the shapes and input sizes it got."""

    def __init__(self, imgsz: int, box=(10, 10, 20, 40), confidence: float = 0.9) -> None:
        self.imgsz, self.box, self.confidence, self.calls, self.batch_size = imgsz, box, confidence, [], 4
        self.runtime, self.weights = "scripted", f"weights@{imgsz}"

    def detect(self, images, *, imgsz=None):
        self.calls.append(([image.shape for image in images], imgsz))
        return [_detections([self.box], [self.confidence]) for _ in images]

    def to_dict(self):
        return {"runtime": self.runtime, "imgsz": self.imgsz}


def test_region_detector_detects_the_tile_at_the_large_scale_on_every_nth_frame():
    small, large = _Scripted(640, box=(600, 10, 700, 300)), _Scripted(1280, box=(5, 5, 25, 60))
    regional = RegionDetector(small, large, region=Region(0.0, 0.25, 1.0, 0.5), tile_every=2)
    images = [np.zeros((720, 1280, 3), np.uint8)] * 3
    found = regional.detect(images) + regional.detect(images[:1])
    assert small.calls == [([(720, 1280, 3)] * 3, None), ([(720, 1280, 3)], None)]
    assert large.calls == [([(224, 1280, 3)] * 2, 1280)]  # rows 160-384 of frames 0 and 2; frame 3 has no tile
    assert [len(f) for f in found] == [2, 1, 2, 1]
    assert np.allclose(found[0].xyxy[1], [5, 165, 25, 220])


def _band_detectors(missed: bool = True):
    """640 finds one near person; 1280 also finds a far one in rows 300-360 of a 720x1280 frame."""

    class Large(_Scripted):
        def detect(self, images, *, imgsz=None):
            self.calls.append(([image.shape for image in images], imgsz))
            height, width = images[0].shape[:2]
            if height == 720:  # the whole frame
                return [_detections([[600, 400, 700, 700], [100, 300, 120, 360]]) for _ in images]
            middle = [width / 2 - 10, height / 2 - 30, width / 2 + 10, height / 2 + 30]  # the far one, in a tile
            return [_detections([middle]) for _ in images]

    small = _Scripted(640, box=(600, 400, 700, 700))
    return {640: small, 1280: Large(1280)}


def test_adaptive_detector_keeps_1280_on_the_band_where_640_misses_people_and_rechecks_it():
    detectors = _band_detectors()
    adaptive = AdaptiveSizeDetector(detectors, probe_every=1, confidence=0.35, min_people=8, region=True)
    image = np.zeros((720, 1280, 3), np.uint8)
    for _ in range(2):
        adaptive.detect([image] * 4)
    assert adaptive.size_choice.imgsz == 1280 and adaptive.region_choice.region is not None
    region = adaptive.region_choice.region
    assert region.y1 < 300 / 720 < 360 / 720 < region.y2 < 0.6 and adaptive.region_choice.found == 1.0
    assert adaptive.to_dict()["input_size"]["region"]["region"] == region.to_dict()
    detectors[1280].calls.clear()
    found = adaptive.detect([image] * 4)
    x1, y1, x2, y2 = region.pixels(image.shape)
    assert [len(f) for f in found] == [2] * 4  # the near person from 640, the far one from the tile
    assert all(x1 < f.xyxy[1, 0] < f.xyxy[1, 2] < x2 and y1 < f.xyxy[1, 1] < f.xyxy[1, 3] < y2 for f in found)
    shapes = {shape for shapes, _ in detectors[1280].calls for shape in shapes}
    assert shapes - {image.shape} == {(y2 - y1, x2 - x1, 3)}  # the tile (and the whole frame of a re-check)
    probes = len(adaptive._evidence.frames)
    for _ in range(RECHECK_PROBES):
        adaptive.detect([image] * 4)
    assert len(adaptive._evidence.frames) == probes + 4 * 4 // RECHECK_PROBES  # a re-check every RECHECK_PROBES frames
    assert adaptive.region_changes == [{"detected_frames": 4, "region": region.to_dict()}]  # it stayed


def test_without_the_region_the_largest_runs_on_the_whole_frame():
    detectors = _band_detectors()
    adaptive = AdaptiveSizeDetector(detectors, probe_every=1, confidence=0.35, min_people=8, region=False)
    image = np.zeros((720, 1280, 3), np.uint8)
    for _ in range(3):
        adaptive.detect([image] * 4)
    assert adaptive.size_choice.imgsz == 1280 and adaptive.region_choice is None
    assert "region" not in adaptive.to_dict()["input_size"]


def test_region_keys_are_validated():
    assert load_config(None, {}).detector.region is False  # opt-in: identity is lower with it on ADL-Rundle-6
    with pytest.raises(ConfigError, match="detector.region_every"):
        load_config(None, {"detector.region_every": 0})
    with pytest.raises(ConfigError, match="detector.region_max_cost"):
        load_config(None, {"detector.region_max_cost": -1})
    with pytest.raises(ConfigError, match="detector.region"):
        load_config(None, {"detector.region": "yes"})


# --- with the real weights ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pose_detectors():
    from streamreid.detect.detector import PersonDetector

    return {size: PersonDetector(model="yolo11n-pose.pt", imgsz=size, device="cpu", runtime="torch", batch_size=4)
            for size in (640, 1280)}  # fmt: skip


def _pairs(detections: sv.Detections, *, iou: float = 0.5) -> int:
    overlap = np.triu(sv.box_iou_batch(detections.xyxy, detections.xyxy) >= iou, k=1)
    return int(overlap.sum())


@pytest.mark.slow
def test_the_region_finds_the_far_people_of_pets_that_640_misses(pose_detectors):
    if not PETS.is_file():
        pytest.skip(f"PETS09-S2L1 is not beside the repository ({PETS.resolve()})")
    with av.open(str(PETS)) as container:
        images = [frame.to_ndarray(format="bgr24") for frame in itertools.islice(container.decode(video=0), 0, 60, 10)]
    small, large = pose_detectors[640], pose_detectors[1280]
    whole_small, whole_large = small.detect(images), large.detect(images)
    evidence = RegionEvidence(shape=images[0].shape[:2])
    for found_small, found_large in zip(whole_small, whole_large, strict=True):
        evidence = evidence.add(missed_people(found_small, found_large, confidence=0.35))
    choice = choose_region(evidence, sizes=(640, 1280), max_cost=2.0, min_people=10, min_alone=0.0)  # the merge
    assert choice is not None and choice.region is not None, choice
    merged = RegionDetector(small, large, region=choice.region).detect(images)
    people = matched = 0
    for found, reference in zip(merged, whole_large, strict=True):
        confident = reference[reference.confidence >= 0.35]
        people += len(confident)
        matched += int((sv.box_iou_batch(confident.xyxy, found.xyxy).max(axis=1, initial=0) >= 0.5).sum())
        assert _pairs(found[found.confidence >= 0.35]) == 0  # nobody twice
    small_people = sum(int((f.confidence >= 0.35).sum()) for f in whole_small)
    assert matched >= 0.9 * people and matched > 2 * small_people, (matched, people, small_people)


def test_a_region_cutting_the_people_of_bus_jpg_adds_no_pieces_of_them(pose_detectors):
    bus = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg"))
    small, large = pose_detectors[640], pose_detectors[1280]
    whole = small.detect([bus])[0]
    merged = RegionDetector(small, large, region=Region(0.0, 0.55, 1.0, 1.0)).detect([bus])[0]
    assert len(large.detect([bus[bus.shape[0] // 2 :]], imgsz=640)[0]) >= 3  # the tile does find the legs
    confident = merged[merged.confidence >= 0.5]
    assert len(confident) == int((whole.confidence >= 0.5).sum()) >= 3
    assert _pairs(merged) == 0

"""The detector's input size chosen from the stream (``imgsz: auto``; ``detect_stride: auto``: stream/).


The decisions are pure functions, checked on tables; the adaptive detector is checked
with scripted detectors (which size ran on which frame) and, at the end, with the real
yolo11n-pose weights on real pictures: the small people of PETS09-S2L1 need 1280, the
large people of ``bus.jpg`` do not.
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

from streamreid.detect.input_size import (
    AdaptiveSizeDetector,
    InputSizeChoice,
    SizeProbe,
    choose_input_size,
    enlarge_choice,
    probe_every_for,
)
from streamreid.types import Frame

PETS = Path(__file__).parents[2] / ".." / "shared" / "data" / "pets09-s2l1" / "vtest.avi"


def _probe(people: dict[int, int], frames: int) -> SizeProbe:
    probe = SizeProbe.start(people)
    return SizeProbe(sizes=probe.sizes, people=tuple(people[size] for size in probe.sizes), frames=frames)


@pytest.mark.parametrize(
    ("people", "frames", "expected"),
    [
        ({640: 40, 1280: 42}, 8, 640),  # 95 %: the small size is enough
        ({640: 25, 1280: 42}, 8, 1280),  # 60 %: small people are lost at 640
        ({640: 10, 960: 39, 1280: 42}, 8, 960),  # the smallest that keeps 90 %
        ({640: 38, 1280: 42}, 8, 640),  # exactly 90 %
        ({640: 5, 1280: 12}, 8, None),  # too few people seen to tell yet
        ({640: 40, 1280: 40}, 2, None),  # too few probe frames
        ({640: 0, 1280: 0}, 50, None),  # nobody yet: stay at the largest
    ],
)
def test_choose_input_size(people, frames, expected):
    choice = choose_input_size(_probe(people, frames), min_people=30, min_frames=4, keep_fraction=0.9)
    assert (choice.imgsz if choice else None) == expected
    if choice is not None and expected != 1280:
        assert "of the people 1280 finds" in choice.reason
    if expected == 1280:
        assert "640: 60%" in choice.reason


def test_a_single_candidate_is_chosen_at_once():
    assert choose_input_size(SizeProbe.start([416])).imgsz == 416


def test_probe_adds_up_per_size():
    probe = SizeProbe.start([1280, 640, 640]).add([1, 3]).add([0, 2])
    assert probe.sizes == (640, 1280) and probe.people == (1, 5) and probe.frames == 2
    assert probe.to_dict() == {"frames": 2, "people": {"640": 1, "1280": 5}}


@pytest.mark.parametrize(
    ("people", "expected"),
    [
        ({640: 40, 1280: 42}, None),  # still 95 %: the chosen size stays
        ({640: 20, 1280: 42}, 1280),  # people now further away: 640 finds half of them
        ({640: 5, 1280: 12}, None),  # too few people in the window to tell
    ],
)
def test_a_chosen_smaller_size_gives_way_when_it_misses_people_later(people, expected):
    first = _probe({640: 40, 1280: 42}, 8)
    chosen = InputSizeChoice(imgsz=640, reason="finds 95% of the people 1280 finds", probe=first)
    choice = enlarge_choice(_probe(people, 10), chosen=chosen, frame=123, min_people=30, keep_fraction=0.9)
    assert (choice.imgsz if choice else None) == expected
    if choice is not None:
        assert "640 was chosen first" in choice.reason and "found 48% of the people 1280 finds" in choice.reason
        assert "1280 from detected frame 123 on" in choice.reason


class _SizedDetector:
    """Finds ``people`` confident boxes (and one faint one) per image; records the images it saw."""

    def __init__(self, size: int, people: int) -> None:
        self.imgsz, self.people, self.batch_size, self.seen = size, people, 2, []
        self.runtime, self.weights = "scripted", f"weights@{size}"

    def detect(self, images):
        self.seen += [int(image[0, 0, 0]) for image in images]
        confidence = np.array([0.9] * self.people + [0.15], np.float32)
        boxes = np.tile(np.array([[0, 0, 10, 20]], np.float32), (len(confidence), 1))
        return [sv.Detections(xyxy=boxes.copy(), confidence=confidence.copy()) for _ in images]

    def to_dict(self):
        return {"runtime": self.runtime, "imgsz": self.imgsz}


def _frames(count: int):
    for index in range(count):
        yield Frame(index=index, time=index / 30, image=np.full((4, 4, 3), index, np.uint8))


def test_adaptive_detector_probes_then_keeps_the_smaller_size():
    small, large = _SizedDetector(640, 3), _SizedDetector(1280, 3)
    adaptive = AdaptiveSizeDetector({640: small, 1280: large}, probe_every=3, confidence=0.25, min_people=12)
    assert adaptive.imgsz == 1280 and adaptive.size_choice is None
    out = list(adaptive.iter_detections(_frames(40), detect_stride=2))
    assert [frame.index for frame, _ in out] == list(range(40))  # every frame, in order
    assert all((found is None) == (frame.index % 2 == 1) for frame, found in out)
    # probe frames are every 3rd detected frame: 0, 6, 12, 18 -> 4 probe frames x 3 people = 12 (faint ones ignored)
    assert small.seen[:4] == [0, 6, 12, 18]
    assert large.seen == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]  # the largest until the choice (made after a batch)
    assert small.seen[4:] == list(range(20, 40, 2))  # then only the chosen size
    assert adaptive.size_choice.imgsz == 640 and adaptive.imgsz == 640
    record = adaptive.to_dict()
    assert record["imgsz"] == 640 and record["input_size"]["candidates"] == [640, 1280]
    assert record["input_size"]["probe"] == {"frames": 4, "people": {"640": 12, "1280": 12}}
    assert adaptive.weights == "weights@640"  # everything else answers as the detector in use


class _FadingDetector(_SizedDetector):
    """Finds ``people`` confident boxes per image until frame ``fades_at``, then one."""

    def __init__(self, size: int, people: int, *, fades_at: int) -> None:
        super().__init__(size, people)
        self.fades_at = fades_at

    def detect(self, images):
        found = super().detect(images)
        faded = [int(image[0, 0, 0]) >= self.fades_at for image in images]
        return [f[[0, -1]] if fade else f for fade, f in zip(faded, found, strict=True)]


def test_adaptive_detector_switches_to_the_largest_when_the_people_get_smaller():
    small, large = _FadingDetector(640, 3, fades_at=60), _SizedDetector(1280, 3)
    adaptive = AdaptiveSizeDetector({640: small, 1280: large}, probe_every=1, confidence=0.25, min_people=12)
    out = list(adaptive.iter_detections(_frames(120)))
    assert adaptive.first_choice.imgsz == 640 and adaptive.size_choice.imgsz == 1280 and adaptive.imgsz == 1280
    switched = max(small.seen) + 1
    assert 60 < switched <= 72  # two re-checks (every 4 frames) after the people got smaller are enough
    assert [index for index in large.seen if index >= switched] == list(range(switched, 120))
    rechecks = [index for index in large.seen if 4 <= index < switched]
    assert len(rechecks) > 10 and set(np.diff(rechecks)) == {4}  # one frame in four at the largest meanwhile
    assert len(out[-1][1]) == 4  # the largest's 3 people (and its faint box) on the last frame
    record = adaptive.to_dict()["input_size"]
    assert record["imgsz"] == 1280 and record["first"]["imgsz"] == 640 and "was chosen first" in record["reason"]


def test_adaptive_detector_keeps_a_smaller_size_that_keeps_finding_the_people():
    small, large = _SizedDetector(640, 3), _SizedDetector(1280, 3)
    adaptive = AdaptiveSizeDetector({640: small, 1280: large}, probe_every=1, confidence=0.25, min_people=12)
    list(adaptive.iter_detections(_frames(120)))
    assert adaptive.size_choice.imgsz == 640 and adaptive.first_choice is None
    assert len(small.seen) == 120 and len(large.seen) < 4 + 120 / 4 + 1  # the largest on the re-check frames only


def test_adaptive_detector_keeps_the_largest_when_small_inputs_miss_people():
    small, large = _SizedDetector(640, 1), _SizedDetector(1280, 3)
    adaptive = AdaptiveSizeDetector({640: small, 1280: large}, probe_every=1, min_people=12)
    list(adaptive.iter_detections(_frames(12)))
    assert adaptive.size_choice.imgsz == 1280 and "640: 33%" in adaptive.size_choice.reason
    assert adaptive.to_dict()["input_size"]["imgsz"] == 1280


def test_adaptive_detector_without_people_stays_at_the_largest_and_says_it_is_probing():
    small, large = _SizedDetector(640, 0), _SizedDetector(1280, 0)
    adaptive = AdaptiveSizeDetector({640: small, 1280: large}, probe_every=2)
    list(adaptive.iter_detections(_frames(20)))
    assert adaptive.size_choice is None and adaptive.imgsz == 1280
    assert adaptive.to_dict()["input_size"]["probing"]["frames"] == 10


@pytest.mark.parametrize(
    ("fps", "frame_step", "expected"),
    [(30.0, 2, 8), (30.0, 1, 15), (7.0, 1, 4), (60.0, 4, 8), (1.0, 1, 1), (None, 1, 1), (0.0, 2, 1)],
)
def test_probe_frames_are_half_a_second_of_video_apart(fps, frame_step, expected):
    assert probe_every_for(fps, frame_step=frame_step) == expected


# --- with the real weights ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pose_detectors():
    from streamreid.detect.detector import PersonDetector

    return {size: PersonDetector(model="yolo11n-pose.pt", imgsz=size, device="cpu", runtime="torch", batch_size=4)
            for size in (640, 1280)}  # fmt: skip


def _choose(detectors, images: list[np.ndarray]):
    adaptive = AdaptiveSizeDetector(detectors, probe_every=1, confidence=0.25, min_people=30)
    frames = (Frame(index=i, time=i / 7, image=image) for i, image in enumerate(images))
    list(adaptive.iter_detections(frames))
    return adaptive.size_choice


@pytest.mark.slow
def test_small_people_of_pets_need_1280(pose_detectors):
    if not PETS.is_file():
        pytest.skip(f"PETS09-S2L1 is not beside the repository ({PETS.resolve()})")
    with av.open(str(PETS)) as container:
        images = [frame.to_ndarray(format="bgr24") for frame in itertools.islice(container.decode(video=0), 12)]
    choice = _choose(pose_detectors, images)
    assert choice is not None and choice.imgsz == 1280, choice
    assert choice.probe.people[0] < 0.5 * choice.probe.people[1]  # 640 misses most of them


def test_the_large_people_of_bus_jpg_need_no_more_than_640(pose_detectors):
    bus = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg"))
    choice = _choose(pose_detectors, [bus] * 10)
    assert choice is not None and choice.imgsz == 640, choice

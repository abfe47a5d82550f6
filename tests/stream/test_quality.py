import math

import cv2
import numpy as np
import pytest

from streamreid.config import QualityConfig
from streamreid.stream.quality import COLUMNS, COMPONENTS, compute_quality, measure_sharpness, quality_components
from streamreid.types import QualityComponents

FRAME_HEIGHT, FRAME_WIDTH = 480, 640
CONFIG = QualityConfig()


@pytest.fixture(scope="module")
def textured_image() -> np.ndarray:
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, size=(FRAME_HEIGHT // 4, FRAME_WIDTH // 4, 3), dtype=np.uint8)
    image = cv2.resize(noise, (FRAME_WIDTH, FRAME_HEIGHT), interpolation=cv2.INTER_NEAREST)
    for y in range(0, FRAME_HEIGHT, 24):  # stripes add edges at every scale
        cv2.line(image, (0, y), (FRAME_WIDTH, y + 40), (255, 255, 255), 2)
    return image


def score(image: np.ndarray, boxes: list[list[float]], confidence: list[float] | None = None) -> np.ndarray:
    conf = np.full(len(boxes), 0.9) if confidence is None else np.asarray(confidence)
    return compute_quality(image, np.asarray(boxes, dtype=np.float32), conf, config=CONFIG)


CLEAN = [100.0, 100.0, 180.0, 260.0]  # 80 x 160: ideal shape, 1/3 of the frame tall, clear of the border


def test_clean_box_scores_high(textured_image):
    row = score(textured_image, [CLEAN])[0]
    assert row.shape == (len(COLUMNS),)
    assert row[COLUMNS.index("size")] == 1.0
    assert row[COLUMNS.index("aspect")] == pytest.approx(1.0)
    assert row[COLUMNS.index("truncation")] == 1.0
    assert row[COLUMNS.index("occlusion")] == 1.0
    assert row[COLUMNS.index("sharpness")] > 0.9
    assert row[-1] > 0.85


@pytest.mark.parametrize(
    ("flaw", "box", "component"),
    [
        ("truncated", [0.0, 300.0, 80.0, 480.0], "truncation"),
        ("tiny", [300.0, 300.0, 315.0, 330.0], "size"),
        ("too wide", [300.0, 100.0, 620.0, 260.0], "aspect"),
        ("too thin", [300.0, 100.0, 320.0, 260.0], "aspect"),
    ],
)
def test_flawed_box_scores_below_clean(textured_image, flaw, box, component):
    rows = score(textured_image, [CLEAN]), score(textured_image, [box])
    clean, flawed = rows[0][0], rows[1][0]
    index = COLUMNS.index(component)
    assert flawed[index] < clean[index] - 0.3, flaw
    assert flawed[-1] < clean[-1], flaw


def test_blurred_crop_loses_sharpness(textured_image):
    blurred = textured_image.copy()
    x1, y1, x2, y2 = (int(v) for v in CLEAN)
    blurred[y1:y2, x1:x2] = cv2.GaussianBlur(blurred[y1:y2, x1:x2], (0, 0), sigmaX=6)
    sharp_row, blurred_row = score(textured_image, [CLEAN])[0], score(blurred, [CLEAN])[0]
    index = COLUMNS.index("sharpness")
    assert blurred_row[index] < 0.5 < sharp_row[index]
    assert blurred_row[-1] < sharp_row[-1]
    # Only sharpness depends on the pixels.
    np.testing.assert_array_equal(np.delete(sharp_row, [index, 6]), np.delete(blurred_row, [index, 6]))


def test_occluded_box_scores_below_the_one_in_front(textured_image):
    behind = [200.0, 100.0, 280.0, 260.0]
    in_front = [240.0, 120.0, 320.0, 280.0]  # lower foot point: nearer the camera, covers half of `behind`
    rows = score(textured_image, [behind, in_front, CLEAN])
    occlusion = COLUMNS.index("occlusion")
    covered = (280 - 240) * (260 - 120) / (80 * 160)
    assert rows[0, occlusion] == pytest.approx(1 - covered, abs=1e-6)
    assert rows[1, occlusion] == 1.0
    assert rows[2, occlusion] == 1.0  # CLEAN overlaps nobody
    assert rows[0, -1] < rows[1, -1]


def test_confidence_is_a_component(textured_image):
    rows = score(textured_image, [CLEAN, [300.0, 100.0, 380.0, 260.0]], confidence=[0.9, 0.3])
    assert rows[:, 0] == pytest.approx([0.9, 0.3])
    assert rows[1, -1] < rows[0, -1]


def test_components_stay_in_unit_interval(textured_image):
    rng = np.random.default_rng(3)
    corners = rng.uniform(-100, 740, size=(200, 2, 2))
    boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    boxes[:10, 2:] = boxes[:10, :2]  # empty boxes
    rows = compute_quality(textured_image, boxes, rng.uniform(-0.2, 1.2, 200), config=CONFIG)
    assert rows.shape == (200, 7)
    assert rows.dtype == np.float32
    assert np.isfinite(rows).all()
    assert (rows >= 0).all()
    assert (rows <= 1).all()
    assert (rows[:10, -1] == 0).all()  # an empty box is worthless


def reference_row(image: np.ndarray, boxes: np.ndarray, confidence: np.ndarray, i: int) -> list[float]:
    """The documented formulas, one box at a time, in plain Python."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in boxes[i])
    w, h = x2 - x1, y2 - y1
    size = min(1.0, h / (CONFIG.min_height_fraction * height))
    aspect = 2.0 ** -(math.log2(h / (2.0 * w)) ** 2)
    inside = (min(x2, width) - max(x1, 0)) * (min(y2, height) - max(y1, 0)) / (w * h)
    clearance = min(min(x1, width - x2) / (0.05 * w), min(y1, height - y2) / (0.05 * h))
    truncation = inside * (0.5 + 0.5 * min(max(clearance, 0.0), 1.0))
    covered = 0.0
    for j, other in enumerate(boxes):
        if j == i or other[3] < y2:
            continue
        overlap = max(0.0, min(x2, other[2]) - max(x1, other[0])) * max(0.0, min(y2, other[3]) - max(y1, other[1]))
        covered = max(covered, overlap / (w * h))
    alone = compute_quality(image, boxes[i : i + 1], confidence[i : i + 1], config=CONFIG)[0]
    components = [float(confidence[i]), size, aspect, truncation, 1.0 - covered, float(alone[5])]
    weights = [getattr(CONFIG, name) for name in COMPONENTS]
    score = math.exp(sum(wt * math.log(c) for wt, c in zip(weights, components, strict=True)) / sum(weights))
    return [*components, score]


def test_vectorised_equals_per_box(textured_image):
    rng = np.random.default_rng(11)
    x1 = rng.uniform(-20, 560, 12)
    y1 = rng.uniform(-20, 300, 12)
    boxes = np.stack([x1, y1, x1 + rng.uniform(20, 120, 12), y1 + rng.uniform(40, 220, 12)], axis=1)
    confidence = rng.uniform(0.3, 1.0, 12)
    rows = compute_quality(textured_image, boxes, confidence, config=CONFIG)
    for i in range(len(boxes)):
        np.testing.assert_allclose(rows[i], reference_row(textured_image, boxes, confidence, i), rtol=1e-5, atol=1e-6)


def test_zero_exponent_switches_a_component_off(textured_image):
    config = QualityConfig(confidence=0.0)
    low, high = (compute_quality(textured_image, np.array([CLEAN]), np.array([c]), config=config) for c in (0.1, 1.0))
    assert low[0, -1] == pytest.approx(high[0, -1])
    assert low[0, 0] == pytest.approx(0.1)


def test_no_boxes(textured_image):
    assert compute_quality(textured_image, np.zeros((0, 4)), np.zeros(0), config=CONFIG).shape == (0, 7)


def test_quality_components_record():
    record = quality_components(np.arange(7, dtype=np.float32) / 10)
    assert isinstance(record, QualityComponents)
    assert record.confidence == 0.0
    assert record.sharpness == pytest.approx(0.5)
    assert record.score == pytest.approx(0.6)


def _old_sharpness(image: np.ndarray, box: list[float], *, reference: float) -> float:
    """The definition before issue 23's planes: the BGR region, area-resized, OpenCV's grey, uint8 all along."""
    x1, y1, x2, y2 = (int(math.floor(box[0])), int(math.floor(box[1])), int(math.ceil(box[2])), int(math.ceil(box[3])))
    patch = cv2.resize(np.asarray(image[y1:y2, x1:x2]), (64, 128), interpolation=cv2.INTER_AREA)
    laplacian = cv2.Laplacian(cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY), cv2.CV_32F, ksize=1)
    return 1.0 - math.exp(-(float(laplacian.std()) ** 2) / reference)


def test_sharpness_from_planes_is_the_old_definition_within_rounding(textured_image):
    import av

    from streamreid.stream.picture import YuvPicture

    yuv = av.VideoFrame.from_ndarray(textured_image, format="bgr24").reformat(format="yuv420p")
    picture = YuvPicture.of(yuv)
    boxes = [CLEAN, [33.4, 17.9, 301.2, 470.5], [401.0, 60.0, 431.0, 121.0], [0.0, 0.0, 640.0, 480.0]]
    blurred = cv2.GaussianBlur(textured_image, (0, 0), 1.5)
    blurred_picture = YuvPicture.of(av.VideoFrame.from_ndarray(blurred, format="bgr24").reformat(format="yuv420p"))
    for image, bgr in [(picture, np.asarray(picture)), (blurred_picture, np.asarray(blurred_picture))]:
        new = score(image, boxes)[:, COLUMNS.index("sharpness")]
        old = [_old_sharpness(bgr, box, reference=CONFIG.sharpness_reference) for box in boxes]
        assert np.abs(new - old).max() < 0.01  # ADL-Rundle-6, 608 boxes: mean 0.001, max 0.008


def test_unmeasured_boxes_score_as_perfectly_sharp(textured_image):
    boxes = np.asarray([CLEAN, [300.0, 100.0, 380.0, 260.0]], dtype=np.float32)
    full = compute_quality(textured_image, boxes, np.full(2, 0.9), config=CONFIG)
    partial = compute_quality(textured_image, boxes, np.full(2, 0.9), config=CONFIG, measure=np.array([True, False]))
    assert np.array_equal(partial[0], full[0])
    assert partial[1, 5] == 1.0 and partial[1, 6] >= full[1, 6]  # the most it could score
    measure_sharpness(partial, textured_image, boxes, np.array([1]), config=CONFIG)
    assert np.array_equal(partial, full)

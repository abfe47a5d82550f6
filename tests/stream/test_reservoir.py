import numpy as np
import pytest
import supervision as sv

from streamreid.config import CropConfig
from streamreid.stream.reservoir import ANIMATION, BEST, CropCollector, TrackletReservoir, cut_crop
from streamreid.types import CropSample, Frame, QualityComponents

TINY = np.zeros((2, 1, 3), dtype=np.uint8)


def sample(frame_index: int, score: float, tracker_id: int = 1) -> CropSample:
    quality = QualityComponents(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, score)
    return CropSample(tracker_id, frame_index, frame_index / 30.0, (0.0, 0.0, 1.0, 2.0), quality, TINY)


def feed(reservoir: TrackletReservoir, scores: np.ndarray, frames: np.ndarray | None = None) -> list[int]:
    """Offer like the collector does (only what `wants` asks for); returns the flags answered per frame."""
    frames = np.arange(len(scores)) if frames is None else frames
    answers = []
    for frame_index, score in zip(frames.tolist(), scores.tolist(), strict=True):
        flags = reservoir.wants(frame_index, score)
        answers.append(flags)
        if flags:
            reservoir.offer(sample(frame_index, score))
    return answers


def kept(reservoir: TrackletReservoir, flag: int) -> list[CropSample]:
    samples, flags = reservoir.samples()
    return [s for s, f in zip(samples, flags, strict=True) if f & flag]


def test_memory_is_bounded_over_a_long_tracklet():
    reservoir = TrackletReservoir(1, best_k=16, animation_frames=60, min_spacing_frames=5)
    rng = np.random.default_rng(0)
    answers = feed(reservoir, rng.random(10_000))
    samples, flags = reservoir.samples()
    assert len(samples) <= 16 + 60
    assert len(kept(reservoir, BEST)) == 16
    assert 30 < len(kept(reservoir, ANIMATION)) <= 60
    assert all(f in (BEST, ANIMATION, BEST | ANIMATION) for f in flags)
    assert [s.frame_index for s in samples] == sorted(s.frame_index for s in samples)
    assert sum(1 for a in answers if a) < 1000  # most frames need no crop at all


def test_best_crops_are_spread_and_high_scoring():
    rng = np.random.default_rng(1)
    scores = rng.random(3000)
    reservoir = TrackletReservoir(1, best_k=16, animation_frames=0, min_spacing_frames=25)
    feed(reservoir, scores)
    best = kept(reservoir, BEST)
    frames = np.array([s.frame_index for s in best])
    assert len(best) == 16
    assert np.diff(frames).min() >= 25
    # Each kept crop is the best of its own neighbourhood...
    for s in best:
        low, high = max(s.frame_index - 24, 0), s.frame_index + 25
        assert s.quality.score == pytest.approx(scores[low:high].max())
    # ...and together they are far above the average frame.
    assert min(s.quality.score for s in best) > 0.97


def test_best_crops_bunched_high_scores_take_one_slot():
    scores = np.full(400, 0.2)
    scores[100:130] = np.linspace(0.90, 0.99, 30)  # a run of great neighbouring frames
    scores[[10, 200, 300]] = 0.5
    reservoir = TrackletReservoir(1, best_k=4, animation_frames=0, min_spacing_frames=10)
    feed(reservoir, scores)
    frames = sorted(s.frame_index for s in kept(reservoir, BEST))
    assert frames == [10, 129, 200, 300]


def test_short_tracklet_keeps_closer_crops_when_unavoidable():
    scores = np.linspace(0.1, 0.9, 12)
    reservoir = TrackletReservoir(1, best_k=8, animation_frames=0, min_spacing_frames=5)
    feed(reservoir, scores)
    frames = sorted(s.frame_index for s in kept(reservoir, BEST))
    assert len(frames) == 8  # the buffer is filled although 12 frames hold only 3 crops 5 apart
    assert set(range(7, 12)) <= set(frames)  # the five best are all there
    assert frames[0] == 0  # and the spread part still reaches back to the start


def test_wants_matches_offer():
    rng = np.random.default_rng(2)
    reservoir = TrackletReservoir(1, best_k=6, animation_frames=8, min_spacing_frames=4)
    for frame_index, score in enumerate(rng.random(2000).tolist()):
        flags = reservoir.wants(frame_index, score)
        candidate = sample(frame_index, score)
        reservoir.offer(candidate)
        held = {id(s): f for s, f in zip(*reservoir.samples(), strict=True)}
        assert held.get(id(candidate), 0) == flags


def test_animation_is_evenly_spaced_over_the_whole_tracklet():
    reservoir = TrackletReservoir(1, best_k=0, animation_frames=60)
    frames = np.arange(1000, 1000 + 5000 * 2, 2)  # every second frame decoded (stride 2)
    feed(reservoir, np.full(len(frames), 0.5), frames)
    animation = np.array([s.frame_index for s in kept(reservoir, ANIMATION)])
    assert 30 < len(animation) <= 60
    span = frames[-1] - frames[0]
    assert animation[0] == frames[0]
    assert frames[-1] - animation[-1] < span / 30
    gaps = np.diff(animation)
    assert gaps.max() == gaps.min() == reservoir.stride


def test_animation_with_missing_detections_stays_spread():
    rng = np.random.default_rng(4)
    frames = np.sort(rng.choice(20_000, size=6000, replace=False))  # a tracklet with holes
    reservoir = TrackletReservoir(1, best_k=0, animation_frames=40)
    feed(reservoir, np.full(len(frames), 0.5), frames)
    animation = np.array([s.frame_index for s in kept(reservoir, ANIMATION)])
    span = frames[-1] - frames[0]
    assert 20 < len(animation) <= 40
    assert animation[0] == frames[0]
    assert frames[-1] - animation[-1] < span / 15
    gaps = np.diff(animation)
    assert gaps.min() >= reservoir.stride // 2
    assert gaps.max() < 3 * reservoir.stride


def test_short_tracklet_keeps_every_frame_for_the_animation():
    reservoir = TrackletReservoir(1, best_k=0, animation_frames=60)
    feed(reservoir, np.full(25, 0.5))
    assert [s.frame_index for s in kept(reservoir, ANIMATION)] == list(range(25))


@pytest.mark.parametrize("argument", ["best_k", "animation_frames", "min_spacing_frames"])
def test_negative_sizes_are_refused(argument):
    with pytest.raises(ValueError, match=argument):
        TrackletReservoir(1, **{argument: -1})


def test_cut_crop_pads_outside_the_frame():
    image = np.full((100, 200, 3), 200, dtype=np.uint8)
    crop = cut_crop(image, np.array([-50.0, 0.0, 50.0, 100.0]), height=40, width=40)
    assert crop.shape == (40, 40, 3)
    assert crop.dtype == np.uint8
    assert (crop[:, :18] == 0).all()  # left half was outside the frame
    assert (crop[:, 22:] == 200).all()
    assert (cut_crop(image, np.array([300.0, 0.0, 400.0, 50.0]), height=8, width=4) == 0).all()


def make_frame(index: int, rng: np.random.Generator) -> Frame:
    return Frame(index=index, time=index / 25.0, image=rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8))


def test_collector_keeps_crops_per_tracklet_and_pop_frees_it():
    config = CropConfig(height=32, width=16, best_k=4, animation_frames=6, min_spacing_frames=2)
    collector = CropCollector(config=config)
    rng = np.random.default_rng(5)
    for index in range(40):
        detections = sv.Detections(
            xyxy=np.array([[10.0 + index, 20.0, 50.0 + index, 100.0], [200.0, 30.0, 240.0, 110.0], [5, 5, 40, 80]]),
            confidence=np.array([0.9, 0.8, 0.7]),
            class_id=np.zeros(3, dtype=int),
            tracker_id=np.array([3, 7, -1]),
        )
        collector.update(make_frame(index, rng), detections)
        assert collector.last_quality.shape == (3, 7)
    assert collector.live_ids() == [3, 7]
    samples, flags = collector.pop(3)
    assert collector.live_ids() == [7]
    assert 0 < len(samples) <= 4 + 6
    assert all(s.tracker_id == 3 for s in samples)
    assert all(s.image.shape == (32, 16, 3) and s.image.dtype == np.uint8 for s in samples)
    assert samples[0].frame_index == 0
    assert samples[-1].frame_index >= 30  # the animation reaches the end of the stay
    assert samples[-1].xyxy == (10.0 + samples[-1].frame_index, 20.0, 50.0 + samples[-1].frame_index, 100.0)
    assert sum(1 for f in flags if f & BEST) == 4
    assert collector.pop(3) == ([], [])


def test_collector_cuts_the_box_that_was_scored():
    image = np.zeros((120, 160, 3), dtype=np.uint8)
    image[20:100, 40:80] = (0, 0, 255)  # a red person
    collector = CropCollector(config=CropConfig(height=16, width=8))
    detections = sv.Detections(
        xyxy=np.array([[40.0, 20.0, 80.0, 100.0]]), confidence=np.array([0.95]), tracker_id=np.array([1])
    )
    collector.update(Frame(index=0, time=0.0, image=image), detections)
    (crop,), _ = collector.pop(1)
    assert (crop.image == (0, 0, 255)).all()
    assert crop.quality.confidence == pytest.approx(0.95)
    assert crop.quality.score == pytest.approx(float(collector.last_quality[0, -1]))


def test_collector_ignores_untracked_detections():
    collector = CropCollector(config=CropConfig())
    rng = np.random.default_rng(6)
    detections = sv.Detections(xyxy=np.array([[10.0, 10.0, 60.0, 110.0]]), confidence=np.array([0.9]))
    collector.update(make_frame(0, rng), detections)
    assert collector.live_ids() == []
    assert collector.last_quality.shape == (1, 7)
    collector.update(make_frame(1, rng), sv.Detections.empty())
    assert collector.last_quality.shape == (0, 7)


def _reference_keep(frames: list[Frame], detections: list[sv.Detections], config: CropConfig) -> dict:
    """What the collector kept before issue 23: every box's sharpness measured, then the reservoirs asked."""
    from streamreid.stream.quality import compute_quality, quality_components

    reservoirs: dict[int, TrackletReservoir] = {}
    for frame, found in zip(frames, detections, strict=True):
        quality = compute_quality(frame.pixels, found.xyxy, found.confidence, config=config.quality)
        for row, tracker_id in enumerate(found.tracker_id.tolist()):
            reservoir = reservoirs.setdefault(tracker_id, TrackletReservoir(
                tracker_id, best_k=config.best_k, animation_frames=config.animation_frames,
                min_spacing_frames=config.min_spacing_frames))  # fmt: skip
            if reservoir.wants(frame.index, float(quality[row, -1])):
                reservoir.offer(CropSample(tracker_id, frame.index, frame.time, tuple(found.xyxy[row].tolist()),
                                           quality_components(quality[row]), TINY))  # fmt: skip
    return {tracker_id: [(s.frame_index, s.quality) for s in r.samples()[0]] for tracker_id, r in reservoirs.items()}


def test_collector_measures_only_boxes_a_reservoir_could_take(monkeypatch):
    import streamreid.stream.quality as quality_module

    measured = []
    grey_region = quality_module.grey_region
    monkeypatch.setattr(quality_module, "grey_region", lambda *a, **k: measured.append(1) or grey_region(*a, **k))
    config = CropConfig(height=32, width=16, best_k=3, animation_frames=4, min_spacing_frames=2)
    rng = np.random.default_rng(11)
    frames, detections = [], []
    for index in range(60):
        frames.append(make_frame(index, rng))
        shift = rng.uniform(-3, 3, size=(3, 1))
        detections.append(sv.Detections(
            xyxy=np.array([[20.0, 30.0, 70.0, 130.0], [120.0, 20.0, 160.0, 110.0], [200.0, 40.0, 300.0, 90.0]]) + shift,
            confidence=rng.uniform(0.3, 1.0, size=3), class_id=np.zeros(3, dtype=int),
            tracker_id=np.array([1, 2, 3])))  # fmt: skip
    collector = CropCollector(config=config)
    skipped = 0
    for frame, found in zip(frames, detections, strict=True):
        collector.update(frame, found)
        skipped += int(np.isnan(collector.last_quality[:, 5]).sum())
    assert 0 < len(measured) < 3 * len(frames) and skipped == 3 * len(frames) - len(measured)
    kept = {tracker_id: [(s.frame_index, s.quality) for s in collector.pop(tracker_id)[0]] for tracker_id in (1, 2, 3)}
    assert kept == _reference_keep(frames, detections, config)  # the same crops as measuring every box

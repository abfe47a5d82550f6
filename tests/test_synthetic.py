from pathlib import Path

import av
import numpy as np
import pytest
from synthetic import ScriptedDetector, scenario_reentry_crossing, write_video

from streamreid.types import Frame


@pytest.fixture(scope="module")
def scenario():
    return scenario_reentry_crossing()


def _actor(scenario, identity):
    return next(a for a in scenario.actors if a.identity == identity)


def test_figures_are_drawn_inside_their_boxes_and_nowhere_else(scenario):
    empty = scenario.render(0)
    for actor_frame in (0, 37, 72, 100, 149):
        image = scenario.render(actor_frame)
        xyxy, identity, visible = scenario.boxes(actor_frame)
        background = type(scenario)(
            width=scenario.width, height=scenario.height, fps=scenario.fps, num_frames=1, actors=()
        ).render(0)
        changed = np.any(image != background, axis=2)
        inside_any = np.zeros_like(changed)
        for x1, y1, x2, y2 in np.rint(xyxy).astype(int):
            inside_any[max(y1 - 1, 0) : y2 + 1, max(x1 - 1, 0) : x2 + 1] = True
        assert changed.any()
        assert not (changed & ~inside_any).any(), f"pixels drawn outside every box in frame {actor_frame}"
        for box, ident, vis in zip(xyxy, identity, visible, strict=True):
            actor = _actor(scenario, ident)
            if vis < 1.0 or box[2] - box[0] < actor.width:
                continue
            x1, y1, x2, y2 = box
            cx = int((x1 + x2) / 2)
            torso = image[int(y1 + 0.38 * (y2 - y1)), cx]
            leg = image[int(y1 + 0.8 * (y2 - y1)), int(x1 + 0.3 * (x2 - x1))]
            assert tuple(torso) == actor.top_bgr
            assert tuple(leg) == actor.bottom_bgr
    assert not np.array_equal(empty, scenario.render(72))


def test_actor_leaves_and_comes_back_after_more_than_a_second(scenario):
    present = [i for i in range(scenario.num_frames) if 0 in scenario.boxes(i)[1]]
    gaps = np.diff(present)
    assert present[0] == 0 and present[-1] == scenario.num_frames - 1
    assert gaps.max() - 1 > scenario.fps, "re-entry gap must exceed one second"
    assert (gaps > 1).sum() == 1
    # While it walks out, its box is clipped to the frame.
    last_before = present[int(np.argmax(gaps))]
    xyxy, identity, _ = scenario.boxes(last_before)
    box = xyxy[list(identity).index(0)]
    assert box[2] == scenario.width and box[2] - box[0] < _actor(scenario, 0).width


def test_crossing_occludes_the_far_actor_for_several_frames(scenario):
    fractions = {}
    for i in range(scenario.num_frames):
        _, identity, visible = scenario.boxes(i)
        fractions[i] = dict(zip(identity.tolist(), visible.tolist(), strict=True))
    far = np.array([fractions[i][2] for i in range(scenario.num_frames)])
    near = np.array([fractions[i][1] for i in range(scenario.num_frames)])
    assert (far < 1.0).sum() >= 8
    assert (far < 0.3).sum() >= 3
    assert np.all(near == 1.0), "the nearer actor is drawn in front and never covered"
    # Where both overlap the near actor's shirt is what is drawn.
    worst = int(np.argmin(far))
    xyxy, identity, _ = scenario.boxes(worst)
    near_box = xyxy[list(identity).index(1)]
    image = scenario.render(worst)
    cx = int((near_box[0] + near_box[2]) / 2)
    assert tuple(image[int(near_box[1] + 0.38 * (near_box[3] - near_box[1])), cx]) == _actor(scenario, 1).top_bgr


def test_standing_actor_does_not_move(scenario):
    boxes = [scenario.boxes(i) for i in (0, 75, 149)]
    stand = [b[0][list(b[1]).index(3)] for b in boxes]
    assert np.array_equal(stand[0], stand[1]) and np.array_equal(stand[1], stand[2])


def test_scenario_scales_with_size_and_length():
    small = scenario_reentry_crossing(num_frames=60, width=320, height=180)
    xyxy, identity, _ = small.boxes(0)
    assert len(identity) == 4
    assert xyxy[:, 2].max() <= 320 and xyxy[:, 3].max() <= 180
    assert small.render(59).shape == (180, 320, 3)


@pytest.mark.parametrize("suffix", [".mp4", ".ts", ".mkv"])
def test_written_video_decodes_to_every_frame(tmp_path, suffix):
    scenario = scenario_reentry_crossing(num_frames=30)
    path = write_video(scenario, tmp_path / f"clip{suffix}")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert float(stream.average_rate) == pytest.approx(25.0)
        images = [frame.to_ndarray(format="bgr24") for frame in container.decode(stream)]
    assert len(images) == 30
    assert images[0].shape == (360, 640, 3)
    error = np.abs(images[12].astype(int) - scenario.render(12).astype(int)).mean()
    assert error < 6.0


@pytest.mark.parametrize(("faststart", "moov_first"), [(True, True), (False, False)])
def test_mp4_moov_position_follows_faststart(tmp_path, faststart, moov_first):
    path = write_video(scenario_reentry_crossing(num_frames=10), tmp_path / "clip.mp4", faststart=faststart)
    data = path.read_bytes()
    assert (data.find(b"moov") < data.find(b"mdat")) is moov_first


def test_scripted_detector_follows_ground_truth_and_stride(scenario):
    detector = ScriptedDetector(scenario, jitter_px=1.0, seed=3)
    frames = [Frame(index=i, time=i / 25, image=scenario.render(i)) for i in range(70, 78)]
    results = list(detector.iter_detections(frames, detect_stride=2))
    assert [f.index for f, _ in results] == list(range(70, 78))
    assert [d is None for _, d in results] == [False, True] * 4
    for frame, detections in results[::2]:
        xyxy, identity, visible = scenario.boxes(frame.index)
        expected = identity[visible >= 0.3]
        assert sorted(detections.data["identity"].tolist()) == sorted(expected.tolist())
        assert np.all(detections.class_id == 0)
        assert np.all((detections.confidence >= 0.7) & (detections.confidence <= 0.95))
        for box, ident in zip(detections.xyxy, detections.data["identity"], strict=True):
            truth = xyxy[list(identity).index(ident)]
            assert np.abs(box - truth).max() < 6.0
    # Same seed, same noise; the occluded actor 2 is missing around the crossing.
    again = ScriptedDetector(scenario, jitter_px=1.0, seed=3).detect(frames[4])
    assert np.array_equal(again.xyxy, results[4][1].xyxy)
    assert 2 not in results[4][1].data["identity"]
    assert detector.weights.origin == "scripted" and detector.device == "cpu"


def test_scripted_detector_drop_rate_and_empty_frames(scenario):
    frames = [Frame(index=i, time=i / 25, image=scenario.render(i)) for i in range(40)]
    dropped = ScriptedDetector(scenario, drop_rate=0.5, seed=1)
    counts = [len(d) for _, d in dropped.iter_detections(frames)]
    full = [len(scenario.boxes(i)[1]) for i in range(40)]
    assert 0.3 < sum(counts) / sum(full) < 0.7
    nobody = ScriptedDetector(scenario, drop_rate=1.0)
    _, detections = next(nobody.iter_detections(frames[:1]))
    assert len(detections) == 0 and detections.data["identity"].shape == (0,)


def test_write_video_returns_path(tmp_path):
    out = write_video(scenario_reentry_crossing(num_frames=5), tmp_path / "x.mkv")
    assert isinstance(out, Path) and out.stat().st_size > 0

"""Runs side by side: two runs in one process, and two processes on one cache, match a run alone."""

import itertools
import multiprocessing
import threading
from pathlib import Path

import numpy as np
import pytest
from synthetic import ScriptedDetector, scenario_reentry_crossing, write_video
from trackers import ByteTrackTracker

from streamreid.config import Config, TrackerConfig
from streamreid.pipeline import process
from streamreid.stream.track import PersonTracker
from streamreid.weights import staged_folder


@pytest.fixture(scope="module")
def scenario():
    return scenario_reentry_crossing(num_frames=120)


def _track_all(scenario, trackers):
    """Feed every tracker the same frames, interleaved; return each one's (frame, id, box) rows."""
    detector = ScriptedDetector(scenario)
    rows = [[] for _ in trackers]
    for frame in scenario.frames():
        detections = detector.detect(frame)
        for tracker, out in zip(trackers, rows, strict=True):
            tracked, _ = tracker.update(detections, time=frame.time)
            out.extend(
                (frame.index, int(t), *np.round(box, 3))
                for t, box in zip(tracked.tracker_id, tracked.xyxy, strict=True)
            )
    return rows


def test_tracker_ids_are_per_run_even_with_a_shared_library_counter(scenario, monkeypatch):
    (alone,) = _track_all(scenario, [PersonTracker(fps=scenario.fps, config=TrackerConfig())])
    assert min(row[1] for row in alone) == 0
    # older trackers releases count ids on the class: every tracker in the process draws from one counter
    shared = itertools.count()
    monkeypatch.setattr(ByteTrackTracker, "_allocate_tracker_id", lambda self: next(shared))
    first, second = _track_all(scenario, [PersonTracker(fps=scenario.fps, config=TrackerConfig()) for _ in range(2)])
    assert first == alone
    assert second == alone


def _outputs(run_dir: Path) -> dict[str, str]:
    return {name: (run_dir / name).read_text() for name in ("tracks.mot.txt", "tracklet_stats.json")}


def test_two_runs_in_one_process_match_a_run_alone(scenario, tmp_path):
    video = write_video(scenario, tmp_path / "scene.mp4")
    config = Config().with_overrides({"reid.embedder": "fallback", "report.enabled": False})

    def run(name):
        return process(str(video), out_dir=tmp_path / name, config=config,
                       detector=ScriptedDetector(scenario), progress=False)  # fmt: skip

    alone = run("alone")
    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = _outputs(alone.run_dir)
    assert alone.tracklets >= 4
    for name in ("a", "b"):
        assert _outputs(tmp_path / name) == expected
        assert (tmp_path / name / "canonical_persons.json").read_text().replace(str(tmp_path / name), "") == (
            alone.run_dir / "canonical_persons.json"
        ).read_text().replace(str(alone.run_dir), "")


def _convert(cache: str, barrier) -> list[float]:
    """In a fresh process: convert a small network to OpenVINO through the cache, return its output."""
    import os

    os.environ["STREAMREID_CACHE"] = cache
    import torch

    from streamreid.reid.osnet import OSNET_INPUT_HEIGHT, OSNET_INPUT_WIDTH, _openvino_network

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    barrier.wait(timeout=60)  # both convert at the same moment
    compiled = _openvino_network(model, cache_key="side-by-side")
    image = np.linspace(0, 255, 3 * OSNET_INPUT_HEIGHT * OSNET_INPUT_WIDTH).astype(np.uint8)
    return compiled(image.reshape(1, OSNET_INPUT_HEIGHT, OSNET_INPUT_WIDTH, 3))[0].ravel().tolist()  # a BGR crop


def test_two_processes_convert_into_one_cache_safely(tmp_path, monkeypatch):
    pytest.importorskip("openvino")
    monkeypatch.setenv("STREAMREID_CACHE", str(tmp_path))
    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(2)
    with context.Pool(2) as pool:
        outputs = pool.starmap(_convert, [(str(tmp_path), barrier)] * 2)
    exports = tmp_path / "exports"
    assert [p.name for p in exports.iterdir()] == ["reid-side-by-side-openvino"]  # no staging folder left behind
    assert (exports / "reid-side-by-side-openvino" / "model.xml").is_file()
    assert np.allclose(outputs[0], outputs[1], atol=1e-5)
    assert np.allclose(_convert_again(tmp_path), outputs[0], atol=1e-5)  # the cached copy reads back the same


def _convert_again(cache: Path) -> list[float]:
    class _NoWait:
        def wait(self, timeout=None):
            return 0

    return _convert(str(cache), _NoWait())


def test_staged_folder_first_finisher_wins_and_failures_leave_nothing(tmp_path):
    target = tmp_path / "cache" / "thing"
    with pytest.raises(RuntimeError), staged_folder(target) as staging:
        (staging / "half").write_text("x")
        raise RuntimeError("conversion failed")
    assert not target.exists() and list(target.parent.iterdir()) == []
    with staged_folder(target) as first, staged_folder(target) as second:
        assert first != second
        (first / "model").write_text("first")
        (second / "model").write_text("second")
    assert (target / "model").read_text() == "second"  # the inner block finished first
    assert [p.name for p in target.parent.iterdir()] == ["thing"]

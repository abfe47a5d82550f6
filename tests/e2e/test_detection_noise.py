"""benchmarks/detection_noise.py: the noise it adds is the noise it measures, and paired differences pair copies."""

import numpy as np
import pytest
from benchmark_modules import load_benchmark


def _detections(frames: int = 200, per_frame: int = 6, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    top_left = rng.uniform(0, 1500, (frames * per_frame, 2))
    size = np.column_stack([rng.uniform(30, 90, len(top_left)), rng.uniform(80, 300, len(top_left))])
    spread = np.arange(per_frame * frames) % per_frame * 300.0  # people apart: one match each
    top_left[:, 0] = spread + rng.uniform(0, 50, len(top_left))
    return {"frame_index": np.repeat(np.arange(frames), per_frame), "frames": frames,
            "xyxy": np.column_stack([top_left, top_left + size]).astype(np.float32),
            "confidence": rng.uniform(0.2, 0.95, len(top_left)).astype(np.float32)}  # fmt: skip


def test_the_noise_added_is_the_noise_measured():
    noise = load_benchmark("detection_noise")
    data = _detections()
    wanted = noise.DetectionNoise(confidence_sd=0.02, corner_sd=0.01, matched=0)
    noisy = noise.with_noise(data, wanted, seed=3)
    measured = noise.measure_noise(data, noisy)
    assert measured.matched == len(data["confidence"])
    assert measured.confidence_sd == pytest.approx(0.02, rel=0.1) and measured.corner_sd == pytest.approx(0.01, rel=0.1)
    assert noise.measure_noise(data, data).corner_sd == 0.0
    again = noise.with_noise(data, wanted, seed=3)
    assert np.array_equal(again["xyxy"], noisy["xyxy"]) and not np.array_equal(noisy["xyxy"], data["xyxy"])


def test_paired_differences_pair_the_same_copies():
    noise = load_benchmark("detection_noise")
    row = {"sequence": "s", "embedder": "e", "IDF1": 0.5, "persons": 10, "person IDF1": 0.6}
    earlier = [{**row, "detections": f"f32+noise{i}"} for i in range(3)]
    now = [{**row, "detections": "f32+noise0", "person IDF1": 0.7}, {**row, "detections": "f32+noise1"},
           {**row, "detections": "f32+noise9", "person IDF1": 0.0}]  # fmt: skip
    (line,) = noise.paired_differences(now, earlier)
    assert line["copies"] == 2 and line["person IDF1 change"].startswith("+0.050")
    assert "(1 up, 0 down)" in line["person IDF1 change"] and "(0 up, 0 down)" in line["IDF1 change"]

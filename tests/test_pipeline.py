"""The whole single pass on synthetic videos with ground truth, driven by the scripted detector."""

import json
from pathlib import Path

import numpy as np
import pytest
from synthetic import Actor, Scenario, ScriptedDetector, scenario_reentry_crossing, write_video

import streamreid.stream.sources
from streamreid.config import Config
from streamreid.end_of_stream import analyse
from streamreid.pipeline import process
from streamreid.run.store_reader import open_store
from streamreid.run.tracklet_stats import load_tracklet_stats
from streamreid.stream.filling import is_filled
from streamreid.stream.stats import TrackletStatsAccumulator


def _iou(a, b):
    x1, y1 = np.maximum(a[:2], b[:2])
    x2, y2 = np.minimum(a[2:], b[2:])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _identity_of_rows(scenario, detections):
    """Ground-truth identity of every stored detection row (best IoU with a true box of its frame)."""
    identities = np.full(len(detections["frame_index"]), -1)
    for row, (frame, box) in enumerate(zip(detections["frame_index"], detections["xyxy"], strict=True)):
        true_boxes, true_ids, _ = scenario.boxes(int(frame))
        ious = [_iou(box, t) for t in true_boxes]
        if ious and max(ious) > 0.5:
            identities[row] = true_ids[int(np.argmax(ious))]
    return identities


@pytest.fixture(scope="module")
def scenario():
    return scenario_reentry_crossing()


@pytest.fixture(scope="module")
def video(scenario, tmp_path_factory):
    return write_video(scenario, tmp_path_factory.mktemp("video") / "scene.mp4")


@pytest.fixture(scope="module")
def run(scenario, video, tmp_path_factory):
    config = Config().with_overrides({"reid.embedder": "fallback"})
    result = process(
        str(video), out_dir=tmp_path_factory.mktemp("run") / "r", config=config,
        detector=ScriptedDetector(scenario), progress=False,
    )  # fmt: skip
    return result


def test_every_output_is_written_and_readable(run):
    names = {p.name for p in run.run_dir.iterdir()}
    expected = {
        "run.json", "store.zarr", "tracks.mot.txt", "tracklet_stats.json", "grouping_log.json", "reid_candidates.json",
        "canonical_persons.json", "canonical_persons.npz", "ranking_results.json", "embeddings.json",
        "embeddings.npy", "crop_features.npz", "similarity_matrix.json", "similarity_matrix.npy",
        "merge_recommendations.json", "webp", "report.html", "scene.jpg", "crops",
    }  # fmt: skip
    assert expected <= names
    meta = json.loads((run.run_dir / "run.json").read_text())
    assert meta["status"] == "complete"
    assert meta["counts"]["frames_decoded"] == 150
    assert meta["counts"]["persons"] == run.persons
    assert meta["embedder"]["kind"] == "fallback"
    assert {"decode", "detect", "track", "stats", "crops", "store", "grouping", "reid", "report"} <= set(
        meta["timings"]
    )
    assert meta["versions"]["ultralytics"] and meta["versions"]["trackers"]
    assert meta["detector"]["weights"]["origin"] == "scripted"
    assert open_store(run.run_dir / "store.zarr").complete


def test_tracks_keep_identities_through_the_crossing(run, scenario):
    detections = open_store(run.run_dir / "store.zarr").detections()
    identities = _identity_of_rows(scenario, detections)
    assert (identities >= 0).mean() > 0.98
    for tracker_id in np.unique(detections["tracker_id"]):
        ids = identities[detections["tracker_id"] == tracker_id]
        values, counts = np.unique(ids[ids >= 0], return_counts=True)
        assert counts.max() / counts.sum() > 0.97, (
            f"track {tracker_id} mixes identities {dict(zip(values, counts, strict=False))}"
        )
    # the two crossing actors (1 and 2) each keep one track for their whole stay
    for identity in (1, 2, 3):
        assert len(np.unique(detections["tracker_id"][identities == identity])) == 1


def test_person_who_left_and_came_back_is_merged_and_the_merge_recorded(run, scenario):
    detections = open_store(run.run_dir / "store.zarr").detections()
    identities = _identity_of_rows(scenario, detections)
    persons = json.loads((run.run_dir / "canonical_persons.json").read_text())["persons"]
    identity_of_person = {}
    for person in persons:
        rows = np.isin(detections["tracker_id"], person["tracklet_ids"])
        identity_of_person[person["person_id"]] = set(np.unique(identities[rows][identities[rows] >= 0]).tolist())
    # one person per identity: the 2.4 s absence is beyond the grouping gap, the calibrated appearance rule joins it
    assert all(len(found) == 1 for found in identity_of_person.values())
    assert sorted(next(iter(f)) for f in identity_of_person.values()) == list(range(len(persons)))
    returning = [p for p in persons if p["num_tracklets_merged"] == 2]
    assert len(returning) == 1 and identity_of_person[returning[0]["person_id"]] == {0}
    recommendations = json.loads((run.run_dir / "merge_recommendations.json").read_text())
    assert recommendations["auto_merged"] is True and recommendations["decision"]["trusted"] is True
    assert [sorted(t for group in merge for t in group) for merge in recommendations["applied_merges"]] == [
        sorted(returning[0]["tracklet_ids"])
    ]
    assert len(recommendations["recommendations"]) < len(persons)


def test_stored_statistics_match_a_recomputation_from_the_stored_detections(run):
    detections = open_store(run.run_dir / "store.zarr").detections()
    stats = {s.tracker_id: s for s in load_tracklet_stats(run.run_dir)}
    detected = ~is_filled(detections["confidence"])  # the boxes filled between detections are no detections
    assert len(stats) >= 3, "the scenario's people give tracklets to check"
    for tracker_id, final in stats.items():
        rows = np.flatnonzero((detections["tracker_id"] == tracker_id) & detected)
        again = TrackletStatsAccumulator()
        import supervision as sv

        for row in rows:
            again.update(
                int(detections["frame_index"][row]),
                float(detections["time"][row]),
                sv.Detections(
                    xyxy=detections["xyxy"][row : row + 1].astype(float),
                    confidence=detections["confidence"][row : row + 1],
                    tracker_id=np.array([tracker_id]),
                ),
            )
        recomputed = again.finish(tracker_id)
        assert recomputed.detection_count == final.detection_count == len(rows)
        assert recomputed.start_frame == final.start_frame and recomputed.end_frame == final.end_frame
        assert recomputed.mean_center == pytest.approx(final.mean_center, rel=1e-5)
        assert recomputed.center_jitter == pytest.approx(final.center_jitter, rel=1e-4, abs=1e-3)


def test_mot_export_matches_the_store(run):
    lines = (run.run_dir / "tracks.mot.txt").read_text().splitlines()
    detections = open_store(run.run_dir / "store.zarr").detections()
    assert len(lines) == len(detections["frame_index"])
    assert np.sum(~is_filled(detections["confidence"])) == run.detections  # the others are filled between them
    frame, track, x, y, w, h, conf, *rest = lines[0].split(",")
    assert int(frame) == detections["frame_index"][0] + 1
    assert float(x) + float(w) == pytest.approx(detections["xyxy"][0][2], abs=0.02)
    assert rest == ["-1", "-1", "-1"]


def test_each_frame_is_decoded_once_and_the_video_never_reopened(scenario, video, tmp_path, monkeypatch):
    opened = []
    real_open = streamreid.stream.sources.av.open

    def spy(*args, **kwargs):
        opened.append(args[0] if args else kwargs.get("file"))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(streamreid.stream.sources.av, "open", spy)
    config = Config().with_overrides({"reid.embedder": "fallback"})
    result = process(str(video), out_dir=tmp_path / "r", config=config, detector=ScriptedDetector(scenario),
                     progress=False)  # fmt: skip
    assert len(opened) == 1
    assert result.frames_decoded == result.frames_processed == scenario.num_frames
    assert result.report is not None and result.report.is_file()


def test_detection_stride_keeps_tracks_and_skips_frames(scenario, video, tmp_path):
    config = Config().with_overrides({"detector.detect_stride": 3, "reid.enabled": False, "report.enabled": False})
    result = process(str(video), out_dir=tmp_path / "r", config=config, detector=ScriptedDetector(scenario),
                     progress=False)  # fmt: skip
    detections = open_store(tmp_path / "r" / "store.zarr").detections()
    detected = ~is_filled(detections["confidence"])
    assert set(np.unique(detections["frame_index"][detected] % 3)) == {0}
    assert result.frames_processed == scenario.num_frames
    stats = load_tracklet_stats(tmp_path / "r")
    # strided detection is not a gap: the three actors that never leave keep one long tracklet each
    long = [s for s in stats if s.duration > 100]
    assert len(long) >= 3
    # only the actor hidden during the crossing has a real gap; the others have none
    assert sum(s.gap_frames == 0 for s in long) >= 2
    assert all(s.gap_frames % 3 == 0 for s in long)


def test_interrupt_keeps_what_was_seen(scenario, video, tmp_path):
    def stop_at_60(processed):
        if processed == 60:
            raise KeyboardInterrupt

    config = Config().with_overrides({"reid.embedder": "fallback"})
    result = process(str(video), out_dir=tmp_path / "r", config=config, detector=ScriptedDetector(scenario),
                     progress=False, on_progress=stop_at_60)  # fmt: skip
    assert result.status == "interrupted"
    assert result.frames_processed == 60
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert "stopped early" in (tmp_path / "r" / "report.html").read_text().lower()
    store = open_store(tmp_path / "r" / "store.zarr")
    assert not store.complete
    assert store.detections()["frame_index"].max() < 60
    assert result.persons >= 3


def test_report_command_rebuilds_from_a_killed_run(scenario, video, tmp_path):
    """A run that died leaves run.json, the stats line log and the store; analyse() makes a report from them."""
    config = Config().with_overrides({"reid.embedder": "fallback"})
    process(str(video), out_dir=tmp_path / "r", config=config, detector=ScriptedDetector(scenario), progress=False)
    run_dir = tmp_path / "r"
    for name in ("tracklet_stats.json", "report.html", "canonical_persons.json", "similarity_matrix.json"):
        (run_dir / name).unlink()
    summary = analyse(run_dir, config=config)
    assert summary.persons >= 4
    assert (run_dir / "report.html").is_file()
    assert (run_dir / "similarity_matrix.json").is_file()


def test_bounded_memory_many_people_come_and_go(tmp_path):
    """Live state follows the people on screen: 40 walkers over 1200 frames, at most 3 at a time."""
    actors = []
    for i in range(40):
        start = i * 30
        actors.append(
            Actor(
                identity=i, top_bgr=(20 + 5 * i, 200 - 4 * i, 90), bottom_bgr=(60, 60, 60), width=30, height=70,
                keyframes=((start, -20.0, 100.0 + 3 * (i % 5)), (start + 80, 340.0, 100.0 + 3 * (i % 5))),
                visible=((start, start + 80),),
            )
        )  # fmt: skip
    scenario = Scenario(width=320, height=240, fps=25.0, num_frames=1200, actors=tuple(actors))
    video = write_video(scenario, tmp_path / "long.mp4")

    from streamreid.stream.reservoir import CropCollector

    live_counts = []
    original_update = CropCollector.update

    def counting_update(self, frame, detections):
        original_update(self, frame, detections)
        live_counts.append(len(self.live_ids()))

    CropCollector.update = counting_update
    try:
        config = Config().with_overrides({"reid.enabled": False, "report.enabled": False})
        result = process(str(video), out_dir=tmp_path / "r", config=config, detector=ScriptedDetector(scenario),
                         progress=False)  # fmt: skip
    finally:
        CropCollector.update = original_update
    assert result.tracklets >= 40
    assert max(live_counts) <= 6  # ≤ 3 on screen + those within the 1 s lost-track buffer
    assert open_store(tmp_path / "r" / "store.zarr").num_crops <= 40 * (16 + 60) + 8 * 76


def test_video_info_reaches_the_tracker_frame_rate(tmp_path):
    scenario = scenario_reentry_crossing(num_frames=60, fps=12.0)
    video = write_video(scenario, tmp_path / "slow.mp4")
    config = Config().with_overrides({"reid.enabled": False, "report.enabled": False})
    result = process(str(video), out_dir=tmp_path / "r", config=config, detector=ScriptedDetector(scenario),
                     progress=False)  # fmt: skip
    assert result.video.fps == pytest.approx(12.0)
    times = open_store(tmp_path / "r" / "store.zarr").detections()["time"]
    assert np.unique(times)[1] - np.unique(times)[0] == pytest.approx(1 / 12.0, abs=1e-3)


def test_path_objects_and_strings_are_both_accepted(scenario, video, tmp_path):
    config = Config().with_overrides({"reid.enabled": False, "report.enabled": False, "source.max_frames": 10})
    result = process(Path(video), out_dir=tmp_path / "r", config=config, detector=ScriptedDetector(scenario),
                     progress=False)  # fmt: skip
    assert result.frames_decoded == 10


def test_without_auto_merge_the_confident_cluster_is_only_listed(scenario, video, tmp_path):
    config = Config().with_overrides({"reid.embedder": "fallback", "reid.auto_merge": False, "report.enabled": False})
    result = process(str(video), out_dir=tmp_path / "r", config=config, detector=ScriptedDetector(scenario),
                     progress=False)  # fmt: skip
    persons = json.loads((tmp_path / "r" / "canonical_persons.json").read_text())["persons"]
    assert result.persons == len(persons) == 5
    recommendations = json.loads((tmp_path / "r" / "merge_recommendations.json").read_text())
    assert recommendations["auto_merged"] is False and recommendations["applied_merges"] == []
    assert [c for c in recommendations["clusters"] if len(c) > 1] == [[0, 4]]


def test_the_fixed_threshold_decision_is_still_available(scenario, video, tmp_path):
    config = Config().with_overrides({"reid.embedder": "fallback", "reid.decision": "fixed", "reid.auto_merge": False,
                                      "report.enabled": False})  # fmt: skip
    process(str(video), out_dir=tmp_path / "r", config=config, detector=ScriptedDetector(scenario), progress=False)
    recommendations = json.loads((tmp_path / "r" / "merge_recommendations.json").read_text())
    assert "decision" not in recommendations
    assert (0, 4) in {tuple(sorted(r["persons"])) for r in recommendations["recommendations"]}


def test_coverage_counts_the_frames_the_detector_ran_on(scenario, video, tmp_path):
    config = Config().with_overrides({"detector.detect_stride": 3, "reid.enabled": False, "report.enabled": False})
    process(str(video), out_dir=tmp_path / "r", config=config, detector=ScriptedDetector(scenario), progress=False)
    coverage = [
        r["components"]["coverage"]
        for r in json.loads((tmp_path / "r" / "ranking_results.json").read_text())["rankings"]
    ]
    assert max(coverage) > 0.95, "the actor standing still the whole time is seen in every detected frame"


def test_rebuild_after_a_kill_without_counts_keeps_coverage_honest(scenario, video, tmp_path):
    config = Config().with_overrides({"reid.enabled": False, "report.enabled": False})
    process(str(video), out_dir=tmp_path / "r", config=config, detector=ScriptedDetector(scenario), progress=False)
    meta = json.loads((tmp_path / "r" / "run.json").read_text())
    del meta["counts"]  # as a killed run leaves it
    (tmp_path / "r" / "run.json").write_text(json.dumps(meta))
    analyse(tmp_path / "r", config=config)
    coverage = sorted(
        r["components"]["coverage"]
        for r in json.loads((tmp_path / "r" / "ranking_results.json").read_text())["rankings"]
    )
    assert coverage[0] < 0.5 and coverage[-1] > 0.95

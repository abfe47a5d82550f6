"""The Python API: streamreid.process and the streamreid.watch generator of periodic snapshots."""

import json

import pytest
from benchmark_modules import load_benchmark
from scripted_cli import SlowScriptedDetector
from synthetic import scenario_reentry_crossing, write_video

import streamreid

FAST = {"reid.embedder": "fallback"}


@pytest.fixture(scope="module")
def scene():
    return scenario_reentry_crossing(num_frames=200, fps=25.0, width=320, height=180)


@pytest.fixture(scope="module")
def video(scene, tmp_path_factory):
    return write_video(scene, tmp_path_factory.mktemp("api") / "scene.mp4")


def test_process_is_exported_and_runs_a_file(scene, video, tmp_path):
    result = streamreid.process(video, out_dir=tmp_path / "run", overrides=FAST,
                                detector=SlowScriptedDetector(scene))  # fmt: skip
    assert result.status == "complete" and result.persons >= 3
    assert (tmp_path / "run" / "report.html").is_file()


def test_watch_yields_snapshots_while_the_stream_runs_then_a_final_one(scene, video, tmp_path):
    detector = SlowScriptedDetector(scene, seconds=0.015)  # ~3 s of work: several snapshots
    snapshots = list(streamreid.watch(video, every_s=0.5, out_dir=tmp_path / "run", overrides=FAST,
                                      detector=detector))  # fmt: skip
    assert len(snapshots) >= 3
    assert [s.number for s in snapshots] == list(range(1, len(snapshots) + 1))
    assert [s.final for s in snapshots] == [False] * (len(snapshots) - 1) + [True]
    live, final = snapshots[:-1], snapshots[-1]
    assert all(isinstance(s, streamreid.Snapshot) for s in snapshots)
    assert [s.seconds_of_video for s in live] == sorted(s.seconds_of_video for s in live)
    assert live[0].persons and set(live[0].new) == {p.person_id for p in live[0].persons}, "all new at first"
    assert any(s.updated for s in snapshots[1:]), "people seen for longer show up as updated"
    assert final.result.status == "complete" and len(final.persons) == final.result.persons
    assert all(isinstance(p, streamreid.Person) for p in final.persons)
    on_disk = json.loads((tmp_path / "run" / "canonical_persons.json").read_text())["persons"]
    assert [p.person_id for p in final.persons] == sorted(p["person_id"] for p in on_disk)


def test_leaving_the_loop_stops_the_run_which_still_writes_its_report(scene, video, tmp_path):
    detector = SlowScriptedDetector(scene, seconds=0.02)
    for snapshot in streamreid.watch(video, every_s=0.3, out_dir=tmp_path / "run", overrides=FAST, detector=detector):
        assert not snapshot.final
        break
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["status"] == "interrupted" and meta["counts"]["frames_processed"] < 200
    assert (tmp_path / "run" / "report.html").is_file()


def test_ram_holds_a_bounded_gallery_but_every_tracklet_reaches_the_files(tmp_path, monkeypatch):
    """Three minutes of the benchmark's endless street: people keep coming, RAM keeps only the newest tracklets."""
    import streamreid.pipeline as pipeline
    from streamreid.run.tracklet_sink import TrackletSink

    bench = load_benchmark("live_long_run")
    street = bench.EndlessStreet(fps=5.0, every_s=6.0, life_s=20.0)
    monkeypatch.setattr(pipeline, "open_source", lambda source, **options: bench.EndlessStream(street, 900))
    held = []
    forget = TrackletSink.forget_older

    def spy(closer, *, keep):
        forget(closer, keep=keep)
        held.append((len(closer.finished), closer.forgotten))

    monkeypatch.setattr(TrackletSink, "forget_older", spy)
    overrides = {**FAST, "report.every_s": 0.2, "report.max_tracklets": 3, "report.enabled": False,
                 "source.realtime": False}  # fmt: skip
    result = streamreid.process("rtsp://street/live", out_dir=tmp_path / "run", overrides=overrides,
                                detector=bench.StreetDetector(street))  # fmt: skip
    assert held and max(count for count, _ in held) <= 3 and held[-1][1] > 0, "older tracklets left RAM"
    logged = (tmp_path / "run" / "tracklet_stats.jsonl").read_text().splitlines()
    stored = json.loads((tmp_path / "run" / "tracklet_stats.json").read_text())["tracklets"]
    assert result.tracklets == len(logged) == len(stored) >= 20, "every tracklet reaches the files"


def test_retention_keeps_an_endless_runs_store_bounded_and_says_what_it_dropped(tmp_path, monkeypatch):
    import streamreid.pipeline as pipeline
    import streamreid.run.store as store_module
    import streamreid.run.store_reader

    bench = load_benchmark("live_long_run")
    street = bench.EndlessStreet(fps=5.0, every_s=6.0, life_s=20.0)
    monkeypatch.setattr(pipeline, "open_source", lambda source, **options: bench.EndlessStream(street, 900))
    checks = store_module.Retention
    monkeypatch.setattr(store_module, "Retention", lambda **options: checks(**options, every_s=0.1))
    overrides = {**FAST, "store.retain_s": 40.0, "report.enabled": False, "reid.enabled": False,
                 "source.realtime": False}  # fmt: skip
    result = streamreid.process("rtsp://street/live", out_dir=tmp_path / "run", overrides=overrides,
                                detector=bench.StreetDetector(street))  # fmt: skip
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    dropped = meta["retention"]
    assert dropped["crops"] > 0 and dropped["bytes"] > 0 and 60 < dropped["until_time"] < 180 - 40
    assert any(note.startswith("store retention dropped") for note in meta["notes"])
    reader = streamreid.run.store_reader.open_store(tmp_path / "run")
    kept = reader.crop_metadata()
    assert kept["time"].min() > dropped["until_time"] - 40, "only whole chunks of old crops went"
    assert result.persons > 0 and result.persons < result.tracklets, "the final analysis saw only what is kept"

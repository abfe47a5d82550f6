"""Hostile and damaged inputs (docs/HOSTILE_INPUTS.md): each ends in one line and exit 2, or is handled."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_network_call_of_ours_has_a_timeout():
    """Issue 20.1: no process of ours waits on the network without a bound (urlopen, sockets, pip)."""
    import re

    calls = re.compile(r"(urlopen|create_connection|requests\.(get|post|head)|subprocess\.run)\(")
    unbounded = []
    for path in sorted((ROOT / "streamreid").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for match in calls.finditer(text):
            if "timeout" not in _call_text(text, match.end() - 1):
                unbounded.append(f"{path.name}:{text[: match.start()].count(chr(10)) + 1}")
    assert unbounded == []


def _call_text(text: str, start: int) -> str:
    """The arguments of the call whose opening parenthesis is at ``start``."""
    depth = 0
    for end in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            return text[start:end]
    return text[start:]


# --------------------------------------------------------------------------- run directories (20.3, 20.4, 20.9)


@pytest.fixture
def fake(tmp_path):
    from fake_run import build_fake_run

    return build_fake_run(tmp_path / "run", num_persons=3, embedder_kind="fallback", with_similarity=False)


def _contents(run_dir: Path) -> dict[str, bytes]:
    """Every file of a run directory and its bytes (the lock file aside: it is the lock, not the run)."""
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.name != ".streamreid.lock"}  # fmt: skip


def _cli(capsys, *args: str) -> tuple[int, str]:
    from streamreid import cli

    code = cli.main([*map(str, args)])
    return code, capsys.readouterr().err


def _one_refusal(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("streamreid: error: "), err
    assert all(word in err for word in words), err


def _decisions(path: Path, **document) -> Path:
    import json

    path.write_text(json.dumps({"format": "streamreid-decisions", "version": 1, "decisions": [], **document}))
    return path


def test_commands_on_a_run_directory_in_use_are_refused_and_touch_nothing(fake, tmp_path, capsys):
    """Issue 20.3: while one process holds a run directory, a second run, report, apply or select is refused."""
    from streamreid import rundir

    run, before = fake.run_dir, _contents(fake.run_dir)
    decisions = _decisions(tmp_path / "d.json")
    with rundir.locked(run, command="process"):
        for args in (("process", tmp_path / "no.mp4", "--out", run), ("report", run), ("apply", run, decisions),
                     ("select", run, "--persons", "0")):  # fmt: skip
            _one_refusal(*_cli(capsys, *args), "is in use by another streamreid", f"pid {__import__('os').getpid()}")
    assert _contents(run) == before
    code, err = _cli(capsys, "select", run, "--persons", str(fake.persons[0].person_id))
    assert code == 0, err  # free again once the holder is done


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    """The lock is the OS's: it goes with the process that held it, even after SIGKILL."""
    import signal

    from streamreid import rundir

    code = f"import sys, time; from streamreid import rundir\nwith rundir.locked({str(tmp_path)!r}, command='x'):\n" \
           "    print('held', flush=True); time.sleep(60)"  # fmt: skip
    import os

    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(rundir.RunDirBusyError), rundir.locked(tmp_path, command="report"):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    with rundir.locked(tmp_path, command="report"):
        pass


def test_a_failed_process_leaves_no_run_directory_behind(tmp_path, capsys):
    _one_refusal(*_cli(capsys, "process", tmp_path / "missing.mp4", "--out", tmp_path / "out"), "not found")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"run": "a string"}, ['"run" must be an object']),
        ({"decisions": [{"action": "x" * 5_000_000, "tracklets": [[1], [2]]}]}, ["is not one of", "characters"]),
        ({"version": "v" * 5_000_000}, ["has version", "characters"]),
    ],
    ids=["run-is-a-string", "huge-action", "huge-version"],
)
def test_hostile_decisions_files_are_one_short_line_and_change_nothing(fake, tmp_path, capsys, document, words):
    """Issue 20.4: a decisions file built to break apply gets one line (values cut short), exit 2, no change."""
    before = _contents(fake.run_dir)
    code, err = _cli(capsys, "apply", fake.run_dir, _decisions(tmp_path / "d.json", **document))
    _one_refusal(code, err, *words)
    assert len(err) < 400
    assert _contents(fake.run_dir) == before


def test_a_deeply_nested_decisions_file_is_one_line(fake, tmp_path, capsys):
    before = _contents(fake.run_dir)
    (tmp_path / "d.json").write_text("[" * 200_000 + "]" * 200_000)
    _one_refusal(*_cli(capsys, "apply", fake.run_dir, tmp_path / "d.json"), "nested too deeply")
    assert _contents(fake.run_dir) == before


def _merge_two(fake, tmp_path) -> Path:
    import json

    first, second = fake.persons[:2]
    started = json.loads((fake.run_dir / "run.json").read_text())["started_at"]
    return _decisions(tmp_path / "d.json", run={"started_at": started}, decisions=[
        {"action": "merge", "tracklets": [list(first.tracklet_ids), list(second.tracklet_ids)]}])  # fmt: skip


def test_apply_on_a_damaged_crop_chunk_changes_nothing(fake, tmp_path, capsys):
    """Issue 20.4: the checksum error comes before anything is kept: no decisions.json, the old results stay."""
    chunk = next(p for p in (fake.run_dir / "store.zarr" / "crops" / "images").rglob("*") if p.is_file()
                 and p.name != "zarr.json")  # fmt: skip
    data = bytearray(chunk.read_bytes())
    data[-10] ^= 0xFF  # inside the shard index, which carries a CRC32C
    chunk.write_bytes(bytes(data))
    before = _contents(fake.run_dir)
    _one_refusal(*_cli(capsys, "apply", fake.run_dir, _merge_two(fake, tmp_path)), "is damaged", "crops")
    assert _contents(fake.run_dir) == before
    assert not (fake.run_dir / "decisions.json").exists()


@pytest.mark.parametrize(
    ("edit", "words"),
    [(lambda meta: [meta], "not an object"), (lambda meta: {**meta, "video": "street.mp4"}, "'video'"),
     (lambda meta: {**meta, "config": [1]}, "'config' must be a JSON object")],
    ids=["run-json-is-a-list", "video-is-a-string", "config-is-a-list"],
)  # fmt: skip
def test_a_damaged_run_json_is_one_line_for_report_apply_and_select(fake, tmp_path, capsys, edit, words):
    import json

    decisions = _merge_two(fake, tmp_path)
    path = fake.run_dir / "run.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    before = _contents(fake.run_dir)
    for args in (("report", fake.run_dir), ("apply", fake.run_dir, decisions),
                 ("select", fake.run_dir, "--persons", "0")):  # fmt: skip
        _one_refusal(*_cli(capsys, *args), words)
    assert _contents(fake.run_dir) == before


def test_select_into_a_folder_that_takes_no_files_is_one_line(fake, capsys):
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc here")
    person = str(fake.persons[0].person_id)
    _one_refusal(*_cli(capsys, "select", fake.run_dir, "--persons", person, "--out", "/proc/self"), "cannot write")


def test_report_on_a_killed_run_says_what_was_seen_and_records_the_kill(fake, capsys):
    """Issue 20.9: a run killed mid-way (run.json 'running', no counts) is reported over the video it saw."""
    import json

    path = fake.run_dir / "run.json"
    meta = json.loads(path.read_text())
    meta.update(status="running", video={**meta["video"], "duration": 60.0})
    for key in ("counts", "finished_at", "end_reason"):
        meta.pop(key, None)
    path.write_text(json.dumps(meta))
    code, err = _cli(capsys, "report", fake.run_dir, "--embedder", "fallback")
    assert code == 0, err
    after = json.loads(path.read_text())
    assert after["status"] == "interrupted" and after["end_reason"] == "killed" and after["finished_at"]
    seen = max(p.end_time for p in fake.persons)
    assert after["counts"]["seconds_of_video"] == pytest.approx(seen, abs=0.2)
    report = (fake.run_dir / "report.html").read_text()
    assert "1:00.0 of video" not in report and "0:04" in report


# --------------------------------------------------------------------------- odd streams (20.2, 20.8)


def _write_rotated(path: Path, upright: np.ndarray, *, frames: int = 6) -> Path:
    """A clip stored sideways (as a phone stores portrait video) with a display matrix of 90° to show it upright."""
    import av

    stored = np.ascontiguousarray(np.rot90(upright, -1))  # turned clockwise: the matrix turns it back
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = stored.shape[1], stored.shape[0], "yuv420p"
        stream.set_display_rotation(90)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(stored, format="bgr24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _portrait() -> np.ndarray:
    """A 96x160 portrait picture: red at the top, blue at the bottom (BGR)."""
    image = np.full((160, 96, 3), 128, np.uint8)
    image[:40] = (0, 0, 255)
    image[-40:] = (255, 0, 0)
    return image


def test_a_phone_video_with_a_display_rotation_is_decoded_upright(tmp_path):
    """Issue 20.8: frames stored sideways with rotation 90 in the metadata come out upright, once, said in the info."""
    import shutil

    from streamreid.stream.sources import open_source

    upright = _portrait()
    clip = _write_rotated(tmp_path / "phone.mp4", upright)
    with open_source(clip) as stream:
        frames = [f.image for f in stream]
        info = stream.info
        notes = stream.notes
    assert (info.width, info.height, info.rotation) == (96, 160, 90)
    assert len(frames) == 6 and all(f.shape == (160, 96, 3) for f in frames)
    assert np.abs(frames[0].astype(int) - upright).mean() < 8  # red on top, blue at the bottom
    assert any("turned upright" in note for note in notes)
    if shutil.which("ffmpeg"):  # the same picture as FFmpeg's own autorotation
        command = ["ffmpeg", "-v", "error", "-i", str(clip), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "bgr24"]
        command.append("-")
        raw = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout
        assert np.abs(np.frombuffer(raw, np.uint8).reshape(160, 96, 3).astype(int) - frames[0]).mean() < 4


def test_a_run_on_a_phone_video_records_the_rotation(tmp_path):
    from synthetic import ScriptedDetector, scenario_reentry_crossing

    from streamreid.config import Config
    from streamreid.pipeline import process

    clip = _write_rotated(tmp_path / "phone.mp4", _portrait())
    config = Config().with_overrides({"reid.enabled": False, "report.enabled": False})
    detector = ScriptedDetector(scenario_reentry_crossing(width=96, height=160))
    result = process(str(clip), out_dir=tmp_path / "run", config=config, detector=detector, progress=False)
    import json

    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (meta["video"]["width"], meta["video"]["height"], meta["video"]["rotation"]) == (96, 160, 90)
    assert any("turned upright" in note for note in meta["stream_notes"]) and result.status == "complete"


def test_a_stream_whose_frame_size_changes_finishes_with_its_report(tmp_path):
    """Issue 20.2: an MPEG-TS of a 640x360 part then a 320x180 part: one size throughout, the report at the end."""
    import json

    from synthetic import ScriptedDetector, scenario_reentry_crossing, write_video

    from streamreid.config import Config
    from streamreid.pipeline import process

    big = scenario_reentry_crossing(num_frames=40)
    small = scenario_reentry_crossing(num_frames=40, width=320, height=180)
    parts = [write_video(s, tmp_path / f"{n}.ts") for n, s in (("a", big), ("b", small))]
    (tmp_path / "ab.ts").write_bytes(b"".join(p.read_bytes() for p in parts))
    sizes = []

    class Detector(ScriptedDetector):
        def detect(self, frame):
            sizes.append((frame.index, frame.image.shape))
            return super().detect(frame)

    config = Config().with_overrides({"reid.embedder": "fallback"})
    result = process(str(tmp_path / "ab.ts"), out_dir=tmp_path / "run", config=config, detector=Detector(big),
                     progress=False)  # fmt: skip
    assert result.status == "complete" and result.frames_decoded == 80
    assert {shape for _, shape in sizes} == {(360, 640, 3)} and max(index for index, _ in sizes) >= 70
    assert result.report is not None and result.report.is_file() and (tmp_path / "run" / "scene.jpg").is_file()
    notes = json.loads((tmp_path / "run" / "run.json").read_text())["stream_notes"]
    assert any("changed to 320x180 at frame 40" in note for note in notes)


def test_the_scene_takes_frames_of_any_size():
    from streamreid.stream.scene import SceneKeeper
    from streamreid.types import Frame

    keeper = SceneKeeper(samples=3)
    for index, (height, width) in enumerate([(360, 640), (180, 320), (360, 640)]):
        keeper.update(Frame(index=index, time=index / 10, image=np.zeros((height, width, 3), np.uint8)))
    assert keeper.image.shape == (360, 640, 3)


def test_a_forked_child_does_not_keep_the_lock_after_its_parent_dies(tmp_path):
    """A process forked during a run (a pool, a library's helper) does not hold the run directory once it is gone."""
    import os
    import signal

    from streamreid import rundir

    code = (
        "import os, sys, time\nfrom streamreid import rundir\n"
        f"with rundir.locked({str(tmp_path)!r}, command='process'):\n"
        "    if os.fork() == 0:\n        os.write(1, b'child\\n')\n        time.sleep(60)\n        os._exit(0)\n"
        "    os.write(1, b'held\\n'); time.sleep(60)\n"  # one write each: the two lines never interleave
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    try:
        assert {holder.stdout.readline().strip() for _ in range(2)} == {"held", "child"}
        holder.kill()  # the parent only: its forked child lives on
        holder.wait(timeout=30)
        with rundir.locked(tmp_path, command="report"):
            pass
    finally:
        os.killpg(holder.pid, signal.SIGKILL)

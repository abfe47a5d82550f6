import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from http_server import VideoServer
from rtsp_server import RtspServerProcess, free_port
from synthetic import scenario_reentry_crossing, write_video

import streamreid.stream.sources
import streamreid.stream.target
from streamreid.errors import SourceError
from streamreid.stream.sources import iter_frames, open_source

NUM_FRAMES = 60
FPS = 25.0


@pytest.fixture(scope="module")
def scenario():
    return scenario_reentry_crossing(num_frames=NUM_FRAMES, fps=FPS)


@pytest.fixture(scope="module")
def videos(tmp_path_factory, scenario):
    folder = tmp_path_factory.mktemp("videos")
    return {
        "mp4": write_video(scenario, folder / "clip.mp4"),
        "ts": write_video(scenario, folder / "clip.ts"),
        "mkv": write_video(scenario, folder / "clip.mkv"),
        "mp4_moov_at_end": write_video(scenario, folder / "moov_end.mp4", faststart=False),
    }


@pytest.mark.parametrize("kind", ["mp4", "ts", "mkv"])
def test_file_frames_indices_times_and_info(videos, scenario, kind):
    with open_source(videos[kind]) as stream:
        frames = list(stream)
        info = stream.info
    assert [f.index for f in frames] == list(range(NUM_FRAMES))
    assert [f.time for f in frames] == pytest.approx([i / FPS for i in range(NUM_FRAMES)], abs=1e-6)
    assert frames[0].image.shape == (360, 640, 3) and frames[0].image.dtype == np.uint8
    assert np.abs(frames[30].image.astype(int) - scenario.render(30).astype(int)).mean() < 6.0
    assert (info.width, info.height, info.codec, info.is_live) == (640, 360, "h264", False)
    assert info.fps == pytest.approx(FPS)
    assert info.duration == pytest.approx(NUM_FRAMES / FPS, abs=0.05)
    assert info.frame_count == (NUM_FRAMES if kind == "mp4" else None)
    assert info.source == str(videos[kind])
    assert stream.decoded_frames == NUM_FRAMES and stream.skipped_frames == 0 and stream.end_reason == "end"


@pytest.mark.parametrize(
    ("kind", "refusals", "reconnects"),
    [
        ("mp4", 0, 0),  # FFmpeg asks for the rest of the file itself (a Range request)
        ("mkv", 0, 0),
        ("mp4", 3, 1),  # the server stays down a moment: the file is opened again and seeks to where it broke
    ],
)
def test_a_video_file_over_http_that_drops_mid_way_resumes_where_it_broke(videos, kind, refusals, reconnects):
    """A real HTTP server on 127.0.0.1 cuts the connection once, halfway: no frame twice, none lost."""
    path = videos[kind]
    with open_source(path) as local:
        expected = list(local)
    with (
        VideoServer(path, break_at=path.stat().st_size // 2, refuse_after_break=refusals) as server,
        open_source(server.url, reconnect_attempts=3, reconnect_backoff=0.01) as stream,
    ):
        frames = list(stream)
    assert server.break_at is None, "the connection did drop"
    assert stream.reconnects == reconnects
    assert [f.index for f in frames] == list(range(NUM_FRAMES)), "every frame once: nobody is seen twice"
    assert [f.time for f in frames] == pytest.approx([f.time for f in expected], abs=1e-6)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames, expected, strict=True))
    assert stream.end_reason == "end" and stream.decoded_frames == NUM_FRAMES
    assert not stream.info.is_live, "a file over HTTP has an end: it is not paced or treated as live"
    assert any(r not in (None, "bytes=0-") for r in server.requests), "resumed mid-file, not from the start"


@pytest.mark.parametrize(
    ("stride", "max_frames", "indices", "decoded"),
    [
        (3, None, list(range(0, NUM_FRAMES, 3)), NUM_FRAMES),
        (1, 10, list(range(10)), 10),
        (4, 10, [0, 4, 8], 10),
        (7, 1, [0], 1),
    ],
)
def test_stride_and_max_frames(videos, stride, max_frames, indices, decoded):
    with open_source(videos["mkv"], stride=stride, max_frames=max_frames) as stream:
        frames = list(stream)
    assert [f.index for f in frames] == indices
    assert [f.time for f in frames] == pytest.approx([i / FPS for i in indices], abs=1e-6)
    assert stream.decoded_frames == decoded
    assert stream.end_reason == ("max_frames" if max_frames else "end")


def test_each_frame_is_decoded_once_by_a_single_open(videos, monkeypatch):
    calls = []
    real_open = av.open

    def spy(*args, **kwargs):
        calls.append(args[0])
        return real_open(*args, **kwargs)

    monkeypatch.setattr(streamreid.stream.sources.av, "open", spy)
    with open_source(videos["mp4"], stride=2) as stream:
        kept = sum(1 for _ in stream)
    assert calls == [str(videos["mp4"])]
    with real_open(str(videos["mp4"])) as container:
        in_file = sum(1 for _ in container.decode(video=0))
    assert stream.decoded_frames == in_file == NUM_FRAMES
    assert kept == NUM_FRAMES // 2


def test_stream_closes_however_iteration_ends(videos):
    with open_source(videos["ts"]) as stream:
        for frame in stream:
            if frame.index == 5:
                break
    assert stream.end_reason == "closed" and stream.decoded_frames == 6
    with pytest.raises(RuntimeError, match="only once"):
        iter(stream)
    generator = iter_frames(videos["ts"], stride=2)
    assert [next(generator).index for _ in range(3)] == [0, 2, 4]
    generator.close()


STDIN_READER = """
import sys
from streamreid.errors import StreamReidError
from streamreid.stream.sources import open_source
try:
    with open_source("-") as stream:
        frames = [(f.index, f.time) for f in stream]
    print(len(frames), frames[-1][0], round(frames[-1][1], 3), stream.info.is_live)
except StreamReidError as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(1)
"""


@pytest.mark.parametrize("kind", ["ts", "mkv", "mp4"])
def test_stdin_pipe_reads_streamable_containers(videos, kind):
    # Feed through a real pipe (input=), not a seekable file redirect.
    result = subprocess.run(
        [sys.executable, "-c", STDIN_READER], input=videos[kind].read_bytes(), capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().split() == [str(NUM_FRAMES), str(NUM_FRAMES - 1), str((NUM_FRAMES - 1) / FPS), "True"]


def test_stdin_pipe_with_moov_at_end_says_to_remux(videos):
    result = subprocess.run(
        [sys.executable, "-c", STDIN_READER],
        input=videos["mp4_moov_at_end"].read_bytes(),
        capture_output=True,
        timeout=60,
    )
    stderr = result.stderr.decode().strip()
    assert result.returncode == 1
    assert "Traceback" not in stderr
    assert len(stderr.splitlines()) == 1
    assert "moov" in stderr and "-f mpegts" in stderr and "fragmented MP4" in stderr


def _audio_only(path: Path) -> Path:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        stream.layout = "mono"
        tone = (np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000) * 10000).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
        frame.sample_rate = 8000
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _make_bad_input(kind: str, videos: dict, tmp_path: Path) -> str:
    if kind == "missing":
        return str(tmp_path / "nowhere.mp4")
    if kind == "directory":
        return str(tmp_path)
    if kind == "text":
        path = tmp_path / "notes.mp4"
        path.write_text("this is not a video\n" * 50)
        return str(path)
    if kind == "truncated":
        data = videos["mp4_moov_at_end"].read_bytes()
        path = tmp_path / "truncated.mp4"
        path.write_bytes(data[: len(data) // 2])
        return str(path)
    if kind == "audio_only":
        return str(_audio_only(tmp_path / "tone.wav"))
    if kind == "unreachable":
        return f"rtsp://127.0.0.1:{free_port()}/x"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", r"^video file not found: .*nowhere\.mp4$"),
        ("directory", r"is a directory, not a video file$"),
        ("text", r"^cannot open .*notes\.mp4: not a video file FFmpeg can read$"),
        ("truncated", r"^cannot open .*truncated\.mp4: the MP4 file is truncated or damaged"),
        ("audio_only", r"^.*tone\.wav has no video stream$"),
        ("unreachable", r"^cannot open rtsp://127\.0\.0\.1:\d+/x: connection refused \(after 3 attempts\)$"),
    ],
)
def test_bad_inputs_raise_one_clear_source_error(videos, tmp_path, kind, message):
    source = _make_bad_input(kind, videos, tmp_path)
    with pytest.raises(SourceError, match=message) as caught:
        open_source(source, open_timeout=2.0, read_timeout=2.0, reconnect_attempts=2, reconnect_backoff=0.05)
    assert "\n" not in str(caught.value)
    error = caught.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__), "no chained traceback"


def test_listener_that_never_answers_times_out(tmp_path):
    # A TCP port that accepts connections but never speaks RTSP, like a hung camera.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(SourceError, match=r"no answer within 0\.5 s \(after 2 attempts\)$"):
            open_source(f"rtsp://127.0.0.1:{port}/cam", open_timeout=0.5, reconnect_attempts=1, reconnect_backoff=0.05)
        # Two attempts of 0.5 s each plus the backoff: finished, not hanging (generous bound for busy machines).
        assert time.monotonic() - started < 20


def test_source_kinds_and_option_checks(monkeypatch):
    resolve = streamreid.stream.target.resolve
    assert resolve("-").kind == "stdin"
    assert resolve("rtsp://user:secret@cam.local:554/live").display == "rtsp://***@cam.local:554/live"
    assert resolve("rtsp://cam/live").options == (("rtsp_transport", "tcp"),)
    assert resolve("udp://0.0.0.0:5000").is_live
    monkeypatch.setattr(streamreid.stream.sources.sys, "platform", "linux")
    assert (resolve(2).location, resolve(2).format, resolve(2).is_live) == ("/dev/video2", "v4l2", True)
    assert resolve("/dev/video0").format == "v4l2"
    monkeypatch.setattr(streamreid.stream.sources.sys, "platform", "darwin")
    assert (resolve(1).location, resolve(1).format) == ("1", "avfoundation")
    assert resolve(Path("a.mp4")).kind == "file"
    with pytest.raises(ValueError, match="stride"):
        open_source("x.mp4", stride=0)
    monkeypatch.setattr(streamreid.stream.sources.sys, "platform", "linux")
    # A missing device is final: one clear line, no reconnect attempts (the default is 5).
    with pytest.raises(SourceError, match=r"^no camera at /dev/video97$"):
        open_source(97, open_timeout=1.0)


def test_corrupt_middle_is_skipped_and_counted(videos, tmp_path, caplog):
    data = bytearray(videos["ts"].read_bytes())
    rng = np.random.default_rng(7)
    for start in (len(data) // 3, len(data) // 2):
        data[start : start + 20000] = rng.integers(0, 256, 20000, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.ts"
    damaged.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="streamreid.stream.sources"), open_source(damaged) as stream:
        frames = list(stream)
    assert stream.skipped_frames >= 1
    assert len(frames) >= 0.8 * NUM_FRAMES
    assert len(frames) + stream.skipped_frames >= stream.decoded_frames
    indices = [f.index for f in frames]
    times = [f.time for f in frames]
    assert indices == sorted(set(indices)) and np.all(np.diff(times) > 0)
    assert any("corrupt" in record.getMessage() for record in caplog.records)
    assert stream.end_reason == "end"


# --- a real RTSP server (GStreamer, run by the system Python) ---------------------------------------------------

RTSP_FPS = 100.0


@pytest.fixture(scope="module")
def rtsp_video(tmp_path_factory):
    # Small and fast (100 fps) so streaming in real time takes seconds.
    scene = scenario_reentry_crossing(num_frames=600, fps=RTSP_FPS, width=320, height=180)
    return write_video(scene, tmp_path_factory.mktemp("rtsp") / "served.mp4")


@pytest.fixture(scope="module")
def short_rtsp_video(tmp_path_factory):
    scene = scenario_reentry_crossing(num_frames=50, fps=RTSP_FPS, width=320, height=180)
    return write_video(scene, tmp_path_factory.mktemp("rtsp_short") / "short.mkv")


LIVE_OPTIONS = {"open_timeout": 3.0, "read_timeout": 1.0, "reconnect_backoff": 0.1, "reconnect_backoff_max": 1.0}


@pytest.mark.slow
def test_rtsp_reads_frames(rtsp_video):
    with RtspServerProcess(rtsp_video) as server, open_source(server.url, max_frames=30, **LIVE_OPTIONS) as stream:
        frames = list(stream)
    assert [f.index for f in frames] == list(range(30))
    assert frames[0].time == 0.0 and np.all(np.diff([f.time for f in frames]) > 0)
    assert [f.time for f in frames[1:]] == pytest.approx([i / RTSP_FPS for i in range(1, 30)], abs=0.002)
    assert frames[0].image.shape == (180, 320, 3)
    info = stream.info
    assert (info.is_live, info.codec, info.width, info.height) == (True, "h264", 320, 180)
    assert info.fps == pytest.approx(RTSP_FPS) and info.frame_count is None
    assert stream.reconnects == 0


@pytest.mark.slow
def test_rtsp_file_stream_ends_at_its_duration_without_reconnecting(short_rtsp_video):
    with RtspServerProcess(short_rtsp_video) as server, open_source(server.url, **LIVE_OPTIONS) as stream:
        frames = list(stream)
    assert len(frames) == 50 and frames[-1].index == 49
    assert stream.reconnects == 0 and stream.end_reason == "end"


@pytest.mark.slow
def test_rtsp_reconnects_after_server_restart_and_continues_indices_and_time(rtsp_video, caplog):
    server = RtspServerProcess(rtsp_video)
    server.start()
    frames = []
    try:
        with (
            caplog.at_level(logging.WARNING, logger="streamreid.stream.sources"),
            open_source(server.url, max_frames=120, reconnect_attempts=8, **LIVE_OPTIONS) as stream,
        ):
            for frame in stream:
                frames.append(frame)
                if frame.index == 40:
                    server.kill()
                    server.start()  # same port
    finally:
        server.stop()
    indices = [f.index for f in frames]
    times = np.array([f.time for f in frames])
    assert stream.reconnects >= 1
    assert np.all(np.diff(indices) > 0) and np.all(np.diff(times) > 0), "monotonic across the reconnect"
    jump = int(np.argmax(np.diff(times)))
    assert indices[: jump + 1] == list(range(jump + 1)) and jump >= 40
    outage = times[jump + 1] - times[jump]
    assert outage > 0.1, "the outage shows in the times"
    assert indices[jump + 1] - indices[jump] == pytest.approx(outage * RTSP_FPS, abs=1.5), "indices follow time"
    assert np.diff(indices[jump + 1 :]).tolist() == [1] * (len(indices) - jump - 2), "then count by one again"
    assert len(frames) == stream.decoded_frames == 120
    assert any("reconnect" in record.getMessage() for record in caplog.records)


@pytest.mark.slow
def test_rtsp_server_that_hangs_mid_stream_does_not_hang_the_reader(rtsp_video):
    server = RtspServerProcess(rtsp_video)
    server.start()
    frames = []
    try:
        with open_source(server.url, open_timeout=0.5, read_timeout=0.5, reconnect_attempts=2,
                         reconnect_backoff=0.05) as stream:  # fmt: skip
            for frame in stream:
                frames.append(frame)
                if frame.index == 20:
                    server.pause()
    finally:
        server.kill()
        server.stop()
    assert len(frames) >= 21
    assert stream.end_reason == "gave_up" and stream.reconnects == 0

"""Opening a container: retried with backoff only where the source may come up, one clear line for each failure."""

import errno

import av.error
import pytest

from streamreid.config import SourceConfig
from streamreid.errors import SourceError
from streamreid.stream import connect
from streamreid.stream.connect import open_with_retries, reason
from streamreid.stream.target import Target

CAMERA = Target(display="rtsp://cam/live", kind="network", location="rtsp://cam/live")
HTTP_404 = av.error.HTTPClientError(errno.EIO, "Server returned 404 Not Found", "x")


def _refused():
    return av.error.ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused", "rtsp://cam/live")


def test_reasons_are_short_and_lower_case():
    assert reason(_refused()) == "connection refused"
    assert reason(av.error.ExitError(1, "Immediate exit requested", "f")) == "no answer in time"
    assert reason(av.error.InvalidDataError(errno.EINVAL, "Invalid data found.", "f")) == "invalid data found"
    assert reason(OSError()) == "oserror"


@pytest.fixture
def attempts(monkeypatch):
    """Each call of open_container raises the next error of ``errors`` (then returns "container"); no sleeping."""
    calls, sleeps, errors = [], [], []

    def fake_open(target, config):
        calls.append(target)
        if errors:
            raise errors.pop(0)
        return "container"

    monkeypatch.setattr(connect, "open_container", fake_open)
    monkeypatch.setattr(connect.time, "sleep", sleeps.append)
    return calls, sleeps, errors


def test_a_camera_that_comes_up_is_waited_for_with_growing_backoff(attempts):
    calls, sleeps, errors = attempts
    errors.extend([_refused(), _refused(), _refused()])
    config = SourceConfig(reconnect_backoff=0.5, reconnect_backoff_max=1.5)
    assert open_with_retries(CAMERA, config, head=b"") == "container"
    assert (len(calls), sleeps) == (4, [0.5, 1.0, 1.5])


def test_forever_still_gives_up_on_the_first_connection_and_says_how_often_it_tried(attempts):
    calls, _, errors = attempts
    errors.extend([_refused() for _ in range(20)])
    with pytest.raises(SourceError, match=r"^cannot open rtsp://cam/live: connection refused \(after 6 attempts\)$"):
        open_with_retries(CAMERA, SourceConfig(reconnect_attempts=-1), head=b"")
    assert len(calls) == 1 + connect.FIRST_OPEN_RETRIES_WHEN_FOREVER


def test_a_final_error_is_not_retried(attempts):
    calls, sleeps, errors = attempts
    errors.append(HTTP_404)
    with pytest.raises(SourceError, match="^cannot open rtsp://cam/live: server returned 404 not found$"):
        open_with_retries(CAMERA, SourceConfig(reconnect_attempts=3), head=b"")
    assert (len(calls), sleeps) == (1, [])


def test_a_local_file_is_tried_once(attempts, tmp_path):
    calls, _, errors = attempts
    errors.append(av.error.InvalidDataError(errno.EINVAL, "Invalid data found", "x"))
    video = tmp_path / "notes.mp4"
    video.write_text("not a video")
    clip = Target(display=str(video), kind="file", location=str(video))
    with pytest.raises(SourceError, match="not a video file FFmpeg can read$"):
        open_with_retries(clip, SourceConfig(), head=b"")
    assert len(calls) == 1


def test_a_truncated_mp4_and_an_mp4_on_stdin_with_its_index_at_the_end_are_named(attempts, tmp_path):
    _, _, errors = attempts
    video = tmp_path / "cut.mp4"
    video.write_bytes(b"\x00\x00\x00\x20ftypisom" + bytes(40))
    errors.extend([av.error.InvalidDataError(errno.EINVAL, "Invalid data", "x") for _ in range(2)])
    with pytest.raises(SourceError, match="truncated or damaged"):
        open_with_retries(Target(display="cut.mp4", kind="file", location=str(video)), SourceConfig(), head=b"")
    with pytest.raises(SourceError, match="moov atom"):
        open_with_retries(Target(display="-", kind="stdin", location=None), SourceConfig(),
                          head=b"\x00\x00\x00\x20ftypisom")  # fmt: skip


def test_a_missing_camera_device_is_one_line(attempts):
    _, _, errors = attempts
    errors.append(FileNotFoundError(errno.ENOENT, "No such file"))
    device = Target(display="/dev/video9", kind="device", location="/dev/video9", format="v4l2")
    with pytest.raises(SourceError, match="^no camera at /dev/video9$"):
        open_with_retries(device, SourceConfig(reconnect_attempts=0), head=b"")

"""What a source names and how FFmpeg is to open it; local sources refused before FFmpeg sees them."""

import io
from pathlib import Path

import pytest

from streamreid.errors import SourceError
from streamreid.stream import target
from streamreid.stream.target import Target, check_local, file_head, looks_like_mp4, resolve, stdin_head


@pytest.mark.parametrize(
    ("source", "kind", "live", "reconnectable", "http"),
    [
        ("clip.mp4", "file", False, False, False),
        ("file:///data/clip.mp4", "file", False, False, False),
        ("-", "stdin", True, False, False),
        ("rtsp://cam/live", "network", True, True, False),
        ("https://example.org/live.m3u8", "network", True, True, True),
    ],
)
def test_each_kind_of_source_is_told_apart(source, kind, live, reconnectable, http):
    resolved = resolve(source)
    assert (resolved.kind, resolved.is_live, resolved.reconnectable, resolved.is_http) == (kind, live, reconnectable,
                                                                                            http)  # fmt: skip


def test_a_file_url_is_its_path_and_credentials_never_reach_the_display():
    assert resolve("file:///data/clip.mp4").location == "/data/clip.mp4"
    camera = resolve("rtsp://admin:hunter2@10.0.0.5/stream")
    assert "hunter2" not in camera.display and "hunter2" in camera.location


def test_a_digit_names_a_webcam_unless_a_file_of_that_name_exists(tmp_path, monkeypatch):
    monkeypatch.setattr(target.sys, "platform", "linux")
    assert resolve("3").location == "/dev/video3"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "3").write_bytes(b"x")
    assert resolve("3").kind == "file"


@pytest.mark.parametrize(("source", "words"), [("", "empty video source"), ("  ", "empty"), (-1, "0 or more"),
                                               (True, "not a video source")])  # fmt: skip
def test_sources_that_name_nothing_are_one_clear_error(source, words):
    with pytest.raises(SourceError, match=words):
        resolve(source)


def test_webcam_numbers_outside_linux_and_macos_are_refused(monkeypatch):
    monkeypatch.setattr(target.sys, "platform", "win32")
    with pytest.raises(SourceError, match="not on win32"):
        resolve(0)


def test_an_mp4_is_known_by_its_first_box(tmp_path):
    mp4 = tmp_path / "a.mp4"
    mp4.write_bytes(b"\x00\x00\x00\x20ftypisom" + bytes(20))
    assert file_head(mp4) == b"\x00\x00\x00\x20ftypisom"
    assert looks_like_mp4(file_head(mp4))
    assert not looks_like_mp4(b"\x47\x40\x00\x10\x00\x00\xb0\x0d")  # MPEG-TS
    assert not looks_like_mp4(b"ftyp")
    assert file_head(tmp_path / "missing.mp4") == b""


def test_stdin_head_peeks_without_consuming():
    stream = io.BufferedReader(io.BytesIO(b"\x00\x00\x00\x18ftypmp42 rest of the file"))
    assert stdin_head(stream) == b"\x00\x00\x00\x18ftypmp42"
    assert stream.read().startswith(b"\x00\x00\x00\x18ftyp")
    assert stdin_head(io.StringIO("no peek")) == b""


def test_missing_files_and_folders_are_refused_before_ffmpeg(tmp_path):
    with pytest.raises(SourceError, match="video file not found"):
        check_local(resolve(tmp_path / "missing.mp4"))
    with pytest.raises(SourceError, match="is a directory"):
        check_local(resolve(Path(tmp_path)))
    (tmp_path / "a.mp4").write_bytes(b"x")
    check_local(resolve(tmp_path / "a.mp4"))
    check_local(Target(display="rtsp://cam", kind="network", location="rtsp://cam"))


def test_stdin_from_a_terminal_is_refused(monkeypatch):
    class Terminal(io.BytesIO):
        def isatty(self):
            return True

    monkeypatch.setattr(target.sys, "stdin", Terminal())
    with pytest.raises(SourceError, match="nothing is piped into stdin"):
        check_local(resolve("-"))

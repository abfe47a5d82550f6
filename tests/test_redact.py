"""No camera credentials in any text streamreid shows or stores."""

import logging

import pytest

from streamreid.redact import RedactingFilter, redact
from streamreid.rundir import default_run_dir


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("rtsp://user:secret@cam.local:554/live", "rtsp://***@cam.local:554/live"),
        ("rtsp://user@cam/live", "rtsp://***@cam/live"),
        ("rtsp://admin:p@ss@10.0.0.1/s", "rtsp://***@10.0.0.1/s"),  # '@' inside the password
        ("cannot open 'rtsp://a:b@h/x': refused", "cannot open 'rtsp://***@h/x': refused"),
        ("http://cam/snap?user=admin&token=t0k&fps=5", "http://cam/snap?user=***&token=***&fps=5"),
        ("rtsp://cam.local/live", "rtsp://cam.local/live"),
        ("/videos/a=b@c.mp4", "/videos/a=b@c.mp4"),
        ("-", "-"),
    ],
)
def test_redact_masks_credentials_and_keeps_the_rest(text, shown):
    assert redact(text) == shown


def test_log_records_are_redacted():
    record = logging.LogRecord("streamreid", logging.WARNING, __file__, 1, "lost %s", ("rtsp://u:pw@cam/1",), None)
    assert RedactingFilter().filter(record) and record.getMessage() == "lost rtsp://***@cam/1"


def test_default_run_dir_never_holds_credentials(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert str(default_run_dir("rtsp://admin:pw@cam.local:554/")) == "runs/cam.local"
    assert str(default_run_dir("rtsp://admin:pw@cam/live/ch1")) == "runs/ch1"

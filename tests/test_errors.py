"""Errors a user can act on: every one is a StreamReidError, which the CLI prints as one line with exit 2."""

import inspect

import pytest

from streamreid import cli, errors
from streamreid.config import ConfigError

USER_ERRORS = [c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__]


def test_every_error_of_the_module_is_a_streamreid_error():
    assert len(USER_ERRORS) >= 5
    assert all(issubclass(error, errors.StreamReidError) for error in USER_ERRORS)
    assert issubclass(ConfigError, errors.StreamReidError) and issubclass(ConfigError, ValueError)


@pytest.mark.parametrize("error", USER_ERRORS, ids=lambda c: c.__name__)
def test_the_cli_prints_each_as_one_line_without_credentials_and_exits_2(error, monkeypatch, capsys):
    def fail(args):
        raise error("cannot open rtsp://admin:hunter2@cam/live:\nsecond line")

    monkeypatch.setitem(cli._COMMANDS, "report", fail)
    assert cli.main(["report", "RUN", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("streamreid: error: cannot open rtsp://")
    assert "hunter2" not in err

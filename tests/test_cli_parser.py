"""The command line's arguments: every command parses, process and batch share the run options, bad ones exit 2."""

from pathlib import Path

import pytest

from streamreid.cli_parser import build_parser


def _parse(*argv):
    return build_parser().parse_args(list(argv))


def test_process_options_reach_their_fields():
    args = _parse("process", "a.mp4", "--imgsz", "1280", "--detect-stride", "auto", "--no-realtime", "--stride", "2",
                  "--no-auto-merge", "--report-every", "30", "-q")  # fmt: skip
    assert (args.command, args.source, args.out) == ("process", "a.mp4", None)
    assert (args.imgsz, args.detect_stride, args.realtime, args.stride) == (1280, "auto", False, 2)
    assert (args.auto_merge, args.report_every, args.quiet, args.no_reid) == (False, 30.0, True, False)


def test_unset_tristate_options_stay_none_so_the_config_decides():
    args = _parse("process", "a.mp4")
    assert (args.realtime, args.auto_merge, args.imgsz, args.embedder) == (None, None, None, None)


def test_batch_shares_the_run_options_and_needs_an_out_folder():
    args = _parse("batch", "a.mp4", "videos/", "--out", "out", "--workers", "2", "--engine", "ray", "--max-frames", "9")
    assert (args.inputs, args.out, args.workers, args.engine, args.max_frames) == (["a.mp4", "videos/"], Path("out"),
                                                                                   2, "ray", 9)  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        _parse("batch", "a.mp4")
    assert exit_.value.code == 2


@pytest.mark.parametrize(
    "argv",
    [("select", "RUN", "--persons", "1,2", "--merge", "--force"), ("apply", "RUN", "decisions.json"),
     ("report", "RUN", "--embedder", "fallback"), ("match", "a", "b", "--out", "o"), ("sample-video",)],
)  # fmt: skip
def test_every_command_parses(argv):
    assert _parse(*argv).command == argv[0]


@pytest.mark.parametrize(
    ("argv", "words"),
    [(("process", "a.mp4", "--imgsz", "big"), "expected a whole number or auto, got 'big'"),
     (("process", "a.mp4", "--runtime", "tensorrt"), "invalid choice: 'tensorrt'"),
     (("select", "RUN"), "--persons"), ((), "COMMAND")],
)  # fmt: skip
def test_bad_arguments_exit_2_with_a_message(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_:
        _parse(*argv)
    assert exit_.value.code == 2
    assert words in capsys.readouterr().err

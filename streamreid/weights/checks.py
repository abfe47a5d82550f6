"""Whether a file is the file it should be: pinned digests, and digests recorded on first use."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from streamreid.errors import WeightsError
from streamreid.weights.cache import sha256_of
from streamreid.weights.records import WeightsFile


def verify(path: Path, sha256: str | None) -> None:
    """Delete ``path`` and raise unless its digest is ``sha256`` (``None``: nothing to check).

    Raises:
        WeightsError: The digests differ.
    """
    if sha256 is None:
        return
    actual = sha256_of(path)
    if actual != sha256:
        path.unlink(missing_ok=True)
        raise WeightsError(f"checksum mismatch for {path.name}: expected {sha256[:12]}…, got {actual[:12]}…")


def check_cached(path: Path, file: WeightsFile) -> tuple[str, str]:
    """The digest of a cached file and how it was checked, in words.

    A file matching a pinned digest, or the digest recorded when it was first trusted, is
    used. A file matching neither is used (said so) when the file may have any content (a
    source without a published digest, or no source: the user put it there), and refused when
    every source pins its digest.

    Raises:
        WeightsError: The file changed since first use, or matches none of its pinned digests.
    """
    digest = sha256_of(path)
    recorded = _recorded_digest(path)
    if digest in file.pins:
        return digest, "SHA-256 matches a published digest"
    if recorded is not None:
        if digest != recorded:
            raise WeightsError(
                f"cached {path} changed since first use (SHA-256 {digest[:12]}…, recorded {recorded[:12]}…); "
                f"delete the file to fetch it again"
            )
        return digest, "SHA-256 matches the digest recorded on first use"
    if file.pinned:
        raise WeightsError(
            f"cached {path} does not match its pinned checksum (SHA-256 {digest[:12]}…); delete it to fetch it again"
        )
    return digest, "no digest to check it against"


def record_first_use(path: Path, url: str) -> str:
    """Record the digest of a file fetched without a published one, to check it against later; returns it."""
    digest = sha256_of(path)
    record = {
        "sha256": digest,
        "url": url,
        "recorded_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "note": "no published digest: trusted on first use; the file is checked against this digest afterwards",
    }
    _record_path(path).write_text(json.dumps(record, indent=2) + "\n")
    return digest


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".trust.json")


def _recorded_digest(path: Path) -> str | None:
    record = _record_path(path)
    if not record.is_file():
        return None
    try:
        return str(json.loads(record.read_text())["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return None

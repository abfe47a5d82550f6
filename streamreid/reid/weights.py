"""Which ReID weights ``reid.weights`` and ``reid.model`` name, found by :func:`streamreid.weights.resolve.resolve`.

OSNet: a file → a file name in the ReID cache → the known files for the model (cached, else
downloaded, each checked against its pinned digest) → none, and the caller uses the
weights-free fallback. Open Model Zoo IR pairs: a file or folder → the cache → a download → a
clear error (``reid.embedder: auto`` never picks them; they are asked for by name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from streamreid.errors import WeightsError
from streamreid.weights.cache import cache_dir
from streamreid.weights.catalog import KNOWN_REID_WEIGHTS, OMZ_ALIASES, OMZ_MODELS
from streamreid.weights.records import ModelWeights, ResolvedWeights, WeightsFile
from streamreid.weights.resolve import resolve, resolve_required


def resolve_reid_weights(
    model_name: str,
    weights: str | Path | None,
    *,
    allow_download: bool = True,
    known_weights: Mapping[str, Sequence[ModelWeights]] | None = None,
    timeout: float | None = None,
    progress: bool = True,
) -> ResolvedWeights:
    """Find weights for a torchreid model: explicit path → cache → download → none.

    Args:
        model_name: torchreid model name, e.g. ``osnet_x0_25``.
        weights: A path the user gave, a file name in the ReID cache, or ``None`` to look up
            the known files for ``model_name``.
        allow_download: Try the known sources when nothing is cached.
        known_weights: The table of known files (defaults to :data:`~streamreid.weights.catalog.KNOWN_REID_WEIGHTS`).
        timeout: Socket timeout per download in seconds (``None``: 30 s).
        progress: Show a progress bar while downloading.

    Returns:
        The weights found; ``path`` is ``None`` (origin ``none``) when there are none, and
        ``detail`` says why.

    Raises:
        WeightsError: ``weights`` names a file that does not exist, or a cached file is not what it
            should be (changed since first use, or matching none of its pinned digests).
    """
    table = KNOWN_REID_WEIGHTS if known_weights is None else known_weights
    candidates = tuple(table.get(model_name, ()))
    options = {"allow_download": allow_download, "timeout": timeout, "progress": progress, "what": model_name}
    if weights is None:
        found = resolve(candidates, **options)
        if not candidates:
            return replace(found, detail=f"{found.detail}; pass a checkpoint with reid.weights")
        return found
    given = Path(weights).expanduser()
    if given.is_file():
        return resolve(candidates, explicit=given, **options)
    if given.name != str(weights):
        raise WeightsError(f"ReID weights not found: {weights}")
    # A bare file name: a known download of that name (cached, else fetched), else a file in the cache.
    named = tuple(known for known in candidates if known.files[0].name == given.name)
    if not named:
        named = (ModelWeights(name=given.stem, files=(WeightsFile(given.name),), folder="reid"),)
        if not named[0].cache_path.is_file():
            raise WeightsError(
                f"ReID weights not found: {weights} (not a file, and not in the cache {reid_cache_dir()})"
            )
    return resolve(named, **options)


def reid_cache_dir() -> Path:
    """Folder of cached ReID weights: ``cache_dir()/"reid"``."""
    return cache_dir() / "reid"


def known_caveat(model_name: str, path: Path | None) -> str:
    """The caveat of the known weights file at ``path`` (``""`` when there is none or it is not known)."""
    known = (k for k in KNOWN_REID_WEIGHTS.get(model_name, ()) if path is not None and k.files[0].name == path.name)
    return next((k.caveat for k in known), "")


def resolve_omz_weights(
    name: str, weights: str | Path | None = None, *, allow_download: bool = True
) -> ResolvedWeights:
    """Find the ``.xml`` of an Open Model Zoo ReID model (its ``.bin`` beside it).

    Args:
        name: Model name or alias (``omz-0288``).
        weights: An ``.xml`` file or a folder holding ``<name>.xml``; ``None`` = cache, then download.
        allow_download: May fetch from Intel's storage when not cached.

    Raises:
        WeightsError: Unknown model, missing files, a checksum mismatch, or a failed download.
    """
    model = OMZ_MODELS.get(OMZ_ALIASES.get(name, name))
    if model is None:
        raise WeightsError(f"unknown Open Model Zoo ReID model {name!r}; known: {', '.join(OMZ_MODELS)}")
    if weights is None:
        try:
            return resolve_required(model, allow_download=allow_download)
        except WeightsError as exc:
            raise WeightsError(f"{exc}; pass reid.weights PATH") from None
    path = Path(weights).expanduser()
    xml = path / f"{model.name}.xml" if path.is_dir() else path
    if not xml.is_file() or not xml.with_suffix(".bin").is_file():
        raise WeightsError(f"{model.name}: no {xml.name} with its .bin at {path}")
    return resolve(model, explicit=xml)

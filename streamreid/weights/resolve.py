"""Finding a model's weights, in one order for every model: explicit path → cache → download → none.

Each step says what it did, so a run records which file it used and why. ``none`` is not an
error here: the caller falls back (the weights-free embedder for ReID) or says so in one line
(:func:`resolve_required`, for the detector).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from streamreid.errors import WeightsError
from streamreid.weights.cache import sha256_of
from streamreid.weights.checks import check_cached, record_first_use
from streamreid.weights.records import ModelWeights, ResolvedWeights, Source, WeightsFile


def resolve(
    models: ModelWeights | Sequence[ModelWeights],
    *,
    explicit: str | Path | None = None,
    allow_download: bool = True,
    timeout: float | None = None,
    progress: bool = True,
    what: str | None = None,
) -> ResolvedWeights:
    """Find a model's weights: ``explicit`` → the cache → a download with a pinned checksum → none.

    Args:
        models: The model, or several that can stand for each other, best first; each step
            tries them all before the next step (a cached second choice beats downloading the first).
        explicit: A path the user gave (file or folder); used as it is, and it must exist.
        allow_download: Try the sources when nothing is cached.
        timeout: Seconds per download (``None``: each source's default).
        progress: Show a progress bar while downloading.
        what: The name used in messages (default: the first model's name).

    Returns:
        Where the weights were found and why; ``path`` is ``None`` (origin ``none``) when nothing
        was found, and ``detail`` says why.

    Raises:
        WeightsError: ``explicit`` does not exist, or a cached file is not what it should be
            (changed since first use, or matching none of its pinned digests).
    """
    models = (models,) if isinstance(models, ModelWeights) else tuple(models)
    what = what or (models[0].name if models else "this model")
    if explicit is not None:
        return given_by_user(explicit, what=what)
    for model in models:
        if all((model.cache_folder / file.name).is_file() for file in model.files):
            return _from_cache(model)
    fetchable = [model for model in models if all(file.sources for file in model.files)]
    if not fetchable:
        return ResolvedWeights(path=None, origin="none", detail=f"no cached weights and no known download for {what}")
    if not allow_download:
        return ResolvedWeights(
            path=None, origin="none", detail=f"no cached weights ({_where(models)}) and downloads are off"
        )
    failures: list[str] = []
    for model in fetchable:
        try:
            return _download(model, timeout=timeout, progress=progress)
        except WeightsError as exc:
            failures.append(str(exc))
    return ResolvedWeights(
        path=None,
        origin="none",
        detail=f"no cached weights for {what} and {len(failures)} download(s) failed (last: {failures[-1]})",
    )


def resolve_required(models: ModelWeights | Sequence[ModelWeights], **options) -> ResolvedWeights:
    """:func:`resolve`, raising its one-line reason when nothing was found.

    Raises:
        WeightsError: Nothing found (or as :func:`resolve`).
    """
    found = resolve(models, **options)
    if found.path is None:
        raise WeightsError(found.detail)
    return found


def given_by_user(path: str | Path, *, what: str = "weights") -> ResolvedWeights:
    """The weights at a path the user gave, used as they are.

    Raises:
        WeightsError: Nothing is at ``path``.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise WeightsError(f"{what} not found: {path}")
    return ResolvedWeights(path=path, origin="explicit", detail=f"weights given by the user: {path}",
                           sha256=sha256_of(path) if path.is_file() else None)  # fmt: skip


def _where(models: Sequence[ModelWeights]) -> str:
    """``a.pt, b.pt in <folder>``, one group per cache folder."""
    folders: dict[Path, list[str]] = {}
    for model in models:
        folders.setdefault(model.cache_folder, []).append(model.files[0].name)
    return "; ".join(f"{', '.join(names)} in {folder}" for folder, names in folders.items())


def _named(model: ModelWeights) -> str:
    return f"{model.files[0].name} ({model.about})" if model.about else model.files[0].name


def _from_cache(model: ModelWeights) -> ResolvedWeights:
    """The cached files of ``model``, each checked (see :func:`~streamreid.weights.checks.check_cached`)."""
    checks = [check_cached(model.cache_folder / file.name, file) for file in model.files]
    (digest, how), path = checks[0], model.cache_path
    return ResolvedWeights(path=path, origin="cache", detail=f"{_named(model)} from the cache ({path}; {how})",
                           sha256=digest)  # fmt: skip


def _download(model: ModelWeights, *, timeout: float | None, progress: bool) -> ResolvedWeights:
    """Fetch every file of ``model``, each from the first of its sources that serves it, checked.

    Raises:
        WeightsError: A file could not be fetched from any of its sources (the last reason).
    """
    used = [_fetch_file(file, model.cache_folder / file.name, timeout=timeout, progress=progress)
            for file in model.files]  # fmt: skip
    source, path = used[0], model.cache_path
    if source.sha256 is None:
        digest, check = sha256_of(path), "no published digest: trusted on first use, digest recorded"
    else:
        digest, check = source.sha256, "SHA-256 verified"
    return ResolvedWeights(path=path, origin=source.origin, sha256=digest,
                           detail=f"{_named(model)} downloaded from {source.where} ({check})")  # fmt: skip


def _fetch_file(file: WeightsFile, dest: Path, *, timeout: float | None, progress: bool) -> Source:
    """Fetch ``file`` to ``dest`` from the first source that serves it; returns that source.

    A file from a source without a published digest is trusted on first use: its digest is recorded beside it.
    """
    reason = f"no source for {file.name}"
    for source in file.sources:
        try:
            source.fetch(dest, timeout=timeout, progress=progress)
        except WeightsError as exc:
            reason = str(exc)
            continue
        if source.sha256 is None:
            record_first_use(dest, source.where)
        return source
    raise WeightsError(reason)

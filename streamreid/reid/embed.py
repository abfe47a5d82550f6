"""Choosing a re-identification embedder, and running it over many groups of crops.

:func:`build_embedder` picks the embedder a :class:`~streamreid.config.ReidConfig` asks
for — :class:`~streamreid.reid.osnet.OsnetEmbedder` with weights found by
:func:`~streamreid.reid.weights.resolve_reid_weights`, or the weights-free
:class:`~streamreid.reid.fallback.FallbackEmbedder` — and explains its choice in one
sentence. :func:`embed_groups` runs one embedder over several groups of crops (one per
person) in full but bounded batches.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from streamreid.config import CHOICES, ConfigError, ReidConfig
from streamreid.errors import WeightsError
from streamreid.reid.fallback import FallbackEmbedder
from streamreid.reid.features import Embedder
from streamreid.reid.omz import OmzReidEmbedder
from streamreid.reid.weights import known_caveat, resolve_reid_weights
from streamreid.stream.background import Prefetch
from streamreid.weights.catalog import OMZ_ALIASES, OMZ_MODELS
from streamreid.weights.records import ResolvedWeights

logger = logging.getLogger(__name__)


def embed_groups(embedder: Embedder, groups: Iterable[np.ndarray], *, batch: int = 128) -> list[np.ndarray]:
    """Embed several groups of crops (e.g. one per person), sharing batches between groups.

    Groups are read one at a time and embedded as soon as ``batch`` crops are waiting, so
    no more than about ``batch`` crops are held at once however many groups there are.

    Args:
        embedder: Any embedder.
        groups: ``(n_i, H, W, 3)`` uint8 BGR crops per group; ``n_i`` may be 0. May be a generator.
        batch: Crops per call of ``embedder.embed``.

    Returns:
        ``(n_i, dim)`` float32 features per group, in order.
    """
    features: list[list[np.ndarray]] = []
    pending: list[tuple[int, np.ndarray]] = []

    def run() -> None:
        if not pending:
            return
        parts = [crops for _, crops in pending]
        if len({part.shape[1:] for part in parts}) == 1:
            vectors = embedder.embed(np.concatenate(parts))
        else:
            vectors = embedder.embed([crop for part in parts for crop in part])
        start = 0
        for owner, crops in pending:
            features[owner].append(vectors[start : start + len(crops)])
            start += len(crops)
        pending.clear()

    for index, group in enumerate(groups):
        features.append([])
        crops = np.asarray(group)
        if len(crops):
            pending.append((index, crops))
        if sum(len(c) for _, c in pending) >= batch:
            run()
    run()
    empty = np.zeros((0, embedder.dim), dtype=np.float32)
    return [np.concatenate(parts) if parts else empty for parts in features]


def leaves_cores_free(embedder: Embedder) -> bool:
    """Whether other work (the WebPs) may run beside ``embedder`` without slowing it down more than it gains.

    An embedder says so with ``uses_every_core``: OSNet and the OMZ models on the CPU run their
    inference in a thread per core that wait on each other, so a busy thread beside them stalls
    all of them (OSNet x0.25 on OpenVINO embedded 1024 crops in 1.76 s alone and 2.88 s beside
    one WebP-encoding thread, 2 cores). The fallback (one NumPy thread) and an embedder on a GPU
    leave cores free; so does one that does not say.
    """
    return not getattr(embedder, "uses_every_core", False)


class RememberingEmbedder:
    """An embedder that runs each distinct crop once: crops seen before (same pixels) reuse their features.

    The end of the stream compares persons again after each round of confident merges; a merged
    person's best crops are crops its parts already had, so only new crops reach the network.
    Memory is one feature row per distinct crop of one analysis.

    Args:
        embedder: The embedder to run for crops not seen before.
    """

    def __init__(self, embedder: Embedder) -> None:
        self.inner = embedder
        self._known: dict[tuple[tuple[int, ...], bytes], np.ndarray] = {}
        self._rows: dict[int, np.ndarray] = {}  # store row -> features (embed_stored)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)  # name, kind, dim, weights, device, ...

    def embed_stored(self, store: Any, row_groups: Sequence[np.ndarray], *, batch: int = 128) -> list[np.ndarray]:
        """Features of groups of a store's crops, given by row: each row is read and embedded at most once.

        Later calls (the merge rounds of one analysis, on the same store) read nothing for the
        rows already embedded. The crops not seen yet are read in store order, ``batch`` at a time
        (a crop's compressed chunk then serves its neighbours too), the next batch in a thread
        while the embedder runs on this one.

        Args:
            store: A :class:`~streamreid.run.store_reader.StoreReader` (its ``images(rows)``).
            row_groups: Rows of the store per group (a person's best crops, say).
            batch: Crops read and embedded at once (memory: about this many crops).

        Returns:
            ``(n_i, dim)`` float32 features per group, in order.
        """
        groups = [np.asarray(rows, dtype=np.int64).reshape(-1) for rows in row_groups]
        wanted = np.unique(np.concatenate(groups)) if groups else np.zeros(0, dtype=np.int64)
        missing = [int(row) for row in wanted if int(row) not in self._rows]

        def batches() -> Iterator[tuple[list[int], np.ndarray]]:
            for start in range(0, len(missing), batch):
                rows = missing[start : start + batch]
                yield rows, store.images(rows)

        with Prefetch(batches(), depth=1, name="reid-crops") as read:
            for rows, images in read:
                # rows are distinct and unseen: straight to the embedder, no need to hash the crops
                self._rows.update(zip(rows, np.asarray(self.inner.embed(images), dtype=np.float32), strict=True))
        empty = np.zeros((0, self.inner.dim), dtype=np.float32)
        return [np.stack([self._rows[int(row)] for row in rows]) if len(rows) else empty for rows in groups]

    def embed(self, crops: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Features of ``crops``, like the wrapped embedder's; crops seen before are not run again."""
        images = [np.ascontiguousarray(crop) for crop in crops]
        keys = [(image.shape, hashlib.blake2b(image.tobytes(), digest_size=16).digest()) for image in images]
        missing = list(dict.fromkeys(key for key in keys if key not in self._known))
        if missing:
            index = {key: i for i, key in enumerate(keys)}
            new = [images[index[key]] for key in missing]
            same_shape = len({image.shape for image in new}) == 1
            vectors = self.inner.embed(np.stack(new) if same_shape else new)
            self._known.update(zip(missing, vectors, strict=True))
        if not images:
            return np.zeros((0, self.inner.dim), dtype=np.float32)
        return np.stack([self._known[key] for key in keys]).astype(np.float32, copy=False)


class EmbedderInBackground:
    """The embedder ``config`` asks for, built in a thread from now on; used like the embedder itself.

    Built at the start of a run, the embedder (weights resolved, perhaps downloaded, the network
    compiled: 0.1–0.5 s, more on a first download) is ready when the stream ends instead of
    adding to the end of stream. Any attribute waits for the build; an error of the build (no
    usable weights) is raised there, as :func:`build_embedder` would have raised it.

    Args:
        config: The ``reid`` section of the config.
    """

    def __init__(self, config: ReidConfig) -> None:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="streamreid-embedder")
        self._built = pool.submit(build_embedder, config)
        pool.shutdown(wait=False)

    def __getattr__(self, name: str) -> object:
        embedder, _ = self._built.result()
        return getattr(embedder, name)


def build_embedder(config: ReidConfig) -> tuple[Embedder, str]:
    """Build the embedder ``config.embedder`` asks for and say why in one sentence.

    The sentence is logged once: as a warning when the fallback stands in for OSNet, else as info.

    * ``fallback``: the weights-free :class:`FallbackEmbedder`.
    * ``osnet``: :class:`OsnetEmbedder` with weights from :func:`resolve_reid_weights`; an
      error when there are none or they do not load.
    * ``auto``: OSNet when weights resolve and load, else a logged warning and the fallback.
      Weights the user named explicitly must load, in any mode.
    * an Open Model Zoo model (``omz-0288``): :class:`OmzReidEmbedder`, an error without its weights.

    Raises:
        ConfigError: Unknown ``embedder`` value, model name or device.
        WeightsError: ``osnet`` without usable weights, or explicit weights that fail to load.
    """
    mode = config.embedder
    if mode in OMZ_ALIASES or mode in OMZ_MODELS:
        omz = OmzReidEmbedder(model=mode, weights=config.weights, allow_download=config.download)
        return omz, f"Using {omz.name}: {omz.weights.detail}."
    if mode not in CHOICES["reid.embedder"]:
        raise ConfigError(f"reid.embedder must be one of {', '.join(CHOICES['reid.embedder'])}, got '{mode}'")
    if mode == "fallback":
        message = "Using the weights-free fallback embedder (reid.embedder: fallback): part colour and texture."
        logger.info(message)
        return FallbackEmbedder(), message
    # A short socket timeout: an unreachable mirror should cost seconds, not minutes, before the fallback.
    resolved = resolve_reid_weights(config.model, config.weights, allow_download=config.download, timeout=10.0)
    if resolved.path is None:
        if mode == "osnet":
            raise WeightsError(
                f"no weights for {config.model}: {resolved.detail}; set reid.weights or reid.embedder: fallback"
            )
        return _fallback(
            f"OSNet weights unavailable ({resolved.detail}); using the weights-free fallback embedder "
            "(clothing colour and texture only: recommendations are coarser, prefer the calibrated threshold)."
        )
    return _osnet(config, resolved)


def _osnet(config: ReidConfig, resolved: ResolvedWeights) -> tuple[Embedder, str]:
    """OSNet with ``resolved`` weights; in ``auto`` mode the fallback when found weights do not load."""
    from streamreid.reid.osnet import OsnetEmbedder  # imports torch and torchreid: only when needed

    try:
        embedder = OsnetEmbedder(
            model_name=config.model,
            weights=resolved,
            device=config.device,
            batch_size=config.batch_size,
            trust_checkpoint=config.trust_checkpoint,
            runtime=config.runtime,
        )
    except WeightsError as exc:
        if config.embedder == "osnet" or resolved.origin == "explicit":
            raise
        return _fallback(f"OSNet weights did not load ({exc}); using the weights-free fallback embedder.")
    caveat = known_caveat(config.model, resolved.path)
    message = f"Using {config.model} on {embedder.device}{f' ({caveat})' if caveat else ''}: {resolved.detail}."
    logger.info(message)
    return embedder, message


def _fallback(message: str) -> tuple[Embedder, str]:
    logger.warning(message)
    return FallbackEmbedder(), message

"""Re-identification embedders: OSNet (torchreid) and a weights-free fallback.

An embedder turns person crops into unit-length feature vectors, one per crop:
``embed(crops)`` takes ``(N, H, W, 3)`` uint8 BGR images and returns ``(N, dim)``
float32 rows of L2 norm 1, so the dot product of two rows is their cosine.

* :class:`OsnetEmbedder` runs a torchreid model (``osnet_x0_25`` by default: 512-d
  features) on 256x128 RGB inputs with ImageNet normalisation. Checkpoints are read
  by our own loader (:func:`load_reid_checkpoint`), never by torchreid's downloader.
* :class:`FallbackEmbedder` needs no weights: per body part (head, torso, legs)
  colour histograms in hue-saturation (plus a grey-level histogram for achromatic
  clothing) and gradient-orientation histograms. It tells clothing apart; it does
  not know faces or gait.

Weights are found by :func:`resolve_reid_weights` (explicit path, then the cache,
then a checksummed download from :data:`KNOWN_REID_WEIGHTS`), and
:func:`build_embedder` picks the embedder a :class:`~streamreid.config.ReidConfig`
asks for, explaining its choice in one sentence.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import cv2
import numpy as np

from streamreid.config import ConfigError, ReidConfig
from streamreid.errors import WeightsError
from streamreid.weights import ResolvedWeights, cache_dir, download, sha256_of

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

OSNET_INPUT_HEIGHT = 256
OSNET_INPUT_WIDTH = 128
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@runtime_checkable
class Embedder(Protocol):
    """What the pipeline needs from an embedder.

    Attributes:
        name: Human-readable name, e.g. ``osnet_x0_25 (osnet_x0_25_msmt17.pt)``.
        kind: ``"osnet"`` or ``"fallback"``.
        dim: Length of each feature vector.
        weights: Where the weights came from, or ``None`` for the fallback.
        device: Where inference runs (``cpu``, ``cuda``, ...).
    """

    name: str
    kind: str
    dim: int
    weights: ResolvedWeights | None
    device: str

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3)`` uint8 BGR crops → ``(N, dim)`` float32 rows of unit L2 norm."""
        ...


# --------------------------------------------------------------------------------------------
# Known weights
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
        candidates = (match,)

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


# --------------------------------------------------------------------------------------------
# Checkpoint loading
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointReport:
    """What loading a checkpoint into a model did.

    Attributes:
        loaded: Number of tensors copied into the model.
        missing: Model keys the file lacked (only classifier or BN counters; others are an error).
        unexpected: File keys the model does not have (ignored).
        dropped: Keys present in both whose shapes differ (classifier of another identity count).
    """

    loaded: int
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    dropped: tuple[str, ...]

    def summary(self) -> str:
        """One line for people."""
        parts = [f"{self.loaded} tensors loaded"]
        if self.dropped:
            parts.append(f"{len(self.dropped)} dropped for shape ({', '.join(self.dropped[:3])})")
        if self.missing:
            parts.append(f"{len(self.missing)} missing ({', '.join(self.missing[:3])})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected ({', '.join(self.unexpected[:3])})")
        return ", ".join(parts)


_HARMLESS_MISSING = ("classifier.", "num_batches_tracked")


def _read_checkpoint(path: Path, *, trust: bool) -> Any:
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        message = str(exc)
        if "Unsupported global" not in message:
            raise WeightsError(f"{path.name} is not a PyTorch checkpoint (it cannot be unpickled)") from None
        if not trust:
            needed = message.split("Unsupported global:", 1)[1].split(" was not", 1)[0].strip()
            raise WeightsError(
                f"{path.name} needs full unpickling ({needed}), which can run code from the file; "
                "if you trust its source set reid.trust_checkpoint: true"
            ) from None
    except OSError as exc:
        raise WeightsError(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - torch's readers raise many kinds of errors on other files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsError(f"{path.name} is not a PyTorch checkpoint ({reason})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - anything the pickle runs may raise
        raise WeightsError(f"{path.name} could not be loaded even with full unpickling: {exc}") from None


def _extract_state_dict(checkpoint: Any, name: str) -> dict[str, torch.Tensor]:
    import torch

    if isinstance(checkpoint, torch.nn.Module):
        return checkpoint.state_dict()
    if isinstance(checkpoint, Mapping):
        for key in ("state_dict", "model"):
            inner = checkpoint.get(key)
            if isinstance(inner, torch.nn.Module):
                return inner.state_dict()
            if isinstance(inner, Mapping):
                checkpoint = inner
                break
        tensors = {str(k): v for k, v in checkpoint.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise WeightsError(f"{name} holds no state dict (expected tensors, or a 'state_dict' or 'model' entry)")


def load_reid_checkpoint(model: torch.nn.Module, path: str | Path, *, trust: bool = False) -> CheckpointReport:
    """Load a torchreid checkpoint into ``model`` without torchreid's loader.

    Accepts a plain state dict, or a dict with a ``state_dict`` or ``model`` entry; strips
    ``module.`` prefixes (DataParallel); drops tensors whose shape differs from the model's
    when they belong to the identity classifier (trained with another number of identities).

    Args:
        model: The network to fill.
        path: Checkpoint file.
        trust: Allow full unpickling for files that need it (it can run code from the file).

    Returns:
        What was loaded, missing, unexpected and dropped.

    Raises:
        WeightsError: The file is not a checkpoint, needs unpickling without ``trust``, is
            for another architecture (feature tensors missing or of another shape).
    """
    path = Path(path)
    state = _extract_state_dict(_read_checkpoint(path, trust=trust), path.name)
    cleaned: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        while key.startswith("module."):
            key = key[len("module.") :]
        cleaned[key] = value
    expected = model.state_dict()
    dropped: list[str] = []
    for key in list(cleaned):
        if key in expected and tuple(cleaned[key].shape) != tuple(expected[key].shape):
            if not key.startswith("classifier."):
                raise WeightsError(
                    f"{path.name} does not fit this model: {key} has shape {tuple(cleaned[key].shape)}, "
                    f"the model expects {tuple(expected[key].shape)} (weights for another architecture?)"
                )
            dropped.append(key)
            del cleaned[key]
    result = model.load_state_dict(cleaned, strict=False)
    missing = tuple(result.missing_keys)
    serious = [k for k in missing if not any(h in k for h in _HARMLESS_MISSING)]
    if serious:
        raise WeightsError(
            f"{path.name} does not fit this model: {len(serious)} of its feature tensors are missing "
            f"(first: {', '.join(serious[:3])}); weights for another architecture?"
        )
    return CheckpointReport(
        loaded=len(cleaned) - len(result.unexpected_keys),
        missing=missing,
        unexpected=tuple(result.unexpected_keys),
        dropped=tuple(dropped),
    )


# --------------------------------------------------------------------------------------------
# OSNet
# --------------------------------------------------------------------------------------------


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when available, else ``cpu``; other values are checked and kept.

    Raises:
        ConfigError: CUDA or MPS was asked for and is not available.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"reid.device is '{device}' but CUDA is not available here (use auto or cpu)")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("reid.device is 'mps' but MPS is not available here (use auto or cpu)")
    return device


def _build_torchreid_model(model_name: str) -> torch.nn.Module:
    with warnings.catch_warnings():
        # torchreid warns at import time that its optional Cython evaluation is missing; we never evaluate.
        warnings.simplefilter("ignore")
        from torchreid import reid

    try:
        # pretrained=False: torchreid's own download goes to Google Drive and uses an unsafe torch.load.
        return reid.models.build_model(model_name, num_classes=1, pretrained=False)
    except KeyError:
        raise ConfigError(f"reid.model '{model_name}' is not a torchreid model (e.g. osnet_x0_25)") from None


def _as_crop_batch(crops: np.ndarray | Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """Stack crops into ``(N, height, width, 3)`` uint8, resizing those of another size."""
    if isinstance(crops, np.ndarray) and crops.ndim == 4 and crops.shape[1:3] == (height, width):
        if crops.shape[3] != 3:
            raise ValueError(f"crops must have 3 channels (BGR), got shape {crops.shape}")
        return np.ascontiguousarray(crops, dtype=np.uint8)
    images = list(crops)
    out = np.empty((len(images), height, width, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f"crop {i} must be an (H, W, 3) BGR image, got shape {image.shape}")
        if image.shape[:2] != (height, width):
            shrinking = image.shape[0] > height
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        out[i] = image
    return out


def _unit_rows(features: np.ndarray) -> np.ndarray:
    """L2-normalise rows in float32; all-zero rows stay zero."""
    features = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class OsnetEmbedder:
    """Person features from a torchreid network (OSNet x0.25 by default, 512-d).

    Crops are resized to 256x128, turned from BGR to RGB, scaled to ``[0, 1]`` and
    normalised with the ImageNet mean and standard deviation, then run through the
    network in eval mode, ``batch_size`` at a time, under ``torch.inference_mode``.

    Args:
        model_name: torchreid model name.
        weights: Checkpoint path, or the :class:`ResolvedWeights` that found it.
        device: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:N``, ``mps``.
        batch_size: Crops per forward pass.
        random_init: Use randomly initialised weights (for tests and benchmarks only: the
            features then carry no identity information). Seeded by ``seed``.
        trust_checkpoint: Allow checkpoints that need full unpickling.
        seed: Seed of the random initialisation.
        runtime: ``torch``; ``openvino`` (CPU only: the network converted once with OpenVINO
            and cached next to the exports, several times faster than eager PyTorch on
            CPU, same features to ~1e-7); ``auto`` picks OpenVINO on CPU when installed.

    Raises:
        WeightsError: No weights and not ``random_init``, or the checkpoint does not load.
        ConfigError: Unknown model name or unavailable device.
    """

    kind = "osnet"

    def __init__(
        self,
        *,
        model_name: str = "osnet_x0_25",
        weights: str | Path | ResolvedWeights | None = None,
        device: str = "auto",
        batch_size: int = 64,
        random_init: bool = False,
        trust_checkpoint: bool = False,
        seed: int = 0,
        runtime: str = "torch",
    ) -> None:
        import torch

        if runtime not in REID_RUNTIMES:
            raise ConfigError(f"reid runtime must be one of {', '.join(REID_RUNTIMES)}, got {runtime!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if weights is None and not random_init:
            raise WeightsError(f"no weights for {model_name}: pass weights=PATH (random_init=True is for tests only)")
        if weights is not None and random_init:
            raise ValueError("give either weights or random_init=True, not both")
        self.model_name = model_name
        self.batch_size = int(batch_size)
        self.device = resolve_device(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _build_torchreid_model(model_name)
        if random_init:
            self.weights: ResolvedWeights | None = ResolvedWeights(
                path=None,
                origin="random",
                detail=f"RANDOM weights (seed {seed}), for tests and benchmarks only: features carry no identity",
            )
            self.checkpoint: CheckpointReport | None = None
            self.name = f"{model_name} (RANDOM WEIGHTS)"
        else:
            if isinstance(weights, ResolvedWeights):
                resolved = weights
            else:
                path = Path(weights).expanduser()  # type: ignore[arg-type]
                if not path.is_file():
                    raise WeightsError(f"ReID weights not found: {path}")
                resolved = ResolvedWeights(path=path, origin="explicit", detail=f"weights given by the user: {path}")
            if resolved.path is None:
                raise WeightsError(f"no weights for {model_name}: {resolved.detail}")
            self.checkpoint = load_reid_checkpoint(model, resolved.path, trust=trust_checkpoint)
            self.weights = resolved
            self.name = f"{model_name} ({resolved.path.name})"
        model.eval()
        self.runtime = _pick_reid_runtime(runtime, self.device)
        self._compiled = None
        if self.runtime == "openvino":
            self._compiled = _openvino_network(model, cache_key=self._cache_key(seed))
        if self.device == "cpu":
            # Depthwise convolutions run faster on CPU with NHWC tensors (and crops arrive NHWC).
            model = model.to(memory_format=torch.channels_last)
        self._model = model.to(self.device)
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1) * 255.0
        feature_dim = getattr(model, "feature_dim", None)
        if isinstance(feature_dim, int) and feature_dim > 0:
            self.dim = feature_dim
        else:
            self.dim = int(self._forward(np.zeros((1, OSNET_INPUT_HEIGHT, OSNET_INPUT_WIDTH, 3), np.uint8)).shape[1])

    @property
    def model(self) -> torch.nn.Module:
        """The network, in eval mode on :attr:`device`."""
        return self._model

    def _cache_key(self, seed: int) -> str:
        if self.weights is not None and self.weights.path is not None:
            digest = self.weights.sha256 or sha256_of(self.weights.path)
            return f"{self.model_name}-{digest[:16]}"
        return f"{self.model_name}-random{seed}"

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        if self._compiled is not None:
            pixels = batch[..., ::-1].astype(np.float32)  # BGR → RGB
            pixels = (pixels - np.float32(255.0) * IMAGENET_MEAN_ARRAY) / (np.float32(255.0) * IMAGENET_STD_ARRAY)
            return np.asarray(self._compiled(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)))[0], np.float32)
        with torch.inference_mode():
            pixels = torch.from_numpy(batch).to(self.device)
            # (N, H, W, BGR) uint8 → (N, RGB, H, W) float, ImageNet-normalised on the device.
            pixels = pixels.flip(-1).permute(0, 3, 1, 2).float()
            pixels = ((pixels - self._mean) / self._std).contiguous(memory_format=torch.channels_last)
            output = self._model(pixels)
            if isinstance(output, (tuple, list)):
                output = output[-1]
            return output.float().cpu().numpy()

    def embed(self, crops: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Features of ``crops``: ``(N, H, W, 3)`` uint8 BGR → ``(N, dim)`` float32 unit rows."""
        batch = _as_crop_batch(crops, OSNET_INPUT_HEIGHT, OSNET_INPUT_WIDTH)
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [self._forward(batch[i : i + self.batch_size]) for i in range(0, len(batch), self.batch_size)]
        return _unit_rows(np.concatenate(parts, axis=0))

    def __repr__(self) -> str:
        return f"OsnetEmbedder({self.name!r}, dim={self.dim}, device={self.device!r}, runtime={self.runtime!r})"


REID_RUNTIMES = ("auto", "torch", "openvino")
IMAGENET_MEAN_ARRAY = np.asarray(IMAGENET_MEAN, dtype=np.float32)
IMAGENET_STD_ARRAY = np.asarray(IMAGENET_STD, dtype=np.float32)


def _pick_reid_runtime(runtime: str, device: str) -> str:
    """The runtime to use: OpenVINO only on CPU, and for ``auto`` only when installed."""
    import importlib.util

    installed = importlib.util.find_spec("openvino") is not None
    if runtime == "auto":
        return "openvino" if installed and device == "cpu" else "torch"
    if runtime == "openvino":
        if device != "cpu":
            raise ConfigError(f"reid runtime openvino runs on the CPU, not {device}")
        if not installed:
            raise WeightsError("reid runtime openvino needs the openvino package: pip install openvino")
    return runtime


def _openvino_network(model: torch.nn.Module, *, cache_key: str) -> Any:
    """The network converted to OpenVINO (dynamic batch, cached by weights digest), compiled for the CPU."""
    import copy
    import warnings

    import openvino as ov
    import torch

    core = ov.Core()
    cached = cache_dir() / "exports" / f"reid-{cache_key}-openvino" / "model.xml"
    if cached.is_file():
        network = core.read_model(str(cached))
    else:
        plain = copy.deepcopy(model).to(memory_format=torch.contiguous_format).eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            network = ov.convert_model(
                plain,
                example_input=torch.rand(1, 3, OSNET_INPUT_HEIGHT, OSNET_INPUT_WIDTH),
                input=[ov.PartialShape([-1, 3, OSNET_INPUT_HEIGHT, OSNET_INPUT_WIDTH])],
            )
        staging = cached.parent.with_name(cached.parent.name + ".partial")
        staging.mkdir(parents=True, exist_ok=True)
        ov.save_model(network, str(staging / "model.xml"), compress_to_fp16=False)
        if not cached.parent.exists():
            staging.rename(cached.parent)
    return core.compile_model(network, "CPU", {"PERFORMANCE_HINT": "LATENCY"})


# --------------------------------------------------------------------------------------------
# Fallback
# --------------------------------------------------------------------------------------------

# Body parts as fractions of the crop height: (name, top, bottom).
BODY_PARTS: tuple[tuple[str, float, float], ...] = (("head", 0.0, 0.2), ("torso", 0.2, 0.55), ("legs", 0.55, 1.0))


def _soft_bins(values: np.ndarray, bins: int, *, circular: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear interpolation of ``values`` in ``[0, 1]`` between bin centres.

    Returns the lower bin, the upper bin and the weight of the upper bin, so a value
    near a bin edge is shared between the two bins instead of jumping between them.
    """
    position = values * bins - 0.5
    lower = np.floor(position)
    upper_weight = position - lower
    lower = lower.astype(np.int64)
    upper = lower + 1
    if circular:
        lower %= bins
        upper %= bins
    else:
        below = lower < 0
        above = upper > bins - 1
        lower = np.clip(lower, 0, bins - 1)
        upper = np.clip(upper, 0, bins - 1)
        upper_weight = np.where(below, 1.0, np.where(above, 0.0, upper_weight))
    return lower, upper, upper_weight


def _smoothstep(values: np.ndarray, low: float, high: float) -> np.ndarray:
    t = np.clip((values - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


class FallbackEmbedder:
    """Weights-free person features: part-based colour and gradient histograms.

    Each crop is resized to ``height x width`` (so the scale of the person does not
    matter) and split into head, torso and legs stripes (:data:`BODY_PARTS`). Pixels are
    weighted by a Gaussian across the width, so the person in the middle counts more than
    the background at the sides. Per stripe:

    * a hue x saturation histogram of the coloured pixels (hue and saturation do not change
      when the light gets brighter or darker),
    * a histogram of *relative* brightness (value / the crop's median value) of the grey,
      black and white pixels, which colour cannot describe,
    * a histogram of gradient orientations weighted by gradient magnitude (texture,
      stripes, edges), normalised so only its shape counts.

    Histograms are soft-binned (a value near a bin edge is shared), normalised to sum 1
    and square-rooted (so the cosine of two vectors is the Bhattacharyya coefficient of
    the histograms), weighted and concatenated; the result is L2-normalised.

    Similarities from this embedder are higher across the board than OSNet's (all vectors
    are non-negative), so its fixed thresholds mean less: prefer the calibrated threshold.
    Known limits: over-exposure that clips light, weakly saturated clothing (pastels) shifts
    its hue and saturation; two people dressed alike are alike to it.

    Args:
        height: Height crops are resized to.
        width: Width crops are resized to.
        hue_bins: Hue bins of the colour histogram.
        saturation_bins: Saturation bins of the colour histogram.
        grey_bins: Bins of the relative-brightness histogram of achromatic pixels.
        orientation_bins: Bins of the gradient-orientation histogram (0-180 degrees).
        texture_weight: Weight of the gradient block against the colour block.
        grey_saturation: Saturation below which a pixel counts as grey (fully coloured from
            three times this value; the change is smooth).
        grey_range: Relative brightness mapped to the last grey bin.
    """

    kind = "fallback"
    weights: ResolvedWeights | None = None
    device = "cpu"

    def __init__(
        self,
        *,
        height: int = 128,
        width: int = 64,
        hue_bins: int = 8,
        saturation_bins: int = 3,
        grey_bins: int = 6,
        orientation_bins: int = 8,
        texture_weight: float = 0.5,
        grey_saturation: float = 0.06,
        grey_range: float = 1.5,
    ) -> None:
        self.height = int(height)
        self.width = int(width)
        self.hue_bins = int(hue_bins)
        self.saturation_bins = int(saturation_bins)
        self.grey_bins = int(grey_bins)
        self.orientation_bins = int(orientation_bins)
        self.texture_weight = float(texture_weight)
        self.grey_saturation = float(grey_saturation)
        self.grey_range = float(grey_range)
        self._colour_bins = self.hue_bins * self.saturation_bins + self.grey_bins
        self.dim = len(BODY_PARTS) * (self._colour_bins + self.orientation_bins)
        self.name = "fallback (part colour + gradient histograms, no weights)"
        rows = np.arange(self.height)
        part_of_row = np.zeros(self.height, dtype=np.int64)
        for index, (_, top, _bottom) in enumerate(BODY_PARTS):
            part_of_row[rows >= round(top * self.height)] = index
        self._part = np.broadcast_to(part_of_row[:, None], (self.height, self.width)).reshape(-1)
        columns = (np.arange(self.width) + 0.5) / self.width - 0.5
        centre = np.exp(-0.5 * (columns / 0.25) ** 2)
        self._centre = np.broadcast_to(centre[None, :], (self.height, self.width)).reshape(-1)

    def embed(self, crops: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Features of ``crops``: ``(N, H, W, 3)`` uint8 BGR → ``(N, dim)`` float32 unit rows."""
        images = _as_crop_batch(crops, self.height, self.width)
        count = len(images)
        if count == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        pixels = self.height * self.width
        # One tall image per call: cvtColor and Sobel run once for the whole batch.
        tall = images.reshape(count * self.height, self.width, 3)
        hsv = cv2.cvtColor(tall, cv2.COLOR_BGR2HSV).reshape(count, pixels, 3).astype(np.float32)
        hue = hsv[..., 0] / 180.0
        saturation = hsv[..., 1] / 255.0
        value = hsv[..., 2] / 255.0

        base = self._centre[None, :]
        # Brightness relative to the crop's median: the same under any global gain (short of clipping).
        median_value = np.median(value, axis=1, keepdims=True)
        relative_value = value / np.maximum(median_value, 1e-3)
        # How "coloured" a pixel is: saturated and not too dark for its crop.
        chroma = _smoothstep(saturation, self.grey_saturation, 3 * self.grey_saturation) * _smoothstep(
            relative_value, 0.15, 0.35
        )

        part_offset = self._part[None, :] * self._colour_bins + np.arange(count)[:, None] * (
            len(BODY_PARTS) * self._colour_bins
        )
        colour = np.zeros(count * len(BODY_PARTS) * self._colour_bins)
        h_lo, h_hi, h_w = _soft_bins(hue, self.hue_bins, circular=True)
        s_lo, s_hi, s_w = _soft_bins(
            np.clip((saturation - self.grey_saturation) / (1 - self.grey_saturation), 0, 1),
            self.saturation_bins,
            circular=False,
        )
        coloured = base * chroma
        for h_bin, h_weight in ((h_lo, 1 - h_w), (h_hi, h_w)):
            for s_bin, s_weight in ((s_lo, 1 - s_w), (s_hi, s_w)):
                index = part_offset + h_bin * self.saturation_bins + s_bin
                colour += np.bincount(
                    index.ravel(), weights=(coloured * h_weight * s_weight).ravel(), minlength=colour.size
                )
        grey = base * (1.0 - chroma)
        g_lo, g_hi, g_w = _soft_bins(np.clip(relative_value / self.grey_range, 0, 1), self.grey_bins, circular=False)
        grey_offset = part_offset + self.hue_bins * self.saturation_bins
        for g_bin, g_weight in ((g_lo, 1 - g_w), (g_hi, g_w)):
            colour += np.bincount(
                (grey_offset + g_bin).ravel(), weights=(grey * g_weight).ravel(), minlength=colour.size
            )
        colour = colour.reshape(count, len(BODY_PARTS), self._colour_bins)

        luminance = cv2.cvtColor(tall, cv2.COLOR_BGR2GRAY).astype(np.float32)
        gx = cv2.Sobel(luminance, cv2.CV_32F, 1, 0, ksize=3).reshape(count, pixels)
        gy = cv2.Sobel(luminance, cv2.CV_32F, 0, 1, ksize=3).reshape(count, pixels)
        magnitude = np.hypot(gx, gy)
        # The first and last row of each crop see the neighbouring crop in the tall image: ignore them.
        magnitude[:, : self.width] = 0.0
        magnitude[:, -self.width :] = 0.0
        orientation = (np.arctan2(gy, gx) % np.pi) / np.pi
        o_lo, o_hi, o_w = _soft_bins(orientation, self.orientation_bins, circular=True)
        texture = np.zeros(count * len(BODY_PARTS) * self.orientation_bins)
        t_offset = self._part[None, :] * self.orientation_bins + np.arange(count)[:, None] * (
            len(BODY_PARTS) * self.orientation_bins
        )
        strength = base * magnitude
        for o_bin, o_weight in ((o_lo, 1 - o_w), (o_hi, o_w)):
            texture += np.bincount(
                (t_offset + o_bin).ravel(), weights=(strength * o_weight).ravel(), minlength=texture.size
            )
        texture = texture.reshape(count, len(BODY_PARTS), self.orientation_bins)

        colour = np.sqrt(colour / np.maximum(colour.sum(axis=2, keepdims=True), 1e-12))
        texture = np.sqrt(texture / np.maximum(texture.sum(axis=2, keepdims=True), 1e-12)) * self.texture_weight
        features = np.concatenate([colour.reshape(count, -1), texture.reshape(count, -1)], axis=1)
        return _unit_rows(features)

    def __repr__(self) -> str:
        return f"FallbackEmbedder(dim={self.dim}, size={self.height}x{self.width})"


# --------------------------------------------------------------------------------------------
# Choosing and using an embedder
# --------------------------------------------------------------------------------------------


def embed_groups(embedder: Embedder, groups: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Embed several groups of crops (e.g. one per person) in as few batches as possible.

    Args:
        embedder: Any embedder.
        groups: ``(n_i, H, W, 3)`` uint8 BGR crops per group; ``n_i`` may be 0.

    Returns:
        ``(n_i, dim)`` float32 features per group, in order.
    """
    sizes = [len(g) for g in groups]
    non_empty = [np.asarray(g) for g in groups if len(g)]
    if not non_empty:
        return [np.zeros((0, embedder.dim), dtype=np.float32) for _ in groups]
    if len({g.shape[1:] for g in non_empty}) == 1:
        features = embedder.embed(np.concatenate(non_empty, axis=0))
    else:
        features = embedder.embed([crop for group in non_empty for crop in group])
    out: list[np.ndarray] = []
    start = 0
    for size in sizes:
        out.append(features[start : start + size])
        start += size
    return out


def build_embedder(config: ReidConfig) -> tuple[Embedder, str]:
    """Build the embedder ``config.embedder`` asks for and say why in one sentence.

    * ``fallback``: the weights-free :class:`FallbackEmbedder`.
    * ``osnet``: :class:`OsnetEmbedder` with weights from :func:`resolve_reid_weights`; an
      error when there are none or they do not load.
    * ``auto``: OSNet when weights resolve and load, else a logged warning and the fallback.
      Weights the user named explicitly must load, in any mode.

    Raises:
        ConfigError: Unknown ``embedder`` value, model name or device.
        WeightsError: ``osnet`` without usable weights, or explicit weights that fail to load.
    """
    mode = config.embedder
    from streamreid.embed_openvino import OMZ_ALIASES, OMZ_MODELS, OmzReidEmbedder

    if mode in OMZ_ALIASES or mode in OMZ_MODELS:
        omz = OmzReidEmbedder(model=mode, weights=config.weights, allow_download=config.download)
        return omz, f"Using {omz.name}: {omz.weights.detail}."
    if mode not in ("auto", "osnet", "fallback"):
        raise ConfigError(f"reid.embedder must be auto, osnet, fallback, omz-0287 or omz-0288, got '{mode}'")
    if mode == "fallback":
        embedder = FallbackEmbedder()
        return embedder, "Using the weights-free fallback embedder (reid.embedder: fallback): part colour and texture."

    # A short socket timeout: an unreachable mirror should cost seconds, not minutes, before the fallback.
    resolved = resolve_reid_weights(config.model, config.weights, allow_download=config.download, timeout=10.0)
    if resolved.path is None:
        if mode == "osnet":
            raise WeightsError(
                f"no weights for {config.model}: {resolved.detail}; set reid.weights or reid.embedder: fallback"
            )
        message = (
            f"OSNet weights unavailable ({resolved.detail}); using the weights-free fallback embedder "
            "(clothing colour and texture only: recommendations are coarser, prefer the calibrated threshold)."
        )
        logger.warning(message)
        return FallbackEmbedder(), message
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
        if mode == "osnet" or resolved.origin == "explicit":
            raise
        message = f"OSNet weights did not load ({exc}); using the weights-free fallback embedder."
        logger.warning(message)
        return FallbackEmbedder(), message
    known = next(
        (k for k in KNOWN_REID_WEIGHTS.get(config.model, ()) if resolved.path and k.file_name == resolved.path.name),
        None,
    )
    caveat = "" if known is None or known.reid_trained else " (ImageNet weights, not trained for re-identification)"
    return embedder, f"Using {config.model} on {embedder.device}{caveat}: {resolved.detail}."

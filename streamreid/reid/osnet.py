"""OSNet person features through torchreid, on PyTorch or converted to OpenVINO.

:class:`OsnetEmbedder` runs a torchreid model (``osnet_x0_25`` by default: 512-d
features) on 256x128 RGB inputs with ImageNet normalisation. Checkpoints are read
by our own loader (:func:`~streamreid.reid.checkpoint.load_reid_checkpoint`), never by
torchreid's downloader.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from streamreid.config import ConfigError
from streamreid.devices import resolve_device
from streamreid.errors import WeightsError
from streamreid.reid.checkpoint import CheckpointReport, load_reid_checkpoint
from streamreid.reid.features import as_crop_batch, unit_rows
from streamreid.reid.omz import takes_uint8_crops
from streamreid.weights.cache import cache_dir, sha256_of, staged_folder
from streamreid.weights.records import ResolvedWeights
from streamreid.weights.resolve import given_by_user

if TYPE_CHECKING:
    import torch

OSNET_INPUT_HEIGHT = 256
OSNET_INPUT_WIDTH = 128
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _build_torchreid_model(model_name: str) -> torch.nn.Module:
    osnet = _torchreid_osnet_module()
    builder = getattr(osnet, model_name, None) if model_name.startswith("osnet") else None
    if builder is not None:
        # pretrained=False: torchreid's own download goes to Google Drive and uses an unsafe torch.load.
        return builder(num_classes=1, loss="softmax", pretrained=False, use_gpu=True)
    with warnings.catch_warnings():
        # torchreid warns at import time that its optional Cython evaluation is missing; we never evaluate.
        warnings.simplefilter("ignore")
        from torchreid import reid

    try:
        return reid.models.build_model(model_name, num_classes=1, pretrained=False)
    except KeyError:
        raise ConfigError(f"reid.model '{model_name}' is not a torchreid model (e.g. osnet_x0_25)") from None


@lru_cache(maxsize=1)
def _torchreid_osnet_module() -> ModuleType | None:
    """The OSNet definitions of torchreid, loaded without the ``torchreid`` package's own imports.

    Importing ``torchreid`` imports its datasets, tensorboard and more: about 2 s on a 2-core
    machine, spent at the end of every stream. ``models/osnet.py`` needs only torch, so it is
    loaded on its own; ``None`` where the installed torchreid keeps it elsewhere (then the
    whole package is imported as before).
    """
    import importlib.util

    spec = importlib.util.find_spec("torchreid")
    if spec is None or spec.origin is None:
        return None
    package = Path(spec.origin).parent
    for path in (package / "reid" / "models" / "osnet.py", package / "models" / "osnet.py"):
        if path.is_file():
            module_spec = importlib.util.spec_from_file_location("streamreid._torchreid_osnet", path)
            if module_spec is None or module_spec.loader is None:
                continue
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
            return module
    return None


def _load_weights(
    model: torch.nn.Module,
    model_name: str,
    weights: str | Path | ResolvedWeights | None,
    *,
    trust: bool,
    seed: int,
) -> tuple[ResolvedWeights, CheckpointReport | None]:
    """Load ``weights`` into ``model`` (``None``: keep its random initialisation, said so); where they came from."""
    if weights is None:
        detail = f"RANDOM weights (seed {seed}), for tests and benchmarks only: features carry no identity"
        return ResolvedWeights(path=None, origin="random", detail=detail), None
    resolved = weights if isinstance(weights, ResolvedWeights) else given_by_user(weights, what="ReID weights")
    if resolved.path is None:
        raise WeightsError(f"no weights for {model_name}: {resolved.detail}")
    return resolved, load_reid_checkpoint(model, resolved.path, trust=trust)


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
            CPU; same features to ~1e-6 in float32, to ~1e-3 in the bf16 OpenVINO uses on
            CPUs with AMX, see :attr:`precision`); ``auto`` picks OpenVINO on CPU when installed.

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
        self.weights, self.checkpoint = _load_weights(model, model_name, weights, trust=trust_checkpoint, seed=seed)
        shown = self.weights.path.name if self.weights.path is not None else "RANDOM WEIGHTS"
        self.name = f"{model_name} ({shown})"
        model.eval()
        self.runtime = _pick_reid_runtime(runtime, self.device)
        self._compiled = None
        self.precision = "f32"
        if self.runtime == "openvino":
            self._compiled = _openvino_network(model, cache_key=self._cache_key(seed))
            # bf16 on CPUs with AMX or AVX512-BF16: features then differ from PyTorch's by ~1e-3
            self.precision = str(self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())
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

    @property
    def uses_every_core(self) -> bool:
        """On the CPU, inference runs a thread per core (see :func:`streamreid.reid.embed.leaves_cores_free`)."""
        return self.device == "cpu"

    def _cache_key(self, seed: int) -> str:
        if self.weights is not None and self.weights.path is not None:
            digest = self.weights.sha256 or sha256_of(self.weights.path)
            return f"{self.model_name}-{digest[:16]}"
        return f"{self.model_name}-random{seed}"

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        if self._compiled is not None:  # the network converts and scales the uint8 BGR crops itself
            return np.asarray(self._compiled(np.ascontiguousarray(batch))[0], np.float32)
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
        batch = as_crop_batch(crops, OSNET_INPUT_HEIGHT, OSNET_INPUT_WIDTH)
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [self._forward(batch[i : i + self.batch_size]) for i in range(0, len(batch), self.batch_size)]
        return unit_rows(np.concatenate(parts, axis=0))

    def __repr__(self) -> str:
        return f"OsnetEmbedder({self.name!r}, dim={self.dim}, device={self.device!r}, runtime={self.runtime!r})"


REID_RUNTIMES = ("auto", "torch", "openvino")


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
        with staged_folder(cached.parent) as staging:
            ov.save_model(network, str(staging / "model.xml"), compress_to_fp16=False)
    crops_in = takes_uint8_crops(network, to_rgb=True, mean=[255.0 * m for m in IMAGENET_MEAN],
                                 scale=[255.0 * s for s in IMAGENET_STD])  # fmt: skip
    return core.compile_model(crops_in, "CPU", {"PERFORMANCE_HINT": "LATENCY"})

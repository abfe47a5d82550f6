"""Loading torchreid checkpoints safely, without torchreid's own loader.

Files are read with ``torch.load(weights_only=True)``, which cannot run code; a file
that needs full unpickling is refused unless the user trusts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamreid.errors import WeightsError

if TYPE_CHECKING:
    import torch


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

"""Turning a device request (``auto``, ``cpu``, ``cuda:N``, ``mps``) into a torch device string; the CPUs at hand."""

from __future__ import annotations

import os

from streamreid.config import ConfigError


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def resolve_device(device: str | int, *, what: str = "device") -> str:
    """Turn a device request into a torch device string.

    Args:
        device: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:N``, ``N`` or ``mps``.
        what: The option being resolved, for error messages (e.g. ``detector.device``).

    Returns:
        ``cpu``, ``cuda:N`` or ``mps``.

    Raises:
        ConfigError: The device is unknown, or CUDA/MPS is asked for but not available.
    """
    import torch

    request = str(device).strip().lower()
    if request == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if request == "cpu":
        return "cpu"
    if request == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError(f"{what} is 'mps' but MPS is not available here (use auto or cpu)")
        return "mps"
    index_text = request.removeprefix("cuda").removeprefix(":") or "0"
    if not index_text.isdigit():
        raise ConfigError(f"{what} must be auto, cpu, cuda or cuda:N (or mps), got {device!r}")
    if not torch.cuda.is_available():
        raise ConfigError(f"{what} {device!r} asks for CUDA, which is not available here; use auto or cpu")
    index = int(index_text)
    if index >= torch.cuda.device_count():
        raise ConfigError(f"{what} {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    return f"cuda:{index}"

"""streamreid: watch a video or a live stream once and find the distinct people in it."""

from streamreid.config import Config, load_config
from streamreid.errors import StreamReidError
from streamreid.telemetry import quiet_openvino
from streamreid.types import CropSample, Frame, Person, QualityComponents, TrackletStats, VideoInfo

quiet_openvino()  # before anything imports OpenVINO: its telemetry can hang a process at exit without network

__version__ = "0.1.0"

_LAZY = {"process": "streamreid.api", "watch": "streamreid.api", "Snapshot": "streamreid.api"}


def __getattr__(name: str) -> object:
    """``process``, ``watch`` and ``Snapshot`` load the pipeline on first use: ``import streamreid`` stays light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'streamreid' has no attribute {name!r}")


__all__ = [
    "Config",
    "CropSample",
    "Frame",
    "Person",
    "QualityComponents",
    "Snapshot",
    "StreamReidError",
    "TrackletStats",
    "VideoInfo",
    "__version__",
    "load_config",
    "process",
    "watch",
]

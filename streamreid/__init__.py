"""streamreid: watch a video or a live stream once and find the distinct people in it."""

from streamreid.config import Config, load_config
from streamreid.errors import StreamReidError
from streamreid.types import CropSample, Frame, Person, QualityComponents, TrackletStats, VideoInfo

__version__ = "0.1.0"

__all__ = [
    "Config",
    "CropSample",
    "Frame",
    "Person",
    "QualityComponents",
    "StreamReidError",
    "TrackletStats",
    "VideoInfo",
    "__version__",
    "load_config",
]

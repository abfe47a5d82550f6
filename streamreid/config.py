"""Typed configuration.

The defaults live here, in frozen dataclasses; ``configs/default.yaml`` documents
every knob with the same values (a test keeps the two in step). A user YAML only
needs the keys it changes; unknown keys are an error that names the key.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from streamreid.errors import StreamReidError

AUTO = "auto"
"""The value of keys that the run decides from the stream itself (``detector.imgsz``)."""


class ConfigError(StreamReidError, ValueError):
    """A configuration file or override is invalid."""


@dataclass(frozen=True)
class SourceConfig:
    """How frames are read."""

    stride: int = 1
    threads: bool = True
    scaled_decode: bool = True
    open_timeout: float = 10.0
    read_timeout: float = 10.0
    reconnect_attempts: int = -1
    reconnect_backoff: float = 0.5
    reconnect_backoff_max: float = 8.0
    max_frames: int | None = None
    realtime: bool | None = None
    max_latency: float = 1.0


@dataclass(frozen=True)
class DetectorConfig:
    """Person detector (ultralytics YOLO)."""

    model: str | None = None
    confidence: float = 0.1
    iou: float = 0.7
    imgsz: int | str = "auto"
    imgsz_candidates: tuple[int, ...] = (640, 1280)
    region: bool = False
    region_every: int = 1
    region_max_cost: float = 0.75
    device: str = "auto"
    batch_size: int = 4
    detect_stride: int | str = "auto"
    detect_rate: float = 15.0
    person_classes: tuple[str, ...] = ("person", "normal", "pedestrian", "people")
    half: bool = False
    runtime: str = "auto"
    precision: str = "auto"


@dataclass(frozen=True)
class TrackerConfig:
    """ByteTrack (roboflow ``trackers``) and the tracklet life cycle."""

    lost_track_seconds: float = 1.0
    track_activation_threshold: float = 0.35
    high_conf_det_threshold: float = 0.25
    minimum_iou_threshold: float = 0.1
    second_iou_threshold: float = 0.5
    observation_reupdate: bool = True
    direction_weight: float = 0.0
    direction_lookback: int = 3
    scaled_noise: bool = False
    minimum_consecutive_frames: int = 2
    min_tracklet_detections: int = 3
    trim_faint_tails: bool = True
    faint_tail_seconds: float = 5.0
    shot_cuts: bool = True
    cut_threshold: float = 0.3
    cut_ratio: float = 3.0


@dataclass(frozen=True)
class QualityConfig:
    """Weights of the crop quality components (exponents of a weighted geometric mean)."""

    confidence: float = 1.0
    size: float = 1.0
    aspect: float = 0.5
    truncation: float = 1.0
    occlusion: float = 1.0
    sharpness: float = 0.5
    min_height_fraction: float = 0.25
    sharpness_reference: float = 300.0


@dataclass(frozen=True)
class CropConfig:
    """Per-tracklet crop reservoirs."""

    enabled: bool = True
    height: int = 256
    width: int = 128
    best_k: int = 16
    animation_frames: int = 60
    min_spacing_frames: int = 5
    quality: QualityConfig = field(default_factory=QualityConfig)


@dataclass(frozen=True)
class GroupingConfig:
    """The five checks between an earlier tracklet's end and a later one's start."""

    max_temporal_gap: int = 30
    max_spatial_distance: float = 200.0
    area_ratio_range: tuple[float, float] = (0.7, 1.3)
    min_motion_alignment: float = 0.6
    moving_speed: float = 1e-3
    max_jitter_difference: float = 40.0
    min_travel_to_jitter: float = 10.0
    spatial_mode: str = "predicted"
    jitter_measure: str = "detrended"
    max_gap_seconds: float | None = 1.2
    max_distance_fraction: float | None = 0.27
    max_jitter_fraction: float | None = 0.055
    crowd_radius: float = 1.0
    min_person_seconds: float = 0.5
    join_duplicates: bool = False
    fill_person_gaps: str = "near"


@dataclass(frozen=True)
class RankingConfig:
    """Weights of the four ranking components."""

    duration: float = 0.4
    coverage: float = 0.3
    center: float = 0.2
    smoothness: float = 0.1
    jitter_measure: str = "detrended"


@dataclass(frozen=True)
class ReidConfig:
    """Re-identification embeddings, similarity and merge recommendations."""

    enabled: bool = True
    model: str = "osnet_x0_25"
    weights: str | None = None
    download: bool = True
    trust_checkpoint: bool = False
    embedder: str = "auto"
    runtime: str = "auto"
    device: str = "auto"
    batch_size: int = 64
    crops_per_person: int = 16
    method: str = "mean_embedding"
    top_k: int = 5
    threshold: float = 0.70
    near_threshold: float = 0.60
    null_percentile: float = 99.0
    auto_merge: bool = True
    merge_linkage: str = "average"
    decision: str = "calibrated"
    adapt: bool = True
    min_calibration_pairs: int = 8
    min_separation: float = 0.9
    recommend_percentile: float = 90.0
    cross_video_percentile: float = 95.0


@dataclass(frozen=True)
class ReportConfig:
    """HTML report and animated WebPs."""

    enabled: bool = True
    webp_fps: float = 10.0
    webp_quality: int = 80
    webp_height: int = 256
    webp_width: int = 128
    max_persons: int = 50
    webp_max_frames: int = 120
    every_s: float | None = None
    window_s: float | None = None
    max_tracklets: int = 500


@dataclass(frozen=True)
class StoreConfig:
    """How much the crop store keeps (runs that never end need a limit)."""

    retain_s: float | None = None
    max_gb: float | None = None


@dataclass(frozen=True)
class Config:
    """Everything a run needs."""

    source: SourceConfig = field(default_factory=SourceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    crops: CropConfig = field(default_factory=CropConfig)
    grouping: GroupingConfig = field(default_factory=GroupingConfig)
    ranking: RankingConfig = field(default_factory=RankingConfig)
    reid: ReidConfig = field(default_factory=ReidConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    store: StoreConfig = field(default_factory=StoreConfig)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (tuples become lists), as written to run metadata."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Inverse of :meth:`to_dict` (e.g. the config saved in a run's ``run.json``)."""
        return _merge(cls(), data, path="")

    def with_overrides(self, overrides: dict[str, Any]) -> Config:
        """Return a copy with dotted-key overrides applied, e.g. ``{"detector.imgsz": 416}``.

        ``None`` values are skipped, so unset CLI flags leave the config alone.
        """
        nested: dict[str, Any] = {}
        for dotted, value in overrides.items():
            if value is None:
                continue
            node = nested
            *parents, leaf = dotted.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return _merge(self, nested, path="")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _coerce(value: Any, hint: Any, path: str) -> Any:
    """Check and convert one YAML/CLI value against its field's type hint."""
    args = get_args(hint)
    optional = type(None) in args
    if value is None:
        if optional:
            return None
        raise ConfigError(f"config key '{path}' must not be null")
    if optional:
        hint = next(arg for arg in args if arg is not type(None))
    if set(get_args(hint)) == {int, str}:  # a number, or the word "auto"
        if value == AUTO:
            return value
        return _coerce(value, int, path) if not isinstance(value, str) else _auto_or_int(value, path)
    if get_origin(hint) is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{path}' must be a list, got {value!r}")
        inner = get_args(hint)[0]
        try:
            return tuple(inner(v) for v in value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{path}' must be a list of {inner.__name__}, got {value!r}") from None
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{path}' must be true or false, got {value!r}")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or (hint is int and isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"config key '{path}' must be {hint.__name__}, got {value!r}")
        try:
            return hint(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key '{path}' must be {hint.__name__}, got {value!r}") from None
    if hint is str:
        return str(value)
    return value


def _auto_or_int(value: str, path: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"config key '{path}' must be {AUTO} or an int, got {value!r}") from None


def _merge(obj: Any, updates: dict[str, Any], path: str) -> Any:
    if not isinstance(updates, dict):
        raise ConfigError(f"config section '{path}' must be a mapping")
    hints = get_type_hints(type(obj))
    names = {f.name for f in fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in updates.items():
        where = f"{path}.{key}" if path else key
        if key not in names:
            raise ConfigError(f"unknown config key '{where}' (known: {', '.join(sorted(names))})")
        current = getattr(obj, key)
        if is_dataclass(current):
            changes[key] = _merge(current, value or {}, where)
        else:
            changes[key] = _coerce(value, hints[key], where)
    return replace(obj, **changes)


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None, *, base: Config | None = None
) -> Config:
    """Load a YAML file over the defaults (or ``base``), then apply dotted overrides.

    Args:
        path: YAML file; ``None`` means no file.
        overrides: Dotted keys (``"reid.threshold"``) to values; ``None`` values are ignored.
        base: Configuration the file applies to; the built-in defaults when ``None``.

    Returns:
        The resulting configuration.

    Raises:
        ConfigError: The file is missing, is not YAML, names an unknown key, or a value
            is out of range or not one of its choices (see :func:`validate`).
    """
    config = base if base is not None else Config()
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"config file not found: {file}")
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {file} is not valid YAML: {str(exc).splitlines()[0]}") from None
        config = _merge(config, data, path="")
    if overrides:
        config = config.with_overrides(overrides)
    return validate(config)


# --------------------------------------------------------------------------- validation
# Every value is checked when the config is loaded, before the first frame: a typo must not
# surface after hours of video. Choices mirror the modules that use them (a test keeps them equal).

#: Allowed values of the enumerated keys.
CHOICES: dict[str, tuple[str, ...]] = {
    "detector.runtime": ("auto", "torch", "onnx", "openvino"),
    "detector.precision": ("auto", "f32", "int8"),
    "grouping.spatial_mode": ("fixed", "allowance", "predicted"),
    "grouping.jitter_measure": ("spread", "detrended"),
    "grouping.fill_person_gaps": ("off", "position", "near"),
    "ranking.jitter_measure": ("spread", "detrended"),
    "reid.embedder": ("auto", "osnet", "fallback", "omz-0287", "omz-0288"),
    "reid.runtime": ("auto", "torch", "openvino"),
    "reid.method": ("mean_embedding", "mean_pairwise", "top_k_pairwise"),
    "reid.merge_linkage": ("average", "single", "complete"),
    "reid.decision": ("calibrated", "fixed"),
}

#: Keys naming a device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``N`` or ``mps`` (availability is checked when
#: the model is built, :func:`streamreid.devices.resolve_device`).
DEVICE_KEYS = ("detector.device", "reid.device")
_DEVICE = re.compile(r"auto|cpu|mps|cuda|cuda:\d+|\d+", re.IGNORECASE)
#: Text keys with an open set of values (names and paths), checked where they are used.
OPEN_KEYS = (
    "detector.model", "detector.person_classes", "detector.imgsz", "detector.detect_stride", "reid.model",
    "reid.weights",
)  # fmt: skip

#: Inclusive ``(low, high)`` bounds of numeric keys (``None``: unbounded); null values pass.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "source.stride": (1, None),
    "source.open_timeout": (1e-3, None),
    "source.read_timeout": (1e-3, None),
    "source.reconnect_attempts": (-1, None),
    "source.reconnect_backoff": (0, None),
    "source.reconnect_backoff_max": (0, None),
    "source.max_frames": (1, None),
    "source.max_latency": (1e-3, None),
    "detector.confidence": (0, 1),
    "detector.iou": (0, 1),
    "detector.imgsz": (32, None),
    "detector.batch_size": (1, None),
    "detector.detect_stride": (1, None),
    "detector.detect_rate": (1e-3, None),
    "detector.region_every": (1, None),
    "detector.region_max_cost": (0, None),
    "tracker.lost_track_seconds": (1e-3, None),
    "tracker.track_activation_threshold": (0, 1),
    "tracker.high_conf_det_threshold": (0, 1),
    "tracker.minimum_iou_threshold": (0, 1),
    "tracker.second_iou_threshold": (0, 1),
    "tracker.direction_weight": (0, None),
    "tracker.direction_lookback": (1, None),
    "tracker.minimum_consecutive_frames": (1, None),
    "tracker.min_tracklet_detections": (1, None),
    "tracker.faint_tail_seconds": (0, None),
    "tracker.cut_threshold": (1e-3, 2),
    "tracker.cut_ratio": (1, None),
    "crops.height": (8, None),
    "crops.width": (8, None),
    "crops.best_k": (1, None),
    "crops.animation_frames": (0, None),
    "crops.min_spacing_frames": (0, None),
    "crops.quality.min_height_fraction": (1e-6, 1),
    "crops.quality.sharpness_reference": (1e-6, None),
    "grouping.max_temporal_gap": (1, None),
    "grouping.max_spatial_distance": (0, None),
    "grouping.min_motion_alignment": (-1, 1),
    "grouping.moving_speed": (0, None),
    "grouping.max_jitter_difference": (0, None),
    "grouping.min_travel_to_jitter": (0, None),
    "grouping.crowd_radius": (0, None),
    "grouping.min_person_seconds": (0, None),
    "ranking.duration": (0, None),
    "ranking.coverage": (0, None),
    "ranking.center": (0, None),
    "ranking.smoothness": (0, None),
    "reid.batch_size": (1, None),
    "reid.crops_per_person": (1, None),
    "reid.top_k": (1, None),
    "reid.threshold": (-1, 1),
    "reid.near_threshold": (-1, 1),
    "reid.null_percentile": (0, 100),
    "reid.cross_video_percentile": (0, 100),
    "report.webp_fps": (1e-3, None),
    "report.webp_quality": (0, 100),
    "report.webp_height": (8, None),
    "report.webp_width": (8, None),
    "report.max_persons": (0, None),
    "report.webp_max_frames": (1, None),
    "report.every_s": (0, None),
    "report.window_s": (1e-3, None),
    "report.max_tracklets": (1, None),
    "store.retain_s": (1e-3, None),
    "store.max_gb": (1e-6, None),
}
RANGES.update({f"crops.quality.{name}": (0, None) for name in ("confidence", "size", "aspect", "truncation",
                                                                "occlusion", "sharpness")})  # fmt: skip


def _lookup(config: Config, dotted: str) -> tuple[bool, Any]:
    node: Any = config
    for part in dotted.split("."):
        if not hasattr(node, part):
            return False, None
        node = getattr(node, part)
    return True, node


def _bounds(low: float | None, high: float | None) -> str:
    if high is None:
        return f">= {low:g}"
    if low is None:
        return f"<= {high:g}"
    return f"between {low:g} and {high:g}"


def validate(config: Config) -> Config:
    """Check every enumerated and numeric value of ``config`` (and the pairs that must agree).

    Keys another version of the config lacks are skipped, so the rules never break a load.

    Returns:
        ``config`` itself, for chaining.

    Raises:
        ConfigError: One line naming the first bad key, its value and what is allowed.
    """
    for key, allowed in CHOICES.items():
        present, value = _lookup(config, key)
        if present and value not in allowed:
            raise ConfigError(f"config key '{key}' must be one of {', '.join(allowed)}, got {value!r}")
    for key in DEVICE_KEYS:
        present, value = _lookup(config, key)
        if present and not _DEVICE.fullmatch(str(value).strip()):
            raise ConfigError(f"config key '{key}' must be auto, cpu, cuda, cuda:N or mps, got {value!r}")
    for key, (low, high) in RANGES.items():
        present, value = _lookup(config, key)
        if not present or value is None or value == AUTO:
            continue
        if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(f"config key '{key}' must be {_bounds(low, high)}, got {value!r}")
    present, sizes = _lookup(config, "detector.imgsz_candidates")
    if present and (not sizes or min(sizes) < 32):
        raise ConfigError(f"config key 'detector.imgsz_candidates' must be sizes >= 32, got {list(sizes)}")
    present, ratio = _lookup(config, "grouping.area_ratio_range")
    if present and (len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]):
        raise ConfigError(
            f"config key 'grouping.area_ratio_range' must be [low, high] with 0 < low <= high, got {list(ratio)}"
        )
    if config.reid.near_threshold > config.reid.threshold:
        raise ConfigError(
            f"config key 'reid.near_threshold' ({config.reid.near_threshold}) must not exceed "
            f"'reid.threshold' ({config.reid.threshold})"
        )
    return config

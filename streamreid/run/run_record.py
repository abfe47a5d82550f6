"""What ``run.json`` records about a run: its start, how the stream went, the package versions.

:func:`start_record` is the document written before the first frame; :class:`StreamSummary`
is what the streaming half hands the end of the stream (and adds to the record);
:func:`stream_notes` and :func:`final_status` are the pure rules behind it.
"""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamreid import rundir
from streamreid.config import Config
from streamreid.redact import redact
from streamreid.run.store_reader import open_store
from streamreid.run.tracklet_stats import load_tracklet_stats
from streamreid.types import TrackletStats, VideoInfo

if TYPE_CHECKING:
    from streamreid.reid.features import Embedder

_VERSIONED_PACKAGES = (
    "streamreid", "av", "numpy", "torch", "torchvision", "ultralytics", "supervision", "trackers",
    "torchreid", "zarr", "imageio", "pillow", "scipy",
)  # fmt: skip

#: The counts of :class:`StreamSummary` that ``run.json`` records as they are.
_COUNTED = (
    "frames_decoded", "frames_processed", "frames_detected", "frames_skipped_corrupt", "reconnects", "detections",
)  # fmt: skip


@functools.lru_cache(maxsize=1)
def _installed_versions() -> tuple[tuple[str, str | None], ...]:
    return tuple(_package_version(name) for name in _VERSIONED_PACKAGES)


def _package_version(name: str) -> tuple[str, str | None]:
    try:
        return name, metadata.version(name)
    except metadata.PackageNotFoundError:
        return name, None


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages a run depends on (looked up once per process: tens of ms)."""
    return {"python": platform.python_version(), **dict(_installed_versions())}


def now() -> str:
    """The UTC time, to the second (ISO 8601)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def start_record(source: Any, info: VideoInfo, detector: Any, config: Config) -> dict[str, Any]:
    """``run.json`` before the first frame: the source (never its password), the video, the detector, the config."""
    return {
        "status": "running",
        "source": redact(source),
        "video": info.to_dict(),
        "detector": {
            "weights": detector.weights.to_dict(),
            "device": getattr(detector, "device", None),
            "imgsz": config.detector.imgsz,
            "confidence": config.detector.confidence,
            "detect_stride": config.detector.detect_stride,
            **(detector.to_dict() if hasattr(detector, "to_dict") else {}),
        },
        "config": config.to_dict(),
        "versions": package_versions(),
        "started_at": now(),
    }


def final_status(status: str, end_reason: str) -> str:
    """A run's status once the stream ended: a live source that stopped answering counts as interrupted."""
    return "interrupted" if status == "complete" and end_reason == "gave_up" else status


def stream_notes(end_reason: str, frames_decoded: int) -> list[str]:
    """What the user should know about how the stream ended (nothing for a normal end)."""
    if end_reason == "gave_up":
        return [f"the live source stopped answering after {frames_decoded} frames and did not come back"]
    if end_reason == "read_error":
        return [f"the video could not be read past frame {frames_decoded} (damaged or truncated file)"]
    return []


def killed_record(meta: dict[str, Any], *, seconds_seen: float, finished_at: str) -> dict[str, Any]:
    """``run.json`` of a run found ``running`` that nobody runs (its lock is free): it was killed.

    Its status becomes ``interrupted`` (``end_reason: killed``), its video covers what was seen
    (not the file's whole duration), and the time it was found so becomes its finish time.
    """
    counts = {**(meta.get("counts") or {}), "seconds_of_video": round(max(seconds_seen, 0.0), 3)}
    note = f"the run was killed after {seconds_seen:.1f} s of video; the results cover what it saw until then"
    notes = [*(meta.get("stream_notes") or []), note]
    return {**meta, "status": "interrupted", "end_reason": "killed", "counts": counts, "stream_notes": notes,
            "finished_at": finished_at}  # fmt: skip


def mark_killed(run_dir: Path) -> bool:
    """Record a killed run as such in its ``run.json`` (call with the run directory locked); whether it was one."""
    path = Path(run_dir) / rundir.RUN_JSON
    meta = rundir.read_json_object(path)
    if meta.get("status") != "running":
        return False
    seen = [float((meta.get("live") or {}).get("seconds_of_video") or 0.0)]
    seen += [s.end_time for s in load_tracklet_stats(Path(run_dir))]
    if (Path(run_dir) / rundir.STORE).exists():
        seen.append(open_store(Path(run_dir) / rundir.STORE).last_time() or 0.0)
    rundir.write_json(path, killed_record(meta, seconds_seen=max(seen), finished_at=now()))
    return True


@dataclass(frozen=True)
class StreamSummary:
    """What the streaming half of a run produced.

    Attributes:
        status: ``complete`` or ``interrupted`` (Ctrl-C, or a live source that did not come back).
        end_reason: Why the source stopped (:attr:`streamreid.stream.sources.VideoStream.end_reason`).
        frames_decoded: Frames decoded, the stride's dropped ones included.
        frames_processed: Frames that went through the pipeline.
        frames_detected: Frames the detector ran on.
        frames_skipped_corrupt: Corrupt frames skipped.
        reconnects: Reconnections of a live source.
        detections: Tracked detections written.
        seconds_of_video: Stream time of the last frame.
        tracklets: Every finished tracklet, in start order.
        notes: Notes for the user (how the stream ended, what retention dropped).
        periodic: The periodic refreshes' record, or ``None`` when there were none.
        realtime: The real-time pacer's record, or ``None`` when not paced.
        retention: What retention dropped, or ``None`` when nothing.
        embedder: The embedder the periodic refreshes built (reused at the end), or ``None``.
        shot_cuts: The hard cuts between shots, as ``run.json`` records them (``{"frame", "time"}`` each).
    """

    status: str
    end_reason: str
    frames_decoded: int
    frames_processed: int
    frames_detected: int
    frames_skipped_corrupt: int
    reconnects: int
    detections: int
    seconds_of_video: float
    tracklets: tuple[TrackletStats, ...]
    notes: tuple[str, ...] = ()
    periodic: dict[str, Any] | None = None
    realtime: dict[str, Any] | None = None
    retention: dict[str, Any] | None = None
    embedder: Embedder | None = None
    shot_cuts: tuple[dict[str, Any], ...] = ()

    def counts(self) -> dict[str, Any]:
        """``run.json``'s ``counts``."""
        counted = {name: getattr(self, name) for name in _COUNTED}
        return {**counted, "tracklets": len(self.tracklets), "seconds_of_video": round(self.seconds_of_video, 3)}

    def record(self) -> dict[str, Any]:
        """What ``run.json`` gets from the stream."""
        extra = {"periodic": self.periodic, "realtime": self.realtime, "retention": self.retention}
        return {**{k: v for k, v in extra.items() if v is not None}, "status": self.status,
                "end_reason": self.end_reason, "stream_notes": list(self.notes), "counts": self.counts(),
                "shot_cuts": [dict(cut) for cut in self.shot_cuts]}  # fmt: skip

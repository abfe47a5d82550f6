"""A run's tracklet statistics read back: the final JSON, else the line log a killed run leaves."""

from __future__ import annotations

import json
from pathlib import Path

from streamreid import rundir
from streamreid.errors import StoreError
from streamreid.run.live_tracklets import read_checkpoint
from streamreid.types import TrackletStats


def load_tracklet_stats(run_dir: Path) -> list[TrackletStats]:
    """Final tracklet statistics of a run: the JSON, else the line log a killed run leaves.

    Raises:
        StoreError: The run has neither (every run writes the log from its first frame): its tracklets are
            missing, and persons computed from nothing would replace the run's results with none.
    """
    path = Path(run_dir) / rundir.TRACKLET_STATS
    if path.is_file():
        return [TrackletStats.from_dict(item) for item in rundir.read_json(path)["tracklets"]]
    log_path = Path(run_dir) / rundir.TRACKLET_STATS_LOG
    if not log_path.is_file():
        raise StoreError(f"{run_dir} has no {rundir.TRACKLET_STATS} nor {rundir.TRACKLET_STATS_LOG}: the run's "
                         f"tracklets are missing, so its persons cannot be computed (nothing was changed)")  # fmt: skip
    stats = read_stats_log(log_path)
    finished = {s.tracker_id for s in stats}
    live, _ = read_checkpoint(Path(run_dir))  # tracklets still on screen at the last refresh before the kill
    stats.extend(s for s in live if s.tracker_id not in finished)
    return sorted(stats, key=lambda s: (s.start_frame, s.tracker_id))


def read_stats_log(path: Path) -> list[TrackletStats]:
    """The tracklets of a ``tracklet_stats.jsonl`` log, up to a line cut by a kill."""
    stats = []
    if path.is_file():
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                try:
                    stats.append(TrackletStats.from_dict(json.loads(line)))
                except (json.JSONDecodeError, TypeError, KeyError):
                    break  # a line cut by a kill ends the usable log
    return stats

"""The run report: one self-contained HTML page per run directory.

:func:`write_report` reads the run directory once into a
:class:`~streamreid.report.views.ReportData`, renders ``templates/report.html.j2``
with Jinja2 and inlines ``static/report.css`` and ``static/report.js`` (package
data), so ``report.html`` opens offline from the folder: a strict Content Security
Policy, no network request, images referenced relative to the run directory.

The page answers first (how many distinct people, which merges made them, each
undoable), then asks (pairs to check side by side, with accept / reject buttons
that collect a ``decisions.json`` for ``streamreid apply``), then shows (timeline,
paths over the scene, heatmap, every person with filter, sort and a detail view).
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from streamreid import rundir
from streamreid.config import ReportConfig
from streamreid.errors import StoreError
from streamreid.report import figures
from streamreid.report.crops import write_crop_strips, write_tracklet_strips
from streamreid.report.data import load_report_data
from streamreid.report.views import PersonView, Recommendation, ReportData, SimilarityView
from streamreid.run.store_reader import open_store

FALLBACK_NOTICE = "appearance similarity from colour/texture histograms, not OSNet"
#: Pairs shown with pictures; the rest are folded into a list.
SHOWN_PAIRS = 20
#: Most pairs listed in all (the stage ranks them; beyond this they are counted, not listed).
LISTED_PAIRS = 200
#: Persons in the heatmap, on the timeline and drawn together over the scene.
HEATMAP_PERSONS = 30
TIMELINE_PERSONS = 60
SCENE_PERSONS = 12
#: Persons made of several pieces shown open in the merges section (the rest are folded, pictures and all).
SHOWN_MERGED = 10


def write_report(run_dir: Path, *, config: ReportConfig, animations: set[int] | None = None) -> Path:
    """Read a run directory and write its ``report.html`` (and the best-crops strips it shows).

    Args:
        run_dir: The run directory (must hold run.json; everything else is optional).
        config: Report settings (how many persons get pictures).
        animations: The persons whose animation was just written; ``None``: whichever WebPs are there.

    Returns:
        The path of the report.

    Raises:
        StoreError: ``run_dir`` is not a run directory or one of its files is malformed.
    """
    run_dir = rundir.require_run_dir(run_dir)
    data = load_report_data(run_dir, animations=animations)
    if _write_strips(run_dir, data):
        data = load_report_data(run_dir, animations=animations)
    text = render_report(data, config=config)
    return rundir.replace_atomically(run_dir / rundir.REPORT, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _strips_stale(run_dir: Path) -> bool:
    persons = run_dir / rundir.CANONICAL_PERSONS
    if not persons.is_file() or not (run_dir / rundir.STORE).exists():
        return False
    folder = run_dir / rundir.CROPS_DIR
    return not folder.is_dir() or folder.stat().st_mtime < persons.stat().st_mtime


def _write_strips(run_dir: Path, data: ReportData) -> bool:
    """Write the pictures the page needs and lacks: every person's strip, every piece's and merge side's.

    Returns:
        Whether anything was written (the data is then read again).
    """
    groups = {side.tracklet_ids for view in data.persons for side in view.pieces}
    groups |= {side.tracklet_ids for _, link in data.links for side in link.sides}
    stale = _strips_stale(run_dir)
    missing = any(side.picture is None for view in data.persons for side in view.pieces) or any(
        side.picture is None for _, link in data.links for side in link.sides
    )
    if not (stale or missing) or not (run_dir / rundir.STORE).exists():
        return False
    try:
        store = open_store(run_dir / rundir.STORE)
    except (StoreError, OSError):
        return False
    if stale:  # every person gets a picture: the ones without an animation show these
        write_crop_strips(run_dir, [view.person for view in data.persons], store)
    written = write_tracklet_strips(run_dir, groups, store)
    return stale or written > 0


def apply_command(run_dir: Path) -> str:
    """The shell command that applies a saved ``decisions.json`` to this run."""
    return f"streamreid apply {shlex.quote(str(Path(run_dir).resolve()))} decisions.json"


@lru_cache(maxsize=1)
def template_environment() -> jinja2.Environment:
    """The Jinja2 environment of the report templates (autoescaping; filters clock, percent, number, colour)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("streamreid.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(clock=figures.format_clock, percent=_percent, number=_number, colour=figures.person_colour)
    return env


def static_text(name: str) -> str:
    """A file of streamreid/report/static (CSS, script), to inline into a page."""
    return resources.files("streamreid.report").joinpath("static", name).read_text(encoding="utf-8")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_report(data: ReportData, *, config: ReportConfig) -> str:
    """The report page for ``data``, as one HTML string."""
    return template_environment().get_template("report.html.j2").render(**page_context(data, config=config))


def page_context(data: ReportData, *, config: ReportConfig) -> dict[str, Any]:
    """What the template needs: the data, plus the pictures and choices made for the page."""
    by_id = {view.person_id: view for view in data.persons}
    recommendations = list(data.recommendations or ())
    ranked = list(data.persons)
    heatmap = _heatmap(data.similarity, ranked, recommendations)
    run = data.run
    payload = {
        "run": {"name": data.run_dir.resolve().name, "started_at": run.get("started_at")},
        "held": [d.to_dict() for d in data.reviews],
        "apply": apply_command(data.run_dir),
    }
    return {
        "facts": _facts(data),
        "pairs_of": _pairs_of(recommendations),
        "data": data,
        "run": run,
        "config": config,
        "source_name": _short_source(data.source),
        "persons": ranked,
        "by_id": by_id,
        "pairs": recommendations[:SHOWN_PAIRS],
        "folded_pairs": recommendations[SHOWN_PAIRS:LISTED_PAIRS],
        "unlisted_pairs": max(0, len(recommendations) - LISTED_PAIRS),
        "links": data.links,
        "timeline": figures.timeline_svg(
            ranked[:TIMELINE_PERSONS], duration=data.duration, cuts=_shot_cuts(run), outages=_outages(run)
        )
        if ranked
        else None,
        "timeline_breaks": _timeline_breaks(run),
        "merged": [v for v in ranked if v.links],
        "SHOWN_MERGED": SHOWN_MERGED,
        "versus": figures.versus,
        "sides_svg": figures.sides_svg,
        "timeline_more": max(0, len(ranked) - TIMELINE_PERSONS),
        "scene_persons": [v for v in ranked if v.path][:SCENE_PERSONS],
        "paths_svg": figures.paths_svg,
        "heatmap": heatmap,
        "scale_colour": figures.scale_colour,
        "fallback_notice": FALLBACK_NOTICE,
        "live_notice": _live_notice(run),
        "run_rows": _run_rows(data),
        "timings": _timings(run.get("timings") or {}),
        "payload": payload,
        "groups_json": lambda groups: json.dumps([list(g) for g in groups]),
        "css": static_text("report.css"),
        "script": static_text("report.js"),
    }


def _heatmap(
    similarity: SimilarityView | None, ranked: Sequence[PersonView], recommendations: Sequence[Recommendation]
) -> dict[str, Any] | None:
    """The heatmap of the best-ranked persons in the similarity matrix, in cluster order; ``None`` under two."""
    if similarity is None or len(ranked) < 2:
        return None
    in_matrix = set(similarity.person_ids)
    top = [v for v in ranked if v.person_id in in_matrix][:HEATMAP_PERSONS]
    ids = figures.cluster_order(top, similarity.clusters)
    if len(ids) < 2:
        return None
    low = figures.scale_floor(similarity, ids)
    return {"svg": figures.heatmap_svg(similarity, ids, recommendations, low=low), "count": len(ids),
            "more": len(in_matrix) - len(ids), "low": low}  # fmt: skip


def _pairs_of(recommendations: Sequence[Recommendation]) -> dict[int, list[tuple[int, int, float | None]]]:
    """Per person, the listed pairs it is in: ``(number in the list, the other person, similarity)``."""
    pairs_of: dict[int, list[tuple[int, int, float | None]]] = {}
    for index, rec in enumerate(recommendations[:LISTED_PAIRS], start=1):
        for pid, other in (rec.persons, rec.persons[::-1]):
            pairs_of.setdefault(pid, []).append((index, other, rec.similarity))
    return pairs_of


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _shot_cuts(run: dict[str, Any]) -> list[tuple[int | None, float]]:
    """run.json's ``shot_cuts`` (``{"frame", "time"}`` each) as ``(frame, seconds)``; malformed entries left out."""
    found = []
    for cut in run.get("shot_cuts") or [] if isinstance(run.get("shot_cuts"), list) else []:
        seconds = cut.get("time") if isinstance(cut, dict) else None
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and math.isfinite(seconds):
            frame = cut.get("frame")
            found.append((frame if isinstance(frame, int) and not isinstance(frame, bool) else None, float(seconds)))
    return sorted(found, key=lambda cut: cut[1])


def _outages(run: dict[str, Any]) -> list[tuple[float, float]]:
    """run.json's ``outages`` (``{"start", "end"}`` seconds each), when the run records them."""
    found = []
    for outage in run.get("outages") or [] if isinstance(run.get("outages"), list) else []:
        if not isinstance(outage, dict):
            continue
        start, end = outage.get("start"), outage.get("end")
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (start, end)):
            found.append((float(start), float(max(start, end))))
    return found


def _timeline_breaks(run: dict[str, Any]) -> str:
    """The timeline's note about shot cuts and outages, or ``""`` without any."""
    cuts, outages = _shot_cuts(run), _outages(run)
    bits = []
    if cuts:
        times = ", ".join(figures.format_clock(seconds) for _, seconds in cuts[:8]) + (", ..." if len(cuts) > 8 else "")
        bits.append(f"dashed red lines: {_plural(len(cuts), 'shot cut')} ({times})")
    if outages:
        bits.append(f"grey spans: {_plural(len(outages), 'outage')} of the source")
    return "; ".join(bits)


def _facts(data: ReportData) -> list[str]:
    """The line under the answer: what it rests on."""
    counted = (data.run.get("counts") or {}).get("tracklets")
    tracklets = f"from {_plural(data.tracklets, 'tracklet')}"
    if isinstance(counted, int) and counted > data.tracklets:
        brief = (data.run.get("counts") or {}).get("brief_tracklets") or 0
        left = [f"{counted - data.tracklets - brief} too short to count"] if counted - data.tracklets > brief else []
        left += [f"{brief} of persons seen too briefly"] if brief else []
        tracklets += f" (of {counted} tracked; {', '.join(left)})"
    facts = [tracklets, f"{_plural(len(data.links), 'merge')} applied"]
    if data.recommendations is not None:
        facts.append(f"{_plural(len(data.recommendations), 'pair')} to check")
    if data.duration:
        facts.append(f"{figures.format_clock(data.duration)} of video")
    if data.reviews:
        facts.append(f"{_plural(len(data.reviews), 'decision')} of yours applied")
    return facts


def _live_notice(run: dict[str, Any]) -> str | None:
    """How recent a report refreshed while the stream runs is (run.json's ``live``), or ``None``."""
    live = run.get("live") or {}
    if run.get("status") != "running" or not live.get("as_of"):
        return None
    parts = [f"Live report as of {live['as_of']}"]
    if isinstance(live.get("seconds_of_video"), (int, float)):
        parts[0] += f" ({live['seconds_of_video']:.0f} s of video)"
    parts.append("the stream is still running")
    if isinstance(live.get("every_s"), (int, float)):
        parts.append(f"refreshed every {live['every_s']:g} s")
    if isinstance(live.get("detection_fps"), (int, float)) and isinstance(live.get("latency_s"), (int, float)):
        parts.append(f"detecting at {live['detection_fps']:.1f} fps, {live['latency_s']:.1f} s behind the camera")
    return "; ".join(parts) + "."


def _short_source(source: str) -> str:
    return source if "://" in source else Path(source).name or source


def _run_rows(data: ReportData) -> list[tuple[str, str]]:
    run = data.run
    video = run.get("video") or {}
    rows = [
        ("Source", data.source),
        ("Status", run.get("status")),
        ("Video", _video_line(video)),
        ("Frames", _counts_line(run.get("counts") or {}, in_persons=data.tracklets)),
        ("Started", run.get("started_at")),
        ("Finished", run.get("finished_at")),
        ("Detector", _model_line(run.get("detector") or {})),
        ("Embedder", _model_line(run.get("embedder") or {})),
    ]
    return [(k, str(v)) for k, v in rows if v not in (None, "")]


def _timings(timings: dict[str, Any]) -> list[dict[str, Any]]:
    """Seconds per stage with a bar each; entries named ``*total`` are sums, shown as such."""
    values = {k: float(v) for k, v in timings.items() if v is not None}
    stages = {k: v for k, v in values.items() if not k.endswith("total")}
    totals = {k: v for k, v in values.items() if k.endswith("total")}
    if stages and not totals:
        totals = {"total": sum(stages.values())}
    scale = max([*totals.values(), *stages.values(), 1e-9])
    rows = [{"name": k, "seconds": v, "width": 100 * v / scale, "total": False} for k, v in stages.items()]
    rows += [{"name": k.replace("_", " "), "seconds": v, "width": 0, "total": True} for k, v in totals.items()]
    return rows


def _video_line(video: dict[str, Any]) -> str:
    bits = []
    if video.get("width") and video.get("height"):
        bits.append(f"{video['width']}x{video['height']}")
    if video.get("fps"):
        bits.append(f"{float(video['fps']):.2f} fps")
    if video.get("codec"):
        bits.append(str(video["codec"]))
    if video.get("duration"):
        bits.append(f"{float(video['duration']):.1f} s")
    if video.get("is_live"):
        bits.append("live")
    return ", ".join(bits)


def _counts_line(counts: dict[str, Any], *, in_persons: int | None = None) -> str:
    names = (("frames_decoded", "decoded", "decoded"), ("frames_processed", "processed", "processed"),
             ("detections", "detections", "detection"), ("tracklets", "tracklets tracked", "tracklet tracked"),
             ("persons", "persons", "person"))  # fmt: skip
    bits = []
    for key, many, one in names:
        if counts.get(key) is None:
            continue
        bits.append(f"{counts[key]} {one if counts[key] == 1 else many}")
        if key == "tracklets" and in_persons is not None and in_persons != counts[key]:
            brief = counts.get("brief_tracklets")
            which = "in persons seen long enough" if brief else "long enough to count, in persons"
            bits[-1] += f" ({in_persons} {which})"
    return ", ".join(bits)


def _model_line(section: dict[str, Any]) -> str:
    weights = section.get("weights") or {}
    bits = []
    if section.get("name") or section.get("model"):
        bits.append(str(section.get("name") or section.get("model")))
    if section.get("kind"):
        bits.append(f"kind {section['kind']}")
    if weights.get("path"):
        bits.append(f"weights {Path(str(weights['path'])).name}")
    if weights.get("origin"):
        bits.append(f"from {weights['origin']}")
    if section.get("device"):
        bits.append(f"on {section['device']}")
    if section.get("dim"):
        bits.append(f"{section['dim']}-d")
    line = ", ".join(bits)
    if weights.get("detail"):
        line += f" ({weights['detail']})"
    return line


__all__ = ["FALLBACK_NOTICE", "PersonView", "apply_command", "render_report", "write_report"]

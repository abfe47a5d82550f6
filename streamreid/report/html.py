"""The run report: one self-contained HTML page per run directory.

``report.html`` shows the persons in rank order (animated WebP and the numbers
that matter), a similarity heatmap drawn as inline SVG, merge recommendations
with the command that performs each merge, and a summary of the run (source,
models and where their weights came from, timings). It has no external
dependencies: inline CSS, a few lines of inline script for the copy buttons, and
images referenced relative to the run directory, so it opens offline from the
folder (``file://``) and makes no network requests.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streamreid import rundir
from streamreid.config import ReidConfig, ReportConfig
from streamreid.errors import StoreError
from streamreid.redact import redact
from streamreid.report.webp import webp_path_for
from streamreid.select import select_command

FALLBACK_NOTICE = "appearance similarity from colour/texture histograms, not OSNet"

_LEVEL_WORDS = {
    "above": "likely the same person",
    "calibrated": "above the calibrated threshold",
    "near": "near the threshold",
}
# Width of the colour bar under the heatmap (SVG user units).
_LEGEND_WIDTH = 300
# Cells at least this wide (SVG user units) print their value; smaller ones rely on tooltips.
_MIN_CELL_FOR_VALUES = 30
# Viridis anchor colours, 0 to 1: perceptually even and readable in greyscale.
_SCALE_STOPS = (
    (0.0, (68, 1, 84)),
    (0.25, (59, 82, 139)),
    (0.5, (33, 145, 140)),
    (0.75, (94, 201, 98)),
    (1.0, (253, 231, 37)),
)


@dataclass(frozen=True)
class ReportPerson:
    """What the report shows about one person.

    Attributes:
        person_id: Id of the person.
        rank: 1-based rank, or ``None`` when the run has no ranking for it.
        score: Ranking score, or ``None``.
        tracklet_ids: Tracker ids merged into the person.
        start_frame: First frame seen.
        end_frame: Last frame seen.
        start_time: First time seen in seconds.
        end_time: Last time seen in seconds.
        detection_count: Frames with a detection.
        coverage: Share of processed frames with a detection (0-1), or ``None`` when unknown.
        quality: Mean crop quality score (0-1), or ``None`` when unknown.
        webp: WebP path relative to the run directory, or ``None`` when there is none.
    """

    person_id: int
    rank: int | None
    score: float | None
    tracklet_ids: tuple[int, ...]
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    detection_count: int
    coverage: float | None
    quality: float | None
    webp: str | None

    @property
    def duration_frames(self) -> int:
        """Frames from the first to the last sighting, both included."""
        return self.end_frame - self.start_frame + 1

    @property
    def duration_seconds(self) -> float:
        """Seconds from the first to the last sighting."""
        return max(0.0, self.end_time - self.start_time)


@dataclass(frozen=True)
class Similarity:
    """The person similarity matrix and its thresholds.

    Attributes:
        person_ids: Person id of each row and column.
        matrix: ``(P, P)`` similarities.
        threshold: Fixed threshold for "likely the same person".
        near_threshold: Lower end of the "near" band.
        calibrated_threshold: Threshold calibrated on this video, or ``None``.
        method: How person similarity was computed.
    """

    person_ids: tuple[int, ...]
    matrix: np.ndarray = field(repr=False)
    threshold: float
    near_threshold: float
    calibrated_threshold: float | None
    method: str

    def value(self, a: int, b: int) -> float:
        """Similarity between persons ``a`` and ``b`` (NaN when either is not in the matrix)."""
        index = {pid: i for i, pid in enumerate(self.person_ids)}
        if a not in index or b not in index:
            return float("nan")
        return float(self.matrix[index[a], index[b]])


@dataclass(frozen=True)
class Recommendation:
    """A group of persons that may be one human.

    Attributes:
        persons: Person ids (two for a pair, more for a cluster).
        similarity: Their similarity (for clusters, the lowest pair), or ``None``.
        level: ``above``, ``near``, ``calibrated`` or ``cluster``.
        confidence: Confidence given by the ReID stage, or ``None``.
    """

    persons: tuple[int, ...]
    similarity: float | None
    level: str
    confidence: float | None = None


@dataclass(frozen=True)
class ReportData:
    """Everything read from a run directory that the report shows.

    Attributes:
        run_dir: The run directory.
        run: Contents of run.json.
        persons: Persons in rank order.
        similarity: The similarity matrix, or ``None`` when there is none.
        recommendations: Merge recommendations, or ``None`` when there is no similarity.
        auto_merged: Whether the recommendations were already merged automatically.
        notes: Plain-text notes about missing or partial inputs.
    """

    run_dir: Path
    run: Mapping[str, Any]
    persons: tuple[ReportPerson, ...]
    similarity: Similarity | None
    recommendations: tuple[Recommendation, ...] | None
    auto_merged: bool
    notes: tuple[str, ...]


def write_report(run_dir: Path, *, config: ReportConfig) -> Path:
    """Read a run directory and write its ``report.html``.

    Args:
        run_dir: The run directory (must hold run.json; everything else is optional).
        config: Report settings (how many persons get animations and heatmap rows).

    Returns:
        The path of the report.

    Raises:
        StoreError: ``run_dir`` is not a run directory or one of its files is not valid JSON.
    """
    run_dir = rundir.require_run_dir(run_dir)
    data = load_report_data(run_dir)
    path = run_dir / rundir.REPORT
    text = render_report(data, config=config)
    return rundir.replace_atomically(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


# ----------------------------------------------------------------------------- reading


def load_report_data(run_dir: Path) -> ReportData:
    """Read what the report needs from a run directory.

    Missing optional files become notes; broken files raise.

    Args:
        run_dir: The run directory.

    Returns:
        The report's inputs.

    Raises:
        StoreError: run.json is missing, or a file is not valid JSON or lacks fields the report needs.
    """
    run_dir = Path(run_dir)
    run = rundir.read_json(run_dir / rundir.RUN_JSON)
    if not isinstance(run, dict):
        raise StoreError(f"{run_dir / rundir.RUN_JSON} does not hold a JSON object")
    notes: list[str] = _run_notes(run)
    reid_config = _reid_config(run)

    person_dicts = _optional_json(
        run_dir / rundir.CANONICAL_PERSONS,
        notes,
        missing="persons were not computed (the run may have stopped before its end-of-stream stages)",
    )
    ranking = _optional_json(run_dir / rundir.RANKING, notes=None)
    raw_persons = person_dicts.get("persons", []) if isinstance(person_dicts, dict) else []
    with _reading(run_dir / rundir.CANONICAL_PERSONS, run_dir / rundir.RANKING):
        qualities = _crop_quality(run_dir, raw_persons)
        persons = _ranked_persons(run_dir, run, raw_persons, ranking, qualities)

    with _reading(run_dir / rundir.SIMILARITY):
        similarity = _load_similarity(run_dir, reid_config)
    recommendations: tuple[Recommendation, ...] | None = None
    auto_merged = False
    if similarity is not None:
        merge = _optional_json(run_dir / rundir.MERGE_RECOMMENDATIONS, notes=None)
        if isinstance(merge, dict) and isinstance(merge.get("recommendations"), list):
            with _reading(run_dir / rundir.MERGE_RECOMMENDATIONS):
                recommendations = _read_recommendations(merge)
            auto_merged = bool(merge.get("auto_merged", False))
        else:
            recommendations = derive_recommendations(similarity)
    return ReportData(
        run_dir=run_dir,
        run=run,
        persons=tuple(persons),
        similarity=similarity,
        recommendations=recommendations,
        auto_merged=auto_merged,
        notes=tuple(notes),
    )


@contextmanager
def _reading(*paths: Path) -> Iterator[None]:
    """Turn a missing field or a wrong type in the files being read into one StoreError naming them."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        names = " or ".join(path.name for path in paths)
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc).splitlines()[0]
        raise StoreError(f"{names} in {paths[0].parent} is malformed: {detail}") from None


def _optional_json(path: Path, notes: list[str] | None, *, missing: str = "") -> Any:
    if not path.is_file():
        if notes is not None:
            notes.append(f"{path.name} is missing: {missing}.")
        return None
    return rundir.read_json(path)


def _run_notes(run: Mapping[str, Any]) -> list[str]:
    """The run's own notes, minus the fallback-embedder one (the report has its own notice for that)."""
    fallback = (run.get("embedder") or {}).get("kind") == "fallback"
    notes = [str(note) for note in run.get("notes") or [] if note]
    return [note for note in notes if not (fallback and "fallback" in note.lower())]


def _reid_config(run: Mapping[str, Any]) -> ReidConfig:
    defaults = ReidConfig()
    section = (run.get("config") or {}).get("reid") or {}
    return ReidConfig(
        enabled=bool(section.get("enabled", defaults.enabled)),
        threshold=float(section.get("threshold", defaults.threshold)),
        near_threshold=float(section.get("near_threshold", defaults.near_threshold)),
    )


def _no_similarity_note(run: Mapping[str, Any]) -> str:
    section = (run.get("config") or {}).get("reid") or {}
    if section.get("enabled") is False:
        return "No similarity matrix: re-identification was switched off for this run (reid.enabled: false)."
    return "No similarity matrix in this run directory: re-identification did not run or did not finish."


def _ranked_persons(
    run_dir: Path,
    run: Mapping[str, Any],
    raw_persons: Sequence[Mapping[str, Any]],
    ranking: Any,
    qualities: Mapping[int, float],
) -> list[ReportPerson]:
    ranks: dict[int, tuple[int | None, float | None]] = {}
    if isinstance(ranking, dict):
        for entry in ranking.get("rankings", []):
            ranks[int(entry["person_id"])] = (_int_or_none(entry.get("rank")), _float_or_none(entry.get("score")))
    frames = _frames_detected(run)
    persons = []
    for raw in raw_persons:
        person_id = int(raw["person_id"])
        rank, score = ranks.get(person_id, (_int_or_none(raw.get("rank")), _float_or_none(raw.get("score"))))
        detections = int(raw.get("detection_count", 0))
        webp = webp_path_for(run_dir, person_id)
        quality = _float_or_none(raw.get("quality"))
        persons.append(
            ReportPerson(
                person_id=person_id,
                rank=rank,
                score=score,
                tracklet_ids=tuple(int(t) for t in raw.get("tracklet_ids", ())),
                start_frame=int(raw.get("start_frame", 0)),
                end_frame=int(raw.get("end_frame", 0)),
                start_time=float(raw.get("start_time", 0.0)),
                end_time=float(raw.get("end_time", 0.0)),
                detection_count=detections,
                coverage=min(1.0, detections / frames) if frames else None,
                quality=quality if quality is not None else qualities.get(person_id),
                webp=webp.relative_to(run_dir).as_posix() if webp.is_file() else None,
            )
        )
    persons.sort(key=lambda p: (p.rank is None, p.rank if p.rank is not None else 0, p.person_id))
    return persons


def _frames_detected(run: Mapping[str, Any]) -> int | None:
    """Frames the detector ran on: processed frames, of which every ``detect_stride``-th is detected."""
    counts = run.get("counts") or {}
    frames = next((int(counts[key]) for key in ("frames_processed", "frames_decoded") if counts.get(key)), None)
    if frames is None:
        frame_count = (run.get("video") or {}).get("frame_count")
        frames = int(frame_count) if frame_count else None
    stride = (run.get("detector") or {}).get("detect_stride") or (
        ((run.get("config") or {}).get("detector") or {}).get("detect_stride")
    )
    if frames is None or not stride or int(stride) <= 1:
        return frames
    return -(-frames // int(stride))


def _crop_quality(run_dir: Path, raw_persons: Sequence[Mapping[str, Any]]) -> dict[int, float]:
    """Mean crop score per person from the store's crop metadata (empty when the store is unreadable)."""
    if not raw_persons or not (run_dir / rundir.STORE).exists():
        return {}
    try:
        from streamreid.store import open_store

        metadata = open_store(run_dir / rundir.STORE).crop_metadata()
        tracker_ids = np.asarray(metadata["tracker_id"])
        scores = np.asarray(metadata["score"], dtype=np.float64)
    except (ImportError, StoreError, KeyError, OSError, ValueError):
        return {}
    qualities = {}
    for raw in raw_persons:
        mask = np.isin(tracker_ids, [int(t) for t in raw.get("tracklet_ids", ())])
        if mask.any():
            qualities[int(raw["person_id"])] = float(scores[mask].mean())
    return qualities


def _load_similarity(run_dir: Path, reid_config: ReidConfig) -> Similarity | None:
    path = run_dir / rundir.SIMILARITY
    if not path.is_file():
        return None
    data = rundir.read_json(path)
    matrix = np.asarray(
        [[math.nan if v is None else float(v) for v in row] for row in data.get("similarity_matrix", [])],
        dtype=np.float64,
    )
    person_ids = tuple(int(p) for p in data.get("person_ids", []))
    if matrix.shape != (len(person_ids), len(person_ids)):
        raise StoreError(f"{path} holds a {matrix.shape} matrix for {len(person_ids)} person ids")
    return Similarity(
        person_ids=person_ids,
        matrix=matrix,
        threshold=float(data.get("threshold") or reid_config.threshold),
        near_threshold=float(data.get("near_threshold") or reid_config.near_threshold),
        calibrated_threshold=_float_or_none(data.get("calibrated_threshold")),
        method=str(data.get("method", "")),
    )


def _read_recommendations(merge: Mapping[str, Any]) -> tuple[Recommendation, ...]:
    recommendations = [
        Recommendation(
            persons=tuple(int(p) for p in entry["persons"]),
            similarity=_float_or_none(entry.get("similarity")),
            level=str(entry.get("level", "above")),
            confidence=_float_or_none(entry.get("confidence")),
        )
        for entry in merge["recommendations"]
    ]
    for cluster in merge.get("clusters") or []:
        if len(cluster) > 2:
            recommendations.append(
                Recommendation(persons=tuple(int(p) for p in cluster), similarity=None, level="cluster")
            )
    return tuple(recommendations)


def derive_recommendations(similarity: Similarity) -> tuple[Recommendation, ...]:
    """Pairs worth a look, from the matrix alone (when merge_recommendations.json is absent).

    Args:
        similarity: The similarity matrix and thresholds.

    Returns:
        Pairs at or above the fixed threshold (``above``), at or above the calibrated
        threshold (``calibrated``) and within the near band (``near``), most similar first.
    """
    found = []
    ids = similarity.person_ids
    for i in range(len(ids)):
        for j in range(i + 1, len(ids)):
            value = float(similarity.matrix[i, j])
            if not math.isfinite(value):
                continue
            level = _pair_level(value, similarity)
            if level is not None:
                found.append(Recommendation(persons=(ids[i], ids[j]), similarity=value, level=level))
    found.sort(key=lambda r: -(r.similarity or 0.0))
    return tuple(found)


def _pair_level(value: float, similarity: Similarity) -> str | None:
    if value >= similarity.threshold:
        return "above"
    if similarity.calibrated_threshold is not None and value >= similarity.calibrated_threshold:
        return "calibrated"
    if value >= similarity.near_threshold:
        return "near"
    return None


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


# ----------------------------------------------------------------------------- rendering


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def format_clock(seconds: float | None) -> str:
    """``m:ss.s`` (or ``h:mm:ss.s``) for a time in seconds; ``-`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    tenths = round(max(0.0, seconds) * 10)
    hours, rest = divmod(tenths, 36000)
    minutes, rest = divmod(rest, 600)
    text = f"{minutes:02d}:{rest / 10:04.1f}" if hours else f"{minutes}:{rest / 10:04.1f}"
    return f"{hours}:{text}" if hours else text


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_report(data: ReportData, *, config: ReportConfig) -> str:
    """The report page for ``data``, as one HTML string."""
    run = data.run
    source = redact(run.get("source") or (run.get("video") or {}).get("source") or data.run_dir.name)
    shown = data.persons[: max(0, config.max_persons)]
    rest = data.persons[len(shown) :]
    body = [
        _header(source, data),
        _notices(data),
        _persons_section(shown, data),
        _similarity_section(data, shown),
        _recommendations_section(data),
        _more_persons_section(rest),
        _run_section(data),
    ]
    title = f"streamreid report - {Path(source).name or source}"
    return _PAGE.format(title=_e(title), css=_CSS, script=_SCRIPT, body="\n".join(part for part in body if part))


def _header(source: str, data: ReportData) -> str:
    counts = data.run.get("counts") or {}
    status = str(data.run.get("status", "complete"))
    facts = [f"{len(data.persons)} person{'s' if len(data.persons) != 1 else ''}"]
    if counts.get("frames_processed") is not None:
        frames = counts["frames_processed"]
        facts.append(f"{frames} frame{'s' if frames != 1 else ''} processed")
    if data.run.get("finished_at"):
        facts.append(f"finished {data.run['finished_at']}")
    facts.append(status)
    nav = "".join(
        f'<a href="#{anchor}">{label}</a>'
        for anchor, label in (
            ("persons", "Persons"),
            ("similarity", "Similarity"),
            ("recommendations", "Recommendations"),
            ("run", "Run"),
        )
    )
    shown_name = source if "://" in source else Path(source).name or source
    return (
        f'<header><h1>People in <span class="source" title="{_e(source)}">'
        + _e(shown_name)
        + "</span></h1>"
        + f'<p class="facts">{_e(" · ".join(facts))}</p><nav>{nav}</nav></header>'
    )


def _notices(data: ReportData) -> str:
    items = []
    embedder = data.run.get("embedder") or {}
    if embedder.get("kind") == "fallback":
        detail = (embedder.get("weights") or {}).get("detail")
        reason = f" ({_e(detail)})" if detail else ""
        items.append(
            '<div class="notice warn" id="fallback-notice"><strong>Fallback embedder:</strong> '
            f"{_e(FALLBACK_NOTICE)}. Similarities are a rough guide; pairs that look alike in colour"
            f" score high even when they are different people{reason}.</div>"
        )
    if data.run.get("status") == "interrupted":
        frames = (data.run.get("counts") or {}).get("frames_decoded")
        covered = f"the first {int(frames)} frames" if frames is not None else "only the frames read before it stopped"
        items.append(
            '<div class="notice warn" id="interrupted-notice"><strong>Interrupted run:</strong> '
            f"stopped early: report covers {_e(covered)}.</div>"
        )
    status = data.run.get("status")
    live = data.run.get("live") or {}
    if status == "running" and live.get("as_of"):
        items.append(_live_notice(live))
    elif status not in (None, "complete", "interrupted"):
        items.append(
            '<div class="notice warn" id="unfinished-notice"><strong>Unfinished run:</strong> '
            f"its status is {_e(status)!s}: it stopped without finishing (or is still going); the report shows what"
            " the run directory holds.</div>"
        )
    items.extend(f'<div class="notice">{_e(note)}</div>' for note in data.notes)
    return f'<section class="notices">{"".join(items)}</section>' if items else ""


def _live_notice(live: Mapping[str, Any]) -> str:
    """How recent a report refreshed while the stream runs is (run.json's ``live``)."""
    every = live.get("every_s")
    refresh = f"; refreshed every {every:g} s while the stream runs" if isinstance(every, (int, float)) else ""
    seconds = live.get("seconds_of_video")
    video = f" ({seconds:.0f} s of video)" if isinstance(seconds, (int, float)) else ""
    rates = []
    if isinstance(live.get("detection_fps"), (int, float)):
        rates.append(f"detecting at {live['detection_fps']:.1f} fps")
    if isinstance(live.get("latency_s"), (int, float)):
        rates.append(f"{live['latency_s']:.1f} s behind the camera")
    detail = f"; {', '.join(rates)}" if rates else ""
    return (
        f'<div class="notice" id="live-notice"><strong>Live report as of {_e(live["as_of"])}</strong>{_e(video)}: '
        f"the stream is still running{_e(refresh)}{_e(detail)}.</div>"
    )


def _persons_section(shown: Sequence[ReportPerson], data: ReportData) -> str:
    parts = ['<section id="persons"><h2>Persons</h2>']
    if not data.persons:
        parts.append('<p class="empty" id="no-persons">No persons were found in this run.</p></section>')
        return "".join(parts)
    parts.append(
        '<p class="hint">In rank order. Coverage is the share of the frames run through the detector in which the'
        " person is detected;"
        " quality is the mean score of the person's kept crops (0-1).</p>"
    )
    parts.append('<div class="grid">')
    parts.extend(_person_card(person) for person in shown)
    parts.append("</div>")
    if len(shown) < len(data.persons):
        more = len(data.persons) - len(shown)
        parts.append(f'<p class="hint"><a href="#more-persons">{more} more persons</a> are listed below.</p>')
    parts.append("</section>")
    return "".join(parts)


def _more_persons_section(rest: Sequence[ReportPerson]) -> str:
    if not rest:
        return ""
    parts = [
        f'<section id="more-persons"><h2>{len(rest)} more person{"s" if len(rest) != 1 else ""}</h2>'
        '<p class="hint">Ranked below the animated ones; raise report.max_persons to animate more.</p>'
        '<div class="scroll"><table class="compact" id="more-persons-table"><thead><tr>'
        "<th>Rank</th><th>Person</th><th>Duration</th><th>Coverage</th><th>First seen</th><th>Last seen</th>"
        "<th>Quality</th><th>Tracklets</th></tr></thead><tbody>"
    ]
    for person in rest:
        parts.append(
            f'<tr id="person-{person.person_id}"><td>{_e(person.rank if person.rank is not None else "-")}</td>'
            f"<td>P{person.person_id}</td><td>{person.duration_frames} fr · {person.duration_seconds:.1f} s</td>"
            f"<td>{_percent(person.coverage)}</td><td>{format_clock(person.start_time)}</td>"
            f"<td>{format_clock(person.end_time)}</td><td>{_number(person.quality)}</td>"
            f"<td>{len(person.tracklet_ids)}</td></tr>"
        )
    parts.append("</tbody></table></div></section>")
    return "".join(parts)


def _person_card(person: ReportPerson) -> str:
    if person.webp:
        media = (
            f'<img src="{_e(person.webp)}" width="128" height="256" alt="Animation of person {person.person_id}"'
            ' decoding="async">'
        )
    else:
        media = '<div class="no-media">no crops kept</div>'
    rank = f"#{person.rank}" if person.rank is not None else "unranked"
    tracklets = ", ".join(str(t) for t in person.tracklet_ids)
    rows = [
        ("Duration", f"{person.duration_frames} frames · {person.duration_seconds:.1f} s"),
        ("Coverage", _percent(person.coverage)),
        ("Seen", f"{format_clock(person.start_time)} - {format_clock(person.end_time)}"),
        ("Quality", _number(person.quality)),
        ("Tracklets", _tracklets_line(person.tracklet_ids)),
        ("Score", _number(person.score, 3)),
    ]
    facts = "".join(f"<dt>{_e(label)}</dt><dd>{_e(value)}</dd>" for label, value in rows)
    return (
        f'<article class="person" id="person-{person.person_id}">'
        f'<div class="media">{media}</div>'
        f'<h3><span class="rank">{_e(rank)}</span> Person {person.person_id}</h3>'
        f'<dl title="tracker ids: {_e(tracklets)}">{facts}</dl></article>'
    )


def _tracklets_line(tracklet_ids: Sequence[int], *, shown: int = 4) -> str:
    """``"2 (ids 3, 9)"``: how many tracklets were merged, and which (the first few)."""
    ids = ", ".join(str(t) for t in tracklet_ids[:shown]) + (", ..." if len(tracklet_ids) > shown else "")
    return f"{len(tracklet_ids)} (id{'s' if len(tracklet_ids) != 1 else ''} {ids})"


def _similarity_section(data: ReportData, shown: Sequence[ReportPerson]) -> str:
    head = '<section id="similarity"><h2>Similarity</h2>'
    if not data.persons:
        return head + '<p class="empty">No persons, so nothing to compare.</p></section>'
    if len(data.persons) == 1:
        return head + '<p class="empty" id="single-person">Only one person: there is nothing to compare.</p></section>'
    similarity = data.similarity
    if similarity is None:
        return head + f'<p class="empty" id="no-similarity">{_e(_no_similarity_note(data.run))}</p></section>'
    in_matrix = set(similarity.person_ids)
    ids = [p.person_id for p in shown if p.person_id in in_matrix]
    if len(ids) < 2:
        return head + '<p class="empty">The similarity matrix does not cover the persons shown.</p></section>'
    calibrated = (
        f", calibrated on this video: {similarity.calibrated_threshold:.2f}"
        if similarity.calibrated_threshold is not None
        else ""
    )
    more = len(data.persons) - len(ids)
    cut = f" The top {len(ids)} persons are shown; {more} more are not." if more > 0 else ""
    intro = (
        '<p class="hint">Cosine similarity of appearance embeddings'
        + (f" ({_e(similarity.method)})" if similarity.method else "")
        + f". Same person likely at {similarity.threshold:.2f} and above{_e(calibrated)};"
        f" near from {similarity.near_threshold:.2f}. Hover a cell for its exact value.{_e(cut)}</p>"
    )
    levels = None
    if data.recommendations is not None:
        levels = {
            (min(rec.persons), max(rec.persons)): rec.level
            for rec in data.recommendations
            if len(rec.persons) == 2 and rec.level in _LEVEL_WORDS
        }
    return (
        head
        + intro
        + '<div class="scroll heatmap">'
        + heatmap_svg(similarity, ids, levels=levels)
        + "</div>"
        + _legend_text(similarity)
        + "</section>"
    )


def scale_colour(value: float) -> str:
    """Colour of a similarity on the heatmap scale (values are clipped to 0-1)."""
    value = min(1.0, max(0.0, value))
    for (low, low_rgb), (high, high_rgb) in zip(_SCALE_STOPS, _SCALE_STOPS[1:], strict=False):
        if value <= high:
            t = (value - low) / (high - low)
            rgb = [round(a + (b - a) * t) for a, b in zip(low_rgb, high_rgb, strict=True)]
            return "#{:02x}{:02x}{:02x}".format(*rgb)
    return "#{:02x}{:02x}{:02x}".format(*_SCALE_STOPS[-1][1])


def heatmap_svg(
    similarity: Similarity,
    person_ids: Sequence[int],
    *,
    levels: Mapping[tuple[int, int], str] | None = None,
) -> str:
    """Inline SVG heatmap of ``person_ids`` (in that order) with labels, values and a legend.

    Every cell is a ``<rect class="cell">`` with a ``<title>`` tooltip. Recommended
    pairs are outlined: solid when at or above the threshold, dashed when above the
    calibrated threshold, dotted when near.

    Args:
        similarity: The matrix and thresholds.
        person_ids: Rows and columns to draw, in order.
        levels: Recommendation level per pair ``(low id, high id)``; ``None`` judges
            every pair by the thresholds alone.
    """
    count = len(person_ids)
    cell = max(14, min(64, 960 // max(1, count)))
    show_values = cell >= _MIN_CELL_FOR_VALUES
    label_font = max(9, min(13, cell // 2))
    margin = round(label_font * 0.7 * (1 + len(str(max(person_ids))))) + 14
    grid = cell * count
    legend_height = 64
    width = max(margin + grid, margin + _LEGEND_WIDTH) + 16
    height = margin + grid + legend_height
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="heatmap" class="heatmap" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" role="img" aria-label="Person similarity heatmap">'
    ]
    out.append(f'<g font-size="{label_font}" fill="#222">')
    for i, pid in enumerate(person_ids):
        centre = margin + i * cell + cell / 2
        out.append(
            f'<text class="row-label" x="{margin - 6}" y="{centre:.1f}" text-anchor="end"'
            f' dominant-baseline="middle">P{pid}</text>'
        )
        out.append(
            f'<text class="col-label" transform="translate({centre:.1f},{margin - 6}) rotate(-90)"'
            f' dominant-baseline="middle">P{pid}</text>'
        )
    out.append("</g>")
    marks = []
    value_font = max(9, cell // 3)
    out.append(f'<g font-size="{value_font}" text-anchor="middle" dominant-baseline="middle">')
    for i, a in enumerate(person_ids):
        for j, b in enumerate(person_ids):
            x, y = margin + j * cell, margin + i * cell
            value = similarity.value(a, b)
            if a == b:
                fill, tip, level = "#e6e6e6", f"P{a} (itself)", None
            elif not math.isfinite(value):
                fill, tip, level = "#f4f4f4", f"P{a} vs P{b}: no value", None
            else:
                pair = (min(a, b), max(a, b))
                level = _pair_level(value, similarity) if levels is None else levels.get(pair)
                fill = scale_colour(value)
                tip = f"P{a} vs P{b}: {value:.2f}"
                if level is not None:
                    tip += f" ({_LEVEL_WORDS[level]})"
                elif _pair_level(value, similarity) is not None:
                    tip += " (not recommended: known to be different persons, e.g. seen in the same frame)"
            css = "cell" + (f" {level}" if level else "")
            out.append(
                f'<rect class="{css}" x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}">'
                f"<title>{_e(tip)}</title></rect>"
            )
            if show_values and a != b and math.isfinite(value):
                ink = "#000" if value >= 0.6 else "#fff"
                out.append(f'<text x="{x + cell / 2}" y="{y + cell / 2}" fill="{ink}">{value:.2f}</text>')
            if level is not None and i < j:
                marks.append((x, y, level))
                marks.append((margin + i * cell, margin + j * cell, level))
    out.append("</g>")
    dash = {"above": "", "calibrated": ' stroke-dasharray="5 3"', "near": ' stroke-dasharray="2 2"'}
    for x, y, level in marks:
        out.append(
            f'<rect class="mark {level}" x="{x + 1.5}" y="{y + 1.5}" width="{cell - 3}" height="{cell - 3}"'
            f' fill="none" stroke="#e4003a" stroke-width="{3 if level == "above" else 2}"{dash[level]}'
            ' pointer-events="none"/>'
        )
    out.append(_legend(similarity, x=margin, y=margin + grid + 30, width=max(grid, _LEGEND_WIDTH)))
    out.append("</svg>")
    return "".join(out)


def _legend(similarity: Similarity, *, x: float, y: float, width: float) -> str:
    stops = "".join(
        f'<stop offset="{offset * 100:.0f}%" stop-color="{scale_colour(offset)}"/>' for offset, _ in _SCALE_STOPS
    )
    parts = [
        f'<g class="legend" font-size="11" fill="#222"><defs><linearGradient id="heatmap-scale">{stops}'
        "</linearGradient></defs>",
        f'<rect x="{x}" y="{y}" width="{width}" height="12" fill="url(#heatmap-scale)" stroke="#999"/>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        tx = x + tick * width
        parts.append(f'<line x1="{tx:.1f}" y1="{y + 12}" x2="{tx:.1f}" y2="{y + 16}" stroke="#555"/>')
        parts.append(f'<text x="{tx:.1f}" y="{y + 27}" text-anchor="middle">{tick:.2f}</text>')
    markers = [(similarity.threshold, "thr")]
    if similarity.calibrated_threshold is not None:
        markers.append((similarity.calibrated_threshold, "cal"))
    markers.sort()
    # the lower marker is labelled to the left of its line, the higher one to the right
    anchors = ["end", "start"] if len(markers) == 2 else ["middle"]
    for (value, name), anchor in zip(markers, anchors, strict=True):
        tx = x + min(1.0, max(0.0, value)) * width
        parts.append(
            f'<line x1="{tx:.1f}" y1="{y - 6}" x2="{tx:.1f}" y2="{y + 16}" stroke="#e4003a" stroke-width="2"/>'
        )
        shift = {"end": -3, "start": 3, "middle": 0}[anchor]
        parts.append(
            f'<text x="{tx + shift:.1f}" y="{y - 8}" text-anchor="{anchor}" fill="#b0002a">{name} {value:.2f}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _legend_text(similarity: Similarity) -> str:
    calibrated = (
        f'; <span class="swatch dashed"></span> above the calibrated threshold ({similarity.calibrated_threshold:.2f})'
        if similarity.calibrated_threshold is not None
        else ""
    )
    return (
        '<p class="legend-text">Colour: similarity from 0 (dark) to 1 (yellow), values below 0 shown as 0. Outlines:'
        f' <span class="swatch solid"></span> at or above the threshold ({similarity.threshold:.2f}){calibrated};'
        f' <span class="swatch dotted"></span> near it (from {similarity.near_threshold:.2f}). Grey diagonal: a'
        " person with itself.</p>"
    )


def _recommendations_section(data: ReportData) -> str:
    head = '<section id="recommendations"><h2>Recommendations</h2>'
    if len(data.persons) < 2 or data.recommendations is None:
        reason = "no persons" if not data.persons else "only one person" if len(data.persons) == 1 else "no similarity"
        return head + f'<p class="empty">No recommendations: {_e(reason)}.</p></section>'
    if not data.recommendations:
        near = data.similarity.near_threshold if data.similarity else ReidConfig().near_threshold
        return head + (
            f'<p class="empty" id="no-recommendations">No pair reaches {near:.2f}: the persons look distinct.</p>'
            "</section>"
        )
    intro = (
        '<p class="hint">Pairs that may be one human seen twice. Check the animations, then run the command to export'
        " them merged into one identity.</p>"
    )
    if data.auto_merged:
        intro += '<p class="notice">These were merged automatically for this run (reid.auto_merge: true).</p>'
    labels = {
        "above": "above threshold",
        "calibrated": "above calibrated threshold",
        "near": "near threshold",
        "cluster": "group",
    }
    rows = []
    for index, rec in enumerate(data.recommendations):
        command = select_command(data.run_dir.resolve(), rec.persons)
        who = " + ".join(f'<a href="#person-{p}">P{p}</a>' for p in rec.persons)
        similarity = _number(rec.similarity)
        rows.append(
            f'<li class="recommendation {_e(rec.level)}"><div class="pair">'
            f'<span class="badge {_e(rec.level)}">{_e(labels.get(rec.level, rec.level))}</span> {who}'
            f' <span class="value">similarity {similarity}</span></div>'
            f'<div class="command"><code id="cmd-{index}">{_e(command)}</code>'
            f'<button type="button" data-copy="cmd-{index}">Copy</button></div></li>'
        )
    return head + intro + f'<ol class="recommendations">{"".join(rows)}</ol></section>'


def _run_section(data: ReportData) -> str:
    run = data.run
    video = run.get("video") or {}
    counts = run.get("counts") or {}
    rows = [
        ("Source", redact(run.get("source") or video.get("source"))),
        ("Status", run.get("status")),
        ("Video", _video_line(video)),
        ("Frames", _counts_line(counts)),
        ("Started", run.get("started_at")),
        ("Finished", run.get("finished_at")),
        ("Detector", _model_line(run.get("detector") or {})),
        ("Embedder", _model_line(run.get("embedder") or {})),
    ]
    table = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows if v not in (None, ""))
    parts = [f'<section id="run"><h2>Run</h2><div class="scroll"><table class="summary">{table}</table></div>']
    timings = {k: float(v) for k, v in (run.get("timings") or {}).items() if v is not None}
    if timings:
        parts.append(_timings_table(timings))
    versions = run.get("versions") or {}
    if versions:
        items = "".join(f"<li>{_e(name)} {_e(version)}</li>" for name, version in versions.items())
        parts.append(f'<details><summary>Package versions</summary><ul class="versions">{items}</ul></details>')
    parts.append("</section>")
    return "".join(parts)


def _timings_table(timings: Mapping[str, float]) -> str:
    """Seconds per stage with bars; entries named ``*total`` are sums, shown as such."""
    stages = {k: v for k, v in timings.items() if not k.endswith("total")}
    totals = {k: v for k, v in timings.items() if k.endswith("total")}
    if not totals:
        totals = {"total": sum(stages.values())}
    scale = max([*totals.values(), *stages.values(), 1e-9])
    rows = [
        f'<tr><th>{_e(stage)}</th><td class="num">{seconds:.2f} s</td>'
        f'<td class="bar"><span style="width:{100 * seconds / scale:.1f}%"></span></td></tr>'
        for stage, seconds in stages.items()
    ]
    rows += [
        f'<tr class="total"><th>{_e(name.replace("_", " "))}</th><td class="num">{seconds:.2f} s</td><td></td></tr>'
        for name, seconds in totals.items()
    ]
    return (
        f'<h3>Time per stage</h3><div class="scroll"><table class="timings" id="timings">{"".join(rows)}</table></div>'
    )


def _video_line(video: Mapping[str, Any]) -> str:
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


def _counts_line(counts: Mapping[str, Any]) -> str:
    names = (
        ("frames_decoded", "decoded"),
        ("frames_processed", "processed"),
        ("detections", "detections"),
        ("tracklets", "tracklets"),
        ("persons", "persons"),
    )
    return ", ".join(
        f"{counts[key]} {label[:-1] if counts[key] == 1 and label.endswith('s') else label}"
        for key, label in names
        if counts.get(key) is not None
    )


def _model_line(section: Mapping[str, Any]) -> str:
    weights = section.get("weights") or {}
    bits = []
    name = section.get("name") or section.get("model")
    if name:
        bits.append(str(name))
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


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main>
{body}
</main>
<script>{script}</script>
</body>
</html>
"""

_CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;background:#f6f6f4}
main{max-width:1180px;margin:0 auto;padding:16px}
header h1{font-size:1.5rem;margin:.2em 0;overflow-wrap:anywhere}
header .facts{color:#555;margin:.2em 0}
nav{display:flex;flex-wrap:wrap;gap:.4em 1em;margin:.6em 0}
nav a{color:#0b57d0;text-decoration:none}
h2{font-size:1.25rem;margin:1.6em 0 .5em;border-bottom:1px solid #ddd;padding-bottom:.2em}
h3{font-size:1rem;margin:.4em 0}
.hint{color:#555;font-size:.9rem}
.empty{color:#444;font-style:italic}
.notice{background:#eef3fb;border-left:4px solid #6b8fd6;padding:.6em .8em;margin:.5em 0;border-radius:4px}
.notice.warn{background:#fff4e0;border-left-color:#e08a00}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:12px}
.person{background:#fff;border:1px solid #e2e2e2;border-radius:8px;padding:8px;min-width:0}
.person .media{display:flex;justify-content:center;background:#222;border-radius:6px;overflow:hidden}
.person img{display:block;max-width:100%;height:auto;image-rendering:auto}
.no-media{color:#ccc;aspect-ratio:1/2;width:100%;display:flex;align-items:center;justify-content:center;font-size:.85rem}
.person h3{margin:.5em 0 .2em}
.rank{color:#777;font-weight:normal}
dl{display:grid;grid-template-columns:auto 1fr;gap:0 .6em;margin:0;font-size:.85rem}
dt{color:#666}
dd{margin:0;overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.9rem}
th,td{padding:.25em .6em;text-align:left;vertical-align:top;border-bottom:1px solid #eee}
table.summary td{overflow-wrap:anywhere}
table.compact td,table.compact th{white-space:nowrap}
td.num{text-align:right;white-space:nowrap}
td.bar{width:40%;min-width:80px}
td.bar span{display:block;height:.8em;background:#6b8fd6;border-radius:2px;margin-top:.3em}
tr.total th,tr.total td{font-weight:bold}
svg.heatmap{display:block;max-width:100%;height:auto;background:#fff;border-radius:6px}
svg.heatmap rect.cell:hover{stroke:#000;stroke-width:1.5}
.legend-text{font-size:.85rem;color:#444}
.swatch{display:inline-block;width:1.1em;height:.8em;vertical-align:middle;border:2px solid #e4003a}
.swatch.dashed{border-style:dashed}
.swatch.dotted{border-style:dotted}
ol.recommendations{padding-left:1.4em}
li.recommendation{margin:.6em 0;background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:.5em .7em}
.badge{display:inline-block;font-size:.75rem;border-radius:10px;padding:0 .6em;color:#fff;background:#777}
.badge.above{background:#c4002f}
.badge.calibrated{background:#b35c00}
.badge.near{background:#7a6a00}
.badge.cluster{background:#4a4ab0}
.value{color:#555;font-size:.9rem}
.command{display:flex;gap:.5em;align-items:flex-start;margin-top:.3em}
.command code{flex:1;min-width:0;overflow-wrap:anywhere;background:#f0f0ee;padding:.3em .5em;border-radius:4px;
 user-select:all;font-size:.85rem}
.command button{font:inherit;font-size:.8rem;padding:.25em .7em;border:1px solid #bbb;border-radius:4px;
 background:#fff;cursor:pointer}
ul.versions{columns:2 14em;font-size:.85rem}
@media (max-width:520px){
 main{padding:10px}
 .grid{grid-template-columns:repeat(2,minmax(0,1fr));gap:8px}
 dl{font-size:.8rem}
 td.bar{display:none}
}
"""

_SCRIPT = """
document.addEventListener("click", function (event) {
  var button = event.target.closest ? event.target.closest("button[data-copy]") : null;
  if (!button) { return; }
  var code = document.getElementById(button.getAttribute("data-copy"));
  if (!code) { return; }
  var text = code.textContent;
  function done(ok) {
    button.textContent = ok ? "Copied" : "Select and copy";
    setTimeout(function () { button.textContent = "Copy"; }, 1500);
  }
  function fallback() {
    try {
      var range = document.createRange();
      range.selectNodeContents(code);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      done(document.execCommand("copy"));
    } catch (error) { done(false); }
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
  } else {
    fallback();
  }
});
"""

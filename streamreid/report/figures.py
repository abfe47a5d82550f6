"""The report's pictures as inline SVG: timeline, paths over the scene, similarity heatmap.

Pure functions from :mod:`streamreid.report.data` records to markup (escaped, ready
for the template); no file is read here.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from html import escape

import numpy as np
from markupsafe import Markup

from streamreid.report.views import PersonView, Recommendation, Side, SimilarityView

# Viridis anchor colours, 0 to 1: perceptually even and readable in greyscale.
SCALE_STOPS = (
    (0.0, (68, 1, 84)),
    (0.25, (59, 82, 139)),
    (0.5, (33, 145, 140)),
    (0.75, (94, 201, 98)),
    (1.0, (253, 231, 37)),
)
_LEVEL_WORDS = {"above": "above the fixed line", "calibrated": "above this video's line", "near": "near the line"}


def person_colour(person_id: int) -> str:
    """A colour of its own for each person (hues spread by the golden ratio), as ``#rrggbb``."""
    hue = (person_id * 0.618034 + 0.1) % 1.0
    red, green, blue = colorsys.hls_to_rgb(hue, 0.45, 0.75)
    return f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"


def scale_colour(value: float, low: float = 0.0) -> str:
    """Colour of a similarity on the heatmap scale from ``low`` (dark) to 1 (yellow), clipped to it."""
    value = min(1.0, max(0.0, (value - low) / (1.0 - low) if low < 1.0 else 1.0))
    for (low, low_rgb), (high, high_rgb) in zip(SCALE_STOPS, SCALE_STOPS[1:], strict=False):
        if value <= high:
            t = (value - low) / (high - low)
            rgb = [round(a + (b - a) * t) for a, b in zip(low_rgb, high_rgb, strict=True)]
            return "#{:02x}{:02x}{:02x}".format(*rgb)
    return "#{:02x}{:02x}{:02x}".format(*SCALE_STOPS[-1][1])


def format_clock(seconds: float | None) -> str:
    """``m:ss.s`` (or ``h:mm:ss.s``) for a time in seconds; ``-`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    tenths = round(max(0.0, seconds) * 10)
    hours, rest = divmod(tenths, 36000)
    minutes, rest = divmod(rest, 600)
    text = f"{minutes:02d}:{rest / 10:04.1f}" if hours else f"{minutes}:{rest / 10:04.1f}"
    return f"{hours}:{text}" if hours else text


def _nice_step(span: float, ticks: int = 6) -> float:
    raw = max(span, 1e-6) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= raw)


def _tick_label(seconds: float, step: float) -> str:
    """``m:ss`` for whole-second steps, seconds with a decimal for finer ones."""
    if step < 1:
        return f"{seconds:.1f} s"
    clock = format_clock(seconds)
    return clock[:-2] if clock.endswith(".0") else clock


def timeline_svg(persons: Sequence[PersonView], *, duration: float, cuts: Sequence[tuple[int | None, float]] = (),
                 outages: Sequence[tuple[float, float]] = ()) -> Markup:  # fmt: skip
    """Persons (rows, in the order given) against video time: a bar for every tracklet's stay.

    Shot cuts (``(frame, seconds)``) are dashed lines across every row, and outages of a live source
    (``(start, end)`` seconds) shaded spans: nobody can be seen across either.
    """
    row, label, width = 16, 52, 960
    end = max([duration, *(v.end_time for p in persons for v in p.visits)], default=1.0) or 1.0
    plot = width - label - 12
    height = 26 + row * len(persons)

    def x(seconds: float) -> float:
        return label + plot * seconds / end

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline" class="figure" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="Who is on screen when">'
    ]
    step = _nice_step(end)
    tick = 0.0
    while tick <= end + 1e-9:
        out.append(
            f'<line x1="{x(tick):.1f}" y1="4" x2="{x(tick):.1f}" y2="{height - 18}" class="grid"/>'
            f'<text x="{x(tick):.1f}" y="{height - 4}" class="tick">{_tick_label(tick, step)}</text>'
        )
        tick += step
    for start, stop in outages:
        left = x(max(0.0, start))
        tip = f"no video from {format_clock(start)} to {format_clock(stop)} (the source was down)"
        out.append(
            f'<rect class="outage" x="{left:.1f}" y="2" width="{max(2.0, x(min(stop, end)) - left):.1f}"'
            f' height="{height - 20}" fill="#8a93a3" fill-opacity=".25"><title>{escape(tip)}</title></rect>'
        )
    for frame, seconds in cuts:
        tip = f"shot cut at {format_clock(seconds)}" + (f" (frame {frame})" if frame is not None else "")
        out.append(
            f'<line class="cut" x1="{x(seconds):.1f}" y1="2" x2="{x(seconds):.1f}" y2="{height - 18}" stroke="#b3261e"'
            f' stroke-width="2" stroke-dasharray="4 3"><title>{escape(tip)}</title></line>'
        )
    for index, view in enumerate(persons):
        top = 6 + index * row
        colour = person_colour(view.person_id)
        out.append(
            f'<g class="row" data-person="{view.person_id}"><text x="{label - 6}" y="{top + row / 2:.1f}"'
            f' class="label">P{view.person_id}</text>'
        )
        for visit in view.visits:
            left = x(visit.start_time)
            span = max(2.0, x(visit.end_time) - left)
            tip = f"P{view.person_id}, tracklet {visit.tracker_id}: {format_clock(visit.start_time)} - " + format_clock(
                visit.end_time
            )
            out.append(
                f'<rect x="{left:.1f}" y="{top + 2}" width="{span:.1f}" height="{row - 5}" rx="3" fill="{colour}">'
                f"<title>{escape(tip)}</title></rect>"
            )
        out.append("</g>")
    out.append("</svg>")
    return Markup("".join(out))


def paths_svg(persons: Sequence[PersonView], *, frame_size: tuple[int, int], css_class: str = "paths") -> Markup:
    """Each person's walk as a line over a ``frame_size`` canvas: a ring where it starts, a dot where it ends."""
    width, height = frame_size
    stroke = max(1.5, width / 220)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{css_class}" viewBox="0 0 {width} {height}"'
        ' preserveAspectRatio="none" role="img" aria-label="Where each person walked">'
    ]
    for view in persons:
        if not view.path:
            continue
        colour = person_colour(view.person_id)
        points = " ".join(f"{px:.0f},{py:.0f}" for px, py in view.path)
        (x0, y0), (x1, y1) = view.path[0], view.path[-1]
        out.append(
            f'<g class="path" data-person="{view.person_id}"><title>P{view.person_id}</title>'
            f'<polyline points="{points}" fill="none" stroke="#fff" stroke-opacity=".7"'
            f' stroke-width="{stroke * 2.2:.1f}" stroke-linejoin="round" stroke-linecap="round"/>'
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="{stroke:.1f}"'
            ' stroke-linejoin="round" stroke-linecap="round"/>'
            f'<circle cx="{x0:.0f}" cy="{y0:.0f}" r="{stroke * 2.2:.1f}" fill="#fff" stroke="{colour}"'
            f' stroke-width="{stroke:.1f}"/>'
            f'<circle cx="{x1:.0f}" cy="{y1:.0f}" r="{stroke * 2.4:.1f}" fill="{colour}" stroke="#fff"'
            f' stroke-width="{stroke / 2:.1f}"/></g>'
        )
    out.append("</svg>")
    return Markup("".join(out))


#: Colours of the two sides of a merge (paths and the swatches of their captions).
SIDE_COLOURS = ("#1565c0", "#e65100")


def sides_svg(sides: Sequence[Side], *, frame_size: tuple[int, int]) -> Markup:
    """The paths of a merge's two sides over a ``frame_size`` canvas, one colour each (:data:`SIDE_COLOURS`)."""
    width, height = frame_size
    stroke = max(1.5, width / 220)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="paths" viewBox="0 0 {width} {height}"'
        ' preserveAspectRatio="none" role="img" aria-label="Where each side walked">'
    ]
    for side, colour in zip(sides, SIDE_COLOURS, strict=False):
        if not side.path:
            continue
        points = " ".join(f"{px:.0f},{py:.0f}" for px, py in side.path)
        (x0, y0), (x1, y1) = side.path[0], side.path[-1]
        out.append(
            f'<g class="path side-path"><title>tracklets {escape(" + ".join(map(str, side.tracklet_ids)))}</title>'
            f'<polyline points="{points}" fill="none" stroke="#fff" stroke-opacity=".7"'
            f' stroke-width="{stroke * 2.2:.1f}" stroke-linejoin="round" stroke-linecap="round"/>'
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="{stroke:.1f}"'
            ' stroke-linejoin="round" stroke-linecap="round"/>'
            f'<circle cx="{x0:.0f}" cy="{y0:.0f}" r="{stroke * 2.2:.1f}" fill="#fff" stroke="{colour}"'
            f' stroke-width="{stroke:.1f}"/><circle cx="{x1:.0f}" cy="{y1:.0f}" r="{stroke * 2.4:.1f}" fill="{colour}"'
            f' stroke="#fff" stroke-width="{stroke / 2:.1f}"/></g>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def versus(value: float, line: float | None) -> str:
    """A similarity against the video's line, in words, with digits enough that the two never read the same."""
    if line is None:
        return f"{value:.2f}"
    digits = 2
    while digits < 4 and f"{value:.{digits}f}" == f"{line:.{digits}f}":
        digits += 1
    word = "above" if value > line else "below" if value < line else "at"
    close = "just " if digits > 2 and word != "at" else ""
    return f"{value:.{digits}f}, {close}{word} this video's line ({line:.{digits}f})"


def cluster_order(persons: Sequence[PersonView], clusters: Sequence[Sequence[int]]) -> list[int]:
    """Person ids in rank order, except that each appearance cluster's members follow one another."""
    cluster_of = {pid: tuple(cluster) for cluster in clusters for pid in cluster}
    wanted = [p.person_id for p in persons]
    rank = {pid: i for i, pid in enumerate(wanted)}
    placed: list[int] = []
    for pid in wanted:
        if pid in placed:
            continue
        members = [m for m in cluster_of.get(pid, (pid,)) if m in rank]
        placed.extend(sorted(set(members) | {pid}, key=lambda m: rank[m]))
    return placed


def scale_floor(similarity: SimilarityView, person_ids: Sequence[int]) -> float:
    """Where the colour scale starts: 0, or higher (in tenths) when every pair is more alike than that.

    Appearance embeddings often put all pairs between 0.6 and 1; a 0-1 scale would paint
    them one colour. Starting near the lowest value (2nd percentile) spreads them out.
    """
    index = {pid: i for i, pid in enumerate(similarity.person_ids)}
    rows = [index[p] for p in person_ids if p in index]
    block = similarity.matrix[np.ix_(rows, rows)]
    values = block[~np.eye(len(rows), dtype=bool) & np.isfinite(block)]
    if values.size == 0:
        return 0.0
    return float(min(0.9, max(0.0, math.floor(float(np.percentile(values, 2)) * 10) / 10)))


def heatmap_svg(similarity: SimilarityView, person_ids: Sequence[int],
                recommendations: Sequence[Recommendation] = (), *, low: float = 0.0) -> Markup:  # fmt: skip
    """Heatmap of ``person_ids`` (in that order) with labels, a colour scale and the video's lines.

    Every cell is a ``<rect class="cell">`` with a ``<title>``; pairs the ReID stage
    recommends are outlined (``rect.mark``), solid above the fixed line, dashed above
    the calibrated one, dotted when near.
    """
    count = len(person_ids)
    cell = max(12, min(44, 720 // max(1, count)))
    font = max(9, min(12, cell // 2))
    margin = round(font * 0.7 * (1 + len(str(max(person_ids, default=0))))) + 14
    grid = cell * count
    legend_width = max(grid, 300)
    width, height = margin + legend_width + 16, margin + grid + 70
    levels = {frozenset(r.persons): r.level for r in recommendations}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="heatmap" class="heatmap" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" role="img" aria-label="Person similarity heatmap">'
        f'<g font-size="{font}" fill="#222">'
    ]
    for i, pid in enumerate(person_ids):
        centre = margin + i * cell + cell / 2
        out.append(
            f'<text x="{margin - 5}" y="{centre:.1f}" text-anchor="end" dominant-baseline="middle">P{pid}</text>'
            f'<text transform="translate({centre:.1f},{margin - 5}) rotate(-90)"'
            f' dominant-baseline="middle">P{pid}</text>'
        )
    out.append("</g><g>")
    marks = []
    for i, a in enumerate(person_ids):
        for j, b in enumerate(person_ids):
            x, y = margin + j * cell, margin + i * cell
            value = similarity.value(a, b)
            level = levels.get(frozenset((a, b))) if a != b else None
            out.extend(_cell_svg(a, b, value, level=level, x=x, y=y, cell=cell, low=low))
            if level in _LEVEL_WORDS:
                marks.append((x, y, level))
    out.append("</g>")
    dash = {"above": "", "calibrated": ' stroke-dasharray="5 3"', "near": ' stroke-dasharray="2 2"'}
    for x, y, level in marks:
        out.append(
            f'<rect class="mark {level}" x="{x + 1.5}" y="{y + 1.5}" width="{cell - 3}" height="{cell - 3}"'
            f' fill="none" stroke="#e4003a" stroke-width="2"{dash[level]} pointer-events="none"/>'
        )
    out.append(_legend(similarity, x=margin, y=margin + grid + 34, width=legend_width, low=low))
    out.append("</svg>")
    return Markup("".join(out))


def _cell_svg(a: int, b: int, value: float, *, level: str | None, x: int, y: int, cell: int, low: float) -> list[str]:
    """One heatmap cell: its square with a tooltip, and its value written in when the cell is large enough."""
    out = []
    if a == b:
        fill, tip = "#e6e6e6", f"P{a} (itself)"
    elif not math.isfinite(value):
        fill, tip = "#f4f4f4", f"P{a} vs P{b}: no value"
    else:
        fill, tip = scale_colour(value, low), f"P{a} vs P{b}: {value:.2f}"
        if level in _LEVEL_WORDS:
            tip += f" ({_LEVEL_WORDS[level]}, to check)"
    out.append(
        f'<rect class="cell{" " + level if level else ""}" x="{x}" y="{y}" width="{cell}" height="{cell}"'
        f' fill="{fill}"><title>{escape(tip)}</title></rect>'
    )
    if cell >= 30 and a != b and math.isfinite(value):
        ink = "#000" if value >= low + 0.55 * (1 - low) else "#fff"
        out.append(
            f'<text x="{x + cell / 2}" y="{y + cell / 2}" fill="{ink}" font-size="{max(9, cell // 3)}"'
            f' text-anchor="middle" dominant-baseline="middle">{value:.2f}</text>'
        )
    return out


def _legend(similarity: SimilarityView, *, x: float, y: float, width: float, low: float) -> str:
    stops = "".join(f'<stop offset="{o * 100:.0f}%" stop-color="{scale_colour(o)}"/>' for o, _ in SCALE_STOPS)
    parts = [
        f'<g class="legend" font-size="11" fill="#222"><defs><linearGradient id="heatmap-scale">{stops}'
        f'</linearGradient></defs><rect x="{x}" y="{y}" width="{width}" height="12" fill="url(#heatmap-scale)"'
        ' stroke="#999"/>'
    ]
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        tx = x + share * width
        parts.append(
            f'<line x1="{tx:.1f}" y1="{y + 12}" x2="{tx:.1f}" y2="{y + 16}" stroke="#555"/>'
            f'<text x="{tx:.1f}" y="{y + 27}" text-anchor="middle">{low + share * (1 - low):.2f}</text>'
        )
    markers = [(similarity.threshold, "fixed")]
    if similarity.calibrated_threshold is not None:
        markers.append((similarity.calibrated_threshold, "this video"))
    markers.sort()
    for row, (value, name) in enumerate(markers):
        tx = x + min(1.0, max(0.0, (value - low) / (1.0 - low))) * width
        # labels stay inside the bar's width, one row each, so close lines do not print over each other
        anchor = "end" if tx > x + width - 50 else "start" if tx < x + 50 else "middle"
        parts.append(
            f'<line x1="{tx:.1f}" y1="{y - 6 - 12 * row}" x2="{tx:.1f}" y2="{y + 16}" stroke="#e4003a"'
            f' stroke-width="2"/><text x="{tx:.1f}" y="{y - 9 - 12 * row}" text-anchor="{anchor}"'
            f' fill="#b0002a">{name} {value:.2f}</text>'
        )
    parts.append("</g>")
    return "".join(parts)

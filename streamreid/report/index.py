"""``index.html`` of a batch folder: every run with its counts or error, and the cross-video matches.

One self-contained page (inline CSS, no script, no network), linking each run's
``report.html`` and showing each matched pair's animations side by side by
relative path, so the folder can be opened offline or moved as a whole.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streamreid import rundir

INDEX = "index.html"

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:1100px;margin:auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{padding:6px 10px;border-bottom:1px solid #e3e6eb;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.failed{color:#b3261e}.skipped{color:#5b6474}.complete{color:#1b7f3b}.interrupted{color:#a15c00}
.pairs{display:flex;flex-wrap:wrap;gap:14px}
.pair{background:#fff;border:1px solid #e3e6eb;border-radius:8px;padding:10px}
.pair figure{display:inline-block;margin:0 6px;text-align:center;font-size:13px}
.pair img,.missing{width:96px;height:192px;object-fit:cover;background:#eef0f3;display:block}
.missing{display:flex;align-items:center;justify-content:center;color:#8a93a3}
.muted{color:#5b6474}
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'">
<title>{title}</title>
<style>{css}</style>
</head>
<body><main>
{body}
</main></body>
</html>
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _runs_table(out_dir: Path, outcomes: Sequence[Any]) -> str:
    rows = []
    for o in outcomes:
        report = out_dir / o.name / rundir.REPORT
        name = f'<a href="{_e(o.name)}/{rundir.REPORT}">{_e(o.name)}</a>' if report.is_file() else _e(o.name)
        seconds = f"{o.seconds:.1f}" if o.seconds else ""
        label = "done earlier" if o.status == "skipped" else o.status
        rows.append(
            f'<tr><td>{name}<div class="muted">{_e(o.source)}</div></td><td class="{_e(o.status)}">{_e(label)}</td>'
            f'<td class="n">{_e(o.persons)}</td><td class="n">{_e(o.tracklets)}</td><td class="n">{_e(o.frames)}</td>'
            f'<td class="n">{seconds}</td><td class="failed">{_e(o.error)}</td></tr>'
        )
    head = "".join(f"<th>{c}</th>" for c in ("run", "status", "persons", "tracklets", "frames", "seconds", "error"))
    head = f"<tr>{head}</tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _figure(out_dir: Path, run: str, person: int) -> str:
    webp = f"{run}/{rundir.WEBP_DIR}/person_{person}.webp"
    picture = (f'<img src="{_e(webp)}" alt="{_e(run)} person {person}">' if (out_dir / webp).is_file()
               else '<div class="missing">no animation</div>')  # fmt: skip
    return f"<figure>{picture}<figcaption>{_e(run)}<br>person {person}</figcaption></figure>"


def _matches_section(out_dir: Path, matches: dict[str, Any] | None) -> str:
    if matches is None:
        return "<h2>Same person across videos</h2><p class='muted'>Not computed (fewer than two runs with ReID).</p>"
    items = matches.get("matches", [])
    notes = "".join(f"<p class='interrupted'>{_e(n)}</p>" for n in matches.get("notes", []))
    if not items:
        return f"<h2>Same person across videos</h2>{notes}<p class='muted'>No person matched across the videos.</p>"
    cards = []
    for m in items:
        (run_a, run_b), (pa, pb) = m["runs"], m["persons"]
        cards.append(
            f'<div class="pair">{_figure(out_dir, run_a, pa)}{_figure(out_dir, run_b, pb)}'
            f"<div>similarity {m['similarity']:.3f} · confidence {m['confidence']:.2f}</div></div>"
        )
    return (f"<h2>Same person across videos</h2>{notes}<p class='muted'>{len(items)} matched pairs, most similar "
            f"first (<a href='cross_video_matches.json'>cross_video_matches.json</a>).</p>"
            f"<div class='pairs'>{''.join(cards)}</div>")  # fmt: skip


def write_index(out_dir: str | Path, outcomes: Sequence[Any], *, matches: str | Path | None = None) -> Path:
    """Write ``out_dir/index.html`` for the runs of ``outcomes`` (:class:`streamreid.batch.videos.VideoOutcome`).

    Args:
        out_dir: The batch folder; runs are its sub-folders named by ``outcome.name``.
        outcomes: One per video, in the order to list them.
        matches: The cross-video matches file, if one was written.

    Returns:
        The page's path.
    """
    out = Path(out_dir)
    data = rundir.read_json(matches) if matches is not None else None
    failed = sum(o.status == "failed" for o in outcomes)
    persons = sum(o.persons or 0 for o in outcomes)
    summary = f"{len(outcomes)} videos, {len(outcomes) - failed} processed, {failed} failed, {persons} persons in all"
    body = (f"<h1>streamreid batch</h1><p class='muted'>{_e(summary)}</p><h2>Runs</h2>{_runs_table(out, outcomes)}"
            f"{_matches_section(out, data)}")  # fmt: skip
    page = _PAGE.format(title="streamreid batch", css=_CSS, body=body)
    return rundir.replace_atomically(out / INDEX, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))

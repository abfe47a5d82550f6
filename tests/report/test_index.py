"""A batch folder's index.html: every run with its counts or its error, matched pairs pictured by relative path."""

import html
import re

from streamreid import rundir
from streamreid.batch.videos import VideoOutcome
from streamreid.report.index import INDEX, write_index

OUTCOMES = [
    VideoOutcome("street", "/v/street.mp4", "complete", persons=4, tracklets=9, frames=300, seconds=12.34),
    VideoOutcome("square", "/v/square.mp4", "skipped", persons=2),
    VideoOutcome("broken", "/v/<broken>.mp4", "failed", error="cannot open /v/<broken>.mp4: not a video"),
]


def _text(page):
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_every_run_is_listed_with_its_counts_or_its_error_escaped(tmp_path):
    (tmp_path / "street").mkdir()
    (tmp_path / "street" / rundir.REPORT).write_text("<html></html>")
    page = write_index(tmp_path, OUTCOMES).read_text()
    assert (tmp_path / INDEX).is_file()
    assert "3 videos, 2 processed, 1 failed, 6 persons in all" in page
    assert '<a href="street/report.html">street</a>' in page
    assert 'href="square/' not in page  # no report there: no link
    assert "done earlier" in page and "12.3" in page
    assert "<broken>" not in page and "cannot open /v/<broken>.mp4: not a video" in _text(page)
    assert "Not computed" in page


def test_matched_pairs_show_both_animations_or_say_there_is_none(tmp_path):
    (tmp_path / "street" / rundir.WEBP_DIR).mkdir(parents=True)
    (tmp_path / "street" / rundir.WEBP_DIR / "person_1.webp").write_bytes(b"RIFF")
    matches = {"matches": [{"runs": ["street", "square"], "persons": [1, 0], "similarity": 0.8123,
                            "confidence": 0.9}], "notes": ["one note"]}  # fmt: skip
    rundir.write_json(tmp_path / "cross_video_matches.json", matches)
    page = write_index(tmp_path, OUTCOMES, matches=tmp_path / "cross_video_matches.json").read_text()
    assert '<img src="street/webp/person_1.webp"' in page
    assert "no animation" in page  # square has no WebP for its person 0
    assert "similarity 0.812 · confidence 0.90" in page
    assert "1 matched pairs" in page and "one note" in page


def test_no_match_is_said(tmp_path):
    rundir.write_json(tmp_path / "m.json", {"matches": [], "notes": []})
    assert (
        "No person matched across the videos."
        in write_index(tmp_path, OUTCOMES, matches=tmp_path / "m.json").read_text()
    )

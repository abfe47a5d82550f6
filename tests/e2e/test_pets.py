"""Identity on real footage: the first 300 frames of PETS09-S2L1 against their ground truth.

The ground-truth boxes stand in for the detector (the detector has its own evidence in
``benchmarks/identity.py``), so this checks what comes after it on real pixels: ByteTrack,
the crop reservoirs, OSNet with real ReID weights, the per-video adaptation and the calibrated
decision. 8 humans walk in these frames; several leave and come back.

Needs ``../shared`` beside the repository (or ``$STREAMREID_SHARED``); skipped without it.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from benchmark_modules import load_benchmark

from streamreid import evaluation, rundir
from streamreid.config import Config
from streamreid.end_of_stream import analyse

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("STREAMREID_SHARED") or ROOT.parent / "shared")
PETS = SHARED / "data" / "pets09-s2l1"
OSNET = SHARED / "models" / "reid" / "osnet_x0_25_msmt17.pth"
FRAMES = 300

pytestmark = pytest.mark.skipif(
    not (PETS / "vtest.avi").is_file() or not OSNET.is_file(),
    reason=f"real footage and ReID weights not found in {SHARED} (../shared is beside the repository in CI only)",
)


@pytest.fixture(scope="module")
def truth():
    gt = evaluation.read_mot(PETS / "gt.txt")
    return gt[gt[:, 0] <= FRAMES], evaluation.load_humans(PETS / "persons.json")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    bench = load_benchmark("identity")
    setting = bench.Setting("pets-osnet", "gt", 640, "osnet-msmt17")
    return bench.run_setting(setting, video=PETS / "vtest.avi", out=tmp_path_factory.mktemp("pets"),
                             config_overrides={"source.max_frames": FRAMES})  # fmt: skip


def _scores(run_dir, truth):
    gt, humans = truth
    return load_benchmark("identity").score_run(run_dir, gt=gt, humans=humans)


def _no_recommended_pair_was_seen_together(run_dir):
    recommendations = rundir.read_json(run_dir / rundir.MERGE_RECOMMENDATIONS)
    together = {tuple(sorted(p)) for p in rundir.read_json(run_dir / rundir.SIMILARITY)["seen_together"]}
    pairs = [tuple(sorted(r["persons"])) for r in recommendations["recommendations"]]
    persons = rundir.read_json(run_dir / rundir.CANONICAL_PERSONS)["persons"]
    return not together & set(pairs) and len(pairs) < len(persons)


def test_osnet_finds_the_humans_and_joins_their_visits(run, truth):
    scores = _scores(run, truth)
    humans_here = len({truth[1][int(g)] for g in np.unique(truth[0][:, 1])})
    assert humans_here == 8
    assert scores["tracklet"]["IDF1"] >= 0.85
    assert humans_here <= scores["persons"] <= humans_here + 2
    assert scores["person"]["IDF1"] >= 0.85
    assert scores["pairs"]["precision"] >= 0.95 and scores["pairs"]["recall"] >= 0.5
    assert scores["top1"] >= 0.9
    recommendations = rundir.read_json(run / rundir.MERGE_RECOMMENDATIONS)
    assert recommendations["decision"]["trusted"] and recommendations["applied_merges"]
    assert _no_recommended_pair_was_seen_together(run)


# What the report shows, for the checks every reader can make (issue 21).
REPORT_FACTS = """
JSON.stringify({
  answer: document.getElementById("answer").innerText,
  facts: document.querySelector("header .facts").innerText,
  broken: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute("src")),
  merges: Array.from(document.querySelectorAll("#merges li.merge")).map(li =>
    Array.from(li.querySelectorAll("figure.side img")).filter(i => i.complete && i.naturalWidth > 0).length),
  pairs: Array.from(document.querySelectorAll("li.pair:not(.row)")).map(li =>
    Array.from(li.querySelectorAll("figure.side img")).filter(i => i.complete && i.naturalWidth > 0).length),
  cards: Array.from(document.querySelectorAll("article.person")).map(a =>
    Array.from(a.querySelectorAll("img")).filter(i => i.complete && i.naturalWidth > 0).length),
})
"""


def test_the_report_pictures_every_merge_pair_and_person_and_its_counts_agree(run):
    import json

    from browser import headless_chromium

    from streamreid.config import ReportConfig
    from streamreid.report import write_report

    report = write_report(run, config=ReportConfig())
    with headless_chromium() as browser:
        page = browser.new_page(width=1280, height=900)
        page.goto(report.resolve().as_uri())
        shown = json.loads(page.evaluate(REPORT_FACTS))
    persons = rundir.read_json(run / rundir.CANONICAL_PERSONS)["persons"]
    tracklets = sum(len(p["tracklet_ids"]) for p in persons)
    assert page.errors == [] and shown["broken"] == []
    assert shown["merges"] and all(count == 2 for count in shown["merges"])
    assert all(count == 2 for count in shown["pairs"])
    assert len(shown["cards"]) == len(persons) and all(count >= 1 for count in shown["cards"])
    assert shown["answer"].startswith(f"{len(persons)} distinct")
    assert rundir.read_json(run / rundir.RUN_JSON)["counts"]["persons"] == len(persons)
    assert shown["facts"].startswith(f"from {tracklets} tracklets")
    assert f" {len(shown['merges'])} merges applied" in shown["facts"] and len(shown["merges"]) == tracklets - len(
        persons
    )


def test_without_reid_weights_the_fallback_still_joins_visits_without_mistakes(run, truth):
    config = Config().with_overrides({"reid.embedder": "fallback", "report.enabled": False})
    analyse(run, config=config)
    scores = _scores(run, truth)
    assert scores["persons"] <= 12
    assert scores["person"]["IDF1"] >= 0.6
    assert scores["pairs"]["precision"] >= 0.8 and scores["pairs"]["recall"] >= 0.3
    assert _no_recommended_pair_was_seen_together(run)

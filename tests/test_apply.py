"""``streamreid apply`` changes exactly what the user decided, says what it changed, and the report follows.

A short synthetic run (five actors, two of whom leave and come back: two automatic merges by
appearance) goes through the real pipeline with the scripted detector and the fallback embedder;
each test works on its own copy.
"""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser import headless_chromium
from synthetic import ScriptedDetector, scenario_two_returns, write_video

from streamreid.config import Config
from streamreid.pipeline import process
from streamreid.report.data import load_report_data

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

# Every image of the page and whether it decoded; each merge's and each person card's pictures.
PAGE = """
JSON.stringify({
  answer: document.getElementById("answer").innerText,
  images: Array.from(document.images).map(i => ({src: i.getAttribute("src"), ok: i.complete && i.naturalWidth > 0})),
  merges: Array.from(document.querySelectorAll("#merges li.merge")).map(li => ({
    groups: JSON.parse(li.dataset.groups), text: li.innerText,
    pictures: Array.from(li.querySelectorAll("figure.side img"))
      .filter(i => i.complete && i.naturalWidth > 0).length})),
  cards: Array.from(document.querySelectorAll("article.person")).map(a => ({id: a.dataset.person,
    pictures: Array.from(a.querySelectorAll("img")).filter(i => i.complete && i.naturalWidth > 0).length})),
})
"""


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    scenario = scenario_two_returns()
    folder = tmp_path_factory.mktemp("apply")
    video = write_video(scenario, folder / "scene.mp4")
    # two animations only: the others show their best crops, and renumbered persons must not show stale WebPs
    config = Config().with_overrides({"reid.embedder": "fallback", "report.max_persons": 2})
    result = process(str(video), out_dir=folder / "run", config=config, detector=ScriptedDetector(scenario),
                     progress=False)  # fmt: skip
    return result.run_dir


@pytest.fixture
def run_dir(analysed, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(analysed, copy)
    return copy


def _persons(run_dir: Path) -> dict[int, tuple[int, ...]]:
    persons = json.loads((run_dir / "canonical_persons.json").read_text())["persons"]
    return {p["person_id"]: tuple(p["tracklet_ids"]) for p in persons}


def _automatic(run_dir: Path) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    details = json.loads((run_dir / "merge_recommendations.json").read_text())["applied_merge_details"]
    return [(tuple(d["tracklets"][0]), tuple(d["tracklets"][1])) for d in details]


def _apply(run_dir: Path, reviews: list[dict], path: Path) -> subprocess.CompletedProcess:
    path.write_text(json.dumps({"format": "streamreid-decisions", "version": 1, "decisions": reviews}))
    return subprocess.run([sys.executable, "-m", "streamreid.cli", "apply", str(run_dir), str(path)],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)  # fmt: skip


def _strangers(persons: dict[int, tuple[int, ...]], run_dir: Path) -> tuple[int, int]:
    """The two one-tracklet persons never on screen together (the early and the late actor)."""
    spans = {p["person_id"]: (p["start_frame"], p["end_frame"])
             for p in json.loads((run_dir / "canonical_persons.json").read_text())["persons"]}  # fmt: skip
    return next((a, b) for a in persons for b in persons
                if len(persons[a]) == len(persons[b]) == 1 and spans[a][1] < spans[b][0])  # fmt: skip


def test_the_run_has_two_automatic_merges(analysed):
    automatic = _automatic(analysed)
    assert len(automatic) == 2
    merged = [set(a) | set(b) for a, b in automatic]
    assert all(any(m == set(group) for group in _persons(analysed).values()) for m in merged)


def test_apply_changes_exactly_what_was_decided_and_says_so(run_dir, tmp_path):
    before = _persons(run_dir)
    (kept_a, kept_b), (undone_a, undone_b) = _automatic(run_dir)
    early, late = _strangers(before, run_dir)
    owner = {t: pid for pid, group in before.items() for t in group}
    other = next(pid for pid, group in before.items() if len(group) == 1 and pid not in (early, late))
    reviews = [
        {"action": "merge", "persons": [early, late], "tracklets": [list(before[early]), list(before[late])]},
        {"action": "reject", "persons": [owner[kept_a[0]], other],
         "tracklets": [list(before[owner[kept_a[0]]]), list(before[other])]},
        {"action": "split", "persons": [owner[undone_a[0]]], "tracklets": [list(undone_a), list(undone_b)]},
    ]  # fmt: skip
    result = _apply(run_dir, reviews, tmp_path / "decisions.json")
    assert result.returncode == 0, result.stderr
    expected = {g for pid, g in before.items() if pid not in (early, late, owner[undone_a[0]])}
    expected |= {tuple(sorted(before[early] + before[late])), undone_a, undone_b}
    assert set(_persons(run_dir).values()) == expected  # the untouched automatic merge is still there
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"applied 3 decision(s): {len(before)} -> {len(before)} persons")
    assert lines[1:] == [
        f"  merge P{early} and P{late} (tracklets {before[early][0]} with {before[late][0]}): now one person",
        f"  keep P{owner[kept_a[0]]} and P{other} apart (tracklets {'+'.join(map(str, before[owner[kept_a[0]]]))}"
        f" with {before[other][0]}): kept apart, not suggested again",
        f"  undo the merge in P{owner[undone_a[0]]} (tracklets {undone_a[0]} with {undone_b[0]}): now two persons",
    ]
    assert "note" not in result.stdout  # nothing about tracklets nobody named
    # the report: the automatic merge left alone is still labelled as appearance's, the merge as the user's
    links = {tuple(sorted(link.groups[0] + link.groups[1])): link.reason
             for _, link in load_report_data(run_dir).links}  # fmt: skip
    assert links == {
        tuple(sorted(kept_a + kept_b)): "appearance",
        tuple(sorted(before[early] + before[late])): "decision",
    }

    again = _apply(run_dir, reviews, tmp_path / "decisions.json")  # the same file once more: nothing new
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("no new decision in") and set(_persons(run_dir).values()) == expected


def test_a_merge_of_people_seen_together_is_refused_in_words(run_dir, tmp_path):
    before = _persons(run_dir)
    a, b = (pid for pid, group in before.items() if len(group) == 2)  # both on screen at the start
    result = _apply(run_dir, [{"action": "merge", "persons": [a, b], "tracklets": [list(before[a]), list(before[b])]}],
                    tmp_path / "decisions.json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "not merged, tracklets" in result.stdout and "are seen at the same time" in result.stdout
    assert _persons(run_dir) == before


def test_after_apply_every_picture_the_report_names_exists(run_dir, tmp_path):
    before = _persons(run_dir)
    undone = _automatic(run_dir)[0]
    owner = {t: pid for pid, group in before.items() for t in group}
    review = {"action": "split", "persons": [owner[undone[0][0]]], "tracklets": [list(undone[0]), list(undone[1])]}
    animation = next((run_dir / "webp").glob("person_*.webp"))
    for pid in range(len(before) + 1):  # left by an earlier analysis that animated more persons
        if not (run_dir / "webp" / f"person_{pid}.webp").exists():
            shutil.copy(animation, run_dir / "webp" / f"person_{pid}.webp")
    assert _apply(run_dir, [review], tmp_path / "decisions.json").returncode == 0
    page = (run_dir / "report.html").read_text()
    named = {part.split('"')[0] for part in page.split('src="')[1:]}
    assert named and all((run_dir / name).is_file() for name in named), sorted(
        n for n in named if not (run_dir / n).is_file()
    )


def test_undo_in_the_browser_then_apply_gives_two_persons_each_pictured(run_dir, tmp_path):
    before = _persons(run_dir)
    first, second = _automatic(run_dir)[0]
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with headless_chromium() as browser:
        browser.command("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        page = browser.new_page(width=1280, height=900)
        page.goto((run_dir / "report.html").resolve().as_uri())
        shown = json.loads(page.evaluate(PAGE))
        assert all(m["pictures"] == 2 for m in shown["merges"]) and len(shown["merges"]) == 2
        groups = json.dumps([list(first), list(second)])
        page.evaluate(f"document.querySelector('#merges li.merge[data-groups=\"{groups}\"] button.undo').click()")
        page.evaluate('document.getElementById("save-decisions").click()')
        saved = downloads / "decisions.json"
        deadline = time.monotonic() + 10
        while not saved.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert json.loads(saved.read_text())["decisions"][0]["action"] == "split"
        result = subprocess.run([sys.executable, "-m", "streamreid.cli", "apply", str(run_dir), str(saved)],
                                capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)  # fmt: skip
        assert result.returncode == 0, result.stderr
        after = _persons(run_dir)
        assert first in after.values() and second in after.values() and len(after) == len(before) + 1

        page = browser.new_page(width=1280, height=900)
        page.goto((run_dir / "report.html").resolve().as_uri())
        shown = json.loads(page.evaluate(PAGE))
        page.screenshot(ARTIFACTS / "report_after_undo.png", full_page=True)
        assert page.errors == [] and all(url.startswith("file://") for url in page.requests)
        assert shown["answer"].startswith(f"{len(before) + 1} distinct")
        assert [i["src"] for i in shown["images"] if not i["ok"]] == []  # every image present and decoded
        sides = {str(pid) for pid, group in after.items() if group in (first, second)}
        assert len(sides) == 2 and all(c["pictures"] >= 1 for c in shown["cards"])
        assert sides <= {c["id"] for c in shown["cards"]}
        assert len(shown["merges"]) == 1 and all(m["pictures"] == 2 for m in shown["merges"])

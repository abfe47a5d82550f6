"""Issue 20 item 6: missing inputs are an error, and no computed result is deleted before the new ones exist.

The cases are rows of docs/HOSTILE_INPUTS.md ("Silent wrong answers").
"""

import hashlib

import numpy as np
import pytest
from fake_run import build_fake_run

from streamreid.cli import main
from streamreid.config import Config
from streamreid.end_of_stream import analyse


def _snapshot(run_dir):
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file() and p.name != ".streamreid.lock"}  # fmt: skip


@pytest.mark.parametrize("keep_log", [False, True])
def test_report_without_tracklet_stats_is_an_error_and_changes_nothing(tmp_path, capsys, keep_log):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    (fake.run_dir / "tracklet_stats.json").unlink()
    if keep_log:  # a killed run's line log is enough (an empty one: no tracklet had ended yet)
        (fake.run_dir / "tracklet_stats.jsonl").write_text("")
        assert analyse(fake.run_dir, config=Config().with_overrides({"report.enabled": False})).persons == 0
        return
    (fake.run_dir / "tracklet_stats.jsonl").unlink(missing_ok=True)
    before = _snapshot(fake.run_dir)
    assert any(name.startswith("webp/") for name in before) and "similarity_matrix.npy" in before
    assert main(["report", str(fake.run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("streamreid: error: ") and err.count("\n") == 1
    assert "tracklet_stats.json" in err and "nothing was changed" in err
    assert _snapshot(fake.run_dir) == before  # WebPs, crops, embeddings and similarities all still there


class _BrokenEmbedder:
    name, kind, dim, weights, device = "broken", "fallback", 8, None, "cpu"

    def embed(self, crops):
        raise RuntimeError("the embedder broke")


def test_similarities_stay_until_new_ones_replace_them(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=3, with_webps=False)
    names = ("similarity_matrix.npy", "similarity_matrix.json", "embeddings.npy", "merge_recommendations.json")
    before = {name: (fake.run_dir / name).read_bytes() for name in names}
    config = Config().with_overrides({"report.enabled": False})
    with pytest.raises(RuntimeError, match="the embedder broke"):
        analyse(fake.run_dir, config=config, embedder=_BrokenEmbedder())
    assert {name: (fake.run_dir / name).read_bytes() for name in names} == before
    # without ReID the older similarities are stale: removed, but only once the new persons are written
    analyse(fake.run_dir, config=config.with_overrides({"reid.enabled": False}))
    assert not any((fake.run_dir / name).exists() for name in names)
    assert np.load(fake.run_dir / "canonical_persons.npz")["person_ids"].size == 3

"""The crop strips of the report: each person's best-scored crops side by side."""

from fake_run import build_fake_run

from streamreid.config import ReportConfig
from streamreid.report import write_report

CONFIG = ReportConfig()


def test_best_crops_strip_holds_the_best_scored_crops(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=3)
    write_report(fake.run_dir, config=CONFIG)
    import imageio.v3 as iio

    strip = iio.imread(fake.run_dir / "crops" / "person_0.jpg")
    best = sum(1 for t in fake.person(0).tracklet_ids for f in fake.buffers[t] if f & 1)
    assert strip.shape == (128, 64 * min(6, best), 3)

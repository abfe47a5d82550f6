import numpy as np
import pytest

from streamreid.run.reviews import Review, ReviewError, apart, combine, constraints, parse_reviews
from streamreid.stream.scene import SceneKeeper
from streamreid.types import Frame


def _doc(*reviews):
    return {"format": "streamreid-decisions", "version": 1, "decisions": list(reviews)}


def test_parse_reads_actions_tracklets_and_persons():
    parsed = parse_reviews(_doc({"action": "merge", "persons": [0, 4], "tracklets": [[1, 2], [7]]}), name="d.json")
    assert parsed == (Review(action="merge", groups=((1, 2), (7,)), persons=(0, 4)),)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "not a streamreid decisions file"),
        ({"format": "streamreid-decisions", "version": 2, "decisions": []}, "version 2"),
        (_doc({"action": "merge", "tracklets": [[1]]}), "two non-empty lists"),
        (_doc({"action": "merge", "tracklets": [[1], [-2]]}), "whole numbers"),
        (_doc({"action": "merge", "tracklets": [[1], [1.5]]}), "whole numbers"),
        (_doc({"action": "merge", "tracklets": [[1, 2], [2]]}), "on both sides"),
    ],
)
def test_parse_rejects_malformed_files_naming_the_decision(data, message):
    with pytest.raises(ReviewError, match=message):
        parse_reviews(data, name="d.json")


def test_later_decisions_replace_earlier_ones_about_the_same_groups():
    reject = Review(action="reject", groups=((1,), (7,)))
    merge = Review(action="merge", groups=((7,), (1,)))
    other = Review(action="split", groups=((3,), (4,)))
    assert combine([reject, other], [merge]) == (other, merge)


def test_constraints_follow_the_decisions_in_order():
    merge = Review(action="merge", groups=((1, 2), (7,)))
    must, cannot = constraints([merge], known={1, 2, 7})
    assert must == [(1, 2), (1, 7)] and cannot == []
    split = Review(action="split", groups=((1, 2), (7,)))
    must, cannot = constraints([merge, split], known={1, 2, 7})
    assert must == [(1, 2)] and cannot == [(1, 7), (2, 7)]
    # tracklets the run no longer has are left out
    assert constraints([merge], known={1, 2}) == ([], [])


def test_apart_maps_cannot_links_to_person_pairs():
    assert apart([(1, 2), (3,), (7,)], [(2, 7), (3, 99)]) == {(0, 2)}


def test_scene_is_the_median_of_frames_spread_over_the_stream(tmp_path):
    keeper = SceneKeeper(width=320, samples=5)
    background = np.full((360, 640, 3), 90, dtype=np.uint8)
    for index in range(200):
        image = background.copy()
        x = (index * 11) % 600
        image[100:300, x : x + 40] = 250  # someone walking through
        keeper.update(Frame(index=index, time=index / 10, image=image))
    assert len(keeper.frames) == 5 and keeper.seen == 200
    assert keeper.image.shape == (180, 320, 3)
    # one frame shows the walker on 3.5 % of its pixels; the median keeps (almost) none of it
    assert (np.abs(keeper.image.astype(int) - 90) > 10).mean() < 0.01
    path = keeper.write(tmp_path)
    import imageio.v3 as iio

    assert iio.imread(path).shape == (180, 320, 3)
    assert SceneKeeper().write(tmp_path / "none") is None


@pytest.mark.parametrize("count", [1, 2, 3, 6, 7, 8])
def test_pixel_median_equals_numpys_median_of_the_stack(count):
    from streamreid.stream.scene import pixel_median

    images = [np.random.default_rng(count + i).integers(0, 256, (9, 7, 3), dtype=np.uint8) for i in range(count)]
    images[0][0, 0] = 255  # ties and extremes
    expected = np.median(np.stack(images), axis=0).astype(np.uint8)
    assert np.array_equal(pixel_median(images), expected)
    assert all(image[0, 0, 0] == 255 for image in images[:1])  # the inputs are left as they were


def test_paths_are_smoothed_without_moving_a_straight_walk():
    from streamreid.report.paths import smooth

    line = np.stack([np.arange(20.0), 2 * np.arange(20.0)], axis=1)
    assert np.allclose(smooth(line)[5:-5], line[5:-5])
    zigzag = line + np.array([[0, 3], [0, -3]] * 10)
    assert np.abs(smooth(zigzag) - line)[4:-4].max() < 1.0
    assert smooth(line[:1]).shape == (1, 2)


def test_apply_never_merges_two_people_seen_together(tmp_path):
    # issue 20 item 5: person 0's first piece (frames 0-9) and person 1 (frames 7-28) overlap for three frames
    # at different places: a merge decision naming them is left unmet, said, and nothing is joined
    import json

    from fake_run import build_fake_run

    from streamreid.apply import apply_reviews
    from streamreid.config import Config

    fake = build_fake_run(tmp_path / "run", num_persons=2, with_webps=False)
    first, other = fake.person(0).tracklet_ids[0], fake.person(1).tracklet_ids[0]
    frames = fake.detections[first][:, 0], fake.detections[other][:, 0]
    assert len(np.intersect1d(*frames)) == 3
    path = tmp_path / "decisions.json"
    path.write_text(json.dumps(_doc({"action": "merge", "persons": [0, 1], "tracklets": [[first], [other]]})))
    config = Config().with_overrides({"reid.enabled": False, "report.enabled": False})
    summary = apply_reviews(fake.run_dir, path, config=config)
    assert summary["unmet"] == [[first, other]]
    persons = json.loads((fake.run_dir / "canonical_persons.json").read_text())["persons"]
    assert not any({first, other} <= set(p["tracklet_ids"]) for p in persons)


# ----------------------------------------------------------------------------- editing the persons (apply)

SPANS = {1: (0, 10), 2: (20, 30), 3: (40, 50), 4: (60, 70), 5: (0, 70), 6: (80, 90)}


def test_edit_merge_joins_exactly_the_two_persons():
    from streamreid.run.reviews import edit_groups

    edit = edit_groups([(1, 2), (3,), (5,), (6,)], [Review("merge", ((3,), (6,)), persons=(1, 3))], spans=SPANS)
    assert edit.groups == ((1, 2), (5,), (3, 6))
    assert edit.changes == ("merge P1 and P3 (tracklets 3 with 6): now one person",) and edit.unmet == ()


def test_edit_merge_of_people_seen_together_changes_nothing_and_says_why():
    from streamreid.run.reviews import edit_groups

    edit = edit_groups([(1, 2), (5,)], [Review("merge", ((1, 2), (5,)))], spans=SPANS, max_overlap=3)
    assert edit.groups == ((1, 2), (5,)) and edit.unmet == ((1, 5),)
    assert edit.changes == ("merge tracklets 1+2 with 5: not merged, tracklets 1 and 5 are seen at the same time",)


def test_edit_split_cuts_one_person_and_puts_the_unnamed_pieces_with_the_nearest_side():
    from streamreid.run.reviews import edit_groups

    # a chain 1-2-3-4 whose Undo names 1+2 | 3 (4 was chained on later): 4 goes with 3, its neighbour in time
    edit = edit_groups([(1, 2, 3, 4), (6,)], [Review("split", ((1, 2), (3,)), persons=(0,))], spans=SPANS)
    assert edit.groups == ((1, 2), (3, 4), (6,))
    assert edit.changes == ("undo the merge in P0 (tracklets 1+2 with 3): now two persons",)


def test_edit_reject_keeps_persons_as_they_are():
    from streamreid.run.reviews import edit_groups

    groups = [(1, 2), (3, 4), (6,)]
    edit = edit_groups(groups, [Review("reject", ((1, 2), (6,)), persons=(0, 2))], spans=SPANS)
    assert edit.groups == tuple(groups)
    assert edit.changes == ("keep P0 and P2 apart (tracklets 1+2 with 6): kept apart, not suggested again",)


def test_only_decisions_not_held_already_are_new():
    from streamreid.run.reviews import new_reviews

    held = [Review("merge", ((1,), (2,))), Review("reject", ((3,), (4,)))]
    saved = [Review("merge", ((2,), (1,))), Review("merge", ((3,), (4,))), Review("split", ((5,), (6,)))]
    assert new_reviews(held, saved) == tuple(saved[1:])  # a reversed copy of a held merge is the same one

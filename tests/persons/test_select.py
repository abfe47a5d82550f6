import csv
import json
import shutil

import numpy as np
import pytest
from fake_run import build_fake_run

from streamreid.cli import main
from streamreid.errors import SelectionError, StoreError
from streamreid.persons.select import describe_ids, parse_person_ids, select_persons
from streamreid.run.store_reader import open_store


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    """A 3-person run (persons 0 and 2 have two tracklets each); tests write selections to their own folders."""
    return build_fake_run(tmp_path_factory.mktemp("select") / "run", num_persons=3, with_webps=False)


def _read_tracks(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _expected_detections(fake, tracker_ids):
    rows = np.concatenate([np.column_stack([fake.detections[t], np.full(len(fake.detections[t]), t)])
                           for t in tracker_ids])  # fmt: skip
    return rows[np.lexsort((rows[:, 7], rows[:, 0]))]


# ----------------------------------------------------------------------------- parsing ids


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0,5,7", [0, 5, 7]), (" 3 ", [3]), ("2, 0", [2, 0]), ("P2,p4", [2, 4]), ("1 2", [1, 2]), ("4,", [4])],
)
def test_parse_person_ids(text, expected):
    assert parse_person_ids(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no person ids given"),
        (" , ", "no person ids given"),
        ("a,b", "person id 'a' is not a whole number"),
        ("1.5", "person id '1.5' is not a whole number"),
        ("-1", "person id -1 is negative"),
        ("2,2", "person id 2 is given twice"),
        ("P3,3", "person id 3 is given twice"),
    ],
)
def test_parse_person_ids_rejects(text, message):
    with pytest.raises(SelectionError, match=message) as error:
        parse_person_ids(text)
    assert "\n" not in str(error.value)


def test_describe_ids():
    assert describe_ids([0, 1, 2, 3, 7, 9, 10]) == "0-3, 7, 9-10"
    assert describe_ids([5]) == "5"
    assert describe_ids([]) == ""


# ----------------------------------------------------------------------------- round trips


def test_selection_round_trip_without_merge(fake, tmp_path):
    out = select_persons(fake.run_dir, [2, 1], out=tmp_path / "sel")
    assert out == tmp_path / "sel"
    selection = json.loads((out / "selection.json").read_text())
    assert selection["merged"] is False
    assert selection["source_run"] == str(fake.run_dir.resolve())
    assert selection["requested_person_ids"] == [2, 1]
    assert [p["person_id"] for p in selection["persons"]] == [2, 1]
    for entry in selection["persons"]:
        person = fake.person(entry["person_id"])
        assert entry["source_person_ids"] == [person.person_id]
        assert entry["tracklet_ids"] == list(person.tracklet_ids)
        assert (entry["start_frame"], entry["end_frame"]) == (person.start_frame, person.end_frame)
        assert entry["detection_count"] == person.detection_count

    # tracks: every detection of the chosen tracklets, values exactly as stored
    tracks = _read_tracks(out / "tracks.csv")
    store = open_store(fake.run_dir)
    stored = store.detections()
    for person_id in (2, 1):
        rows = [r for r in tracks if int(r["person_id"]) == person_id]
        expected = _expected_detections(fake, fake.person(person_id).tracklet_ids)
        assert len(rows) == len(expected)
        assert [int(r["frame_index"]) for r in rows] == expected[:, 0].astype(int).tolist()
        assert [int(r["tracker_id"]) for r in rows] == expected[:, 7].astype(int).tolist()
        assert {int(r["source_person_id"]) for r in rows} == {person_id}
        boxes = np.array([[float(r[k]) for k in ("x1", "y1", "x2", "y2")] for r in rows], dtype=np.float32)
        mask = np.isin(stored["tracker_id"], fake.person(person_id).tracklet_ids)
        order = np.lexsort((stored["tracker_id"][mask], stored["frame_index"][mask]))
        np.testing.assert_array_equal(boxes, stored["xyxy"][mask][order])
        times = np.array([float(r["time"]) for r in rows])
        np.testing.assert_array_equal(times, stored["time"][mask][order])
        confidences = np.array([float(r["confidence"]) for r in rows], dtype=np.float32)
        np.testing.assert_array_equal(confidences, stored["confidence"][mask][order])

    # crops: best + animation buffers from the store, in time order per person
    with np.load(out / "crops.npz") as crops:
        for person_id in (2, 1):
            images, meta = store.crops_for(fake.person(person_id).tracklet_ids, buffer="any", order="time")
            mine = crops["person_id"] == person_id
            np.testing.assert_array_equal(crops["images"][mine], images)
            np.testing.assert_array_equal(crops["frame_index"][mine], meta["frame_index"])
            np.testing.assert_array_equal(crops["store_index"][mine], meta["index"])
            np.testing.assert_array_equal(crops["buffers"][mine], meta["buffers"])
            assert len(images) == sum(len(fake.crops[t]) for t in fake.person(person_id).tracklet_ids)
        counts = [int((crops["person_id"] == p).sum()) for p in (2, 1)]
        assert crops["person_id"].tolist() == [2] * counts[0] + [1] * counts[1]  # selection order

    # embeddings: the run's rows for those persons, in selection order
    embeddings = np.load(out / "embeddings.npy")
    np.testing.assert_array_equal(embeddings, fake.embeddings[[2, 1]])
    with np.load(out / "crop_features.npz") as features, np.load(fake.run_dir / "crop_features.npz") as source:
        for person_id in (2, 1):
            expected = source["features"][source["person_id"] == person_id]
            np.testing.assert_array_equal(features["features"][features["person_id"] == person_id], expected)


def test_selection_round_trip_with_merge(fake, tmp_path):
    # persons 2 and 0 are on screen together at different places: only --force merges them
    out = select_persons(fake.run_dir, [2, 0], merge=True, out=tmp_path / "merged", force=True)
    selection = json.loads((out / "selection.json").read_text())
    assert selection["merged"] is True and selection["seen_together"] == [[0, 2]]
    (entry,) = selection["persons"]
    assert entry["person_id"] == 2  # the first id given names the merged identity
    assert entry["source_person_ids"] == [2, 0]
    tracklets = [*fake.person(0).tracklet_ids, *fake.person(2).tracklet_ids]
    first_frame = {t: int(fake.detections[t][0, 0]) for t in tracklets}
    assert entry["tracklet_ids"] == sorted(tracklets, key=lambda t: first_frame[t])  # time order
    assert entry["start_frame"] == min(fake.person(0).start_frame, fake.person(2).start_frame)
    assert entry["end_frame"] == max(fake.person(0).end_frame, fake.person(2).end_frame)

    tracks = _read_tracks(out / "tracks.csv")
    expected = _expected_detections(fake, tracklets)
    assert len(tracks) == len(expected) == entry["detection_count"]
    assert {int(r["person_id"]) for r in tracks} == {2}
    assert [int(r["frame_index"]) for r in tracks] == expected[:, 0].astype(int).tolist()
    owner = {t: p for p in (0, 2) for t in fake.person(p).tracklet_ids}
    assert all(int(r["source_person_id"]) == owner[int(r["tracker_id"])] for r in tracks)

    store = open_store(fake.run_dir)
    images, meta = store.crops_for(tracklets, buffer="any", order="time")
    with np.load(out / "crops.npz") as crops:
        np.testing.assert_array_equal(crops["images"], images)
        np.testing.assert_array_equal(crops["tracker_id"], meta["tracker_id"])
        assert set(crops["person_id"].tolist()) == {2}
        assert np.all(np.diff(crops["time"]) >= 0)
        assert len(images) == entry["crop_count"]

    embeddings = np.load(out / "embeddings.npy")
    mean = fake.embeddings[[2, 0]].mean(axis=0)
    np.testing.assert_allclose(embeddings, (mean / np.linalg.norm(mean))[None], atol=1e-6)


def test_selection_defaults_to_the_run_directory_and_replaces_an_older_one(fake):
    out = select_persons(fake.run_dir, [0, 1, 2])
    assert out == fake.run_dir / "selection"
    out = select_persons(fake.run_dir, [1])
    selection = json.loads((out / "selection.json").read_text())
    assert [p["person_id"] for p in selection["persons"]] == [1]
    assert {int(r["person_id"]) for r in _read_tracks(out / "tracks.csv")} == {1}
    shutil.rmtree(out)


def test_selection_without_reid_has_no_embeddings(tmp_path):
    fake = build_fake_run(tmp_path / "run", num_persons=3, with_similarity=False, with_webps=False)
    out = select_persons(fake.run_dir, [0])
    selection = json.loads((out / "selection.json").read_text())
    assert selection["files"]["embeddings"] is None and selection["files"]["crop_features"] is None
    assert not (out / "embeddings.npy").exists()
    assert len(_read_tracks(out / "tracks.csv")) == fake.person(0).detection_count


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("ids", "error", "message"),
    [
        ([12], SelectionError, r"unknown person id 12 \(this run has persons 0-2\)"),
        ([0, 3], SelectionError, r"unknown person id 3 \(this run has persons 0-2\)"),
        ([-1], SelectionError, "person id -1 is negative"),
        ([1, 1], SelectionError, "person id 1 is given twice"),
        (["1"], SelectionError, "person id '1' is not a whole number"),
        ([1.0], SelectionError, "person id 1.0 is not a whole number"),
        ([True], SelectionError, "person id True is not a whole number"),
        ([], SelectionError, "no person ids given"),
        ("0,1", SelectionError, "must be a list of integers"),
    ],
)
def test_bad_ids_are_named(fake, tmp_path, ids, error, message):
    with pytest.raises(error, match=message) as raised:
        select_persons(fake.run_dir, ids, out=tmp_path / "sel")
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "sel").exists()  # nothing written


def _no_run_json(run_dir):
    (run_dir / "run.json").unlink()


def _no_store(run_dir):
    shutil.rmtree(run_dir / "store.zarr")


def _no_persons(run_dir):
    (run_dir / "canonical_persons.json").unlink()


def _not_a_store(run_dir):
    shutil.rmtree(run_dir / "store.zarr")
    (run_dir / "store.zarr").mkdir()
    (run_dir / "store.zarr" / "zarr.json").write_text("{}")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_no_run_json, "is not a streamreid run directory"),
        (_no_store, "no crop store"),
        (_no_persons, "has no canonical_persons.json"),
        (_not_a_store, "is not a streamreid crop store"),
    ],
)
def test_wrong_directory_is_named(tmp_path, damage, message):
    fake = build_fake_run(tmp_path / "run", num_persons=3, with_webps=False, with_similarity=False)
    damage(fake.run_dir)
    with pytest.raises(StoreError, match=message) as raised:
        select_persons(fake.run_dir, [0])
    assert "\n" not in str(raised.value)


def test_missing_run_directory(tmp_path):
    with pytest.raises(StoreError, match="run directory not found"):
        select_persons(tmp_path / "nope", [0])


def test_output_path_that_is_a_file(fake, tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(SelectionError, match="is a file"):
        select_persons(fake.run_dir, [0], out=target)


def test_cli_select_prints_the_folder_and_reports_errors_in_one_line(fake, tmp_path, capsys):
    args = ["select", str(fake.run_dir), "--persons", "0,2", "--merge", "--force", "--out", str(tmp_path / "s")]
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "s")
    assert json.loads((tmp_path / "s" / "selection.json").read_text())["merged"] is True
    assert main(["select", str(fake.run_dir), "--persons", "0,9"]) != 0
    err = capsys.readouterr().err.strip()
    assert err == "streamreid: error: unknown person id 9 (this run has persons 0-2)"


def test_select_command_survives_a_shell_with_spaces_and_quotes_in_the_path(tmp_path):
    import shlex

    from streamreid.persons.select import select_command

    run_dir = tmp_path / "it's a run; rm -rf x"
    command = select_command(run_dir, [3, 7])
    assert shlex.split(command) == ["streamreid", "select", str(run_dir), "--persons", "3,7", "--merge"]
    assert shlex.split(select_command(run_dir, [1], merge=False))[-1] == "1"


def test_merge_of_persons_seen_together_is_refused_in_one_line(fake, tmp_path, capsys):
    # issue 20 item 5: `select --persons 86,88 --merge` merged two people seen together without a word
    out = tmp_path / "refused"
    with pytest.raises(SelectionError, match="persons 0 and 1 were seen together at different places"):
        select_persons(fake.run_dir, [1, 0], merge=True, out=out)
    assert not out.exists()  # nothing written
    assert main(["select", str(fake.run_dir), "--persons", "1,0", "--merge", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("streamreid: error: persons 0 and 1 were seen together") and err.count("\n") == 1
    assert "--force" in err and not out.exists()
    # exported side by side they stay two persons, and the file says they were seen together
    selection = json.loads((select_persons(fake.run_dir, [1, 0], out=out) / "selection.json").read_text())
    assert selection["seen_together"] == [[0, 1]] and len(selection["persons"]) == 2

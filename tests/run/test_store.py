import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import zarr

from streamreid.errors import StoreError
from streamreid.run.store import CropStore
from streamreid.run.store_layout import STORE_NAME
from streamreid.run.store_reader import open_store
from streamreid.stream.reservoir import ANIMATION, BEST
from streamreid.types import CropSample, QualityComponents

HEIGHT, WIDTH = 32, 16


def crop_image(tracker_id: int, frame_index: int) -> np.ndarray:
    """A crop whose pixels say where it came from."""
    rng = np.random.default_rng(tracker_id * 100_000 + frame_index)
    return rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)


def make_sample(tracker_id: int, frame_index: int, score: float) -> CropSample:
    quality = QualityComponents(0.9, 1.0, 0.8, 1.0, 0.7, 0.6, score)
    box = (float(frame_index), 10.0, frame_index + 20.0, 50.0)
    return CropSample(tracker_id, frame_index, frame_index / 25.0, box, quality, crop_image(tracker_id, frame_index))


# tracker id -> (frame, score, buffers)
TRACKLETS = {
    4: [(10, 0.50, BEST), (12, 0.90, BEST | ANIMATION), (14, 0.20, ANIMATION), (20, 0.70, BEST)],
    9: [(30, 0.95, BEST), (31, 0.10, ANIMATION), (40, 0.60, BEST | ANIMATION)],
    2: [(5, 0.80, ANIMATION), (6, 0.85, BEST)],
}


def write_tracklets(store: CropStore) -> None:
    for tracker_id, rows in TRACKLETS.items():
        samples = [make_sample(tracker_id, f, s) for f, s, _ in rows]
        store.write_tracklet(tracker_id, samples, [b for _, _, b in rows])


@pytest.fixture(scope="module")
def written_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / STORE_NAME
    with CropStore(path, crop_height=HEIGHT, crop_width=WIDTH, chunk_crops=4, chunk_rows=8) as store:
        for frame_index in range(5):
            count = frame_index + 1
            store.append_detections(
                frame_index=frame_index,
                time=frame_index / 25.0,
                tracker_id=np.arange(count),
                xyxy=np.tile([1.0, 2.0, 3.0, 4.0], (count, 1)) * frame_index,
                confidence=np.linspace(0.5, 1.0, count),
            )
        write_tracklets(store)
        assert store.num_crops == 9
        assert store.num_detections == 15
    return path


def test_round_trip(written_store):
    reader = open_store(written_store.parent)  # a run directory works too
    assert reader.complete
    assert reader.num_crops == 9
    detections = reader.detections()
    assert detections["frame_index"].tolist() == [i for i in range(5) for _ in range(i + 1)]
    assert detections["tracker_id"].tolist() == [t for i in range(5) for t in range(i + 1)]
    np.testing.assert_allclose(detections["time"], detections["frame_index"] / 25.0)
    np.testing.assert_allclose(detections["xyxy"][-1], [4.0, 8.0, 12.0, 16.0])
    np.testing.assert_allclose(detections["confidence"][-5:], np.linspace(0.5, 1.0, 5), rtol=1e-6)

    metadata = reader.crop_metadata()
    assert metadata["tracker_id"].tolist() == [4, 4, 4, 4, 9, 9, 9, 2, 2]
    assert metadata["frame_index"].tolist() == [10, 12, 14, 20, 30, 31, 40, 5, 6]
    assert metadata["rank"].tolist() == [2, 0, 3, 1, 0, 2, 1, 1, 0]
    assert metadata["buffers"].tolist() == [b for rows in TRACKLETS.values() for _, _, b in rows]
    np.testing.assert_allclose(metadata["score"], [s for rows in TRACKLETS.values() for _, s, _ in rows], rtol=1e-6)
    np.testing.assert_allclose(metadata["occlusion"], 0.7, rtol=1e-6)
    np.testing.assert_allclose(metadata["xyxy"][1], [12.0, 10.0, 32.0, 50.0])
    np.testing.assert_allclose(metadata["time"][1], 12 / 25.0)
    images = reader.images(np.arange(9))
    np.testing.assert_array_equal(reader.images([8, 0, 3, 0]), images[[8, 0, 3, 0]])
    assert reader.images([]).shape == (0, HEIGHT, WIDTH, 3)
    for row, (tracker_id, frame_index) in enumerate(zip(metadata["tracker_id"], metadata["frame_index"], strict=True)):
        np.testing.assert_array_equal(images[row], crop_image(int(tracker_id), int(frame_index)))


@pytest.mark.parametrize(
    ("tracker_ids", "buffer", "order", "limit", "expected"),
    [
        ([4], "best", "score", None, [(4, 12), (4, 20), (4, 10)]),
        ([4], "animation", "time", None, [(4, 12), (4, 14)]),
        ([4], "any", "time", None, [(4, 10), (4, 12), (4, 14), (4, 20)]),
        ([4, 9], "best", "score", 3, [(9, 30), (4, 12), (4, 20)]),
        ([9, 4, 2], "any", "time", 4, [(2, 5), (2, 6), (4, 10), (4, 12)]),
        ([2, 9], "animation", "score", None, [(2, 5), (9, 40), (9, 31)]),
        ([4], "best", "score", 0, []),
        ([77], "any", "score", None, []),
    ],
)
def test_crops_for_filters_orders_and_limits(written_store, tracker_ids, buffer, order, limit, expected):
    images, metadata = open_store(written_store).crops_for(tracker_ids, buffer=buffer, order=order, limit=limit)
    got = list(zip(metadata["tracker_id"].tolist(), metadata["frame_index"].tolist(), strict=True))
    assert got == expected
    assert images.shape == (len(expected), HEIGHT, WIDTH, 3)
    for image, (tracker_id, frame_index) in zip(images, expected, strict=True):
        np.testing.assert_array_equal(image, crop_image(tracker_id, frame_index))


def test_crops_for_refuses_unknown_arguments(written_store):
    reader = open_store(written_store)
    with pytest.raises(ValueError, match="buffer"):
        reader.crops_for([4], buffer="worst")
    with pytest.raises(ValueError, match="order"):
        reader.crops_for([4], order="random")


def test_whole_chunks_reach_disk_without_flush(tmp_path):
    path = tmp_path / STORE_NAME
    store = CropStore(path, crop_height=HEIGHT, crop_width=WIDTH, chunk_crops=4, chunk_rows=8)
    write_tracklets(store)  # 9 crops: two whole chunks of 4
    reader = open_store(path)
    assert not reader.complete
    assert reader.num_crops == 8
    store.flush()
    assert open_store(path).num_crops == 9
    store.close()
    assert open_store(path).complete


def test_interrupted_block_leaves_an_incomplete_store(tmp_path):
    path = tmp_path / STORE_NAME
    with pytest.raises(KeyboardInterrupt), CropStore(path, crop_height=HEIGHT, crop_width=WIDTH) as store:
        write_tracklets(store)
        raise KeyboardInterrupt
    reader = open_store(path)
    assert not reader.complete
    assert reader.num_crops == 9


def test_rows_past_the_last_commit_are_ignored(tmp_path):
    path = tmp_path / STORE_NAME
    store = CropStore(path, crop_height=HEIGHT, crop_width=WIDTH, chunk_crops=4, chunk_rows=8)
    store.write_tracklet(2, [make_sample(2, 5, 0.8), make_sample(2, 6, 0.9)], [BEST, BEST])
    store.flush()
    store.write_tracklet(9, [make_sample(9, 30, 0.5)], [BEST])
    store._crops.write(store._run, whole_chunks_only=False)  # data on disk, as a kill before the commit leaves it
    raw = zarr.open_group(str(path), mode="r")
    np.testing.assert_array_equal(raw["crops/images"][2], crop_image(9, 30))
    assert raw["crops/tracker_id"][:3].tolist() == [2, 2, 9]
    reader = open_store(path)
    assert reader.num_crops == 2
    assert reader.crop_metadata()["tracker_id"].tolist() == [2, 2]


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from streamreid.run.store import CropStore
    from streamreid.types import CropSample, QualityComponents

    store = CropStore(sys.argv[1], crop_height=32, crop_width=16, chunk_crops=8, chunk_rows=16)
    quality = QualityComponents(1, 1, 1, 1, 1, 1, 0.5)
    for tracker_id in range(10_000):
        samples = [
            CropSample(tracker_id, f, f / 25, (0, 0, 1, 2), quality, np.full((32, 16, 3), tracker_id % 251, np.uint8))
            for f in range(tracker_id * 10, tracker_id * 10 + 5)
        ]
        store.write_tracklet(tracker_id, samples, [1] * 5)
        store.append_detections(frame_index=tracker_id, time=0.0, tracker_id=np.arange(3), xyxy=np.ones((3, 4)),
                                confidence=np.ones(3))
        store.flush()
        print(tracker_id, flush=True)
    """
)


def test_store_survives_sigkill(tmp_path):
    path = tmp_path / STORE_NAME
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        for line in process.stdout:
            if int(line) >= 6:  # tracklets 0..6 flushed; the writer is busy with the next ones
                break
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read()
    reader = open_store(path)
    assert not reader.complete
    metadata = reader.crop_metadata()
    finished = int(metadata["tracker_id"].max()) if reader.num_crops else -1
    assert finished >= 6
    assert reader.num_crops == 5 * (finished + 1)  # whole tracklets only
    assert metadata["tracker_id"].tolist() == [t for t in range(finished + 1) for _ in range(5)]
    images = reader.images(np.arange(reader.num_crops))
    assert (images == (metadata["tracker_id"] % 251).astype(np.uint8)[:, None, None, None]).all()
    assert reader.num_detections >= 3 * (finished + 1)


def test_open_store_refuses_what_is_not_a_store(tmp_path):
    with pytest.raises(StoreError, match="no crop store"):
        open_store(tmp_path / "missing")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "zarr.json").write_text("{ not json")
    (garbage / "notes.txt").write_text("hello")
    with pytest.raises(StoreError, match="not a streamreid crop store"):
        open_store(garbage)
    other = tmp_path / "other.zarr"
    zarr.open_group(str(other), mode="w").attrs["format"] = "something else"
    with pytest.raises(StoreError, match="not a streamreid crop store"):
        open_store(other)
    with pytest.raises(StoreError) as error:
        open_store(garbage)
    assert str(error.value) and "\n" not in str(error.value)


def test_a_new_store_replaces_an_old_one_but_not_other_files(tmp_path):
    path = tmp_path / STORE_NAME
    with CropStore(path, crop_height=HEIGHT, crop_width=WIDTH) as store:
        write_tracklets(store)
        store.append_detections(frame_index=0, time=0.0, tracker_id=[1], xyxy=[[0, 0, 1, 1]], confidence=[1.0])
    with CropStore(path, crop_height=HEIGHT, crop_width=WIDTH) as store:
        store.write_tracklet(1, [make_sample(1, 0, 0.5)], [BEST])
    assert open_store(path).num_crops == 1
    assert open_store(path).num_detections == 0
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.txt").write_text("precious")
    with pytest.raises(StoreError, match="not a Zarr store"):
        CropStore(folder)
    assert (folder / "thesis.txt").read_text() == "precious"


def test_closed_store_is_plain_zarr_with_exact_shapes(written_store):
    attrs = json.loads((written_store / "zarr.json").read_text())["attributes"]
    assert attrs["format"] == "streamreid-crop-store"
    assert attrs["num_crops"] == 9
    assert attrs["num_detections"] == 15
    assert attrs["complete"] is True
    assert attrs["buffers"] == {"best": BEST, "animation": ANIMATION}
    raw = zarr.open_group(str(written_store), mode="r")
    assert raw["crops/images"].shape == (9, HEIGHT, WIDTH, 3)
    assert raw["crops/quality"].shape == (9, 7)
    assert raw["crops/quality"].attrs["columns"][-1] == "score"
    assert raw["detections/xyxy"].shape == (15, 4)


def test_bytes_on_disk_grow_with_the_crops(tmp_path):
    store = CropStore(tmp_path / STORE_NAME, crop_height=HEIGHT, crop_width=WIDTH)
    empty = store.bytes_on_disk
    write_tracklets(store)
    store.close()
    assert store.bytes_on_disk > empty + 9 * HEIGHT * WIDTH * 3 // 2  # random pixels do not compress


def test_write_tracklet_checks_its_input(tmp_path):
    store = CropStore(tmp_path / STORE_NAME, crop_height=HEIGHT, crop_width=WIDTH)
    with pytest.raises(ValueError, match="buffer flags"):
        store.write_tracklet(1, [make_sample(1, 0, 0.5)], [])
    wrong = CropSample(1, 0, 0.0, (0, 0, 1, 1), QualityComponents(1, 1, 1, 1, 1, 1, 1), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="images"):
        store.write_tracklet(1, [wrong], [BEST])
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.flush()


# --- retention: bounded disk for runs that never end ----------------------------------------------------------


def _long_store(path, *, tracklets=40, crops_each=6, chunk_crops=8, chunk_rows=32):
    """Tracklet t lives from second 10 t to 10 t + 5, with ``crops_each`` crops and one detection per frame."""
    store = CropStore(path, crop_height=HEIGHT, crop_width=WIDTH, chunk_crops=chunk_crops, chunk_rows=chunk_rows)
    for tracker_id in range(tracklets):
        frames = [250 * tracker_id + 25 * k for k in range(crops_each)]  # 25 fps: 10 s apart per tracklet
        for frame in range(frames[0], frames[-1] + 1, 5):
            store.append_detections(frame_index=frame, time=frame / 25.0, tracker_id=np.array([tracker_id]),
                                    xyxy=np.ones((1, 4)), confidence=np.ones(1))  # fmt: skip
        samples = [make_sample(tracker_id, f, 0.5 + 0.01 * k) for k, f in enumerate(frames)]
        store.write_tracklet(tracker_id, samples, [BEST | ANIMATION] * len(samples))
        store.flush()
    return store


def test_retention_by_age_drops_whole_old_chunks_and_records_it(tmp_path):
    path = tmp_path / STORE_NAME
    store = _long_store(path)
    before = store.bytes_on_disk
    dropped = store.retain(after_time=200.0)  # keep the last ~200 s of a 400 s run
    assert dropped["crops"] > 0 and dropped["detections"] > 0 and dropped["bytes"] > 0
    assert dropped["until_time"] < 200.0, "nothing newer than the limit is dropped"
    assert store.bytes_on_disk < before * 0.7
    store.close()
    reader = open_store(path)
    assert reader.dropped == dropped
    meta = reader.crop_metadata()
    assert meta["index"][0] == reader.crops_from > 0 and meta["time"].min() < 200.0 + 10
    kept = sorted(set(meta["tracker_id"].tolist()))
    assert kept[-1] == 39 and kept[0] >= 15
    crops, rows = reader.crops_for([39], buffer="any", order="time")
    assert np.array_equal(crops[0], crop_image(39, 250 * 39)), "later crops read back exactly"
    detections = reader.detections()
    assert 150.0 < detections["time"].min() < 200.0 and detections["time"].max() == (9750 + 125) / 25


def test_retention_by_size_keeps_the_store_under_the_limit(tmp_path):
    store = _long_store(tmp_path / STORE_NAME)
    limit = store.bytes_on_disk // 3
    store.retain(max_bytes=limit)
    assert store.bytes_on_disk <= limit * 1.05
    store.retain(after_time=None, max_bytes=None)  # no limits: nothing more goes
    store.close()
    assert open_store(tmp_path / STORE_NAME).crops_for([39], buffer="best")[0].shape[0] == 6


def test_detections_since_reads_only_the_window(tmp_path):
    store = _long_store(tmp_path / STORE_NAME)
    store.close()
    reader = open_store(tmp_path / STORE_NAME)
    recent = reader.detections(since=300.0)
    everything = reader.detections()
    assert recent["time"].min() <= 300.0 < recent["time"].max()
    assert len(recent["time"]) < len(everything["time"]) / 2
    assert np.array_equal(recent["time"], everything["time"][-len(recent["time"]) :])


def test_crops_are_compressed_with_plain_zstd_and_old_blosc_stores_still_read(tmp_path, written_store):
    from zarr.codecs import BloscCodec, BloscShuffle, ZstdCodec

    assert zarr.open_group(str(written_store), mode="r")["crops/images"].compressors == (ZstdCodec(level=2),)
    old = tmp_path / STORE_NAME  # the same store as written before issue 23: crops in Blosc zstd level 3
    shutil.copytree(written_store, old)
    crops = zarr.open_group(str(old), mode="r+")["crops"]
    images = crops["images"][:]
    del crops["images"]
    blosc = (BloscCodec(cname="zstd", clevel=3, shuffle=BloscShuffle.noshuffle),)
    crops.create_array("images", shape=images.shape, dtype="uint8", chunks=(8, HEIGHT, WIDTH, 3),
                       shards=(64, HEIGHT, WIDTH, 3), compressors=blosc, fill_value=0)[:] = images  # fmt: skip
    before, _ = open_store(old).crops_for(list(TRACKLETS))
    now, _ = open_store(written_store).crops_for(list(TRACKLETS))
    assert len(now) > 0 and np.array_equal(before, now)

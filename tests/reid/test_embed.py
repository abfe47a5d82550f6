"""Embedders: OSNet via torchreid (random weights here), our checkpoint loader, weights resolution, fallback."""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import json
import logging
import re
import threading
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from streamreid.config import ConfigError, ReidConfig
from streamreid.errors import WeightsError
from streamreid.reid.checkpoint import load_reid_checkpoint
from streamreid.reid.embed import build_embedder, embed_groups
from streamreid.reid.fallback import FallbackEmbedder
from streamreid.reid.features import Embedder
from streamreid.reid.osnet import OsnetEmbedder
from streamreid.reid.weights import resolve_reid_weights
from streamreid.weights.catalog import IMAGENET_ONLY, KNOWN_REID_WEIGHTS
from streamreid.weights.fetch import UrlSource
from streamreid.weights.records import ModelWeights, ResolvedWeights, WeightsFile


def random_crops(count: int, *, seed: int = 0, height: int = 256, width: int = 128) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Smooth random images (blurred noise) look more like photos than white noise does.
    noise = rng.integers(0, 256, size=(count, height, width, 3), dtype=np.uint8)
    return np.stack([cv2.GaussianBlur(image, (0, 0), 3) for image in noise])


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # Small batches on a busy machine run far faster on one thread than on oversubscribed ones.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def osnet() -> OsnetEmbedder:
    return OsnetEmbedder(random_init=True, device="cpu", batch_size=4, seed=0)


# ---- OSNet -----------------------------------------------------------------------------------


def test_osnet_x0_25_gives_512_d_unit_rows(osnet):
    assert isinstance(osnet, Embedder)
    assert osnet.kind == "osnet" and osnet.dim == 512 and osnet.device == "cpu"
    assert osnet.weights is not None and osnet.weights.origin == "random"
    assert "RANDOM" in osnet.name
    features = osnet.embed(random_crops(6))
    assert features.shape == (6, 512) and features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    assert osnet.embed(np.zeros((0, 256, 128, 3), np.uint8)).shape == (0, 512)


def test_osnet_batched_equals_one_by_one(osnet):
    crops = random_crops(5, seed=1)
    batched = osnet.embed(crops)  # batches of 4 and 1
    single = np.concatenate([osnet.embed(crops[i : i + 1]) for i in range(len(crops))])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_osnet_resizes_other_crop_sizes(osnet):
    crops = random_crops(2, seed=2)
    small = [cv2.resize(c, (64, 128), interpolation=cv2.INTER_AREA) for c in crops]
    features = osnet.embed(small)
    assert features.shape == (2, 512)
    with pytest.raises(ValueError, match="3 channels|BGR"):
        osnet.embed(np.zeros((1, 256, 128, 4), np.uint8))


@pytest.mark.parametrize("wrapped", [False, True])
def test_checkpoint_round_trip_with_module_prefix(osnet, tmp_path, wrapped):
    crops = random_crops(3, seed=3)
    expected = osnet.embed(crops)
    state = {f"module.{k}": v for k, v in osnet.model.state_dict().items()}
    path = tmp_path / "osnet.pth"
    torch.save({"state_dict": state, "epoch": 3} if wrapped else state, path)

    other = OsnetEmbedder(random_init=True, device="cpu", seed=1)
    assert not np.allclose(other.embed(crops), expected, atol=1e-3)  # a different network before loading
    loaded = OsnetEmbedder(weights=path, device="cpu")
    assert loaded.weights is not None and loaded.weights.origin == "explicit"
    assert loaded.name == "osnet_x0_25 (osnet.pth)"
    np.testing.assert_allclose(loaded.embed(crops), expected, atol=1e-6)
    assert loaded.checkpoint is not None and loaded.checkpoint.loaded > 100 and not loaded.checkpoint.missing


def test_classifier_of_another_identity_count_is_dropped(osnet, tmp_path):
    from torchreid import reid

    trained = reid.models.build_model("osnet_x0_25", num_classes=1041, pretrained=False)
    backbone = {k: v for k, v in osnet.model.state_dict().items() if not k.startswith("classifier.")}
    trained.load_state_dict(backbone, strict=False)
    path = tmp_path / "osnet_x0_25_msmt17.pt"
    torch.save({"model": trained.state_dict()}, path)
    loaded = OsnetEmbedder(weights=path, device="cpu")
    assert loaded.checkpoint is not None
    assert set(loaded.checkpoint.dropped) == {"classifier.weight", "classifier.bias"}
    assert "dropped" in loaded.checkpoint.summary()
    crops = random_crops(2, seed=4)
    np.testing.assert_allclose(loaded.embed(crops), osnet.embed(crops), atol=1e-6)


def test_osnet_is_built_without_importing_the_torchreid_package():
    # the package imports its datasets and tensorboard (~2 s at every end of stream); OSNet needs only its model file
    import subprocess
    import sys

    code = (
        "import sys; from streamreid.reid.osnet import OsnetEmbedder; "
        "e = OsnetEmbedder(random_init=True, device='cpu', runtime='torch'); "
        "print(e.dim, 'torchreid' in sys.modules, 'torchreid.reid.data' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["512", "False", "False"]


def test_weights_for_another_architecture_are_refused(tmp_path):
    from torchreid import reid

    bigger = reid.models.build_model("osnet_x0_5", num_classes=1, pretrained=False)
    path = tmp_path / "osnet_x0_5.pth"
    torch.save(bigger.state_dict(), path)
    with pytest.raises(WeightsError, match="does not fit this model"):
        OsnetEmbedder(weights=path, device="cpu")
    partial = tmp_path / "partial.pth"
    torch.save({"conv1.conv.weight": torch.zeros(1)}, partial)
    with pytest.raises(WeightsError, match="does not fit"):
        OsnetEmbedder(weights=partial, device="cpu")


@pytest.mark.parametrize("content", [b"this is not a checkpoint\n", b"", bytes(range(256)) * 4])
def test_non_checkpoints_are_a_weights_error(tmp_path, content):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        OsnetEmbedder(weights=path, device="cpu")


def test_checkpoint_needing_full_unpickling_needs_opt_in(osnet, tmp_path):
    path = tmp_path / "with_args.pth"
    torch.save({"state_dict": osnet.model.state_dict(), "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(WeightsError) as caught:
        OsnetEmbedder(weights=path, device="cpu")
    message = str(caught.value)
    assert "\n" not in message
    assert "reid.trust_checkpoint: true" in message and "argparse.Namespace" in message
    trusted = OsnetEmbedder(weights=path, device="cpu", trust_checkpoint=True)
    crops = random_crops(1, seed=5)
    np.testing.assert_allclose(trusted.embed(crops), osnet.embed(crops), atol=1e-6)


def test_osnet_argument_errors(tmp_path):
    with pytest.raises(WeightsError, match="no weights"):
        OsnetEmbedder(device="cpu")
    with pytest.raises(WeightsError, match="not found"):
        OsnetEmbedder(weights=tmp_path / "missing.pth", device="cpu")
    with pytest.raises(ConfigError, match="reid.model"):
        OsnetEmbedder(model_name="osnet_x9", random_init=True, device="cpu")
    with pytest.raises(ValueError, match="batch_size"):
        OsnetEmbedder(random_init=True, batch_size=0)


def test_load_reid_checkpoint_reports_unexpected_keys(osnet, tmp_path):
    state = dict(osnet.model.state_dict())
    state["extra.head.weight"] = torch.zeros(3)
    path = tmp_path / "extra.pth"
    torch.save(state, path)
    target = OsnetEmbedder(random_init=True, device="cpu", seed=2).model
    report = load_reid_checkpoint(target, path)
    assert report.unexpected == ("extra.head.weight",) and not report.missing and not report.dropped


# ---- weights resolution ------------------------------------------------------------------------


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("STREAMREID_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "reid"


@pytest.fixture()
def mirror(tmp_path):
    """A real HTTP server on localhost serving ``tmp_path/www``."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def table(file_name: str, *mirrors: UrlSource) -> dict[str, tuple[ModelWeights, ...]]:
    known = ModelWeights(name="test", files=(WeightsFile(file_name, mirrors),), folder="reid", about="tests")
    return {"osnet_x0_25": (known,)}


def test_download_trusted_on_first_use_then_checked(cache, mirror):
    root, base = mirror
    (root / "w.pt").write_bytes(b"weights v1")
    known = table(
        "osnet_test.pt",
        UrlSource(url=f"{base}/absent.pt", sha256=None, about="404"),
        UrlSource(url=f"{base}/w.pt", sha256=None, about="no digest"),
    )
    first = resolve_reid_weights("osnet_x0_25", None, known_weights=known, progress=False)
    assert first.origin == "download" and first.path == cache / "osnet_test.pt"
    assert first.sha256 == hashlib.sha256(b"weights v1").hexdigest()
    assert "trusted on first use" in first.detail
    record = json.loads((cache / "osnet_test.pt.trust.json").read_text())
    assert record["sha256"] == first.sha256 and record["url"].endswith("/w.pt")

    again = resolve_reid_weights("osnet_x0_25", None, known_weights=known)
    assert again.origin == "cache" and "recorded on first use" in again.detail

    first.path.write_bytes(b"weights v2")
    with pytest.raises(WeightsError, match="changed since first use"):
        resolve_reid_weights("osnet_x0_25", None, known_weights=known)


def test_download_with_published_digest(cache, mirror):
    root, base = mirror
    (root / "w.pt").write_bytes(b"good weights")
    good = hashlib.sha256(b"good weights").hexdigest()
    wrong = table("osnet_test.pt", UrlSource(url=f"{base}/w.pt", sha256="0" * 64, about="bad digest"))
    none = resolve_reid_weights("osnet_x0_25", None, known_weights=wrong, progress=False)
    assert none.path is None and none.origin == "none" and "checksum mismatch" in none.detail
    assert not (cache / "osnet_test.pt").exists() and not list(cache.glob("*.part"))

    right = table("osnet_test.pt", UrlSource(url=f"{base}/w.pt", sha256=good, about="digest"))
    got = resolve_reid_weights("osnet_x0_25", None, known_weights=right, progress=False)
    assert got.origin == "download" and "SHA-256 verified" in got.detail
    assert not (cache / "osnet_test.pt.trust.json").exists()
    cached = resolve_reid_weights("osnet_x0_25", None, known_weights=right)
    assert cached.origin == "cache" and "published digest" in cached.detail


def test_resolution_without_download_and_explicit_paths(cache, tmp_path):
    off = resolve_reid_weights("osnet_x0_25", None, allow_download=False)
    assert off.path is None and off.origin == "none" and "downloads are off" in off.detail
    unknown = resolve_reid_weights("resnet50", None)
    assert unknown.path is None and "no known download" in unknown.detail

    explicit = tmp_path / "mine.pth"
    explicit.write_bytes(b"x")
    got = resolve_reid_weights("osnet_x0_25", str(explicit))
    assert got.origin == "explicit" and got.path == explicit and got.sha256 == hashlib.sha256(b"x").hexdigest()

    cache.mkdir(parents=True)
    (cache / "named.pt").write_bytes(b"y")
    by_name = resolve_reid_weights("osnet_x0_25", "named.pt")
    assert by_name.origin == "cache" and by_name.path == cache / "named.pt"
    with pytest.raises(WeightsError, match="not found"):
        resolve_reid_weights("osnet_x0_25", "nothing.pt")
    with pytest.raises(WeightsError, match="not found"):
        resolve_reid_weights("osnet_x0_25", str(tmp_path / "sub" / "missing.pth"))


def test_known_weights_table_is_well_formed():
    assert not KNOWN_REID_WEIGHTS["osnet_x0_25"][0].caveat  # trained for re-identification
    assert KNOWN_REID_WEIGHTS["osnet_x0_25"][1].caveat == IMAGENET_ONLY
    for entries in KNOWN_REID_WEIGHTS.values():
        for known in entries:
            (file,) = known.files
            assert file.name.endswith((".pt", ".pth")) and known.folder == "reid" and known.about
            for entry in file.sources:
                assert entry.url.startswith("https://") and entry.url.endswith(file.name)
                assert entry.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
                assert entry.about


# ---- choosing an embedder ----------------------------------------------------------------------


def test_build_embedder_modes(cache, osnet, tmp_path, caplog):
    offline = replace(ReidConfig(), download=False, device="cpu")
    with caplog.at_level(logging.WARNING, logger="streamreid.reid.embed"):
        embedder, why = build_embedder(offline)
    assert isinstance(embedder, FallbackEmbedder) and "fallback" in why and "unavailable" in why
    assert any("fallback" in r.message for r in caplog.records)

    with pytest.raises(WeightsError, match="no weights for osnet_x0_25"):
        build_embedder(replace(offline, embedder="osnet"))
    embedder, why = build_embedder(replace(offline, embedder="fallback"))
    assert embedder.kind == "fallback" and "reid.embedder: fallback" in why
    with pytest.raises(ConfigError, match="reid.embedder"):
        build_embedder(replace(offline, embedder="clip"))

    path = tmp_path / "osnet.pth"
    torch.save(osnet.model.state_dict(), path)
    embedder, why = build_embedder(replace(offline, embedder="osnet", weights=str(path)))
    assert embedder.kind == "osnet" and embedder.dim == 512 and str(path) in why

    # A broken cached file: auto falls back, osnet refuses, and explicit broken weights always fail.
    cache.mkdir(parents=True)
    (cache / "osnet_x0_25_msmt17.pt").write_text("not weights")
    embedder, why = build_embedder(offline)
    assert embedder.kind == "fallback" and "did not load" in why
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        build_embedder(replace(offline, embedder="osnet"))
    broken = tmp_path / "broken.pth"
    broken.write_text("nope")
    with pytest.raises(WeightsError):
        build_embedder(replace(offline, weights=str(broken)))


def test_an_embedder_built_in_the_background_is_used_like_the_embedder_and_fails_like_it(cache):
    from streamreid.reid.embed import EmbedderInBackground

    offline = replace(ReidConfig(), download=False, device="cpu")
    pending = EmbedderInBackground(replace(offline, embedder="fallback"))
    crops = random_crops(3, seed=1)
    assert pending.kind == "fallback" and pending.dim == FallbackEmbedder().dim
    np.testing.assert_allclose(pending.embed(crops), FallbackEmbedder().embed(crops), atol=1e-7)
    failing = EmbedderInBackground(replace(offline, embedder="osnet"))  # no weights anywhere: its error, on use
    with pytest.raises(WeightsError, match="no weights for osnet_x0_25"):
        _ = failing.kind


# ---- fallback ----------------------------------------------------------------------------------

# Clothing colours (BGR): torso, legs.
PEOPLE = {
    "red shirt, jeans": ((40, 40, 200), (140, 80, 40)),
    "green shirt, black trousers": ((60, 160, 60), (25, 25, 25)),
    "white shirt, black trousers": ((235, 235, 235), (25, 25, 25)),
    "black shirt, jeans": ((25, 25, 25), (140, 80, 40)),
    "yellow shirt, grey trousers": ((40, 210, 230), (120, 120, 120)),
    "blue shirt, khaki trousers": ((170, 90, 30), (110, 170, 190)),
    "grey shirt, black trousers": ((128, 128, 128), (25, 25, 25)),
    "purple shirt, jeans": ((140, 50, 120), (140, 80, 40)),
}


def render_person(torso, legs, *, scale: float = 1.0, brightness: float = 1.0, seed: int = 0) -> np.ndarray:
    """A (256 x 128) x scale crop of a standing figure on a street-coloured gradient, with sensor noise."""
    height, width = round(256 * scale), round(128 * scale)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([100 + 40 * yy / height, 110 + 20 * xx / width, 115 + 30 * yy / height], axis=-1)
    image = image.astype(np.float32)
    skin, hair, shoes = (120, 160, 210), (30, 40, 60), (20, 20, 20)

    def box(x0, y0, x1, y1, colour):
        corner, opposite = (int(x0 * width), int(y0 * height)), (int(x1 * width), int(y1 * height))
        cv2.rectangle(image, corner, opposite, colour, thickness=-1)

    centre, axes = (int(0.5 * width), int(0.11 * height)), (int(0.11 * width), int(0.07 * height))
    cv2.ellipse(image, centre, axes, 0, 0, 360, skin, -1)
    cv2.ellipse(image, (centre[0], int(0.075 * height)), (axes[0], int(0.04 * height)), 0, 180, 360, hair, -1)
    for x0, x1 in ((0.30, 0.70), (0.20, 0.30), (0.70, 0.80)):
        box(x0, 0.19 if x0 == 0.30 else 0.21, x1, 0.55 if x0 == 0.30 else 0.50, torso)
    box(0.20, 0.50, 0.30, 0.55, skin)
    box(0.70, 0.50, 0.80, 0.55, skin)
    box(0.32, 0.55, 0.49, 0.95, legs)
    box(0.51, 0.55, 0.68, 0.95, legs)
    box(0.30, 0.95, 0.70, 0.99, shoes)
    image = image * brightness + np.random.default_rng(seed).normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def test_only_embedders_that_leave_cores_free_get_work_beside_them(osnet):
    from types import SimpleNamespace

    from streamreid.reid.embed import leaves_cores_free

    assert leaves_cores_free(FallbackEmbedder())  # one NumPy thread
    assert not leaves_cores_free(osnet)  # inference threads on every core
    assert leaves_cores_free(SimpleNamespace(kind="osnet", device="cuda:0"))


def test_fallback_basic_contract():
    embedder = FallbackEmbedder()
    assert isinstance(embedder, Embedder)
    assert embedder.kind == "fallback" and embedder.weights is None and "fallback" in embedder.name
    crops = random_crops(4, seed=6)
    features = embedder.embed(crops)
    assert features.shape == (4, embedder.dim) and features.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(features, embedder.embed(crops))
    np.testing.assert_allclose(embedder.embed(crops[:1]), features[:1], atol=1e-6)  # batch-independent
    flat = np.stack([np.zeros((256, 128, 3), np.uint8), np.full((256, 128, 3), 128, np.uint8)])
    assert np.isfinite(embedder.embed(flat)).all()
    assert embedder.embed(np.zeros((0, 256, 128, 3), np.uint8)).shape == (0, embedder.dim)


def test_fallback_tells_clothes_apart_across_brightness_and_scale():
    variants = [{}, {"brightness": 0.6}, {"brightness": 1.4}, {"scale": 2.0}, {"scale": 0.5}]
    crops, identity = [], []
    for person, (torso, legs) in enumerate(PEOPLE.values()):
        for index, variant in enumerate(variants):
            crops.append(render_person(torso, legs, seed=10 * person + index, **variant))
            identity.append(person)
    assert {c.shape for c in crops} == {(256, 128, 3), (512, 256, 3), (128, 64, 3)}
    features = FallbackEmbedder().embed(crops)
    similarity = features @ features.T
    labels = np.array(identity)
    same = labels[:, None] == labels[None, :]
    self_pairs = np.eye(len(labels), dtype=bool)
    lowest_same = similarity[same & ~self_pairs].min()
    highest_different = similarity[~same].max()
    # Measured: 0.979 against 0.844 (white vs grey shirt over black trousers is the closest pair).
    assert lowest_same > highest_different + 0.05


def test_embed_groups_keeps_group_sizes(osnet):
    embedder = FallbackEmbedder()
    groups = [random_crops(3, seed=7), np.zeros((0, 256, 128, 3), np.uint8), random_crops(2, seed=8)]
    out = embed_groups(embedder, groups)
    assert [g.shape for g in out] == [(3, embedder.dim), (0, embedder.dim), (2, embedder.dim)]
    np.testing.assert_allclose(out[2], embedder.embed(groups[2]), atol=1e-6)
    mixed = [random_crops(1, seed=9), random_crops(1, seed=9, height=128, width=64)]
    assert [g.shape[0] for g in embed_groups(osnet, mixed)] == [1, 1]
    assert [g.shape for g in embed_groups(osnet, [np.zeros((0, 256, 128, 3), np.uint8)])] == [(0, 512)]


def test_resolved_weights_flow_into_the_embedder(osnet, tmp_path):
    path = tmp_path / "w.pth"
    torch.save(osnet.model.state_dict(), path)
    resolved = ResolvedWeights(path=path, origin="cache", detail="cached w.pth")
    embedder = OsnetEmbedder(weights=resolved, device="cpu")
    assert embedder.weights is resolved


def test_openvino_runtime_gives_the_torch_features_and_caches_the_conversion(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMREID_CACHE", str(tmp_path))
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, size=(5, 256, 128, 3), dtype=np.uint8)
    eager = OsnetEmbedder(random_init=True, runtime="torch")
    converted = OsnetEmbedder(random_init=True, runtime="openvino")
    assert converted.runtime == "openvino" and eager.runtime == "torch"
    assert eager.precision == "f32" and converted.precision in ("f32", "bf16", "f16")  # bf16 on AMX CPUs
    features, expected = converted.embed(crops), eager.embed(crops)
    if converted.precision == "f32":
        np.testing.assert_allclose(features, expected, atol=1e-4)
    else:  # reduced precision: each unit feature points the same way, to a few parts in a thousand
        np.testing.assert_allclose(features, expected, atol=5e-3)
        assert np.all(np.sum(features * expected, axis=1) >= 0.999)
    assert list(tmp_path.glob("exports/reid-osnet_x0_25-random0-openvino/model.xml"))
    again = OsnetEmbedder(random_init=True, runtime="openvino")  # from the cache
    np.testing.assert_allclose(again.embed(crops[:2]), converted.embed(crops[:2]), atol=1e-6)
    assert OsnetEmbedder(random_init=True, runtime="auto").runtime == "openvino"


def test_remembering_embedder_runs_each_distinct_crop_once_and_gives_the_same_features():
    from streamreid.reid.embed import RememberingEmbedder

    calls = []

    class Counting(FallbackEmbedder):
        def embed(self, crops):
            calls.append(len(crops))
            return super().embed(crops)

    inner = Counting()
    remembering = RememberingEmbedder(inner)
    crops = random_crops(5, seed=4)
    first = remembering.embed(crops)
    np.testing.assert_allclose(first, FallbackEmbedder().embed(crops), atol=1e-6)
    again = remembering.embed(np.concatenate([crops[3:], crops[:2], random_crops(1, seed=9)]))
    np.testing.assert_allclose(again[:4], first[[3, 4, 0, 1]], atol=0)
    assert calls == [5, 1]  # only the new crop reached the network the second time
    assert remembering.dim == inner.dim and remembering.kind == "fallback"
    assert remembering.embed(np.zeros((0, 256, 128, 3), np.uint8)).shape == (0, inner.dim)


def test_stored_crops_are_read_once_across_rounds_in_store_order_in_bounded_batches(tmp_path):
    from streamreid.reid.embed import RememberingEmbedder
    from streamreid.run.store import CropStore
    from streamreid.run.store_reader import open_store
    from streamreid.types import CropSample, QualityComponents

    crops = random_crops(10, seed=11)
    with CropStore(tmp_path / "store.zarr", chunk_crops=8) as store:
        quality = QualityComponents(confidence=0.9, size=1, aspect=1, truncation=1, occlusion=1, sharpness=1, score=1)
        samples = [CropSample(1, i, i / 10, (0.0, 0.0, 10.0, 20.0), quality, crop) for i, crop in enumerate(crops)]
        store.write_tracklet(1, samples, [1] * len(samples))
    reader = open_store(tmp_path / "store.zarr")
    read: list[list[int]] = []
    images = reader.images
    reader.images = lambda rows: read.append(list(rows)) or images(rows)
    remembering = RememberingEmbedder(FallbackEmbedder())
    first = remembering.embed_stored(reader, [np.array([7, 2]), np.array([], dtype=int), np.array([2, 5])], batch=2)
    assert read == [[2, 5], [7]]  # each row once, in store order, two at a time
    direct = FallbackEmbedder().embed(crops)
    np.testing.assert_allclose(first[0], direct[[7, 2]], atol=1e-6)
    assert first[1].shape == (0, remembering.dim)
    np.testing.assert_allclose(first[2], direct[[2, 5]], atol=1e-6)
    read.clear()
    again = remembering.embed_stored(reader, [np.array([5, 7, 9])])  # a merged person: only row 9 is new
    assert read == [[9]]
    np.testing.assert_allclose(again[0], direct[[5, 7, 9]], atol=1e-6)


def test_omz_network_takes_the_uint8_crops_as_the_raw_network_takes_floats():
    import os

    ov = pytest.importorskip("openvino")
    shared = Path(os.environ.get("STREAMREID_SHARED") or Path(__file__).resolve().parents[3] / "shared")
    folder = shared / "models" / "reid" / "person-reidentification-retail-0288"
    if not folder.is_dir():
        pytest.skip(f"OMZ weights not found in {folder} (../shared is beside the repository in CI only)")
    from streamreid.reid.omz import OmzReidEmbedder

    crops = np.random.default_rng(3).integers(0, 255, size=(3, 256, 128, 3), dtype=np.uint8)
    features = OmzReidEmbedder(model="omz-0288", weights=folder, allow_download=False).embed(crops)
    core = ov.Core()
    raw = core.compile_model(core.read_model(str(folder / "person-reidentification-retail-0288.xml")), "CPU")
    expected = np.concatenate([np.asarray(raw(c.transpose(2, 0, 1)[None].astype(np.float32))[0]) for c in crops])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert features.shape == (3, 256)
    np.testing.assert_allclose(features, expected, atol=5e-3)  # same precision both ways: bf16 on AMX CPUs
    assert np.all(np.sum(features * expected, axis=1) >= 0.999)

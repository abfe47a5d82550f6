"""Where the videos of a batch run: a local process pool, or a Ray cluster.

Both engines run :func:`streamreid.batch.videos.run_video` on each job and yield the
outcomes as videos finish. Each video gets a share of the CPUs (``threads``):
cores / workers locally, cluster CPUs / workers on Ray, so that runs side by side
do not fight over the same cores.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import replace
from typing import Any

from streamreid.batch.videos import VideoJob, VideoOutcome, limit_threads, run_video
from streamreid.devices import available_cpus
from streamreid.errors import StreamReidError

log = logging.getLogger("streamreid")


def core_slices(cores: Sequence[int], workers: int) -> list[list[int]]:
    """Split ``cores`` into ``workers`` disjoint slices as even as possible (a worker gets ≥ 1 core).

    With more workers than cores, slices repeat cores round-robin.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    cores = list(cores)
    if workers >= len(cores):
        return [[cores[i % len(cores)]] for i in range(workers)]
    size, extra = divmod(len(cores), workers)
    slices, start = [], 0
    for i in range(workers):
        end = start + size + (1 if i < extra else 0)
        slices.append(cores[start:end])
        start = end
    return slices


def _failed(job: VideoJob, error: str) -> VideoOutcome:
    return VideoOutcome(job.name, job.source, "failed", error=error)


class LocalEngine:
    """A pool of worker processes on this machine, each pinned to its own share of the cores.

    Args:
        workers: Videos processed at once.
        cpus: CPUs to share among them (default: all this process may use).
    """

    name = "local"

    def __init__(self, *, workers: int = 1, cpus: int | None = None) -> None:
        if workers < 1:
            raise StreamReidError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self.cpus = cpus or available_cpus()
        self.threads = max(1, self.cpus // workers)

    def describe(self) -> dict[str, Any]:
        """Plain description for ``batch.json``."""
        return {"name": self.name, "workers": self.workers, "threads_per_video": self.threads}

    def run(self, jobs: Sequence[VideoJob]) -> Iterator[VideoOutcome]:
        """Run ``jobs`` (up to ``workers`` at once) and yield each outcome as it ends."""
        if not jobs:
            return
        workers = min(self.workers, len(jobs))
        context = multiprocessing.get_context("spawn")  # torch and threads do not survive fork
        slices = context.Queue()
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        for part in core_slices(cores, workers) if cores and workers > 1 else [[]] * workers:
            slices.put(part)
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                 initargs=(slices, self.threads)) as pool:  # fmt: skip
            futures: dict[Future[VideoOutcome], VideoJob] = {
                pool.submit(run_video, replace(job, threads=self.threads)): job for job in jobs
            }
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield _result(future, futures[future])
            except KeyboardInterrupt:
                # workers got the Ctrl-C too and finish their reports; jobs not started are dropped
                for future in pending:
                    future.cancel()
                raise


def _start_worker(slices: Any, threads: int) -> None:
    """Pool initializer: pin this worker to its cores and size its thread pools."""
    cores = slices.get()
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    limit_threads(threads)


def _result(future: Future[VideoOutcome], job: VideoJob) -> VideoOutcome:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - a worker that died takes only its video down
        return _failed(job, f"worker process failed: {type(exc).__name__}: {exc}".splitlines()[0])


class RayEngine:
    """Each video a Ray task, with its CPU (and GPU) request, on a local or a remote cluster.

    Without ``address`` (and without a Ray session already started in this process)
    a local cluster with ``cpus`` CPUs is started for the batch and stopped after it.
    With ``address`` the batch joins that cluster: every node needs streamreid
    installed and must reach the videos and the batch folder at the same paths.

    Args:
        workers: Videos processed at once.
        address: Ray cluster address (``ray://host:10001`` or ``host:6379``), or None.
        cpus: CPUs of the local cluster (default: all this process may use).
    """

    name = "ray"

    def __init__(self, *, workers: int = 1, address: str | None = None, cpus: int | None = None) -> None:
        if workers < 1:
            raise StreamReidError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self.address = address
        self.cpus = cpus or available_cpus()
        self.threads = 1
        self.gpus = 0.0

    def describe(self) -> dict[str, Any]:
        """Plain description for ``batch.json``."""
        return {"name": self.name, "workers": self.workers, "address": self.address,
                "threads_per_video": self.threads, "gpus_per_video": self.gpus}  # fmt: skip

    def run(self, jobs: Sequence[VideoJob]) -> Iterator[VideoOutcome]:
        """Run ``jobs`` as Ray tasks (up to ``workers`` in flight) and yield each outcome as it ends."""
        if not jobs:
            return
        ray = _import_ray()
        started_here = not ray.is_initialized()
        if started_here:
            _init_ray(ray, address=self.address, cpus=self.cpus)
        try:
            yield from self._run(ray, jobs)
        finally:
            if started_here:
                ray.shutdown()

    def _run(self, ray: Any, jobs: Sequence[VideoJob]) -> Iterator[VideoOutcome]:
        self.threads, self.gpus = task_resources(ray, workers=self.workers, device=jobs[0].config["detector"]["device"])
        task = ray.remote(num_cpus=self.threads, num_gpus=self.gpus, max_retries=0)(run_video)
        queue = [replace(job, threads=self.threads) for job in jobs]
        running: dict[Any, VideoJob] = {}
        while queue or running:
            while queue and len(running) < self.workers:
                job = queue.pop(0)
                running[task.remote(job)] = job
            (ready,), _ = ray.wait(list(running), num_returns=1)
            job = running.pop(ready)
            try:
                yield ray.get(ready)
            except Exception as exc:  # noqa: BLE001 - a lost worker or node takes only its video down
                yield _failed(job, f"ray task failed: {type(exc).__name__}: {str(exc).strip()}".splitlines()[0])


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise StreamReidError("--engine ray needs Ray: pip install 'streamreid[ray]'") from None
    return ray


def _init_ray(ray: Any, *, address: str | None, cpus: int) -> None:
    options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if address:
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, **options)
        else:  # a private cluster on this machine, listening on the loopback interface only
            ray.init(num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1", **options)
    except Exception as exc:  # noqa: BLE001 - Ray raises many kinds; the user needs one line
        where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
        raise StreamReidError(f"could not start or join {where}: {str(exc).strip().splitlines()[0]}") from None


def _check_reachable(address: str, *, timeout: float = 5.0) -> None:
    """Fail in one line, and fast, when nothing answers at ``address`` (Ray itself retries for minutes)."""
    if address == "auto":
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout):
            pass
    except ValueError:
        raise StreamReidError(f"--ray-address must be HOST:PORT or ray://HOST:PORT, got {address}") from None
    except OSError as exc:
        raise StreamReidError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def task_resources(ray: Any, *, workers: int, device: str) -> tuple[int, float]:
    """CPUs and GPUs one video asks for: the cluster's CPUs over ``workers`` (no more than a node has).

    A video asks for a GPU when the detector's device is ``cuda…``, and for a share of
    the cluster's GPUs under ``auto`` when it has any.
    """
    total = ray.cluster_resources()
    node_cpus = [n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    biggest = int(max(node_cpus, default=total.get("CPU", 1))) or 1
    threads = max(1, min(biggest, int(total.get("CPU", 1)) // workers))
    cluster_gpus = float(total.get("GPU", 0))
    if str(device).startswith("cuda"):
        gpus = 1.0
    elif device == "auto" and cluster_gpus > 0:
        gpus = min(1.0, cluster_gpus / workers)
    else:
        gpus = 0.0
    return threads, gpus

"""End-of-stream ReID cost: embedding, similarity, calibration, recommendations, merging.

Embedders compared (all on CPU unless ``--device`` says otherwise):

* ``torch``: ``streamreid.reid.osnet.OsnetEmbedder`` as the pipeline runs it (channels-last), and
  the same with PyTorch limited to one thread (two OpenMP threads suffer badly when another
  process holds one of two cores);
* ``openvino``: the same network converted with ``openvino.convert_model`` (dynamic batch)
  and compiled for the CPU, with the LATENCY and the THROUGHPUT performance hint;
* ``onnxruntime``: the same network exported with ``torch.onnx.export`` (dynamic batch)
  and run by ONNX Runtime's CPU provider;
* ``fallback``: the weights-free ``FallbackEmbedder``, as shipped (all crops in one call)
  and fed 128 crops at a time.

OSNet runs with RANDOM weights (seeded): timing does not depend on the weights, and the
exports are checked against torch on the same crops (max abs difference of the unit
features; a random OSNet maps everyone to nearly the same direction, so the relative
difference of the raw outputs is printed too). Crops are rendered figures (torso and
legs colours) on a gradient background, ``--crops`` per person, as the pipeline takes
``reid.crops_per_person`` best crops per person.

Per embedder: one-off set-up (torchreid import and model build for torch, plus the
conversion for the exports), milliseconds per crop in batches of ``--batch-size``, and
the end of stream for each ``--persons`` count: embed all crops, similarity matrix,
calibrated threshold, recommendations and constrained merging. Medians of ``--repeats``
interleaved repeats after one warm-up.

Usage::

    python benchmarks/reid_end_of_stream.py [--persons 10 50] [--crops 16] [--repeats 3] \
        [--batch-size 64] [--threads N] [--json out.json]
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _bench
import cv2
import numpy as np

OSNET_INPUT = (256, 128)  # height, width
FALLBACK_CHUNK = 128


def render_people(count: int, crops_per_person: int, *, seed: int = 0) -> list[np.ndarray]:
    """``count`` persons with random clothing colours, ``crops_per_person`` noisy 256x128 crops each."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:256, 0:128]
    background = np.stack([100 + 40 * yy / 256, 110 + 20 * xx / 128, 115 + 30 * yy / 256], axis=-1).astype(np.float32)
    people = []
    for _ in range(count):
        torso, legs = (tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(2))
        figure = background.copy()
        cv2.ellipse(figure, (64, 28), (14, 18), 0, 0, 360, (120, 160, 210), -1)
        cv2.rectangle(figure, (38, 49), (90, 141), torso, -1)
        cv2.rectangle(figure, (41, 141), (87, 243), legs, -1)
        crops = []
        for _ in range(crops_per_person):
            shift = rng.integers(-6, 7, size=2)
            moved = np.roll(figure, tuple(int(s) for s in shift), axis=(0, 1))
            noisy = moved * rng.uniform(0.8, 1.2) + rng.normal(0, 4, moved.shape)
            crops.append(np.clip(noisy, 0, 255).astype(np.uint8))
        people.append(np.stack(crops))
    return people


class _ExportedOsnet:
    """OSNet run by another runtime; the same pre-processing as ``OsnetEmbedder``, in NumPy."""

    kind = "osnet"
    device = "cpu"
    weights = None

    def __init__(self, name: str, run: Callable[[np.ndarray], np.ndarray], *, dim: int, batch_size: int) -> None:
        from streamreid.reid.osnet import IMAGENET_MEAN, IMAGENET_STD

        self.name = name
        self.dim = dim
        self.batch_size = batch_size
        self._run = run
        self._mean = (np.asarray(IMAGENET_MEAN, np.float32) * 255.0).reshape(1, 3, 1, 1)
        self._scale = 1.0 / (np.asarray(IMAGENET_STD, np.float32) * 255.0).reshape(1, 3, 1, 1)

    def raw(self, crops: np.ndarray) -> np.ndarray:
        """Network outputs (not normalised) of ``(N, 256, 128, 3)`` uint8 BGR crops."""
        parts = []
        for start in range(0, len(crops), self.batch_size):
            batch = crops[start : start + self.batch_size]
            pixels = batch[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32)  # BGR NHWC -> RGB NCHW
            parts.append(self._run(np.ascontiguousarray((pixels - self._mean) * self._scale)))
        return np.concatenate(parts).astype(np.float32)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        features = self.raw(np.asarray(crops))
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        return (features / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class _Chunked:
    """Feeds another embedder ``chunk`` crops at a time."""

    def __init__(self, embedder: Any, chunk: int) -> None:
        self.embedder, self.chunk = embedder, chunk
        self.kind, self.dim, self.name = embedder.kind, embedder.dim, f"{embedder.name}, chunks of {chunk}"

    def embed(self, crops: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [self.embedder.embed(crops[i : i + self.chunk]) for i in range(0, len(crops), self.chunk)]
        )


class _TorchThreads:
    """Runs another embedder with PyTorch limited to ``threads`` threads."""

    def __init__(self, embedder: Any, threads: int) -> None:
        self.embedder, self.threads = embedder, threads
        self.kind, self.dim, self.name = embedder.kind, embedder.dim, f"{embedder.name}, {threads} thread(s)"

    def embed(self, crops: np.ndarray) -> np.ndarray:
        import torch

        saved = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return self.embedder.embed(crops)
        finally:
            torch.set_num_threads(saved)


def export_network(model: Any) -> Any:
    """A contiguous-format copy of the network in eval mode, for the exporters."""
    import torch

    return copy.deepcopy(model).to(memory_format=torch.contiguous_format).eval()


def build_openvino(model: Any, *, hint: str, batch_size: int, dim: int) -> tuple[_ExportedOsnet, float]:
    import openvino as ov
    import torch

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = ov.convert_model(
            model,
            example_input=torch.rand(1, 3, *OSNET_INPUT),
            input=[ov.PartialShape([-1, 3, *OSNET_INPUT])],
        )
    compiled = ov.compile_model(converted, "CPU", {"PERFORMANCE_HINT": hint})
    seconds = time.perf_counter() - start

    def run(pixels: np.ndarray) -> np.ndarray:
        return compiled(pixels)[0]

    return _ExportedOsnet(f"openvino {hint.lower()}", run, dim=dim, batch_size=batch_size), seconds


def build_onnxruntime(model: Any, folder: Path, *, batch_size: int, dim: int) -> tuple[_ExportedOsnet, float]:
    import onnxruntime
    import torch

    path = folder / "osnet.onnx"
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (torch.rand(1, 3, *OSNET_INPUT),),
            str(path),
            dynamo=False,  # the dynamo exporter needs onnxscript, which is not a dependency
            input_names=["images"],
            output_names=["features"],
            dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
            opset_version=17,
        )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    seconds = time.perf_counter() - start

    def run(pixels: np.ndarray) -> np.ndarray:
        return session.run(None, {"images": pixels})[0]

    return _ExportedOsnet("onnxruntime", run, dim=dim, batch_size=batch_size), seconds


def after_embedding(features: list[np.ndarray], *, method: str) -> dict[str, float]:
    """Similarity, calibration, recommendations and merging on ready features (seconds per step)."""
    from streamreid.decide.merging import constrained_agglomerative
    from streamreid.decide.similarity import null_threshold, recommend_pairs, similarity_matrix

    seconds: dict[str, float] = {}
    start = time.perf_counter()
    similarity = similarity_matrix(features, method=method, top_k=5)
    # Pretend every third neighbour pair was seen in the same frame (the null distribution).
    different = [(i, i + 1) for i in range(0, len(features) - 1, 3)]
    calibrated = null_threshold(similarity, different, percentile=99.0)
    recommend_pairs(
        similarity,
        list(range(len(features))),
        threshold=0.7,
        near_threshold=0.6,
        calibrated_threshold=calibrated,
        different_pairs=different,
    )
    seconds["similarity"] = time.perf_counter() - start
    start = time.perf_counter()
    constrained_agglomerative(similarity, cannot_link=different, threshold=max(0.7, calibrated or 0.0))
    seconds["merge"] = time.perf_counter() - start
    return seconds


def end_of_stream(embedder: Any, people: list[np.ndarray], *, method: str) -> dict[str, float]:
    from streamreid.reid.embed import embed_groups

    start = time.perf_counter()
    features = embed_groups(embedder, people)
    embed_seconds = time.perf_counter() - start
    rest = after_embedding(features, method=method)
    return {"embed": embed_seconds, **rest, "total": embed_seconds + rest["similarity"] + rest["merge"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--crops", type=int, default=16, help="crops per person (reid.crops_per_person)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64, help="crops per forward pass (reid.batch_size)")
    parser.add_argument("--method", default="mean_embedding", help="similarity method (reid.method)")
    parser.add_argument("--device", default="cpu", help="device of the torch embedder")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-exports", action="store_true", help="skip OpenVINO and ONNX Runtime")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    info = _bench.machine()
    print(_bench.describe_machine(info))

    setup: dict[str, float] = {}
    start = time.perf_counter()
    from torchreid import reid  # noqa: F401 - timed: the pipeline pays this import once per run

    setup["import torchreid"] = time.perf_counter() - start
    from streamreid.reid.fallback import FallbackEmbedder
    from streamreid.reid.osnet import OsnetEmbedder

    start = time.perf_counter()
    osnet = OsnetEmbedder(random_init=True, device=args.device, batch_size=args.batch_size)
    setup["torch"] = time.perf_counter() - start
    embedders: dict[str, Any] = {"torch": osnet}
    if torch.get_num_threads() > 1:
        embedders["torch, 1 thread"] = _TorchThreads(osnet, 1)
    runtimes = _bench.available_runtimes()
    with tempfile.TemporaryDirectory(prefix="reid-") as folder:
        if not args.no_exports:
            network = export_network(osnet.model)
            if "openvino" in runtimes:
                for hint in ("LATENCY", "THROUGHPUT"):
                    embedder, seconds = build_openvino(network, hint=hint, batch_size=args.batch_size, dim=osnet.dim)
                    embedders[embedder.name] = embedder
                    setup[embedder.name] = seconds
            if "onnx" in runtimes:
                embedder, seconds = build_onnxruntime(network, Path(folder), batch_size=args.batch_size, dim=osnet.dim)
                embedders[embedder.name] = embedder
                setup[embedder.name] = seconds
        fallback = FallbackEmbedder()
        embedders["fallback"] = fallback
        embedders[f"fallback, chunks of {FALLBACK_CHUNK}"] = _Chunked(fallback, FALLBACK_CHUNK)
        print("set-up (s): " + ", ".join(f"{name} {seconds:.2f}" for name, seconds in setup.items()))
        result = measure(embedders, args)
    result["setup_s"] = setup
    result["machine"] = info
    _bench.write_json(args.json, result)
    return 0


def measure(embedders: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    import torch

    # agreement with torch on the same crops: unit features as the pipeline gets them, and raw outputs
    probe = np.concatenate(render_people(8, 4, seed=7))
    reference = embedders["torch"].embed(probe)
    network = embedders["torch"].model

    def run_torch(pixels: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return network(torch.from_numpy(pixels).to(embedders["torch"].device)).float().cpu().numpy()

    torch_raw = _ExportedOsnet("torch", run_torch, dim=reference.shape[1], batch_size=args.batch_size).raw(probe)
    agreement = {}
    for name, embedder in embedders.items():
        if isinstance(embedder, _ExportedOsnet):
            agreement[name] = {
                "max_abs_diff_unit": float(np.abs(embedder.embed(probe) - reference).max()),
                "max_rel_diff_raw": float(np.abs(embedder.raw(probe) - torch_raw).max() / np.abs(torch_raw).max()),
            }

    batch = np.concatenate(render_people(4, 16))[: args.batch_size]
    people = {count: render_people(count, args.crops, seed=count) for count in args.persons}
    runs: dict[str, dict[str, list[Any]]] = {name: {"per_crop_ms": []} for name in embedders}
    for embedder in embedders.values():  # warm-up
        embedder.embed(batch)
        end_of_stream(embedder, people[args.persons[0]], method=args.method)
    for repeat in range(args.repeats):
        names = list(embedders)
        names = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in names:
            embedder = embedders[name]
            seconds, _ = _bench.timed(lambda e=embedder: e.embed(batch))
            runs[name]["per_crop_ms"].append(1000 * seconds / len(batch))
            for count, crops in people.items():
                runs[name].setdefault(count, []).append(end_of_stream(embedder, crops, method=args.method))
        print(f"  repeat {repeat + 1} done", flush=True)

    rows = []
    for name, measured in runs.items():
        row: dict[str, Any] = {"embedder": name, "per_crop_ms": _bench.median(measured["per_crop_ms"])}
        for count in args.persons:
            row[f"total_{count}"] = _bench.median(r["total"] for r in measured[count])
            row[f"embed_{count}"] = _bench.median(r["embed"] for r in measured[count])
            row[f"rest_{count}"] = _bench.median(r["similarity"] + r["merge"] for r in measured[count])
        row.update(agreement.get(name, {}))
        rows.append(row)
    columns = [("embedder", "embedder"), ("per_crop_ms", f"ms/crop (batch {args.batch_size})")]
    for count in args.persons:
        columns += [(f"total_{count}", f"{count} persons s"), (f"rest_{count}", "of which similarity+merge s")]
    columns += [("max_abs_diff_unit", "max |diff| unit features vs torch"), ("max_rel_diff_raw", "raw rel. diff")]
    print(f"\nend of stream, {args.crops} crops per person, method {args.method}: medians of {args.repeats} repeats")
    print(_bench.format_table(rows, columns))
    osnet_rows = [row for row in rows if embedders[row["embedder"]].kind == "osnet"]
    largest = max(args.persons)
    fastest = min(osnet_rows, key=lambda row: row[f"total_{largest}"])
    print(f"fastest OSNet at {largest} persons: {fastest['embedder']} ({fastest[f'total_{largest}']:.2f} s)")

    different = render_people(12, 8, seed=99)
    from streamreid.decide.similarity import similarity_matrix
    from streamreid.reid.embed import embed_groups

    collapse = {}
    for name in ("torch", "fallback"):
        matrix = similarity_matrix(embed_groups(embedders[name], different), method="mean_embedding")
        off = matrix[~np.eye(len(matrix), dtype=bool)]
        collapse[name] = {"mean": float(off.mean()), "max": float(off.max())}
    print(
        "cosine between DIFFERENT rendered persons (mean_embedding): "
        + ", ".join(f"{name} mean {c['mean']:.3f} max {c['max']:.3f}" for name, c in collapse.items())
        + " (random OSNet weights collapse everyone together; trained weights do not)"
    )
    return {"args": vars(args), "rows": rows, "runs": runs, "collapse": collapse}


if __name__ == "__main__":
    sys.exit(main())

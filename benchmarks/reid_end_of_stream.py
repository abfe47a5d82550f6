"""End-of-stream ReID cost: embedding, similarity, calibration, recommendations, merging.

Usage::

    python benchmarks/reid_end_of_stream.py [--persons 10 50] [--crops 16] [--repeats 3] [--threads N] [--device cpu]

OSNet runs with RANDOM weights (timing does not depend on the weights); the crops are
rendered figures (torso and legs colours) on a gradient background. Prints medians of
``--repeats`` runs after one warm-up. Also prints how similar *different* figures look to
a random OSNet and to the fallback (a randomly initialised network maps every person to
nearly the same direction: the "collapse to 0.99" of the reference's 004 write-up).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import cv2
import numpy as np


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


def median_seconds(function, repeats: int) -> tuple[float, object]:
    result = function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def after_embedding(features: list[np.ndarray], *, method: str) -> dict[str, float]:
    """Similarity, calibration, recommendations and merging on ready features (seconds per step)."""
    from streamreid.merging import constrained_agglomerative
    from streamreid.similarity import null_threshold, recommend_pairs, similarity_matrix

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--crops", type=int, default=16, help="crops per person")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torchreid import reid  # noqa: F401
    print(f"import torchreid: {time.perf_counter() - start:.2f} s (once per process)")

    from streamreid.embed import FallbackEmbedder, OsnetEmbedder
    from streamreid.similarity import SIMILARITY_METHODS

    start = time.perf_counter()
    osnet = OsnetEmbedder(random_init=True, device=args.device, batch_size=args.batch_size)
    print(f"build {osnet.name}: {time.perf_counter() - start:.2f} s")
    fallback = FallbackEmbedder()

    batch = np.concatenate(render_people(4, 16))[: args.batch_size]
    for embedder in (osnet, fallback):
        seconds, _ = median_seconds(lambda e=embedder: e.embed(batch), args.repeats)
        print(
            f"{embedder.kind:8s} embed {len(batch)} crops: {seconds:.3f} s = {1000 * seconds / len(batch):.2f} ms/crop"
        )

    if args.device == "cpu":
        plain = OsnetEmbedder(random_init=True, device="cpu", batch_size=args.batch_size)
        plain._model = plain.model.to(memory_format=torch.contiguous_format)  # compare with the NCHW layout
        seconds, _ = median_seconds(lambda: plain.embed(batch), args.repeats)
        print(f"osnet    embed {len(batch)} crops, NCHW layout: {1000 * seconds / len(batch):.2f} ms/crop")

    print(f"\nend of stream, {args.crops} crops per person (median of {args.repeats}):")
    from streamreid.embed import embed_groups

    for count in args.persons:
        people = render_people(count, args.crops, seed=count)
        for embedder in (osnet, fallback):
            embed_seconds, features = median_seconds(lambda e=embedder, p=people: embed_groups(e, p), args.repeats)
            for method in ("mean_embedding", "top_k_pairwise"):
                runs = [after_embedding(features, method=method) for _ in range(args.repeats + 1)][1:]
                similarity = statistics.median(r["similarity"] for r in runs)
                merge = statistics.median(r["merge"] for r in runs)
                print(
                    f"  P={count:3d} {embedder.kind:8s} {method:15s} total {embed_seconds + similarity + merge:6.3f} s "
                    f"(embed {embed_seconds:.3f}, similarity+recommend {similarity:.4f}, merge {merge:.4f})"
                )

    people = render_people(12, 8, seed=99)
    print("\nmean / max cosine between DIFFERENT rendered persons (diagonal excluded):")
    from streamreid.similarity import similarity_matrix

    for embedder in (osnet, fallback):
        features = embed_groups(embedder, people)
        for method in SIMILARITY_METHODS:
            matrix = similarity_matrix(features, method=method)
            off = matrix[~np.eye(len(matrix), dtype=bool)]
            print(f"  {embedder.kind:8s} {method:15s} mean {off.mean():.3f}  max {off.max():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

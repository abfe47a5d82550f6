"""Speed of the weights-free fallback embedder against an earlier version of it, on the same crops.

The crops are a run's stored crops (``--store RUN/store.zarr``, as the end of stream reads them)
or, without a store, rendered figures. The current ``FallbackEmbedder`` and, with ``--before REV``,
the one in ``streamreid/reid/fallback.py`` at git revision ``REV`` embed them ``--batch`` crops
per call (as ``RememberingEmbedder.embed_stored`` does), alternating, ``--repeats`` times after one
warm-up. Prints milliseconds per crop (medians), the ratio, and the largest difference between the
two versions' unit features (they should agree: a speed-up must not change the features).

Usage::

    python benchmarks/fallback_embedder.py [--store RUN/store.zarr] [--crops 1408] [--batch 128] \
        [--repeats 5] [--before REV] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _bench
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_crops(store: str | None, count: int) -> np.ndarray:
    """``count`` crops of ``store`` (in store order), or rendered figures without one."""
    if store is None:
        from reid_end_of_stream import render_people

        return np.concatenate(render_people((count + 15) // 16, 16))[:count]
    from streamreid.run.store_reader import open_store

    reader = open_store(store)
    return reader.images(list(range(min(count, reader.num_crops))))


def embedder_at(revision: str) -> Any:
    """A ``FallbackEmbedder`` built from ``streamreid/reid/fallback.py`` as it was at ``revision``.

    Revisions before the subpackages had it at ``streamreid/fallback_embedder.py``, importing flat modules.
    """
    for name in ("streamreid/reid/fallback.py", "streamreid/fallback_embedder.py"):
        shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:{name}"], capture_output=True, text=True)
        if shown.returncode == 0:
            break
    shown.check_returncode()
    source = shown.stdout.replace("streamreid.features", "streamreid.reid.features")
    path = Path(tempfile.mkdtemp()) / "fallback_embedder_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("fallback_embedder_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FallbackEmbedder()


def embed_all(embedder: Any, crops: np.ndarray, batch: int) -> tuple[float, np.ndarray]:
    """Seconds to embed ``crops`` ``batch`` at a time, and the features."""
    start = time.perf_counter()
    features = np.concatenate([embedder.embed(crops[i : i + batch]) for i in range(0, len(crops), batch)])
    return time.perf_counter() - start, features


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=None, help="a run's store.zarr (default: rendered figures)")
    parser.add_argument("--crops", type=int, default=1408)
    parser.add_argument("--batch", type=int, default=128, help="crops per embed call")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", default=None, help="git revision of the version to compare with")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    from streamreid.reid.fallback import FallbackEmbedder

    info = _bench.machine()
    print(_bench.describe_machine(info))
    crops = load_crops(args.store, args.crops)
    print(f"{len(crops)} crops {crops.shape[1]}x{crops.shape[2]}, {args.batch} per call")
    embedders = {"current": FallbackEmbedder()}
    if args.before:
        embedders[f"at {args.before}"] = embedder_at(args.before)
    seconds: dict[str, list[float]] = {name: [] for name in embedders}
    features = {name: embed_all(embedder, crops, args.batch)[1] for name, embedder in embedders.items()}  # warm-up
    for repeat in range(args.repeats):
        names = list(embedders) if repeat % 2 == 0 else list(embedders)[::-1]
        for name in names:
            seconds[name].append(embed_all(embedders[name], crops, args.batch)[0])
    rows = [
        {"version": name, "ms_per_crop": 1000 * _bench.median(times) / len(crops), "repeats_s": times}
        for name, times in seconds.items()
    ]
    print(_bench.format_table(rows, [("version", "version"), ("ms_per_crop", "ms / crop (median)")]))
    result: dict[str, Any] = {"machine": info, "crops": len(crops), "batch": args.batch, "rows": rows}
    if args.before:
        before = f"at {args.before}"
        result["speed_up"] = _bench.median(b / c for b, c in zip(seconds[before], seconds["current"], strict=True))
        result["max_abs_feature_difference"] = float(np.abs(features["current"] - features[before]).max())
        print(
            f"speed-up {result['speed_up']:.2f}x (median of paired repeats); largest feature difference "
            f"{result['max_abs_feature_difference']:.2e}"
        )
    _bench.write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

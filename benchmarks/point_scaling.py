"""How training and evaluation on a user's point cloud scale with its dimension.

    python benchmarks/point_scaling.py [--dims 2,100,2000,5000] [--rows 500] [--iterations 10]
        [--threads 2] [--preset ring]

For each dimension D: a ``rows`` x D ``.npy`` file of a random mixture (written to a temp
directory), the preset's default recipe on it (``data.name=npy``), seconds per iteration after
two warm-up iterations, then one final evaluation (``Trainer.evaluate(final=True)``: precision,
recall, energy distance, held-out likelihood and their data-vs-data floors) with its seconds and
the growth of the process's peak resident memory during it (``ru_maxrss``; an upper bound on what
the evaluation allocates beyond the model and data). Prints a table; docs/benchmarks.md records
the numbers with the machine and date.
"""

from __future__ import annotations

import argparse
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lbt.train import Trainer


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def points(rows: int, dim: int, seed: int = 0) -> np.ndarray:
    """Five well-separated Gaussian clusters in ``dim`` dimensions."""
    rng = np.random.default_rng(seed)
    centres = 3 * rng.standard_normal((5, dim))
    return (centres[rng.integers(0, 5, rows)] + rng.standard_normal((rows, dim))).astype(np.float32)


def measure(preset: str, dim: int, rows: int, iterations: int, tmp: Path) -> dict[str, float]:
    path = tmp / f"points{dim}.npy"
    np.save(path, points(rows, dim))
    overrides = {"data.name": "npy", "data.path": str(path), "train.iterations": iterations + 2}
    trainer = Trainer(preset=preset, overrides=overrides, progress=False)
    step = trainer.method.step
    for _ in range(2):  # warm-up
        step(trainer.data_fn)
    start = time.perf_counter()
    for _ in range(iterations):
        step(trainer.data_fn)
    per_it = (time.perf_counter() - start) / iterations
    before = peak_mib()
    start = time.perf_counter()
    metrics = trainer.evaluate(final=True)
    return {
        "s_per_it": per_it,
        "eval_s": time.perf_counter() - start,
        "eval_peak_mib": peak_mib() - before,
        "precision": metrics.get("precision", float("nan")),
        "recall": metrics.get("recall", float("nan")),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dims", default="2,100,2000,5000")
    ap.add_argument("--rows", type=int, default=500)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--preset", default="ring")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}, "
          f"preset {args.preset}, {args.rows} rows")  # fmt: skip
    print("| D | s / iteration | final evaluation s | peak memory growth in evaluation (MiB) "
          "| precision | recall |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for dim in (int(d) for d in args.dims.split(",")):
            r = measure(args.preset, dim, args.rows, args.iterations, Path(tmp))
            print(f"| {dim} | {r['s_per_it']:.3f} | {r['eval_s']:.2f} | {r['eval_peak_mib']:.0f} | "
                  f"{r['precision']:.3f} | {r['recall']:.3f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()

"""Milliseconds per training iteration: LBT against a plain GAN on the same networks and batch.

    python benchmarks/step_time.py [--iterations 30] [--threads 2]

Prints a table; record the numbers in docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from lbt import config
from lbt.methods import METHODS, build_method
from lbt.train import make_data, seed_everything

CASES = [
    # (label, preset, method, extra overrides)
    ("LBT, paper-ring (VAE, n_est 2, K 5, batch 512)", "paper-ring", "lbt", {}),
    ("GAN, same generator and batch (512)", "paper-ring", "gan", {}),
    ("LBT, ring preset (mixture, n_est 1, K 5, batch 256)", "ring", "lbt", {}),
    ("GAN, same generator and batch (256)", "ring", "gan", {}),
]


def time_steps(preset: str, method: str, overrides: dict, iterations: int, warmup: int = 5) -> float:
    cfg = config.build(preset, {"train.method": method, **overrides})
    seed_everything(0)
    data = make_data(cfg)
    m = build_method(cfg, data.dim)
    for _ in range(warmup):
        m.step(data.sample)
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        m.step(data.sample)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    config.build()  # load plugins (the GAN baseline lives in an extension module)
    print(
        f"# {platform.processor() or platform.machine()}, {args.threads} threads, torch {torch.__version__}"
    )
    print("| case | ms / iteration |")
    print("|---|---|")
    results = {}
    for label, preset, method, extra in CASES:
        if method not in METHODS:
            print(f"| {label} | (method {method!r} not available) |")
            continue
        results[label] = time_steps(preset, method, extra, args.iterations)
        print(f"| {label} | {results[label]:.1f} |", flush=True)
    pairs = [(CASES[0][0], CASES[1][0]), (CASES[2][0], CASES[3][0])]
    for lbt_label, gan_label in pairs:
        if lbt_label in results and gan_label in results:
            ratio = results[lbt_label] / results[gan_label]
            print(f"\nratio LBT / GAN for '{lbt_label}': {ratio:.1f}x")


if __name__ == "__main__":
    main()

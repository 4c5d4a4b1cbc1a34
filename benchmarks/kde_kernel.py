"""Milliseconds for one kernel-density teacher step (log-density of the data batch and its gradient
in the generator's samples): the fused kernel that :mod:`lbt.models.teachers.kde` uses against
the same density through plain autograd, timed alternately in one run so that load is shared.

    python benchmarks/kde_kernel.py [--threads 1] [--repeats 30]

The first rows are the 2-D suite's shapes (1,024 data points against 2,048 generator samples).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from lbt.models.teachers.kde import kde_log_prob, kde_log_prob_reference

SHAPES = [  # (data batch, generator batch, dimension)
    (1024, 2048, 2),
    (512, 1024, 2),
    (2048, 2048, 2),
    (256, 256, 784),
]


def step(fn, x: torch.Tensor, centres: torch.Tensor, h: torch.Tensor) -> None:  # noqa: ANN001
    (grad,) = torch.autograd.grad(-fn(x, centres, h).mean(), centres)
    assert torch.isfinite(grad).all()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# {platform.machine()} CPU, torch {torch.__version__}, {args.threads} thread(s)")
    print("| data x samples x dim | plain autograd ms | fused ms | speed-up |")
    print("|---|---:|---:|---:|")
    for n, m, d in SHAPES:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(n, d, generator=g)
        centres = (torch.randn(m, d, generator=g)).requires_grad_()
        h = torch.tensor(0.3 * d**0.5)
        times: dict[str, list[float]] = {"plain": [], "fused": []}
        for fn in (kde_log_prob_reference, kde_log_prob):  # warm-up
            step(fn, x, centres, h)
        for _ in range(args.repeats):
            for name, fn in (("plain", kde_log_prob_reference), ("fused", kde_log_prob)):
                t0 = time.perf_counter()
                step(fn, x, centres, h)
                times[name].append(1e3 * (time.perf_counter() - t0))
        plain, fused = statistics.median(times["plain"]), statistics.median(times["fused"])
        print(f"| {n} x {m} x {d} | {plain:.1f} | {fused:.1f} | {plain / fused:.1f}x |")


if __name__ == "__main__":
    main()

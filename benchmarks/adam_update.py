"""Milliseconds per Adam update: the graph-keeping formula against the no-graph path it takes in
ordinary steps, on the parameters of the image presets' networks.

    python benchmarks/adam_update.py [--repeats 20] [--threads 1]

Both paths compute the same numbers bit for bit (tests/test_optim.py); the no-graph one writes
into three new tensors and one scratch instead of a dozen temporaries. Each row times the two
side by side, interleaved, in one process; the ratio is what to read on a noisy machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from lbt.config import build
from lbt.models import make_discriminator, make_estimator, make_generator
from lbt.optim import adam

CASES = [
    # (label, preset, which network)
    ("mnist-lbt-gan: conv discriminator", "mnist-lbt-gan", make_discriminator),
    ("mnist-lbt-gan: generator (dcgan 64)", "mnist-lbt-gan", make_generator),
    ("mnist-lbt-gan: teacher (VAE 784-500-50)", "mnist-lbt-gan", make_estimator),
    ("stacked-mnist: teacher (VAE 2352-1000-400-256)", "stacked-mnist", make_estimator),
]


def _time(fn: Callable[[], object], repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1e3


def compare(net: torch.nn.Module, repeats: int, rounds: int) -> tuple[float, float]:
    """Median ms of one update of ``net``'s parameters: (graph formula, no-graph path)."""
    params = {k: p.detach() for k, p in net.named_parameters()}
    grads = {k: torch.randn_like(p) * 1e-3 for k, p in params.items()}
    opt = adam(1e-3, 0.5, 0.999, 1e-8, eps_inside_sqrt=False)
    state = opt.init(params)
    paths = {True: [], False: []}
    for _ in range(rounds):
        for graph in paths:
            with torch.set_grad_enabled(graph):
                paths[graph].append(_time(lambda: opt.update(grads, state, params, 1.0), repeats))
    return statistics.median(paths[True]), statistics.median(paths[False])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is printed")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dims = {"mnist-lbt-gan": 784, "stacked-mnist": 3 * 784}
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.repeats} x {args.rounds} updates")
    print("\n| network | parameters | graph formula, ms | no-graph path, ms | ratio |\n|---|---|---|---|---|")
    for label, preset, make in CASES:
        net = make(build(preset), dims[preset])
        a, b = compare(net, args.repeats, args.rounds)
        n = sum(p.numel() for p in net.parameters())
        print(f"| {label} | {n / 1e6:.2f}M | {a:.1f} | {b:.1f} | {a / b:.2f}x |")


if __name__ == "__main__":
    main()

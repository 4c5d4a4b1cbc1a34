"""Milliseconds per training iteration: LBT against a plain GAN on the same networks and batch.

    python benchmarks/step_time.py [--suite toy|suite|paper|batch|images] [--device cpu|cuda]
        [--iterations 30] [--threads 2] [--set train.compile=inductor]
    python benchmarks/step_time.py --case PRESET [...]   # one preset with its own method
    python benchmarks/step_time.py --case PRESET --ab    # train.compile none against inductor, alternated

``toy`` times the paper's ring networks and the ``ring`` preset; ``suite`` the hard 2-D presets
(``ring-narrow``, ``grid25``, ``grid``: LBT's kernel-density teacher against the GAN); ``paper``
times every paper-scale preset (``paper-ring``, ``paper-grid``, ``paper-mnist``,
``paper-stacked-mnist``) with its own method and a GAN on the same generator and batch; ``batch``
grows the paper-ring batch to show where an accelerator starts to pay (these small networks are
launch-bound); ``images`` the CPU image presets. Prints a table, with the seconds the warm-up
steps took (with ``train.compile`` set, that is the compilation); record the numbers in
docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from lbt.train import Trainer

SUITES = {
    "toy": [
        # (label, preset, method, extra overrides)
        ("LBT, paper-ring (VAE, n_est 2, K 5, batch 512)", "paper-ring", "lbt", {}),
        ("GAN, same generator and batch (512)", "paper-ring", "gan", {}),
        ("LBT, ring preset (mixture, n_est 1, K 5, batch 256)", "ring", "lbt", {}),
        ("GAN, same generator and batch (256)", "ring", "gan", {}),
    ],
    "paper": [
        ("LBT, paper-ring (batch 512)", "paper-ring", "lbt", {}),
        ("GAN, paper-ring networks (batch 512)", "paper-ring", "gan", {}),
        ("LBT, paper-grid (batch 2048)", "paper-grid", "lbt", {}),
        ("GAN, paper-grid networks (batch 2048)", "paper-grid", "gan", {}),
        ("LBT, paper-mnist (batch 64)", "paper-mnist", "lbt", {}),
        ("GAN, paper-mnist networks (batch 64)", "paper-mnist", "gan", {}),
        (
            "LBT-GAN, paper-stacked-mnist (batch 512)",
            "paper-stacked-mnist",
            "lbt-gan",
            {"gan.lbt_gan_warmup": 0},
        ),
        ("GAN, paper-stacked-mnist networks (batch 512)", "paper-stacked-mnist", "gan", {}),
    ],
    # the CPU image presets as they train (batch 64); Stacked MNIST past its GAN-only warm-up
    "images": [
        ("LBT, mnist", "mnist", "lbt", {}),
        ("GAN, mnist networks", "mnist", "gan", {}),
        ("LBT-GAN, mnist-lbt-gan", "mnist-lbt-gan", "lbt-gan", {}),
        ("GAN, mnist-lbt-gan networks", "mnist-lbt-gan", "gan", {}),
        ("LBT-GAN, stacked-mnist", "stacked-mnist", "lbt-gan", {"gan.lbt_gan_warmup": 0}),
        ("GAN, stacked-mnist networks", "stacked-mnist", "gan", {}),
    ],
    # the hard 2-D suite: LBT (kernel-density teacher) and the harness-default GAN, same batches
    "suite": [
        (f"{method}, {preset} (batch 1024 / 2048)", preset, method.lower(), {})
        for preset in ("ring-narrow", "grid25", "grid")
        for method in ("LBT", "GAN")
    ],
    # where an accelerator starts to pay: the paper-ring LBT step as the batch grows (LBT, GAN pairs)
    "batch": [
        (
            f"{method}, paper-ring networks, batch {b}",
            "paper-ring",
            method.lower(),
            {"train.batch_size": b, "train.gen_batch_size": b},
        )
        for b in (512, 4096, 32768)
        for method in ("LBT", "GAN")
    ],  # fmt: skip
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _profile(step, device: torch.device) -> None:
    """Print how many operators and device kernels one step launches: small networks are launch-bound."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        step()
        _sync(device)
    events = prof.key_averages()
    kernels = sum(e.count for e in events if e.device_type.name == "CUDA")
    ops = sum(e.count for e in events if e.key.startswith("aten::"))
    launches = sum(
        e.count for e in events if e.key in ("cudaLaunchKernel", "cuLaunchKernel", "cudaLaunchKernelExC")
    )
    syncs = sum(e.count for e in events if "Synchronize" in e.key or e.key == "aten::item")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8, max_name_column_width=50))
    print(
        f"#   one step: {ops} aten operator calls, {launches} kernel launches ({kernels} device kernels), "
        f"{syncs} host syncs / item() calls"
    )


def time_steps(
    preset: str,
    method: str,
    overrides: dict,
    iterations: int,
    device: str,
    warmup: int = 5,
    profile: bool = False,
) -> tuple[float, float]:
    """(median ms per iteration, seconds of the ``warmup`` steps before: compilation included)."""
    method_override = {"train.method": method} if method else {}
    trainer = Trainer(
        preset=preset, overrides={**method_override, **overrides}, progress=False, device=device
    )
    m, dev = trainer.method, trainer.device
    t_warm = time.perf_counter()
    for _ in range(warmup):
        m.step(trainer.data_fn)
    _sync(dev)
    t_warm = time.perf_counter() - t_warm
    if profile:
        _profile(lambda: m.step(trainer.data_fn), dev)
    times = []
    for _ in range(iterations):
        _sync(dev)
        t0 = time.perf_counter()
        m.step(trainer.data_fn)
        _sync(dev)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times), t_warm


def compare_compile(preset: str, common: dict, iterations: int, device: str, rounds: int = 6) -> None:
    """The preset's own method eager and compiled, side by side in one process: after warm-up (the
    compile), ``rounds`` alternating rounds of ``iterations`` steps each; medians and their ratio."""
    trainers = {m: Trainer(preset=preset, overrides={**common, "train.compile": m}, progress=False,
                           device=device) for m in ("none", "inductor")}  # fmt: skip
    times: dict[str, list[float]] = {m: [] for m in trainers}
    for m, t in trainers.items():
        t0 = time.perf_counter()
        for _ in range(2):
            t.method.step(t.data_fn)
        print(f"# {m}: first 2 steps {time.perf_counter() - t0:.1f} s", flush=True)
    for _ in range(rounds):
        for m, t in trainers.items():
            for _ in range(iterations):
                _sync(t.device)
                t0 = time.perf_counter()
                t.method.step(t.data_fn)
                _sync(t.device)
                times[m].append(time.perf_counter() - t0)
    med = {m: 1000 * statistics.median(v) for m, v in times.items()}
    print(f"| {preset} | eager {med['none']:.1f} ms | compiled {med['inductor']:.1f} ms | "
          f"{med['inductor'] / med['none']:.2f}x |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", choices=sorted(SUITES), default="toy")
    ap.add_argument("--case", metavar="PRESET", help="time this preset alone, with its own method")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every case")
    ap.add_argument("--profile", action="store_true", help="also count kernels and host time of one step")
    ap.add_argument("--ab", action="store_true",
                    help="with --case: eager against train.compile=inductor, alternated")  # fmt: skip
    args = ap.parse_args()
    common = dict(item.split("=", 1) for item in args.set)
    torch.set_num_threads(args.threads)
    where = (
        torch.cuda.get_device_name()
        if args.device == "cuda"
        else (platform.processor() or platform.machine())
    )
    print(f"# {where}, {args.threads} CPU threads, torch {torch.__version__}, device {args.device}")
    print("| case | ms / iteration | warm-up s (5 steps) |")
    print("|---|---|---|")
    if args.ab and args.case:
        return compare_compile(args.case, common, args.iterations, args.device)
    compiled = f", train.compile={common['train.compile']}" if "train.compile" in common else ""
    cases = [(f"{args.case}{compiled}", args.case, "", {})] if args.case else SUITES[args.suite]
    results = {}
    for label, preset, method, extra in cases:
        results[label], warm = time_steps(
            preset, method, {**extra, **common}, args.iterations, args.device, profile=args.profile
        )
        print(f"| {label} | {results[label]:.1f} | {warm:.1f} |", flush=True)
    for (lbt_label, *_), (gan_label, *_) in zip(cases[::2], cases[1::2], strict=False):
        print(f"ratio for '{lbt_label}': {results[lbt_label] / results[gan_label]:.1f}x of the GAN")


if __name__ == "__main__":
    main()

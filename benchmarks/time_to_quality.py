"""Time-to-quality: wall seconds and iterations until a preset reaches its target, median of seeds.

    python benchmarks/time_to_quality.py --preset ring --seeds 0 1 2 [--budget 600]

Target: every mode covered and a high-quality fraction >= 0.86 (``eval.target_quality``), checked
every ``--every`` iterations on ``eval.train_samples`` samples; the seconds are training time with
evaluation excluded. A run that misses the target within ``--budget`` seconds of training is reported
with its best row. Record the printed table in docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import platform
import statistics

import torch

from lbt import Trainer


def run(preset: str, seed: int, budget: float, every: int, target: float, overrides: dict) -> dict:
    o = {"seed": seed, "eval.stop_at_quality": True, "eval.every": every, "eval.target_quality": target,
         "eval.samples": 100_000, "train.iterations": 10**7, "train.time_limit": budget}  # fmt: skip
    o.update(overrides)
    trainer = Trainer(preset=preset, overrides=o, progress=False)
    final = trainer.fit()
    hit = next((r for r in trainer.history if trainer.reached_quality(r)), None)
    best = max(trainer.history, key=lambda r: (r.get("modes_covered", 0), r.get("high_quality_fraction", 0)))
    return {"seed": seed, "reached": hit is not None, "row": hit or best, "final": final}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="ring")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--budget", type=float, default=600.0, help="training seconds per run")
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--target", type=float, default=0.86)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    overrides = dict(kv.split("=", 1) for kv in args.overrides)
    print(f"# preset {args.preset}, {args.threads} threads, {platform.machine()}, torch {torch.__version__}")
    print(
        "| seed | reached | iterations | train s | modes | high-quality | inner KL | final modes | final HQ |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    results = []
    for seed in args.seeds:
        r = run(args.preset, seed, args.budget, args.every, args.target, overrides)
        row, fin = r["row"], r["final"]
        results.append(r)
        reached = "yes" if r["reached"] else "no"
        print(f"| {seed} | {reached} | {int(row['iteration'])} | {row['train_seconds']:.0f} | "
              f"{int(row['modes_covered'])}/{int(row['modes_total'])} | {row['high_quality_fraction']:.3f} | "
              f"{row['inner_mode_kl']:.3f} | {fin['modes_covered']}/{fin['modes_total']} | "
              f"{fin['high_quality_fraction']:.3f} |", flush=True)  # fmt: skip
    hits = [r["row"] for r in results if r["reached"]]
    if len(hits) == len(results):
        its = statistics.median(r["iteration"] for r in hits)
        secs = statistics.median(r["train_seconds"] for r in hits)
        print(f"\nmedian over {len(hits)} seeds: {secs:.0f} s, {its:.0f} iterations")
    else:
        print(f"\ntarget reached by {len(hits)} of {len(results)} seeds within {args.budget:.0f} s")


if __name__ == "__main__":
    main()

"""Every teacher x hypergradient on one data preset, side by side: modes, quality, time to quality.

    OMP_NUM_THREADS=1 python benchmarks/teacher_study.py --preset ring --seeds 0 1 --out runs/teachers-ring

The data, generator, batches, learning-rate schedule and budget are the preset's (``ring``,
``grid``, ...); only the teacher and the hypergradient change between rows. Each teacher carries the
settings it is run with elsewhere (``TEACHERS``: the ``ring``, ``ring-vae``, ``ring-flow`` and
kernel-density recipes; the VAE keeps the official decoder variance 1e-3, ``ring-vae`` uses
1e-2); the implicit rows solve with CG, 10 Hessian-vector products, damping 1 (the
``ring-implicit`` preset). Time to quality is the training time (evaluation excluded) of the
first evaluation with every mode covered and high quality >= ``--target``. Runs are written under
``--out`` and reused when their ``metrics.json`` exists, so an interrupted study resumes.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
from pathlib import Path
from typing import Any

import torch

from lbt import Trainer
from lbt.config.presets import KDE_LBT

_FIT = {"n_est": 1, "est_steps": 5, "unroll_steps": 5}
TEACHERS: dict[str, dict[str, Any]] = {
    "mixture": {"model": {"estimator": "mixture", "mixture_components": 64},
                "lbt": {**_FIT, "est_lr": 1e-2, "est_lr_mult": 1.0}},
    "vae": {"model": {"estimator": "vae"}, "lbt": {**_FIT, "est_lr": 1e-3, "est_lr_mult": 3.0}},
    "flow": {"model": {"estimator": "flow", "flow_kind": "nsf", "flow_transforms": 3, "flow_hidden": 64},
             "lbt": {**_FIT, "est_lr": 3e-3, "est_lr_mult": 1.0}},
    "kde": KDE_LBT,
}  # fmt: skip
HYPERGRADS: dict[str, dict[str, Any]] = {
    "unrolled": {"hypergrad": "unrolled"},
    "implicit": {
        "hypergrad": "implicit",
        "implicit_solver": "cg",
        "implicit_iters": 10,
        "implicit_damping": 1.0,
    },
}


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def run(preset: str, teacher: str, hypergrad: str, seed: int, target: float, out: Path,
        extra: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """One run (or its saved result): final metrics plus the first row that reached the target."""
    saved = out / "result.json"
    if saved.exists():
        return json.loads(saved.read_text())
    o = flatten(TEACHERS[teacher]) | {f"lbt.{k}": v for k, v in HYPERGRADS[hypergrad].items()}
    if teacher == "kde" and hypergrad == "implicit":
        o["lbt.unroll_steps"] = 0  # fitted in closed form: implicit differentiates the fit itself
    o |= {"seed": seed, "eval.target_quality": target} | extra
    trainer = Trainer(preset=preset, overrides=o, out_dir=out, progress=False)
    final = trainer.fit()
    hit = next((r for r in trainer.history if trainer.reached_quality(r)), None)
    result = {
        "modes": final["modes_covered"], "modes_total": final["modes_total"],
        "hq": final["high_quality_fraction"], "kl": final["inner_mode_kl"],
        "iterations": final["iterations"], "train_s": final["train_seconds"],
        "to_quality_s": None if hit is None else hit["train_seconds"],
        "to_quality_it": None if hit is None else int(hit["iteration"]),
    }  # fmt: skip
    saved.write_text(json.dumps(result))
    return result


def mean_std(xs: list[float], fmt: str) -> str:
    if not xs:
        return "-"
    s = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{format(statistics.fmean(xs), fmt)} +- {format(s, fmt)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="ring", help="data, generator and schedule (ring, grid, ...)")
    ap.add_argument("--teachers", default=",".join(TEACHERS))
    ap.add_argument("--hypergrads", default=",".join(HYPERGRADS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--target", type=float, default=0.86, help="high-quality fraction for time to quality")
    ap.add_argument("--out", type=Path, default=Path("runs/teacher-study"))
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    extra = dict(kv.split("=", 1) for kv in args.overrides)
    print(f"# preset {args.preset}, seeds {args.seeds}, {torch.get_num_threads()} threads, "
          f"{platform.machine()}, torch {torch.__version__}", flush=True)  # fmt: skip
    header = ["teacher", "hypergradient", "seeds", "modes", "high quality", "inner KL",
              f"reached (HQ >= {args.target})", "time to quality s", "train s"]  # fmt: skip
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header), flush=True)
    rows = []
    for teacher in args.teachers.split(","):
        for hg in args.hypergrads.split(","):
            where = args.out / f"{teacher}-{hg}"
            rs = [
                run(args.preset, teacher, hg, s, args.target, where / f"seed{s}", extra) for s in args.seeds
            ]
            hits = [r["to_quality_s"] for r in rs if r["to_quality_s"] is not None]
            row = [teacher, hg, str(len(rs)),
                   mean_std([r["modes"] for r in rs], ".1f") + f" / {rs[0]['modes_total']}",
                   mean_std([r["hq"] for r in rs], ".3f"), mean_std([r["kl"] for r in rs], ".2f"),
                   f"{len(hits)}/{len(rs)}", mean_std(hits, ".0f"),
                   mean_std([r["train_s"] for r in rs], ".0f")]  # fmt: skip
            rows.append(row)
            print("| " + " | ".join(row) + " |", flush=True)
    with (args.out / "table.csv").open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])


if __name__ == "__main__":
    main()

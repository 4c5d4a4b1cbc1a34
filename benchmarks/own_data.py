"""Was teaching worth it? LBT against fitting the same teacher to the data, and the GAN, on point clouds.

    python benchmarks/own_data.py OUT [--preset points] [--iterations 1500] [--seeds 3] [--jobs 2]
        [--sets moons,circles,swissroll,gaussians8,rings,breast-cancer]
        [--methods lbt,lbt@kde,lbt@flow,mle,mle@kde,mle@flow,gan]

For each data set one ``lbt compare --preset points`` study (OUT/<set>/, resumable: finished runs
are kept; ``--preset points-2d --iterations 0`` runs that preset at its own iterations): the
default recipe's LBT (64-component mixture teacher), LBT through the kernel-density and the flow
teacher, the same three teachers fitted to the data by maximum likelihood
(``train.method=mle``), and the GAN, all on the preset's batches and the same iterations.
``breast-cancer`` is the Wisconsin breast-cancer table (569 rows x 30 numeric columns) that ships
inside scikit-learn (``pip install scikit-learn``; read offline), written to OUT/breast-cancer.csv
and trained through ``data.name=csv``. Prints one Markdown table of precision, recall (each with
its data-vs-data floor), energy distance, held-out log-likelihood and training seconds, mean +-
std over seeds, and writes it to OUT/table.md; OUT/summary.md has the means as compact tables
(one row per data set, one column per method).
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import subprocess
import sys
from pathlib import Path

DENSITIES = ("moons", "circles", "swissroll", "gaussians8", "rings")
METHODS = "lbt,lbt@kde,lbt@flow,mle,mle@kde,mle@flow,gan"
KEYS = ("precision", "recall", "energy_distance", "heldout_loglik", "train_seconds")


def breast_cancer_csv(path: Path) -> Path:
    """The Wisconsin breast-cancer features as a CSV with a header (from scikit-learn's own copy)."""
    try:
        from sklearn.datasets import load_breast_cancer
    except ImportError:
        sys.exit("breast-cancer needs scikit-learn (pip install scikit-learn); or leave it out of --sets")
    data = load_breast_cancer()
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([name.replace(" ", "_") for name in data.feature_names])
        w.writerows(data.data.tolist())
    return path


def study(out: Path, name: str, args: argparse.Namespace) -> Path:
    sets = ["--set", f"data.name={name}"]
    if name == "breast-cancer":
        sets = [
            "--set",
            "data.name=csv",
            "--set",
            f"data.path={breast_cancer_csv(out / 'breast-cancer.csv')}",
        ]
    budget = ["--iterations", str(args.iterations)] if args.iterations > 0 else []
    cmd = [sys.executable, "-m", "lbt.cli", "compare", "--preset", args.preset, "--methods", args.methods,
           "--seeds", str(args.seeds), *budget, "--jobs", str(args.jobs), "--out", str(out / name),
           "--no-progress", *sets]  # fmt: skip
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return out / name


def _metrics(run: Path) -> dict[str, float]:
    import json

    return json.loads((run / "metrics.json").read_text())


def rows(study_dir: Path, name: str, methods: list[str]) -> list[str]:
    """One Markdown row per method: mean +- std over the seeds' final metrics."""
    out = []
    for method in methods:
        runs = sorted((study_dir / method).glob("seed*"))
        ms = [_metrics(r) for r in runs if (r / "metrics.json").exists()]
        if not ms:
            continue
        floor = {k: ms[0].get(f"{k}_floor", math.nan) for k in ("precision", "recall", "energy_distance")}

        def cell(key: str, fmt: str = ".3f", ms: list[dict[str, float]] = ms) -> str:
            vals = [m[key] for m in ms if key in m]
            if not vals:
                key = "heldout_elbo" if key == "heldout_loglik" else key
                vals = [m[key] for m in ms if key in m]
            if not vals:
                return "-"
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            return f"{statistics.mean(vals):{fmt}} +- {sd:{fmt}}"

        out.append(f"| {name} | {method} | {len(ms)} | {cell('precision')} ({floor['precision']:.3f}) | "
                   f"{cell('recall')} ({floor['recall']:.3f}) | {cell('energy_distance', '.4f')} "
                   f"({floor['energy_distance']:.4f}) | {cell('heldout_loglik', '.2f')} | "
                   f"{cell('train_seconds', '.0f')} |")  # fmt: skip
    return out


def summary(out: Path, sets: list[str], methods: list[str]) -> str:
    """Compact tables (means over seeds): precision / recall, energy distance, held-out
    log-likelihood, one row per data set, one column per method, the data-vs-data floor first."""
    means: dict[tuple[str, str], dict[str, float]] = {}
    floors: dict[str, dict[str, float]] = {}
    for name in sets:
        for method in methods:
            ms = [
                _metrics(r)
                for r in sorted((out / name / method).glob("seed*"))
                if (r / "metrics.json").exists()
            ]
            if not ms:
                continue
            keys = {k for m in ms for k in m if isinstance(m[k], (int, float))}
            means[name, method] = {k: statistics.mean(m[k] for m in ms if k in m) for k in keys}
            means[name, method]["seeds"] = len(ms)
            floors.setdefault(
                name, {k: ms[0][f"{k}_floor"] for k in ("precision", "recall", "energy_distance")}
            )

    def table(title: str, cell, floor=None) -> list[str]:  # noqa: ANN001
        head = "| data | " + ("data vs data | " if floor else "") + " | ".join(methods) + " |"
        lines = [f"**{title}**", "", head, "|---|" + ("---|" if floor else "") + "---|" * len(methods)]
        for name in sets:
            if name not in floors:
                continue
            row = [name] + ([floor(floors[name])] if floor else [])
            row += [cell(means[name, m]) if (name, m) in means else "" for m in methods]
            lines.append("| " + " | ".join(row) + " |")
        return lines + [""]

    def loglik(m: dict[str, float]) -> str:
        v = m.get("heldout_loglik", m.get("heldout_elbo"))
        return "-" if v is None else f"{v:.2f}"

    return "\n".join(
        table("precision / recall", lambda m: f"{m['precision']:.2f} / {m['recall']:.2f}",
              lambda f: f"{f['precision']:.2f} / {f['recall']:.2f}")
        + table("energy distance (0: the same distribution)", lambda m: f"{m['energy_distance']:.4f}",
                lambda f: f"{f['energy_distance']:.4f}")
        + table("held-out log-likelihood (nats per row, data units; '-': no density)", loglik)
        + table("training seconds", lambda m: f"{m['train_seconds']:.0f}")
    )  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--preset", default="points")
    ap.add_argument("--iterations", type=int, default=1500, help="per run; 0: the preset's own")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--sets", default=",".join((*DENSITIES, "breast-cancer")))
    ap.add_argument("--methods", default=METHODS)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    table = ["| data | method | seeds | precision (data vs data) | recall (data vs data) | energy distance "
             "(data vs data) | held-out log-lik. | train s |",
             "|---|---|---:|---|---|---|---|---:|"]  # fmt: skip
    for name in args.sets.split(","):
        table += rows(study(args.out, name, args), name, args.methods.split(","))
        (args.out / "table.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))
    text = summary(args.out, args.sets.split(","), args.methods.split(","))
    (args.out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

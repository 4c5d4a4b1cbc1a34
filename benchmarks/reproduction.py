"""Reproduction-table rows from run directories (docs/reproduction.md).

Reads each RUN_DIR's ``config.yaml`` (preset, method, seed, and the provenance block ``meta``:
command, git commit, threads, date) and ``metrics.json`` (the final metrics), and prints one
markdown row per run (a directory without ``metrics.json``, a run still going, is skipped with one
line on stderr); ``--summary`` adds one row per (preset, method, recipe, protocol) with the
mean +- std (n-1) over its runs, as ``lbt compare`` reports them. Nothing is recomputed.

    python benchmarks/reproduction.py runs/study-grid/*/          # one row per run
    python benchmarks/reproduction.py --summary runs/study-grid/*/
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import yaml

# metrics.json keys worth a column, in order, with their column heads (those no run has are left out)
METRICS = [
    ("modes_covered", "modes"),
    ("high_quality_fraction", "HQ"),
    ("inner_mode_kl", "inner KL"),
    ("mode_kl_uniform", "mode KL"),
    ("kl_to_uniform", "KL to uniform"),
    ("modes_covered_confident", "confident modes"),
    ("elbo_test", "test ELBO"),
    ("iwae_test", "test IWAE"),
    ("fd_classifier", "classifier FD"),
    ("fid", "FID"),
    ("iterations", "iterations"),
    ("train_seconds", "train s"),
]


def read_run(run: Path) -> dict | None:
    """The row's fields for one run directory; None (and one line on stderr) if it is not a finished one."""
    try:
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        metrics = json.loads((run / "metrics.json").read_text())
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"reproduction: skipped {run}: not a finished run directory ({exc})", file=sys.stderr)
        return None
    meta = cfg.get("meta") or {}
    return {
        "run": str(run),
        "preset": cfg.get("preset") or "-",
        "method": cfg.get("train", {}).get("method", "-"),
        "recipe": cfg.get("recipe") or "",
        "protocol": cfg.get("eval", {}).get("protocol", "-"),
        "seed": cfg.get("seed", "-"),
        "device": f"{cfg.get('device', '-')}, {meta.get('torch_threads', '?')} thr",
        "date": str(meta.get("created", "-"))[:10],
        "commit": short_commit(str(meta.get("git_commit", "unknown"))),
        "command": meta.get("command", "-"),
        "metrics": metrics,
    }


def short_commit(commit: str) -> str:
    """12 hex digits, keeping provenance's ``-dirty`` mark (uncommitted changes in the checkout)."""
    return commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")


def fmt(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1:
        return f"{value:,.0f}"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def columns(rows: list[dict]) -> list[tuple[str, str]]:
    return [(k, head) for k, head in METRICS if any(k in r["metrics"] for r in rows)]


def method_name(r: dict) -> str:
    return r["method"] + (f"@{r['recipe']}" if r["recipe"] else "")


def table(rows: list[dict], summary: bool) -> str:
    cols = columns(rows)
    head = ["preset", "method", "protocol", "seed" if not summary else "seeds"]
    head += [h for _, h in cols] + ["device", "date", "commit"] + ([] if summary else ["command"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    if not summary:
        for r in rows:
            cells = [r["preset"], method_name(r), r["protocol"], str(r["seed"])]
            cells += [fmt(r["metrics"][k]) if k in r["metrics"] else "" for k, _ in cols]
            cells += [r["device"], r["date"], r["commit"], f"`{r['command']}`"]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["preset"], method_name(r), r["protocol"]), []).append(r)
    for (preset, method, protocol), rs in groups.items():
        cells = [preset, method, protocol, ", ".join(str(r["seed"]) for r in rs)]
        for k, _ in cols:
            vals = [float(r["metrics"][k]) for r in rs if k in r["metrics"]]
            std = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f"{fmt(statistics.fmean(vals))} +- {fmt(std)}" if vals else "")
        cells += [", ".join(sorted({r[k] for r in rs})) for k in ("device", "date", "commit")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories written by `lbt train`")
    parser.add_argument("--summary", action="store_true", help="mean +- std per preset and method")
    args = parser.parse_args(argv)
    rows = [row for row in map(read_run, args.runs) if row is not None]
    if not rows:
        return 2
    print(table(rows, args.summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

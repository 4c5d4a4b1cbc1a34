"""``lbt compare``: every (method, seed) pair on one preset and budget, then a table and figures.

Layout of ``--out DIR``::

    DIR/compare.json          what was asked (preset, methods, seeds, budget, overrides)
    DIR/<method>/seed<k>/     an ordinary run directory (config.yaml, history.csv, metrics.json, ...)
    DIR/table.md, table.csv   mean +- std over seeds, ranked (modes, then quality, then KL); the
                              header names the budget per method when it differs, and the metric
                              protocol (``eval.protocol``, docs/metrics.md)
    DIR/density.png           the true density and one panel per method (paper Fig. 1)
    DIR/curves.png            the three metrics over iterations, mean and min-max band (Fig. 2)

A run whose ``metrics.json`` exists is finished and is skipped on a rerun, so an interrupted
compare is resumed by running the same command again; an unfinished run continues from its
last checkpoint (``Trainer.resume``), or starts afresh when it has none or it cannot be resumed
(corrupt, or from another config). A resumed run that is interrupted stops the study, its
checkpoint kept; one that diverges (NaN) is that run's failure, its directory kept.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from lbt import config as config_mod
from lbt import rundir
from lbt.config import Config
from lbt.errors import LBTError
from lbt.metrics import describe
from lbt.signals import sigterm_to_children

DEFAULT_METHODS = ("lbt", "gan", "unrolled-gan", "veegan", "pacgan", "lbt-gan")
UNLIMITED_ITERATIONS = 10**9  # with --minutes alone, the time limit is the only stop


@dataclass
class Job:
    method: str
    seed: int
    out: Path
    cfg: Config

    @property
    def label(self) -> str:
        return f"{self.method} seed {self.seed}"


# -- planning ------------------------------------------------------------------------------------
def parse_methods(text: str | Sequence[str]) -> list[str]:
    names = [m.strip() for m in text.split(",")] if isinstance(text, str) else list(text)
    names = [m for m in names if m]
    if not names:
        raise LBTError("--methods needs at least one method name")
    allowed = config_mod.choices("train.method") or ()
    for m in names:
        if config_mod.split_method(m)[0] not in allowed:
            raise LBTError(f"unknown method {m!r} in --methods (available: {', '.join(allowed)}; "
                           "a preset's named recipe is METHOD@RECIPE)")  # fmt: skip
    if len(set(names)) != len(names):
        raise LBTError("--methods lists a method twice")
    return names


def plan(
    out: Path,
    preset: str | None = None,
    methods: Sequence[str] = DEFAULT_METHODS,
    seeds: int = 3,
    iterations: int | None = None,
    minutes: float | None = None,
    overrides: Sequence[tuple[str, Any]] = (),
) -> list[Job]:
    """Build and validate every run's config before any work starts."""
    if seeds < 1:
        raise LBTError(f"--seeds must be at least 1, got {seeds}")
    if minutes is not None and not minutes > 0:
        raise LBTError(f"--minutes must be > 0, got {minutes}")
    if iterations is not None and iterations < 1:
        raise LBTError(f"--iterations must be at least 1, got {iterations}")
    jobs = []
    for method in methods:
        for seed in range(seeds):
            name, recipe = config_mod.split_method(method)
            top: dict[str, Any] = {"train.method": name, "recipe": recipe, "seed": seed}
            if iterations is not None:
                top["train.iterations"] = iterations
            if minutes is not None:
                top["train.time_limit"] = minutes * 60.0
                if iterations is None:
                    top["train.iterations"] = UNLIMITED_ITERATIONS
            cfg = config_mod.build(preset, list(overrides) + list(top.items()))
            jobs.append(Job(method, seed, out / method / f"seed{seed}", cfg))
    return jobs


def _config_diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> str | None:
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            d = _config_diff(va, vb, prefix + k + ".")
            if d:
                return d
        elif va != vb:
            return f"{prefix}{k}: {va!r} there, {vb!r} now"
    return None


def status(job: Job) -> str:
    """``done`` (finished, same config), ``partial`` (started, unfinished) or ``new``."""
    if not (job.out / "config.yaml").exists():
        return "partial" if job.out.exists() and any(job.out.iterdir()) else "new"
    old = config_mod.load(job.out / "config.yaml").to_dict()
    diff = _config_diff(old, job.cfg.to_dict())
    if diff:
        raise LBTError(f"{job.out} holds a run with another config ({diff}); use another --out")
    return "done" if (job.out / "metrics.json").exists() else "partial"


# -- running -------------------------------------------------------------------------------------
def run_job(cfg_dict: dict[str, Any], out: str, threads: int = 1) -> dict[str, Any]:
    """Train one run into ``out``, continuing from its checkpoint if it has one (worker entry point)."""
    import torch

    from lbt.train import Trainer

    torch.set_num_threads(threads)
    if (Path(out) / rundir.CHECKPOINT).exists():
        try:
            trainer = Trainer.resume(out, progress=False)
        except LBTError:  # an unusable checkpoint: train this run again from the start
            shutil.rmtree(out)
        else:  # what stops the resumed run (Ctrl-C, a NaN) is that run's outcome, its directory kept
            return trainer.fit()
    cfg = config_mod.Config()
    config_mod.apply(cfg, cfg_dict)
    return Trainer(config_mod.validate(cfg), out_dir=out, progress=False).fit()


def _describe(m: dict[str, Any]) -> str:
    keys = (
        "high_quality_fraction",
        "inner_mode_kl",
        "mode_kl_uniform",
        "kl_to_uniform",
        "elbo_test",
        "precision",
        "recall",
        "energy_distance",
    )
    parts = [f"{label} {value}" for label, value in describe(m, short=True, keys=keys)]
    parts.append(f"{m['iterations']} it, {m['train_seconds']:.0f} s")
    return ", ".join(parts)


def _stop_if_interrupted(exc: BaseException) -> None:
    """A run stopped by SIGINT/SIGTERM (it has checkpointed) stops the whole study, resumably."""
    if type(exc).__name__ == "Interrupted":
        raise LBTError(f"{exc}; rerun the same lbt compare command to continue the study") from None


def run_jobs(jobs: list[Job], workers: int, log: Any = print) -> list[tuple[Job, str]]:
    """Run the jobs, ``workers`` at a time (separate processes when > 1); returns the failures."""
    failures: list[tuple[Job, str]] = []
    total = len(jobs)
    done = 0

    def report(job: Job, metrics: dict[str, Any] | None, err: str | None) -> None:
        nonlocal done
        done += 1
        if err is not None:
            failures.append((job, err))
            log(f"[{done}/{total}] {job.label}: FAILED: {err}")
        else:
            log(f"[{done}/{total}] {job.label}: {_describe(metrics or {})}")

    if workers <= 1:
        for job in jobs:
            try:
                report(job, run_job(job.cfg.to_dict(), str(job.out), 1), None)
            except Exception as exc:  # one broken run must not stop the others
                _stop_if_interrupted(exc)
                report(job, None, f"{type(exc).__name__}: {exc}")
        return failures
    ctx = get_context("spawn")  # no forked torch state; safe with threads
    pending = list(jobs)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool, sigterm_to_children():
        running: dict[Future, Job] = {}
        try:
            while pending or running:
                while pending and len(running) < workers:
                    job = pending.pop(0)
                    running[pool.submit(run_job, job.cfg.to_dict(), str(job.out), 1)] = job
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    job = running.pop(fut)
                    try:
                        report(job, fut.result(), None)
                    except Exception as exc:  # a worker's error must not stop the other runs
                        _stop_if_interrupted(exc)
                        report(job, None, f"{type(exc).__name__}: {exc}")
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return failures


# -- tables --------------------------------------------------------------------------------------
@dataclass
class Summary:
    """One method's results over seeds."""

    method: str
    seeds: int
    stats: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (mean, std)
    modes_total: int | None = None
    protocol: str = ""  # eval.protocol of its runs ("": not a Gaussian mixture, or not known)

    def mean(self, key: str, default: float = math.nan) -> float:
        return self.stats.get(key, (default, 0.0))[0]


TABLE_KEYS = (
    "modes_covered", "high_quality_fraction", "inner_mode_kl", "mode_kl_uniform", "samples",
    "iterations", "train_seconds",
)  # fmt: skip
# The Gaussian-mixture KL columns (key, head): inner-mode KL (paper protocol), mode KL to uniform
# (pacgan). Ranking takes the first KL a study has, these or Stacked MNIST's KL to uniform.
MIXTURE_KLS = (("inner_mode_kl", "inner-mode KL"), ("mode_kl_uniform", "mode KL to uniform"))
RANKING_KLS = (*(k for k, _ in MIXTURE_KLS), "kl_to_uniform", "energy_distance")  # the last: point clouds
# Image metrics (lbt.metrics.images, docs/metrics.md): (key, column head, format); a column each in
# table.md and table.csv, shown only when some run has the key. Stacked MNIST's KL of the mode
# histogram to uniform, its modes hit by a sample read with confidence, the teacher's held-out
# bounds, then the feature-space scores (lower is better except for IS).
IMAGE_KEYS = (("kl_to_uniform", "KL to uniform", ".3f"),
              ("modes_covered_confident", "confident modes", ".1f"),
              ("elbo_test", "test ELBO", ".1f"), ("iwae_test", "test IWAE", ".1f"),
              ("fd_classifier", "classifier FD", ".2f"), ("fid", "FID", ".2f"), ("kid", "KID", ".4f"),
              ("inception_score", "IS", ".2f"))  # fmt: skip


# Point-cloud metrics (lbt.metrics.points): (key, column head, format), shown only when some run has
# the key; a column's head names the data-against-data floor (``KEY_floor``) when every run has one.
POINT_KEYS = (("precision", "precision", ".3f"), ("recall", "recall", ".3f"),
              ("energy_distance", "energy distance", ".4f"), ("heldout_loglik", "held-out log-lik", ".3f"),
              ("heldout_elbo", "held-out ELBO", ".3f"))  # fmt: skip
FLOOR_KEYS = tuple(f"{k}_floor" for k, _, _ in POINT_KEYS[:3])


def _image_columns(rows: list[Summary]) -> list[tuple[str, str, str]]:
    return [c for c in IMAGE_KEYS if any(c[0] in r.stats for r in rows)]


def _point_columns(rows: list[Summary]) -> list[tuple[str, str, str]]:
    """The point-cloud columns the runs have, each head with its floor where all runs share one."""
    out = []
    for key, head, fmt in POINT_KEYS:
        if not any(key in r.stats for r in rows):
            continue
        floors = {format(r.mean(f"{key}_floor"), fmt) for r in rows}
        if len(floors) == 1 and "nan" not in floors:
            head = f"{head} (data vs data {floors.pop()})"
        out.append((key, head, fmt))
    return out


def summarize(results: dict[str, list[dict[str, Any]]]) -> list[Summary]:
    """Mean and (n-1) std over seeds per method, ranked best first.

    Ranking: more modes covered first, then a higher high-quality fraction, then a lower KL (the
    first of ``RANKING_KLS`` the runs have), so a generator that collapses onto one mode ranks
    below one that covers all.
    """
    out = []
    for method, runs in results.items():
        s = Summary(method, len(runs))
        for key in TABLE_KEYS + tuple(k for k, _, _ in IMAGE_KEYS + POINT_KEYS) + FLOOR_KEYS:
            vals = np.array([float(r[key]) for r in runs if key in r], dtype=float)
            if len(vals):
                std = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
                s.stats[key] = (float(vals.mean()), std)
        totals = {int(r["modes_total"]) for r in runs if "modes_total" in r}
        s.modes_total = totals.pop() if len(totals) == 1 else None
        out.append(s)

    def key(s: Summary) -> tuple[float, float, float]:
        def finite(v: float, bad: float) -> float:
            return v if math.isfinite(v) else bad

        kls = [s.mean(k) for k in RANKING_KLS]
        return (
            -finite(s.mean("modes_covered"), -math.inf),
            -finite(s.mean("high_quality_fraction"), -math.inf),
            next((v for v in kls if math.isfinite(v)), math.inf),
        )

    return sorted(out, key=key)


def _method_budget(cfg: Config) -> str:
    t = cfg.train
    if t.time_limit > 0 and t.iterations >= UNLIMITED_ITERATIONS:
        return f"{t.time_limit / 60:g} training minutes"
    if t.time_limit > 0:
        return f"{t.iterations} iterations or {t.time_limit / 60:g} training minutes, whichever first"
    return f"{t.iterations} iterations"


def budget_text(cfgs: Config | dict[str, Config]) -> str:
    """The budget line: one config, or ``{method: config}`` (a recipe may set its own iterations,
    e.g. PacGAN's 400,000 beside 4,000, and then each method's budget is named)."""
    per = {"": cfgs} if isinstance(cfgs, Config) else dict(cfgs)
    texts = {m: _method_budget(c) for m, c in per.items()}
    if len(set(texts.values())) > 1:
        return "differs by method: " + "; ".join(f"{m} {t}" for m, t in texts.items()) + " per run"
    t = next(iter(per.values())).train
    if t.time_limit > 0 and t.iterations >= UNLIMITED_ITERATIONS:
        return f"{t.time_limit / 60:g} minutes of training time per run (iterations differ by method)"
    if t.time_limit > 0:
        return f"{t.iterations} iterations or {t.time_limit / 60:g} training minutes per run, whichever first"
    return f"{t.iterations} iterations per run, the same for every method"


def protocol_text(rows: list[Summary]) -> str:
    """The metric line: which ``eval.protocol`` scored the runs and on how many samples."""

    def one(r: Summary) -> str:
        if not r.protocol:
            return "the data set's own (eval.protocol applies to Gaussian mixtures only)"
        n = r.stats.get("samples", (math.nan, 0.0))[0]
        return f"`{r.protocol}` protocol" + (f", {n:,.0f} samples per run" if math.isfinite(n) else "")

    texts = {r.method: one(r) for r in rows}
    if len(set(texts.values())) == 1:
        return next(iter(texts.values()))
    return "differs by method: " + "; ".join(f"{m} {t}" for m, t in texts.items())


def _pm(s: Summary, key: str, fmt: str, scale: float = 1.0) -> str:
    if key not in s.stats:
        return "-"
    m, sd = s.stats[key]
    return f"{format(m * scale, fmt)} ± {format(sd * scale, fmt)}"


def table_markdown(rows: list[Summary], title: str, budget: str) -> str:
    total = next((r.modes_total for r in rows if r.modes_total), None)
    modes_head = f"modes covered (of {total})" if total else "modes covered"
    # A mixture KL column is shown when some run has it; image data sets bring their own (KL to
    # uniform among the image columns), others show an empty inner-mode KL column.
    images, points = _image_columns(rows), _point_columns(rows)
    shown = [c for c in MIXTURE_KLS if any(c[0] in r.stats for r in rows)]
    kls = shown or ([] if images or points else [MIXTURE_KLS[0]])
    kls = [(k, h, ".3f") for k, h in kls] + images + points
    modes = any("modes_covered" in r.stats for r in rows)
    ranking = (
        "modes, then high quality, then KL" if modes or not points else "energy distance (lower is closer)"
    )
    lines = [
        f"# {title}",
        "",
        f"Budget: {budget}. Mean ± std over seeds; ranked by {ranking}.",
        "",
        f"Metrics: {protocol_text(rows)} (docs/metrics.md).",
        "",
        f"| rank | method | seeds | {modes_head} | high quality % | "
        + " | ".join(h for _, h, _ in kls)
        + " | iterations | train s |",
        "|---:|---|---:|---:|---:|" + "---:|" * len(kls) + "---:|---:|",
    ]
    for i, r in enumerate(rows, 1):
        lines.append(
            f"| {i} | {r.method} | {r.seeds} | {_pm(r, 'modes_covered', '.1f')} "
            f"| {_pm(r, 'high_quality_fraction', '.1f', 100)} | "
            + " | ".join(_pm(r, k, f) for k, _, f in kls)
            + f" | {_pm(r, 'iterations', '.0f')} | {_pm(r, 'train_seconds', '.1f')} |"
        )
    return "\n".join(lines) + "\n"


def table_csv(rows: list[Summary], budget: str) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["rank", "method", "seeds", "protocol", "modes_total"]
    points = [k for k, _, _ in _point_columns(rows)]
    floors = [k for k in FLOOR_KEYS if any(k in r.stats for r in rows)]
    keys = TABLE_KEYS + tuple(k for k, _, _ in _image_columns(rows)) + tuple(points + floors)
    for k in keys:
        head += [f"{k}_mean", f"{k}_std"]
    w.writerow(head + ["budget"])
    for i, r in enumerate(rows, 1):
        total = r.modes_total if r.modes_total is not None else ""
        vals: list[Any] = [i, r.method, r.seeds, r.protocol, total]
        for k in keys:
            vals += list(r.stats[k]) if k in r.stats else ["", ""]
        w.writerow(vals + [budget])
    return buf.getvalue()


# -- figures -------------------------------------------------------------------------------------
def _samples(run: Path, n: int) -> np.ndarray:
    """``n`` samples from a finished run's checkpoint (reproducible; a GPU run opens on the CPU)."""
    from lbt import rng
    from lbt.train import Trainer

    trainer = Trainer.resume(run, progress=False, cpu_fallback=True)
    with rng.forked(trainer.cfg.seed):
        return trainer.sample(n).numpy()


def figures(out: Path, runs: dict[str, list[Path]], n_samples: int = 50_000) -> list[Path]:
    """density.png (first seed of each method) and curves.png (all seeds); 2-D data only."""
    from lbt import rng
    from lbt.datasets import HasUnits, Mixture
    from lbt.plots import curves_figure, density_figure
    from lbt.train import make_data

    first = next(iter(runs.values()))[0]
    cfg = config_mod.load(first / "config.yaml")
    data = make_data(cfg)
    is_mix = isinstance(data, Mixture)
    written = []
    series = {
        m: [r for d in dirs if (d / "history.csv").exists() for r in rundir.read_history(d / "history.csv")]
        for m, dirs in runs.items()
    }
    curves_figure(series, out / "curves.png", data.n_modes if is_mix else None, elbo=False)
    written.append(out / "curves.png")
    if data.dim == 2:
        with rng.forked(0):
            real = data.sample(n_samples)
            real = (data.to_data_units(real) if isinstance(data, HasUnits) else real).numpy()
        panels = [("true", real)]
        for m, dirs in runs.items():
            panels.append(
                (f"{m} (seed {config_mod.load(dirs[0] / 'config.yaml').seed})", _samples(dirs[0], n_samples))
            )
        density_figure(panels, data.extent(), out / "density.png",
                       mode_std=data.std if is_mix else None,
                       means=data.means.numpy() if is_mix else None)  # fmt: skip
        written.append(out / "density.png")
    return written


# -- the whole study -----------------------------------------------------------------------------
def aggregate(out: Path, jobs: list[Job]) -> list[Summary]:
    """Read every finished run of ``jobs`` and write table.md, table.csv and the figures."""
    results: dict[str, list[dict[str, Any]]] = {}
    runs: dict[str, list[Path]] = {}
    for job in jobs:
        path = job.out / "metrics.json"
        if path.exists():
            results.setdefault(job.method, []).append(json.loads(path.read_text()))
            runs.setdefault(job.method, []).append(job.out)
    if not results:
        raise LBTError(f"no finished runs under {out}; nothing to tabulate")
    rows = summarize(results)
    per_method = method_configs(jobs)
    for r in rows:  # only the Gaussian-mixture metrics report "samples" and follow eval.protocol
        r.protocol = per_method[r.method].eval.protocol if "samples" in r.stats else ""
    cfg = jobs[0].cfg
    budget = budget_text(per_method)
    mixture = cfg.data.name in ("ring", "grid")  # the only data whose mode count is data.modes
    title = f"{cfg.preset}: {cfg.data.name}" + (f" ({cfg.data.modes} modes)" if mixture else "")
    rundir.atomic_write_text(out / "table.md", table_markdown(rows, title, budget))
    rundir.atomic_write_text(out / "table.csv", table_csv(rows, budget))
    figures(out, runs)  # panels in the order of --methods
    return rows


def method_configs(jobs: list[Job]) -> dict[str, Config]:
    """Each method's config (its first seed's), in the order of ``jobs``."""
    per: dict[str, Config] = {}
    for j in jobs:
        per.setdefault(j.method, j.cfg)
    return per


def compare(
    out: Path | str,
    preset: str | None = None,
    methods: Sequence[str] = DEFAULT_METHODS,
    seeds: int = 3,
    iterations: int | None = None,
    minutes: float | None = None,
    overrides: Sequence[tuple[str, Any]] = (),
    workers: int | None = None,
    log: Any = print,
    command: str | None = None,
) -> list[Summary]:
    """Train what is missing, then tabulate and plot everything (the notebook entry point)."""
    out = Path(out)
    jobs = plan(out, preset, methods, seeds, iterations, minutes, overrides)
    states = {id(j): status(j) for j in jobs}
    todo = [j for j in jobs if states[id(j)] != "done"]
    skipped = len(jobs) - len(todo)
    out.mkdir(parents=True, exist_ok=True)
    budget = budget_text(method_configs(jobs))
    manifest = {
        "preset": jobs[0].cfg.preset, "methods": list(methods), "seeds": seeds, "iterations": iterations,
        "minutes": minutes, "overrides": [list(o) for o in overrides], "budget": budget,
        "command": command or "lbt.compare.compare()",
    }  # fmt: skip
    rundir.write_json(out / "compare.json", manifest)
    for j in todo:  # an interrupted run continues from its checkpoint; without one it starts afresh
        if states[id(j)] == "partial" and not (j.out / rundir.CHECKPOINT).exists():
            shutil.rmtree(j.out)
    n_workers = max(1, min(workers or available_cores(), len(todo) or 1))
    log(
        f"compare: {len(jobs)} runs ({skipped} already finished, {len(todo)} to train, {n_workers} at a time)"
    )
    t0 = time.perf_counter()
    failures = run_jobs(todo, n_workers, log)
    rows = aggregate(out, jobs)
    log(f"compare: trained {len(todo) - len(failures)} runs in {time.perf_counter() - t0:.0f} s")
    if failures:
        names = ", ".join(j.label for j, _ in failures)
        raise LBTError(f"{len(failures)} run(s) failed ({names}); the table holds the others. "
                       "Rerun the same command to retry only those")  # fmt: skip
    return rows


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


# -- CLI -----------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preset", default=None, help="data and shared settings (see `lbt presets`); default ring"
    )
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                   help=f"comma-separated methods (default {','.join(DEFAULT_METHODS)})")  # fmt: skip
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per method (default 3)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--iterations", type=int, default=None, help="iterations per run (equal budget)")
    budget.add_argument("--minutes", type=float, default=None, help="training minutes per run (equal budget)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key for every run (repeatable)")  # fmt: skip
    p.add_argument("--jobs", type=int, default=None, help="parallel runs (default: one per core)")
    p.add_argument("--out", default=None, help="study directory (default runs/compare-PRESET-TIMESTAMP)")


def run_from_args(args: argparse.Namespace) -> int:
    if args.jobs is not None and args.jobs < 1:
        raise LBTError(f"--jobs must be at least 1, got {args.jobs}")
    overrides = config_mod.parse_overrides(args.overrides)
    for key, _ in overrides:
        if key in ("train.method", "seed", "recipe"):
            raise LBTError(f"{key} is set per run by compare; use --methods (METHOD@RECIPE) / --seeds "
                           "instead of --set")  # fmt: skip
    methods = parse_methods(args.methods)
    if args.out:
        out = Path(args.out)
    else:
        name = args.preset or config_mod.DEFAULT_PRESET
        out = Path("runs") / f"compare-{name}-{datetime.now():%Y%m%d-%H%M%S}"
    compare(
        out,
        args.preset,
        methods,
        args.seeds,
        args.iterations,
        args.minutes,
        overrides,
        args.jobs,
        command=" ".join(["lbt"] + sys.argv[1:]),
    )
    print((out / "table.md").read_text(), end="")
    print(f"study directory: {out}")
    return 0

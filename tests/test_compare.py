"""``lbt compare``: end to end on a tiny budget, resuming, ranking, and clear errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from lbt import compare as cmp
from lbt.datasets import ring
from lbt.errors import LBTError
from lbt.metrics import mode_metrics

ALL = ["lbt", "gan", "unrolled-gan", "veegan", "pacgan", "lbt-gan"]
TINY = ["eval.every=2", "eval.samples=2000", "eval.train_samples=500"]
PNG = b"\x89PNG\r\n\x1a\n"


def table_methods(md: str) -> list[str]:
    rows = [line for line in md.splitlines() if line.startswith("| ") and line[2].isdigit()]
    return [r.split("|")[2].strip() for r in rows]


@pytest.mark.slow
def test_compare_end_to_end_then_resume(tmp_path: Path, cli) -> None:  # noqa: ANN001
    out = tmp_path / "study"
    args = ["compare", "--preset", "ring", "--methods", ",".join(ALL), "--seeds", "1",
            "--iterations", "4", "--jobs", "2", "--out", str(out)]  # fmt: skip
    for s in TINY:
        args += ["--set", s]
    r = cli(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    md = (out / "table.md").read_text()
    assert sorted(table_methods(md)) == sorted(ALL)  # one row per method
    assert "4 iterations per run, the same for every method" in md
    with open(out / "table.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["method"] for r in rows) == sorted(ALL)
    assert all(float(r["iterations_mean"]) == 4 for r in rows)
    assert all(0 <= float(r["modes_covered_mean"]) <= 8 for r in rows)
    for fig in ("density.png", "curves.png"):
        assert (out / fig).read_bytes()[:8] == PNG
    runs = {m: out / m / "seed0" for m in ALL}
    for m, d in runs.items():
        assert json.loads((d / "metrics.json").read_text())["method"] == m
    stamps = {m: (d / "metrics.json").stat().st_mtime_ns for m, d in runs.items()}

    # Rerun after an "interruption" that lost one run's result: only that run is trained again
    # (a subset of the methods keeps this test short; the rule is the same for all).
    (runs["gan"] / "metrics.json").unlink()
    log: list[str] = []
    tiny = [s.split("=") for s in TINY]
    summary = cmp.compare(
        out, "ring", ["lbt", "gan"], 1, iterations=4, overrides=tiny, workers=1, log=log.append
    )
    assert "1 already finished, 1 to train" in log[0]
    assert [line for line in log if line.startswith("[")] == [log[1]] and "gan seed 0" in log[1]
    assert (runs["gan"] / "metrics.json").exists()
    assert all((runs[m] / "metrics.json").stat().st_mtime_ns == stamps[m] for m in ALL if m != "gan")
    assert sorted(s.method for s in summary) == ["gan", "lbt"]

    # The same directory with another budget is refused instead of mixing budgets.
    with pytest.raises(LBTError, match="another config"):
        cmp.compare(out, "ring", ALL, 1, iterations=5, overrides=tiny, workers=1)


def _metrics(samples: torch.Tensor) -> dict:
    data = ring(8, 1.0, 0.1)
    m = mode_metrics(samples, data.means, data.std).as_dict()
    m.update(iterations=100, train_seconds=1.0)
    return m


def test_table_ranks_collapsed_below_covering() -> None:
    torch.manual_seed(0)
    data = ring(8, 1.0, 0.1)
    covering = [_metrics(data.sample(20_000)) for _ in range(2)]
    collapsed = [_metrics(data.means[3] + 0.1 * torch.randn(20_000, 2)) for _ in range(2)]
    half = [_metrics(data.means[torch.randint(0, 4, (20_000,))] + 0.1 * torch.randn(20_000, 2))]
    rows = cmp.summarize({"collapsed": collapsed, "half": half, "covering": covering})
    assert [r.method for r in rows] == ["covering", "half", "collapsed"]
    assert rows[0].mean("modes_covered") == 8 and rows[-1].mean("modes_covered") == 1
    md = cmp.table_markdown(rows, "t", "b")
    assert table_methods(md) == ["covering", "half", "collapsed"]
    assert "| 1 | covering | 2 | 8.0 ± 0.0 |" in md
    lines = cmp.table_csv(rows, "b").splitlines()
    assert [line.split(",")[1] for line in lines[1:]] == ["covering", "half", "collapsed"]


def test_equal_quality_ties_break_on_kl() -> None:
    base = {"modes_covered": 8, "modes_total": 8, "high_quality_fraction": 0.9, "iterations": 1,
            "train_seconds": 1.0}  # fmt: skip
    rows = cmp.summarize(
        {"worse": [{**base, "inner_mode_kl": 0.5}], "better": [{**base, "inner_mode_kl": 0.1}]}
    )
    assert [r.method for r in rows] == ["better", "worse"]


def test_minutes_budget_sets_a_time_limit(tmp_path: Path) -> None:
    jobs = cmp.plan(tmp_path, "ring", ["gan", "lbt"], 2, minutes=0.5)
    assert len(jobs) == 4 and {j.out.relative_to(tmp_path).as_posix() for j in jobs} >= {
        "gan/seed1",
        "lbt/seed0",
    }
    assert all(j.cfg.train.time_limit == 30.0 for j in jobs)
    assert "0.5 minutes of training time" in cmp.budget_text(jobs[0].cfg)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--methods", "lbt,nope"], "unknown method 'nope'"),
        (["--set", "train.method=gan"], "--methods"),
        (["--seeds", "0"], "--seeds"),
    ],
)
def test_user_mistakes_are_one_line(tmp_path: Path, capsys, argv: list[str], message: str) -> None:  # noqa: ANN001
    from lbt.cli import main

    assert main(["compare", "--out", str(tmp_path / "x"), "--iterations", "1", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_an_interrupted_run_stops_the_study_resumably() -> None:
    class Interrupted(LBTError):  # what lbt.train raises after checkpointing on SIGINT/SIGTERM
        pass

    with pytest.raises(LBTError, match="rerun the same lbt compare command"):
        cmp._stop_if_interrupted(Interrupted("SIGINT received"))
    cmp._stop_if_interrupted(ValueError("an ordinary failure is only reported"))


def test_table_names_the_metric_protocol() -> None:
    from lbt.metrics import protocol_metrics

    data = ring(8, 1.0, 0.1)
    torch.manual_seed(0)
    runs = []
    for _ in range(2):
        m = protocol_metrics("pacgan", data.sample(2500), data.means, data.std)
        runs.append({**m, "iterations": 100, "train_seconds": 1.0})
    rows = cmp.summarize({"lbt": runs})
    rows[0].protocol = "pacgan"
    md = cmp.table_markdown(rows, "t", "b")
    assert "Metrics: `pacgan` protocol, 2,500 samples per run" in md
    assert "mode KL to uniform" in md and "inner-mode KL" not in md  # pacgan has no inner-mode KL
    assert table_methods(md) == ["lbt"]
    with_protocol = list(csv.DictReader(cmp.table_csv(rows, "b").splitlines()))
    assert with_protocol[0]["protocol"] == "pacgan" and float(with_protocol[0]["samples_mean"]) == 2500
    # methods scored under different protocols are named one by one
    paper = cmp.summarize({"gan": [_metrics(data.sample(1000))]})[0]
    paper.protocol = "paper"
    both = cmp.table_markdown([rows[0], paper], "t", "b")
    assert "differs by method: lbt `pacgan` protocol, 2,500 samples per run; " in both
    assert "gan `paper` protocol, 1,000 samples per run" in both


def test_budget_header_names_iterations_per_method_when_they_differ(tmp_path: Path) -> None:
    # The ring-narrow preset's PacGAN recipe trains 400,000 iterations; LBT's recipe 4,000.
    jobs = cmp.plan(tmp_path, "ring-narrow", ["lbt", "pacgan@pacgan"], 1)
    per = cmp.method_configs(jobs)
    assert [c.train.iterations for c in per.values()] == [4000, 400_000]
    text = cmp.budget_text(per)
    assert "the same for every method" not in text
    assert text == "differs by method: lbt 4000 iterations; pacgan@pacgan 400000 iterations per run"
    # equal budgets keep the one-line claim
    same = cmp.plan(tmp_path, "ring-narrow", ["lbt", "gan"], 1, iterations=50)
    assert cmp.budget_text(cmp.method_configs(same)) == "50 iterations per run, the same for every method"


def _partial_run(tmp_path: Path) -> cmp.Job:
    """A study's run stopped half-way: a checkpoint at iteration 2 of 4, no metrics.json."""
    from lbt.train import Trainer

    tiny = [s.split("=") for s in TINY] + [("train.batch_size", "32"), ("train.gen_batch_size", "32")]
    job = cmp.plan(tmp_path, "ring", ["gan"], 1, iterations=4, overrides=tiny)[0]
    Trainer(job.cfg, out_dir=job.out, progress=False).fit(2)
    (job.out / "metrics.json").unlink()
    return job


def test_a_resumed_run_that_stops_or_diverges_keeps_its_directory(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Only a checkpoint that cannot be resumed restarts a run: Ctrl-C in a resumed run stops the
    study (its checkpoint kept), and a NaN is that run's failure, its directory intact."""
    import pickle
    import signal

    from lbt.train import Interrupted, NonFiniteError, Trainer

    job = _partial_run(tmp_path)
    checkpoint = (job.out / "checkpoint.pt").read_bytes()

    def interrupted(self: Trainer, iterations: int | None = None) -> dict:
        raise Interrupted(signal.SIGINT, self.iteration, self.out)

    monkeypatch.setattr(Trainer, "fit", interrupted)
    with pytest.raises(Interrupted):
        cmp.run_job(job.cfg.to_dict(), str(job.out))
    assert (job.out / "checkpoint.pt").read_bytes() == checkpoint
    with pytest.raises(LBTError, match="rerun the same lbt compare command"):
        cmp.run_jobs([job], 1, log=lambda _: None)
    assert (job.out / "checkpoint.pt").read_bytes() == checkpoint
    # a worker process hands the interruption back pickled (compare --jobs N)
    again = pickle.loads(pickle.dumps(Interrupted(signal.SIGTERM, 2, job.out)))
    assert isinstance(again, Interrupted) and again.signum == signal.SIGTERM and "iteration 2" in str(again)

    def diverged(self: Trainer, iterations: int | None = None) -> dict:
        raise NonFiniteError(f"non-finite value at iteration {self.iteration + 1}: loss_gen=nan")

    monkeypatch.setattr(Trainer, "fit", diverged)
    failures = cmp.run_jobs([job], 1, log=lambda _: None)
    assert [(j.label, err) for j, err in failures] == [
        ("gan seed 0", "NonFiniteError: non-finite value at iteration 3: loss_gen=nan")
    ]
    assert (job.out / "checkpoint.pt").read_bytes() == checkpoint and (job.out / "config.yaml").exists()


def test_a_run_whose_checkpoint_cannot_be_resumed_starts_again(tmp_path: Path) -> None:
    job = _partial_run(tmp_path)
    (job.out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    metrics = cmp.run_job(job.cfg.to_dict(), str(job.out))
    assert metrics["iterations"] == 4 and (job.out / "metrics.json").exists()

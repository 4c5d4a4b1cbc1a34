"""``train.method=mle``: the teacher fitted to the data by maximum likelihood, and sampled.

The baseline LBT must beat: the same teacher, budget and fitting rate as LBT's own teacher update,
on real data instead of generator samples (docs/methods.md).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from lbt import Trainer, config
from lbt.cli import main
from lbt.config import LBTConfig
from lbt.errors import LBTError
from lbt.methods import MLE, OuterSettings, build_method
from lbt.models.teachers import GaussianEstimator
from lbt.train import make_data

TINY = {"train.method": "mle", "train.iterations": 20, "train.batch_size": 64, "train.gen_batch_size": 64,
        "eval.every": 10, "eval.samples": 2000, "eval.train_samples": 1000}  # fmt: skip
TIMING = {"train_seconds", "wall_seconds"}


def test_gaussian_teacher_converges_to_the_closed_form_mle() -> None:
    """On a fixed sample the fitted diagonal Gaussian is the sample mean and (biased) std."""
    torch.manual_seed(0)
    x = torch.randn(500, 2) * torch.tensor([0.3, 2.0]) + torch.tensor([1.5, -4.0])
    settings = LBTConfig(n_est=1, est_steps=10, est_lr=0.05, est_lr_mult=1.0)
    method = MLE(GaussianEstimator(2), settings, OuterSettings(batch_size=len(x)))
    for _ in range(150):  # 1500 full-batch Adam steps
        logs = method.step(lambda n: x)
    est = method.estimator
    assert torch.allclose(est.mean, x.mean(0), atol=1e-3)
    assert torch.allclose(est.log_std.exp(), x.std(0, unbiased=False), rtol=1e-3)
    assert not list(method.generator.parameters())  # the samples are the teacher's own
    assert method.sample(20_000).mean(0).sub(x.mean(0)).abs().max() < 0.1
    closed = -torch.distributions.Normal(x.mean(0), x.std(0, unbiased=False)).log_prob(x).sum(1).mean()
    assert logs["loss_est"] == pytest.approx(float(closed), abs=1e-4)


def test_mixture_log_likelihood_of_the_ring_rises() -> None:
    trainer = Trainer(preset="ring", overrides=TINY, progress=False)
    before = trainer.evaluate(1000)["elbo_data"]
    trainer.fit()
    after = [row["elbo_data"] for row in trainer.history]
    assert after[-1] > before + 1.0, (before, after)
    assert trainer.metrics["modes_covered"] >= 6 and math.isfinite(trainer.metrics["elbo_gen"])


def test_the_teachers_schedule_is_lbts() -> None:
    """The kernel density's bandwidth anneal advances as under LBT, iteration for iteration."""
    anneal = {"model.kde_anneal_steps": 4, "train.batch_size": 32, "train.gen_batch_size": 32}
    cfgs = {m: config.build("ring-kde", anneal | {"train.method": m}) for m in ("lbt", "mle")}
    methods = {m: build_method(cfg, 2) for m, cfg in cfgs.items()}
    data = make_data(config.build("ring-kde"))
    lbt, mle = methods["lbt"], methods["mle"]
    seen = []
    for _ in range(3):
        for m in methods.values():
            m.step(lambda n: data.sample(n))
        # in units of the data's spread, which each calibrates on its own batch
        lbt_h, mle_h = (float(t.bandwidth / t.scale) for t in (lbt.estimator, mle.estimator))
        assert lbt_h == pytest.approx(mle_h, rel=1e-6)
        seen.append(mle_h)
    assert seen[0] > seen[1] > seen[2]  # the anneal moved


def _same(a: dict, b: dict) -> bool:
    """Equal apart from timing, NaN equal to NaN (a metric with nothing to measure)."""

    def shown(row: dict) -> dict[str, str]:
        return {k: repr(v) for k, v in row.items() if k not in TIMING}

    return shown(a) == shown(b)


@pytest.mark.parametrize(
    ("preset", "extra"),
    [
        ("ring-vae", {}),  # Adam's moments and the step counter to carry on
        ("ring-kde", {}),  # closed form: calibrated once, bandwidth annealed, refitted on data
    ],
)  # fmt: skip
def test_stopped_and_resumed_run_equals_an_uninterrupted_one(tmp_path: Path, preset: str, extra: dict):
    overrides = TINY | extra
    whole = Trainer(preset=preset, overrides=overrides, out_dir=tmp_path / "whole", progress=False)
    whole.fit()
    half = Trainer(preset=preset, overrides=overrides, out_dir=tmp_path / "half", progress=False)
    half.fit(iterations=10)
    resumed = Trainer.resume(tmp_path / "half", progress=False)
    resumed.fit()
    assert len(resumed.history) == len(whole.history) == 2
    assert all(_same(a, b) for a, b in zip(resumed.history, whole.history, strict=True))
    assert _same(resumed.metrics, whole.metrics)
    assert int(resumed.method.steps_done) == 20
    a, b = whole.method.state_dict(), resumed.method.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = whole.method.optimizer_states()["fit_state"], resumed.method.optimizer_states()["fit_state"]
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("preset", ["ring", "ring-vae", "ring-flow"])
def test_cli_trains_each_teacher_by_mle(tmp_path: Path, preset: str) -> None:
    if preset == "ring-flow":
        pytest.importorskip("zuko")
    out = tmp_path / "run"
    args = ["train", "--preset", preset, "--iterations", "4", "--out", str(out), "--no-progress",
            "--set", "train.method=mle", "--set", "eval.every=2", "--set", "eval.samples=1000",
            "--set", "eval.train_samples=500", "--set", "train.batch_size=64"]  # fmt: skip
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == "mle" and metrics["iterations"] == 4
    assert math.isfinite(metrics["elbo_data"]) and (out / "density.png").is_file()


def test_compare_runs_lbt_against_mle(tmp_path: Path) -> None:
    out = tmp_path / "study"
    args = ["compare", "--preset", "ring", "--methods", "lbt,mle", "--seeds", "1", "--iterations", "2",
            "--jobs", "1", "--out", str(out), "--set", "eval.every=2", "--set", "eval.samples=1000",
            "--set", "eval.train_samples=500", "--set", "train.batch_size=64",
            "--set", "train.gen_batch_size=64"]  # fmt: skip
    assert main(args) == 0
    with open(out / "table.csv", newline="") as f:
        assert sorted(r["method"] for r in csv.DictReader(f)) == ["lbt", "mle"]
    assert json.loads((out / "mle" / "seed0" / "metrics.json").read_text())["method"] == "mle"


class _NoSamples(nn.Module):
    """A density with parameters but no ``sample(n)``: nothing for MLE to draw from."""

    def __init__(self) -> None:
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(2))

    def forward(self, x: Tensor) -> Tensor:
        return -0.5 * ((x - self.mean) ** 2).sum(-1)


@pytest.mark.parametrize(
    ("overrides", "modules", "message"),
    [
        ({"train.compile": "inductor"}, {}, "train.method=mle has none (use train.compile=none)"),
        ({"lbt.n_est": 0}, {}, "lbt.n_est * lbt.est_steps gradient steps an iteration, now 0 * 5"),
        ({"train.gen_ema": 0.9}, {}, "train.gen_ema averages a generator; train.method=mle has none"),
        ({}, {"generator": nn.Linear(2, 2)}, "trains no generator"),
        ({}, {"estimator": _NoSamples()}, "has no sample(n)"),
    ],
)
def test_what_mle_cannot_do_is_refused_in_one_line(overrides: dict, modules: dict, message: str) -> None:
    with pytest.raises(LBTError) as info:
        Trainer(preset="ring", overrides=TINY | overrides, progress=False, **modules)
    assert message in str(info.value) and "\n" not in str(info.value)

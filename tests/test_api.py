"""The Python API: your own generator and estimator plug into the trainer."""

import math

import pytest
import torch
from torch import nn

from lbt import Trainer
from lbt.datasets import ring


class FlowLikeEstimator(nn.Module):
    """A user's density model that exposes ``log_prob`` (not ``forward``)."""

    def __init__(self):
        super().__init__()
        self.shift = nn.Parameter(torch.zeros(2))
        self.log_scale = nn.Parameter(torch.zeros(2))

    def forward(self, x):  # deliberately something else
        raise AssertionError("the trainer must call log_prob, not forward")

    def log_prob(self, x):
        z = (x - self.shift) * torch.exp(-self.log_scale)
        return (-0.5 * z**2 - self.log_scale - 0.5 * math.log(2 * math.pi)).sum(-1)

    @torch.no_grad()
    def sample(self, n):
        return self.shift + self.log_scale.exp() * torch.randn(n, 2)


class TinyGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))

    def forward(self, z):
        return self.net(z)

    def sample(self, n):
        return self(torch.randn(n, 4))


def test_user_modules_train_and_sample():
    gen = TinyGenerator()
    before = [p.detach().clone() for p in gen.parameters()]
    fast = {"train.iterations": 20, "eval.every": 10, "eval.samples": 5000, "eval.train_samples": 1000}
    trainer = Trainer(preset="ring", overrides=fast,
                      generator=gen, estimator=FlowLikeEstimator(), progress=False)  # fmt: skip
    metrics = trainer.fit()
    assert metrics["iterations"] == 20 and metrics["modes_total"] == 8
    assert any(not torch.equal(a, b) for a, b in zip(before, gen.parameters(), strict=True))
    assert trainer.sample(7).shape == (7, 2)
    assert len(trainer.history) == 2


def test_in_memory_trainer_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trainer = Trainer(preset="ring", overrides={"train.iterations": 3, "eval.every": 3, "eval.samples": 2000,
                                                "eval.train_samples": 500}, progress=False)  # fmt: skip
    trainer.fit()
    assert list(tmp_path.iterdir()) == []
    x = trainer.sample(100)
    assert torch.isfinite(x).all()
    assert set(trainer.evaluate(2000)) >= {"modes_covered", "high_quality_fraction", "inner_mode_kl"}
    assert ring().dim == 2


@pytest.mark.parametrize(
    ("threads", "omp", "inside"),
    [(0, None, 1), (0, "2", 2), (2, None, 2), (3, "1", 3)],  # point data: one thread unless told
)
def test_training_threads_and_the_callers_restored(monkeypatch, tmp_path, threads, omp, inside):
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    trainer = Trainer(preset="ring", out_dir=tmp_path / "run", progress=False,
                      overrides={"train.threads": threads, "train.iterations": 2, "eval.every": 2,
                                 "eval.samples": 200, "eval.train_samples": 200})  # fmt: skip
    seen, step = [], trainer.method.step

    def counted(*args):
        seen.append(torch.get_num_threads())
        return step(*args)

    monkeypatch.setattr(trainer.method, "step", counted)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        trainer.fit()
        assert seen == [inside, inside] and torch.get_num_threads() == 2
        assert f"torch_threads: {inside}" in (tmp_path / "run" / "config.yaml").read_text()
    finally:
        torch.set_num_threads(before)

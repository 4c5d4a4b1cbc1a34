"""Theorems 1-2 on a closed-form case.

Data N(m, s^2) in 1-D, generator x = a z + b, estimator N(mu, sigma^2) with learnable mean and
log-std. The estimator's MLE on generator samples is (b, |a|), so the LBT objective is maximised
exactly when the generator matches the data: b -> m, |a| -> s.
"""

import pytest
import torch
from torch import nn

from lbt import Trainer
from lbt.datasets import Mixture
from lbt.models import GaussianEstimator


class Affine(nn.Module):
    def __init__(self, a: float, b: float):
        super().__init__()
        self.a = nn.Parameter(torch.tensor([a]))
        self.b = nn.Parameter(torch.tensor([b]))

    def forward(self, z):
        return self.a * z + self.b

    def sample(self, n):
        return self(torch.randn(n, 1))


@pytest.mark.parametrize("inner", ["sgd", "adam"])
def test_lbt_recovers_gaussian_mle(inner):
    m, s = 1.5, 0.7
    data = Mixture(torch.tensor([[m]]), s, "gauss1d")
    gen = Affine(0.2, -0.5)
    overrides = {
        "seed": 3, "train.iterations": 1200, "train.batch_size": 2048, "train.gen_batch_size": 2048,
        "train.gen_lr": 1e-2, "train.gen_lr_final": 1e-4, "lbt.inner_optimizer": inner,
        "lbt.n_est": 1, "lbt.est_steps": 5, "lbt.unroll_steps": 5,
        "lbt.est_lr": 0.2 if inner == "sgd" else 0.05, "lbt.est_lr_mult": 1.0,
        "eval.every": 400, "eval.samples": 20_000, "eval.train_samples": 2000,
    }  # fmt: skip
    trainer = Trainer(preset="ring", overrides=overrides, generator=gen,
                      estimator=GaussianEstimator(1), data=data, progress=False)  # fmt: skip
    start_gap = abs(gen.b.item() - m) + abs(abs(gen.a.item()) - s)
    trainer.fit()
    assert gen.b.item() == pytest.approx(m, abs=0.05)
    assert abs(gen.a.item()) == pytest.approx(s, abs=0.05)
    assert abs(gen.b.item() - m) + abs(abs(gen.a.item()) - s) < start_gap / 10
    # p_E = p_G = p_data at the optimum: the estimator has followed the generator to the MLE.
    est = trainer.method.estimator
    assert est.mean.item() == pytest.approx(m, abs=0.08)
    assert est.log_std.exp().item() == pytest.approx(s, abs=0.08)

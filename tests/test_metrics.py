"""The paper's metrics against distributions whose answers are known."""

import math

import pytest
import torch

from lbt.datasets import grid, ring
from lbt.metrics import gaussian_kl, mode_metrics

HQ_2D = 1 - math.exp(-4.5)  # P(|N(0, I_2)| <= 3) = 1 - exp(-9/2) = 0.98889


@pytest.mark.parametrize("data", [ring(), grid()], ids=["ring", "grid"])
def test_true_mixture_scores_perfectly(data):
    torch.manual_seed(0)
    m = mode_metrics(data.sample(200_000), data.means, data.std)
    assert m.modes_covered == m.modes_total == data.n_modes
    assert m.high_quality_fraction == pytest.approx(HQ_2D, abs=0.002)
    assert m.inner_mode_kl < 0.01


@pytest.mark.parametrize("data", [ring(), grid()], ids=["ring", "grid"])
def test_single_mode_covers_one(data):
    torch.manual_seed(1)
    x = data.means[3] + data.std * torch.randn(100_000, 2)
    m = mode_metrics(x, data.means, data.std)
    assert m.modes_covered == 1
    assert m.high_quality_fraction == pytest.approx(HQ_2D, abs=0.003)
    # Every empty mode contributes the cap, the covered one about 0.
    assert m.inner_mode_kl == pytest.approx(10.0 * (data.n_modes - 1) / data.n_modes, abs=0.01)
    assert m.inner_mode_kl_covered < 0.01


def test_coverage_threshold_is_twenty_percent_of_expected():
    data = ring()
    n_per = 1000
    # mode 0 gets 19% of its expected share, mode 1 gets 21%, the rest get the remainder evenly
    counts = [190, 210] + [n_per] * 6
    extra = 8 * n_per - sum(counts)
    counts[2] += extra
    x = torch.cat([data.means[i] + 0.1 * data.std * torch.randn(c, 2) for i, c in enumerate(counts)])
    m = mode_metrics(x, data.means, data.std)
    assert m.modes_covered == 7


def test_samples_far_from_modes_are_low_quality():
    data = ring()
    x = torch.zeros(1000, 2)  # the ring's centre is 10 std from every mode
    m = mode_metrics(x, data.means, data.std)
    assert m.high_quality_fraction == 0.0
    assert m.modes_covered == 0


def test_gaussian_kl_hand_computed():
    # KL(N(0, I_2) || N(mu, 2 I_2)) = 0.5 * (tr(I/2) + |mu|^2 / 2 - 2 + ln det(2I)), |mu|^2 = 5
    mu = torch.tensor([1.0, 2.0], dtype=torch.float64)
    kl = gaussian_kl(torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64), mu,
                     2 * torch.eye(2, dtype=torch.float64))  # fmt: skip
    assert float(kl) == pytest.approx(0.5 * (1 + 2.5 - 2 + 2 * math.log(2)), rel=1e-12)
    # and zero for identical Gaussians with a full covariance
    cov = torch.tensor([[2.0, 0.3], [0.3, 0.5]], dtype=torch.float64)
    assert float(gaussian_kl(mu, cov, mu, cov)) == pytest.approx(0.0, abs=1e-12)


def test_inner_mode_kl_matches_closed_form_fit():
    # Each mode's samples are its mean +- a along both axes: fitted mean = true mean and fitted
    # covariance = diag(a^2 / 2); so KL(N(mu, s^2 I) || N(mu, a^2/2 I)) = s^2/(a^2/2) - 1 + ln((a^2/2)/s^2).
    data = ring(std=0.1)
    a = 0.05
    offsets = torch.tensor([[a, 0.0], [-a, 0.0], [0.0, a], [0.0, -a]]).repeat(10, 1)
    x = torch.cat([mu + offsets for mu in data.means])
    m = mode_metrics(x, data.means, data.std)
    v = a**2 / 2
    expected = data.std**2 / v - 1 + math.log(v / data.std**2)
    assert m.inner_mode_kl == pytest.approx(expected, rel=1e-4)
    assert m.modes_covered == 8 and m.high_quality_fraction == 1.0


def test_collapsed_within_modes_is_capped():
    data = ring()
    x = data.means.repeat(100, 1)  # every sample exactly at a mode centre
    m = mode_metrics(x, data.means, data.std)
    assert m.modes_covered == 8
    assert m.inner_mode_kl == pytest.approx(10.0)

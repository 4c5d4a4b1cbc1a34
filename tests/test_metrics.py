"""The paper's metrics against distributions whose answers are known."""

import math

import pytest
import torch

from lbt.datasets import grid, ring
from lbt.metrics import (
    PROTOCOLS,
    gaussian_kl,
    mode_metrics,
    pacgan_metrics,
    protocol_metrics,
    protocol_samples,
    veegan_metrics,
)

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


# -- eval.protocol: paper / veegan / pacgan on hand-made samples (docs/metrics.md) ----------------
PROTOCOL_NAMES = ("paper", "veegan", "pacgan")


def _on_modes(means, modes, per_mode=100):
    """``per_mode`` samples exactly on each listed mode centre (a mode may be listed twice)."""
    return torch.cat([means[k].repeat(per_mode, 1) for k in modes])


@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
def test_protocol_all_modes_covered(protocol):
    data = ring()
    m = protocol_metrics(protocol, _on_modes(data.means, range(8)), data.means, data.std)
    assert (m["modes_covered"], m["modes_total"], m["high_quality_fraction"]) == (8, 8, 1.0)
    assert m["samples"] == 800
    if protocol == "pacgan":
        assert m["mode_kl_uniform"] == pytest.approx(0.0, abs=1e-12)  # uniform histogram


@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
def test_protocol_one_mode_only(protocol):
    data = ring()
    m = protocol_metrics(protocol, _on_modes(data.means, [3], 800), data.means, data.std)
    assert (m["modes_covered"], m["high_quality_fraction"]) == (1, 1.0)
    if protocol == "pacgan":
        # p = (0, 0, 0, 1, 0, 0, 0, 0): KL(p || 1/8) = 1 * log(1 / (1/8)) = log 8
        assert m["mode_kl_uniform"] == pytest.approx(math.log(8), rel=1e-12)


@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
def test_protocol_samples_between_modes_are_not_high_quality(protocol):
    # Midpoints of the chords between neighbouring modes: 0.38 from both, more than 3 std (0.3).
    data = ring()
    mid = (data.means + data.means.roll(1, 0)) / 2
    m = protocol_metrics(protocol, mid.repeat(50, 1), data.means, data.std)
    assert (m["modes_covered"], m["high_quality_fraction"]) == (0, 0.0)
    if protocol == "pacgan":
        assert math.isnan(m["mode_kl_uniform"])  # no high-quality sample: no histogram to compare


@pytest.mark.parametrize("protocol", PROTOCOL_NAMES)
def test_protocol_seven_of_eight_modes(protocol):
    # The repeated-mode mistake: eight equal groups of samples, but mode 0 twice and mode 7 never.
    data = ring(std=0.01)
    x = _on_modes(data.means, [0, 1, 2, 3, 4, 5, 6, 0]) + 0.001 * torch.randn(800, 2)
    m = protocol_metrics(protocol, x, data.means, data.std)
    assert (m["modes_covered"], m["modes_total"]) == (7, 8)
    if protocol == "pacgan":
        # p = (2/8, 1/8 x 6, 0): KL = 2/8 * log(2/8 * 8) + 6 * 1/8 * log(1) = log(2) / 4
        assert m["mode_kl_uniform"] == pytest.approx(math.log(2) / 4, rel=1e-9)


def test_one_high_quality_sample_covers_a_mode_under_veegan_and_pacgan_only():
    data = ring()
    x = torch.cat([_on_modes(data.means, [0], 2499), data.means[5:6] + 0.05])  # 1 sample, 0.7 std off
    assert veegan_metrics(x, data.means, data.std)["modes_covered"] == 2
    assert pacgan_metrics(x, data.means, data.std)["modes_covered"] == 2
    # paper: 1 < 20% of 2500 / 8 = 62.5, so mode 5 is not covered
    assert mode_metrics(x, data.means, data.std).modes_covered == 1


def test_three_std_boundary_veegan_inclusive_pacgan_strict():
    # PacGAN's MetricLogger keeps min_dis < 3; VEEGAN says "within": we read it as <=.
    means = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    x = torch.tensor([[3.0, 0.0]])  # exactly 3 std (std = 1) from mode 0
    assert veegan_metrics(x, means, 1.0)["modes_covered"] == 1
    assert pacgan_metrics(x, means, 1.0)["modes_covered"] == 0


def test_protocol_decides_the_sample_count_unless_set():
    from lbt.config import EvalConfig

    assert protocol_samples(EvalConfig()) == 500_000  # paper: eval.samples as given
    veegan = EvalConfig(protocol="veegan")
    assert protocol_samples(veegan) == 2500  # final metrics at the default
    assert protocol_samples(veegan, 500_000) == 2500
    assert protocol_samples(veegan, 20_000) == 2500  # history rows at the default
    assert protocol_samples(veegan, 1234) == 1234  # an explicit count
    assert protocol_samples(EvalConfig(protocol="pacgan", samples=10_000)) == 10_000
    assert protocol_samples(EvalConfig(protocol="pacgan", train_samples=3000), 3000) == 3000
    assert PROTOCOLS["veegan"].samples == PROTOCOLS["pacgan"].samples == 2500


def test_trainer_evaluates_with_the_configured_protocol():
    from lbt.config import build
    from lbt.errors import LBTError
    from lbt.train import Trainer

    with pytest.raises(LBTError):
        build("ring", [("eval.protocol", "nope")])
    trainer = Trainer(build("ring", [("eval.protocol", "pacgan")]), progress=False)
    m = trainer.evaluate()
    assert m["samples"] == 2500 and "mode_kl_uniform" in m and "inner_mode_kl" not in m
    assert trainer.evaluate(300)["samples"] == 300

"""Teachers behind the declared protocols: the kernel density (closed form) and the refitted
mixture, their exact hypergradients against finite differences, the bandwidth rules, and the
adapter for modules whose ``forward()`` returns a distribution."""

import math

import pytest
import torch
from torch import nn

from lbt.config import LBTConfig
from lbt.datasets import grid
from lbt.hypergrad import unrolled
from lbt.methods.base import OuterSettings
from lbt.methods.lbt import LBT
from lbt.models import KDETeacher, MixtureEstimator, Refits, Scheduled, TeacherModule, as_estimator
from lbt.models.teachers import Calibrates

D = torch.float64


class FixedLatentGenerator(nn.Module):
    """A tiny generator whose ``sample(n)`` reuses one fixed latent batch: a deterministic objective."""

    def __init__(self, n: int = 24, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2)).double()
        self.register_buffer("z", torch.randn(n, 3, generator=g, dtype=D))

    def sample(self, n: int) -> torch.Tensor:
        return self.net(self.z[:n])


def _teach_value(method: LBT, x: torch.Tensor) -> float:
    return float(method.teach(x)[1])


def _check_against_central_differences(method: LBT, x: torch.Tensor, h: float = 1e-6) -> None:
    surrogate, _ = method.teach(x)
    params = dict(method.generator.named_parameters())
    grads = torch.autograd.grad(surrogate, list(params.values()))
    for (name, p), g in zip(params.items(), grads, strict=True):
        flat = p.data.view(-1)
        for i in range(flat.numel()):
            old = float(flat[i])
            flat[i] = old + h
            up = _teach_value(method, x)
            flat[i] = old - h
            down = _teach_value(method, x)
            flat[i] = old
            fd = (up - down) / (2 * h)
            assert abs(float(g.view(-1)[i]) - fd) <= 1e-6 * max(1.0, abs(fd)), (
                name,
                i,
                float(g.view(-1)[i]),
                fd,
            )


def test_kde_hypergradient_matches_central_differences():
    torch.manual_seed(0)
    gen = FixedLatentGenerator()
    teacher = KDETeacher(2, bandwidth=0.3).double()
    method = LBT(gen, teacher, LBTConfig(unroll_steps=0, n_est=0, hypergrad="unrolled"),
                 OuterSettings(gen_batch_size=24))  # fmt: skip
    assert method.hypergrad is unrolled
    x = torch.randn(40, 2, dtype=D)
    _check_against_central_differences(method, x)


def test_refitted_mixture_hypergradient_matches_central_differences():
    """Means refitted at generator samples, then K=2 SGD steps: the gradient flows through both."""
    torch.manual_seed(1)
    gen = FixedLatentGenerator(n=16, seed=1)
    teacher = MixtureEstimator(2, components=4, init_from_samples=True).double()
    settings = LBTConfig(unroll_steps=2, n_est=0, inner_optimizer="sgd", est_lr=0.05)
    method = LBT(gen, teacher, settings, OuterSettings(gen_batch_size=16))
    assert method.inner.name == "sgd"  # plain SGD at 0.05
    x = torch.randn(30, 2, dtype=D) * 0.7
    _check_against_central_differences(method, x)


def test_kde_log_prob_is_the_equal_weight_mixture_density():
    data = grid(25, 2.0, 0.3)
    teacher = KDETeacher(2, bandwidth=0.3)
    teacher.centres = data.means.clone()
    x = torch.randn(100, 2) * 3
    assert torch.allclose(teacher(x), data.log_prob(x), atol=1e-4)


def test_fused_kde_log_prob_matches_plain_autograd_and_finite_differences():
    from lbt.models.teachers.kde import kde_log_prob, kde_log_prob_reference

    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 3, dtype=D, generator=g).requires_grad_()
    centres = torch.randn(5, 3, dtype=D, generator=g).requires_grad_()
    h = torch.tensor(0.8, dtype=D, requires_grad=True)
    torch.autograd.gradcheck(kde_log_prob, (x, centres, h))
    weights = torch.randn(7, dtype=D, generator=g)
    fused = torch.autograd.grad((kde_log_prob(x, centres, h) * weights).sum(), (x, centres, h))
    plain = torch.autograd.grad((kde_log_prob_reference(x, centres, h) * weights).sum(), (x, centres, h))
    for a, b in zip(fused, plain, strict=True):
        assert torch.allclose(a, b, atol=1e-10)
    with pytest.raises(RuntimeError):  # first-order only, refused rather than silently wrong
        (gx,) = torch.autograd.grad(kde_log_prob(x, centres, h).sum(), x, create_graph=True)
        gx.sum().backward()


def test_kde_bandwidth_rules():
    anneal = KDETeacher(2, 0.2, rule="anneal", bandwidth_final=0.05, anneal_steps=100)
    for it, want in [(0, 0.2), (50, 0.1), (100, 0.05), (1000, 0.05)]:
        anneal.schedule(it)
        assert float(anneal.bandwidth) == pytest.approx(want, rel=1e-6)
    scott = KDETeacher(2, rule="scott")
    samples = torch.randn(4096, 2, dtype=torch.float64) * 2.0
    want = float(samples.std(0).mean()) * 4096 ** (-1 / 6)
    assert float(scott.refit(samples)["bandwidth"]) == pytest.approx(want, rel=1e-9)
    relative = KDETeacher(2, 0.1, relative=True)
    relative.calibrate(torch.randn(20000, 2) * 3.0)
    assert float(relative.bandwidth) == pytest.approx(0.3, rel=0.03)
    relative.calibrate(torch.randn(100, 2) * 100.0)  # calibrated once: the unit stays
    assert float(relative.bandwidth) == pytest.approx(0.3, rel=0.03)
    assert (
        isinstance(relative, Refits) and isinstance(relative, Scheduled) and isinstance(relative, Calibrates)
    )


def test_kde_teacher_checkpoint_round_trip():
    a = KDETeacher(2, 0.1)
    a.centres = torch.randn(37, 2)
    b = KDETeacher(2, 0.1)
    b.load_state_dict(a.state_dict())
    x = torch.randn(5, 2)
    assert torch.equal(a(x), b(x))


@pytest.mark.parametrize("smooth", [False, True])
def test_kde_teaching_optimum_is_the_data_deconvolved_unless_the_data_is_blurred_too(smooth):
    """Data N(0, 1), generator a * z, a kernel of width h: the teaching loss is a Gaussian's
    likelihood of variance a^2 + h^2, so its optimum is a^2 = 1 - h^2 on raw data (thinner than the
    data) and a = 1 when the data is read through the same kernel (``smooth_data``)."""
    torch.manual_seed(0)
    h = 0.7
    kde = KDETeacher(1, h, smooth_data=smooth)
    z, x = torch.randn(4000, 1), torch.randn(4000, 1)
    a = torch.tensor(0.3, requires_grad=True)
    opt = torch.optim.Adam([a], lr=0.02)
    tail = []
    for step in range(500):
        kde.centres = a * z
        loss = -kde(kde.view_data(x)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step >= 400:
            tail.append(float(a.detach()))
    want = 1.0 if smooth else math.sqrt(1 - h**2)
    assert sum(tail) / len(tail) == pytest.approx(want, abs=0.04)


class _DistributionFactory(nn.Module):
    """Like a zuko flow: ``forward()`` builds a distribution from the module's parameters."""

    def __init__(self):
        super().__init__()
        self.loc = nn.Parameter(torch.tensor([0.5, -1.0]))
        self.log_scale = nn.Parameter(torch.tensor([0.0, 0.3]))

    def forward(self):
        base = torch.distributions.Normal(self.loc, self.log_scale.exp())
        return torch.distributions.Independent(base, 1)


def test_as_estimator_adapts_distribution_factories_and_log_prob_modules():
    factory = _DistributionFactory()
    adapted = as_estimator(factory)
    x = torch.randn(7, 2)
    assert torch.allclose(adapted(x), factory().log_prob(x))
    assert adapted.sample(11).shape == (11, 2)
    params = {"inner.loc": torch.zeros(2), "inner.log_scale": torch.zeros(2)}  # swapped in by the unroll
    want = torch.distributions.Independent(torch.distributions.Normal(torch.zeros(2), 1.0), 1).log_prob(x)
    assert torch.allclose(torch.func.functional_call(adapted, params, (x,)), want)

    class WithLogProb(nn.Module):
        def log_prob(self, x):
            return -(x**2).sum(-1)

    assert torch.equal(as_estimator(WithLogProb())(x), -(x**2).sum(-1))
    mixture = MixtureEstimator(2, 3)
    assert as_estimator(mixture) is mixture and isinstance(mixture, TeacherModule)


def test_kde_lbt_moves_samples_towards_the_data():
    """A few exact-hypergradient steps on the 25-mode grid raise the data's likelihood under a
    kernel density of the generated samples (the objective being taught)."""
    from lbt import Trainer
    from lbt.models.teachers import kde_log_prob

    trainer = Trainer(preset="grid25", overrides={"train.iterations": 150, "eval.every": 150,
                      "eval.samples": 5000, "eval.train_samples": 5000, "train.batch_size": 256,
                      "train.gen_batch_size": 512}, progress=False)  # fmt: skip
    x = trainer.data.sample(4000)
    h = torch.tensor(0.25)
    before = kde_log_prob(x, trainer.sample(4000), h).mean()
    trainer.fit()
    after = kde_log_prob(x, trainer.sample(4000), h).mean()
    assert after > before + 1.0, (float(before), float(after))
    assert math.isfinite(trainer.history[-1]["elbo_data"])


@pytest.mark.parametrize("dim", [2, 40])
def test_mixture_log_prob_is_the_density_by_either_route(dim):
    """The broadcast route (low D) and the matrix-product route (high D, no B x C x D temporary)
    give the mixture's density, checked against torch.distributions in float64."""
    from lbt.models.teachers.mixture import diag_mixture_log_prob

    g = torch.Generator().manual_seed(0)
    x, means = torch.randn(30, dim, generator=g).double(), torch.randn(5, dim, generator=g).double()
    log_stds = 0.3 * torch.randn(5, dim, generator=g).double()
    log_w = torch.log_softmax(torch.randn(5, generator=g).double(), 0)
    comps = torch.distributions.Independent(torch.distributions.Normal(means, log_stds.exp()), 1)
    mix = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(logits=log_w), comps)
    torch.testing.assert_close(diag_mixture_log_prob(x, means, log_stds, log_w), mix.log_prob(x))


def test_categorical_vae_elbo_is_the_mixture_density_less_the_posterior_gap():
    """ELBO = log p(x) - KL(q(c|x) || p(c|x)): equal to the mixture's log density while the encoder
    is the exact posterior (its initial state), strictly below by exactly that KL once it is not."""
    from lbt.models.teachers import CategoricalVAE
    from lbt.models.teachers.mixture import diag_gaussian_log_probs, diag_mixture_log_prob

    torch.manual_seed(2)
    vae = CategoricalVAE(2, codes=12, x_var=0.05).double()
    x = torch.randn(30, 2, dtype=D)
    with torch.no_grad():
        vae.prior_logits.copy_(torch.randn(12, dtype=D))
        vae.enc_bias.copy_(torch.log_softmax(vae.prior_logits, 0))  # still the exact posterior
    log_p = diag_mixture_log_prob(x, vae.means, vae.log_stds, torch.log_softmax(vae.prior_logits, 0))
    assert torch.allclose(vae(x), log_p, atol=1e-12)
    with torch.no_grad():
        vae.enc_centres.add_(0.3 * torch.randn_like(vae.enc_centres))
    log_joint = diag_gaussian_log_probs(x, vae.means, vae.log_stds) + torch.log_softmax(vae.prior_logits, 0)
    log_post = log_joint - log_p[:, None]
    log_q = vae.encode(x)
    kl = (log_q.exp() * (log_q - log_post)).sum(-1)
    assert float(kl.detach().min()) > 1e-6
    assert torch.allclose(vae(x), log_p - kl, atol=1e-10)


def test_categorical_vae_code_widths_floor_is_soft():
    """With ``min_std`` a code's width is ``min_std + exp(parameter)``: above the floor at any
    parameter, with a live gradient."""
    from lbt.models.teachers import CategoricalVAE

    vae = CategoricalVAE(2, codes=3, x_var=0.01, min_std=0.05).double()
    with torch.no_grad():
        vae.log_stds.copy_(
            torch.tensor([[-20.0, -3.0], [math.log(0.05), 0.0], [math.log(2.0), 1.0]], dtype=D)
        )
    stds = vae.decoder_log_stds().exp()
    values = stds.detach()
    assert bool((values > 0.05).all())
    assert float(values[0, 0]) == pytest.approx(0.05, rel=1e-6)  # far below: the floor
    assert float(values[2, 0]) == pytest.approx(2.05, rel=1e-6)  # far above: the parameter's own + the floor
    stds.sum().backward()
    assert bool((vae.log_stds.grad[:, 1] > 0).all())  # never a dead gradient
    plain = CategoricalVAE(2, codes=3)
    assert plain.decoder_log_stds() is plain.log_stds  # no floor: the parameter itself


def test_categorical_vae_hypergradient_matches_central_differences():
    """K = 2 Adam steps on the ELBO (encoder, decoder and prior all unrolled) against finite differences."""
    from lbt.models.teachers import CategoricalVAE

    torch.manual_seed(3)
    gen = FixedLatentGenerator(n=16, seed=3)
    teacher = CategoricalVAE(2, codes=6, x_var=0.1).double()
    settings = LBTConfig(unroll_steps=2, n_est=0, est_lr=0.05, adam_second_moment_grad=True)
    method = LBT(gen, teacher, settings, OuterSettings(gen_batch_size=16))
    x = torch.randn(30, 2, dtype=D) * 0.7
    _check_against_central_differences(method, x)

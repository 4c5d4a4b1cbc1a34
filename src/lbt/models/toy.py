"""Networks for low-dimensional data: the paper's MLP generator and VAE, plus cheap estimators.

Every estimator's ``forward(x)`` returns a per-sample log-likelihood (or a lower bound on it, the
ELBO for the VAE). That single convention is what the unroll differentiates through with
``torch.func.functional_call``; a user's module that names it ``log_prob`` or ``elbo`` instead is
adapted by :func:`as_estimator`. The ``build_*`` functions at the end make each network from a
config; :mod:`lbt.models` names them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from lbt.config import Config


class TeacherModule(nn.Module):
    """Base of the package's teachers: ``forward(x)`` is already the per-sample log-density."""


def mlp(sizes: list[int], activation: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    """Dense layers with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def glorot_(module: nn.Module) -> nn.Module:
    """TensorFlow's default dense init (Glorot-uniform weights, zero bias), as in the official code."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def bn_mlp(sizes: list[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Like :func:`mlp`, but each hidden layer is a bias-free dense layer, batch norm, activation.

    The batch norm is that of PacGAN's 2-D generator (Blocks' defaults: epsilon 1e-4; population
    statistics averaged with weight 0.05 per step); the output layer keeps its bias.
    """
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        hidden = i < len(sizes) - 2
        layers.append(nn.Linear(a, b, bias=not hidden))
        if hidden:
            layers += [nn.BatchNorm1d(b, eps=1e-4, momentum=0.05), activation()]
    return nn.Sequential(*layers)


ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU}


class MLPGenerator(nn.Module):
    """x = G(z), z ~ N(0, I); the paper's is two tanh hidden layers of 128 and a linear output."""

    def __init__(self, z_dim: int = 256, x_dim: int = 2, hidden: int = 128, layers: int = 2,
                 activation: str = "tanh", batchnorm: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.z_dim = z_dim
        build = bn_mlp if batchnorm else mlp  # batchnorm: PacGAN's 2-D generator (bn_mlp)
        self.net = glorot_(build([z_dim] + [hidden] * layers + [x_dim], ACTIVATIONS[activation]))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)

    def sample(self, n: int) -> Tensor:
        return self(
            torch.randn(n, self.z_dim, device=self.net[0].weight.device, dtype=self.net[0].weight.dtype)
        )


class VAE(TeacherModule):
    """Gaussian VAE with a fixed decoder variance; ``forward`` is the one-sample ELBO per example.

    As in the official code: tanh MLPs with two hidden layers of 128, latent 32, decoder variance
    1e-3, analytic KL to the standard-normal prior, a single reparameterised sample.
    """

    def __init__(self, x_dim: int = 2, latent: int = 32, hidden: int = 128, x_var: float = 1e-3) -> None:
        super().__init__()
        self.latent = latent
        self.x_var = x_var
        self.encoder = glorot_(mlp([x_dim, hidden, hidden, 2 * latent]))
        self.decoder = glorot_(mlp([latent, hidden, hidden, x_dim]))

    def forward(self, x: Tensor) -> Tensor:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        x_mean = self.decoder(z)
        d = x.shape[-1]
        log_px = -0.5 * (d * math.log(2 * math.pi * self.x_var) + ((x - x_mean) ** 2).sum(-1) / self.x_var)
        kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(-1)
        return log_px - kl

    elbo = forward

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        """Decoder means at prior draws (what the official code plots as the estimator's samples)."""
        z = torch.randn(
            n, self.latent, device=self.decoder[0].weight.device, dtype=self.decoder[0].weight.dtype
        )
        return self.decoder(z)


class GaussianEstimator(TeacherModule):
    """Diagonal Gaussian with learnable mean and log-std: the closed-form case of Theorems 1-2."""

    def __init__(self, x_dim: int = 1):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(x_dim))
        self.log_std = nn.Parameter(torch.zeros(x_dim))

    def forward(self, x: Tensor) -> Tensor:
        z = (x - self.mean) * torch.exp(-self.log_std)
        return (-0.5 * z**2 - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        return self.mean + torch.exp(self.log_std) * torch.randn(
            n, self.mean.numel(), device=self.mean.device, dtype=self.mean.dtype
        )


class MixtureEstimator(TeacherModule):
    """Mixture of diagonal Gaussians with exact log-likelihood.

    Far cheaper to unroll than a VAE (no encoder, no sampling noise in the objective), and exact
    rather than a bound, so the hypergradient is less noisy: the estimator behind the fast presets.
    """

    def __init__(
        self,
        x_dim: int = 2,
        components: int = 64,
        init_scale: float = 1.0,
        init_std: float = 0.5,
        init_from_samples: bool = False,
    ):
        super().__init__()
        self.init_from_samples = init_from_samples
        self.means = nn.Parameter(init_scale * torch.randn(components, x_dim))
        self.log_stds = nn.Parameter(torch.full((components, x_dim), math.log(init_std)))
        self.logits = nn.Parameter(torch.zeros(components))

    def forward(self, x: Tensor) -> Tensor:
        z = (x[:, None, :] - self.means) * torch.exp(-self.log_stds)  # (B, C, D)
        log_comp = (-0.5 * z**2 - self.log_stds).sum(-1) - 0.5 * x.shape[-1] * math.log(2 * math.pi)
        return torch.logsumexp(log_comp + torch.log_softmax(self.logits, 0), dim=-1)

    def refit(self, x: Tensor) -> dict[str, Tensor]:
        """Means placed at generator samples (the 'random sample' init of k-means).

        Only with ``init_from_samples``: every fit of E starts from the generator's current
        samples and is refined by the K gradient steps. The init is differentiable in ``x``, so the
        hypergradient also flows through it -- a much stronger signal when modes are narrow.
        """
        return {"means": x[: self.means.shape[0]]} if self.init_from_samples else {}

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        idx = torch.multinomial(torch.softmax(self.logits, 0), n, replacement=True)
        return self.means[idx] + torch.exp(self.log_stds[idx]) * torch.randn(
            n, self.means.shape[1], device=self.means.device, dtype=self.means.dtype
        )


class _MethodAsForward(TeacherModule):
    """A user's density model seen through the ``forward(x) = log p(x)`` convention."""

    def __init__(self, inner: nn.Module, method: str):
        super().__init__()
        self.inner = inner
        self.method = method

    def forward(self, x: Tensor) -> Tensor:
        if self.method == "distribution":  # zuko-style: forward() builds the distribution
            return self.inner().log_prob(x)
        return getattr(self.inner, self.method)(x)

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        if self.method == "distribution":
            return self.inner().sample((n,))
        return self.inner.sample(n)


def _returns_distribution(module: nn.Module) -> bool:
    """Whether ``module()`` (no input) builds a ``torch.distributions.Distribution``, as flows do."""
    try:
        with torch.no_grad():
            return isinstance(module(), torch.distributions.Distribution)
    except TypeError:  # forward needs an input: it is not a distribution factory
        return False


def as_estimator(module: nn.Module) -> nn.Module:
    """Adapt a user's density model to the ``forward(x) = log p(x)`` convention.

    The package's teachers (:class:`TeacherModule`) already follow it. Otherwise, in this order: a
    module with a ``log_prob`` method, one with an ``elbo`` method, and one whose ``forward()``
    returns a ``torch.distributions.Distribution`` (zuko flows) are wrapped; anything else is taken
    to return a per-sample log-density from ``forward(x)`` already.
    """
    if isinstance(module, TeacherModule):
        return module
    for name in ("log_prob", "elbo"):
        if callable(getattr(module, name, None)):
            return _MethodAsForward(module, name)
    if _returns_distribution(module):
        return _MethodAsForward(module, "distribution")
    return module


# -- builders: ``model.generator`` / ``model.estimator=NAME`` (registered in lbt.models) ----------
def build_mlp_generator(cfg: Config, x_dim: int) -> MLPGenerator:
    """``mlp``: the paper's generator (``model.gen_layers`` layers of ``model.gen_hidden``)."""
    m = cfg.model
    return MLPGenerator(m.z_dim, x_dim, m.gen_hidden, m.gen_layers, m.gen_activation)


def build_mlp_bn_generator(cfg: Config, x_dim: int) -> MLPGenerator:
    """``mlp-bn``: the same with batch norm in every hidden layer (PacGAN's 2-D generator)."""
    m = cfg.model
    return MLPGenerator(m.z_dim, x_dim, m.gen_hidden, m.gen_layers, m.gen_activation, batchnorm=True)


def build_vae(cfg: Config, x_dim: int) -> VAE:
    m = cfg.model
    return VAE(x_dim, m.vae_latent, m.est_hidden, m.vae_x_var)


def build_mixture(cfg: Config, x_dim: int) -> MixtureEstimator:
    m = cfg.model
    return MixtureEstimator(x_dim, m.mixture_components, init_std=m.mixture_init_std,
                            init_from_samples=m.mixture_init == "samples")  # fmt: skip


def build_gaussian(cfg: Config, x_dim: int) -> GaussianEstimator:
    return GaussianEstimator(x_dim)

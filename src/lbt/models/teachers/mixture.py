"""Cheap exact teachers: a diagonal Gaussian and a mixture of diagonal Gaussians.

Their log-likelihood is exact rather than a bound and costs no sampling, so the hypergradient
through them is less noisy than through a VAE; the mixture is the teacher of the fast presets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from lbt.models.teachers.adapt import TeacherModule

if TYPE_CHECKING:
    from lbt.config import Config


@dataclass
class MixtureConfig:
    """The mixture teacher's ``model.mixture_*`` keys (part of ``model``)."""

    mixture_components: int = 64
    mixture_init_std: float = 0.5
    mixture_init: str = "random"  # random | samples (means re-initialised at generator samples)


# Above this many coordinates the squared distances come from matrix products (memory B x C, not
# B x C x D); at or below it the direct broadcast keeps the 2-D presets' numbers bit for bit.
MATMUL_ABOVE_DIM = 16


def diag_gaussian_log_probs(x: Tensor, means: Tensor, log_stds: Tensor) -> Tensor:
    """log N(x_b; m_c, diag(s_c^2)) for every row b of ``x`` (B, D) and component c: shape (B, C)."""
    d = x.shape[-1]
    if d <= MATMUL_ABOVE_DIM:
        z = (x[:, None, :] - means) * torch.exp(-log_stds)  # (B, C, D)
        return (-0.5 * z**2 - log_stds).sum(-1) - 0.5 * d * math.log(2 * math.pi)
    # sum_d (x_d - m_cd)^2 p_cd = x^2 p^T - 2 x (m p)^T + sum_d m^2 p, with p = 1 / s^2
    prec = torch.exp(-2 * log_stds)
    sq = (x**2) @ prec.T - 2 * x @ (means * prec).T + (means**2 * prec).sum(-1)
    return -0.5 * sq.clamp_min(0) - log_stds.sum(-1) - 0.5 * d * math.log(2 * math.pi)


def diag_mixture_log_prob(x: Tensor, means: Tensor, log_stds: Tensor, log_weights: Tensor) -> Tensor:
    """log sum_c w_c N(x; m_c, diag(s_c^2)) per row of ``x`` (B, D); ``means``/``log_stds`` (C, D)."""
    return torch.logsumexp(diag_gaussian_log_probs(x, means, log_stds) + log_weights, dim=-1)


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
        return diag_mixture_log_prob(x, self.means, self.log_stds, torch.log_softmax(self.logits, 0))

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


def build_mixture(cfg: Config, x_dim: int) -> MixtureEstimator:
    m: MixtureConfig = cfg.model
    return MixtureEstimator(x_dim, m.mixture_components, init_std=m.mixture_init_std,
                            init_from_samples=m.mixture_init == "samples")  # fmt: skip


def build_gaussian(cfg: Config, x_dim: int) -> GaussianEstimator:
    return GaussianEstimator(x_dim)

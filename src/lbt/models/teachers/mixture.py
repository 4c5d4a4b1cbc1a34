"""Cheap exact teachers: a diagonal Gaussian and a mixture of diagonal Gaussians.

Their log-likelihood is exact rather than a bound and costs no sampling, so the hypergradient
through them is less noisy than through a VAE; the mixture is the teacher of the fast presets.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from lbt.models.teachers.adapt import TeacherModule

if TYPE_CHECKING:
    from lbt.config import Config


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


def build_mixture(cfg: Config, x_dim: int) -> MixtureEstimator:
    m = cfg.model
    return MixtureEstimator(x_dim, m.mixture_components, init_std=m.mixture_init_std,
                            init_from_samples=m.mixture_init == "samples")  # fmt: skip


def build_gaussian(cfg: Config, x_dim: int) -> GaussianEstimator:
    return GaussianEstimator(x_dim)

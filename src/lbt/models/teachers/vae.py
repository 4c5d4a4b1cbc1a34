"""The paper's teacher for low-dimensional data: a Gaussian VAE whose ``forward`` is the ELBO."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from lbt.models.generators import glorot_, mlp
from lbt.models.teachers.adapt import TeacherModule

if TYPE_CHECKING:
    from lbt.config import Config


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


def build_vae(cfg: Config, x_dim: int) -> VAE:
    m = cfg.model
    return VAE(x_dim, m.vae_latent, m.est_hidden, m.vae_x_var)

"""The paper's teacher for low-dimensional data: a Gaussian VAE whose ``forward`` is the ELBO."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from lbt.models.generators import glorot_, mlp
from lbt.models.teachers.adapt import TeacherModule
from lbt.models.teachers.mixture import diag_gaussian_log_probs

if TYPE_CHECKING:
    from lbt.config import Config


@dataclass
class VAEConfig:
    """The VAE teacher's ``model.vae_*`` keys and its width (part of ``model``)."""

    est_hidden: int = 128  # hidden width of the encoder and the decoder
    vae_latent: int = 32  # latent dimensions (categorical-vae: codes)
    vae_x_var: float = 1e-3
    vae_min_std: float = 0.0  # categorical-vae: > 0, a soft floor under the codes' standard deviations


class VAE(TeacherModule):
    """Gaussian VAE with a fixed decoder variance; ``forward`` is the one-sample ELBO per example.

    As in the official code: tanh MLPs with two hidden layers of 128, latent 32, decoder variance
    1e-3, analytic KL to the standard-normal prior, a single reparameterised sample.
    """

    def __init__(
        self,
        x_dim: int = 2,
        latent: int = 32,
        hidden: int = 128,
        x_var: float = 1e-3,
    ) -> None:
        super().__init__()
        self.latent = latent
        self.x_var = x_var
        self.encoder = glorot_(mlp([x_dim, hidden, hidden, 2 * latent]))
        self.decoder = glorot_(mlp([latent, hidden, hidden, x_dim]))
        self._register_load_state_dict_pre_hook(self._drop_x_var)

    def _drop_x_var(self, state: dict, prefix: str, *_: object) -> None:
        """Checkpoints from the days of the variance anneal carry it as a buffer; it is the configured
        constant (a run that annealed it is refused by its config's removed keys)."""
        state.pop(prefix + "x_var", None)

    def forward(self, x: Tensor) -> Tensor:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        x_mean = self.decoder(z)
        log_norm = x.shape[-1] * math.log(2 * math.pi * self.x_var)
        log_px = -0.5 * (log_norm + ((x - x_mean) ** 2).sum(-1) / self.x_var)
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


class CategoricalVAE(TeacherModule):
    """A VAE whose latent is one of ``codes`` categories; ``forward`` is the exact ELBO per example.

    The decoder maps each code to a diagonal Gaussian (a mean and a learned variance per code,
    starting at ``x_var``); the encoder q(c|x) is a radial-basis network (its own centres, widths and
    biases: the family the exact posterior lies in, so the bound can become tight); the prior's
    weights are learned. The expectation over the code is a sum over all codes, so the ELBO is
    deterministic. A decoder update moves only the codes the encoder assigns a sample to, so the
    teacher answers locally, as a mixture's components do, where the Gaussian-latent MLP VAE
    answers across the whole space (notes/journal.md, grid-vae).
    """

    def __init__(
        self,
        x_dim: int = 2,
        codes: int = 256,
        x_var: float = 1e-2,
        init_scale: float = 1.0,
        min_std: float = 0.0,
    ):
        super().__init__()
        self.min_log_std = math.log(min_std) if min_std > 0 else None
        means = init_scale * torch.randn(codes, x_dim)
        log_stds = torch.full((codes, x_dim), 0.5 * math.log(x_var))
        self.means, self.log_stds = nn.Parameter(means), nn.Parameter(log_stds)
        self.prior_logits = nn.Parameter(torch.zeros(codes))
        # The encoder starts as the exact posterior of the initial decoder; from then on it learns apart.
        self.enc_centres, self.enc_log_widths = nn.Parameter(means.clone()), nn.Parameter(log_stds.clone())
        self.enc_bias = nn.Parameter(torch.zeros(codes))

    def encode(self, x: Tensor) -> Tensor:
        """log q(c | x), shape (B, codes)."""
        logits = diag_gaussian_log_probs(x, self.enc_centres, self.enc_log_widths) + self.enc_bias
        return torch.log_softmax(logits, dim=-1)

    def decoder_log_stds(self) -> Tensor:
        """The codes' log standard deviations: ``log(min_std + exp(log_stds))`` where a floor is set.

        Codes far narrower than the spacing of the data's modes make a mode that no code covers cost
        (distance / std)^2 nats, and that one term then steers the whole hypergradient. The floor is
        additive, so the gradient is never dead and a code far above it keeps its own width.
        """
        if self.min_log_std is None:
            return self.log_stds
        return torch.logaddexp(self.log_stds, torch.full_like(self.log_stds, self.min_log_std))

    def forward(self, x: Tensor) -> Tensor:
        log_q = self.encode(x)
        log_prior = torch.log_softmax(self.prior_logits, 0)
        log_joint = diag_gaussian_log_probs(x, self.means, self.decoder_log_stds()) + log_prior
        return (log_q.exp() * (log_joint - log_q)).sum(-1)

    elbo = forward

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        """Codes from the prior, then the decoder's Gaussian."""
        c = torch.multinomial(torch.softmax(self.prior_logits, 0), n, replacement=True)
        return self.means[c] + torch.exp(self.decoder_log_stds()[c]) * torch.randn_like(self.means[c])


def build_categorical_vae(cfg: Config, x_dim: int) -> CategoricalVAE:
    m: VAEConfig = cfg.model
    return CategoricalVAE(x_dim, m.vae_latent, m.vae_x_var, min_std=m.vae_min_std)


def build_vae(cfg: Config, x_dim: int) -> VAE:
    m: VAEConfig = cfg.model
    return VAE(x_dim, m.vae_latent, m.est_hidden, m.vae_x_var)

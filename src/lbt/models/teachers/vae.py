"""The paper's teacher for low-dimensional data: a Gaussian VAE whose ``forward`` is the ELBO."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from lbt.errors import LBTError
from lbt.models.generators import glorot_, mlp
from lbt.models.teachers.adapt import TeacherModule
from lbt.models.teachers.mixture import diag_mixture_log_prob

if TYPE_CHECKING:
    from lbt.config import Config


@dataclass
class VAEConfig:
    """The VAE teacher's ``model.vae_*`` keys and its width (part of ``model``)."""

    est_hidden: int = 128  # hidden width of the encoder and the decoder
    vae_latent: int = 32
    vae_x_var: float = 1e-3
    vae_x_var_final: float = -1.0  # > 0: decoder variance annealed geometrically to this value
    vae_anneal_steps: int = 0  # ... over this many iterations
    vae_prior_components: int = 0  # > 0: a learned Gaussian-mixture prior of this many components
    vae_prior_std: float = 0.1  # ... each component's initial standard deviation
    vae_prior_rate: float = 1.0  # ... its parameters move this many times the teacher's rate
    vae_residual: bool = False  # encoder / decoder means x + MLP(x), z + MLP(z), from the identity


class VAE(TeacherModule):
    """Gaussian VAE with a fixed decoder variance; ``forward`` is the one-sample ELBO per example.

    As in the official code: tanh MLPs with two hidden layers of 128, latent 32, decoder variance
    1e-3, analytic KL to the standard-normal prior, a single reparameterised sample.

    With ``x_var_final > 0`` the decoder variance is annealed geometrically from ``x_var`` to it
    over ``anneal_steps`` iterations (:meth:`schedule`): a wide decoder is a smooth density that
    every generated sample feels, as the kernel density's wide bandwidth is, and it sharpens to
    the modes' own width. The variance is a buffer, so a checkpoint carries it.

    ``residual`` (latent = data dimension) makes both means residual, ``x + MLP(x)`` and
    ``z + MLP(z)``, starting at the identity. With ``prior_components > 0`` the prior is a learned
    mixture of that many diagonal Gaussians in the latent space (a Gaussian-mixture VAE) and the
    KL term is estimated with the same one
    sample, ``log q(z|x) - log p(z)``: a prior component answers to the samples whose codes fall
    near it, so the teacher's response to one sample is local, as a kernel's is. ``prior_rate``
    stores the prior's parameters divided by it (and multiplies them back): Adam moves a stored
    parameter by about the rate a step, so the prior moves ``prior_rate`` times as fast as the
    networks, with one optimizer and one rate.
    """

    def __init__(
        self,
        x_dim: int = 2,
        latent: int = 32,
        hidden: int = 128,
        x_var: float = 1e-3,
        *,
        x_var_final: float = -1.0,
        anneal_steps: int = 0,
        prior_components: int = 0,
        prior_std: float = 0.1,
        prior_rate: float = 1.0,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.latent = latent
        self.x_var0 = x_var
        self.x_var1 = x_var if x_var_final <= 0 else x_var_final
        self.anneal_steps = anneal_steps
        self.prior_components = prior_components
        self.encoder = glorot_(mlp([x_dim, hidden, hidden, 2 * latent]))
        self.decoder = glorot_(mlp([latent, hidden, hidden, x_dim]))
        self.residual = residual
        if residual:  # means x + MLP(x) and z + MLP(z), starting at the identity
            if latent != x_dim:
                raise LBTError(f"model.vae_residual needs model.vae_latent = the data's dimension ({x_dim})")
            nn.init.zeros_(self.decoder[-1].weight)
            nn.init.zeros_(self.encoder[-1].weight)
            with torch.no_grad():  # the posterior's std starts at the prior components'
                self.encoder[-1].bias[latent:] = 2 * math.log(prior_std)
        self.register_buffer("x_var", torch.tensor(float(x_var)))
        self.prior_rate = prior_rate
        if prior_components > 0:
            self.prior_means = nn.Parameter(torch.randn(prior_components, latent) / prior_rate)
            self.prior_log_stds = nn.Parameter(
                torch.full((prior_components, latent), math.log(prior_std) / prior_rate)
            )
            self.prior_logits = nn.Parameter(torch.zeros(prior_components))
        self._register_load_state_dict_pre_hook(self._default_x_var)

    def _default_x_var(self, state: dict, prefix: str, *_: object) -> None:
        """Checkpoints written before the variance was a buffer load with the configured one."""
        state.setdefault(prefix + "x_var", self.x_var.detach().clone())

    def schedule(self, iteration: int) -> None:
        """The decoder variance at ``iteration``: constant, or on its geometric anneal."""
        if self.x_var1 != self.x_var0:
            t = min(iteration / max(self.anneal_steps, 1), 1.0)
            self.x_var.fill_(self.x_var0 * (self.x_var1 / self.x_var0) ** t)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return (x + mu if self.residual else mu), logvar

    def forward(self, x: Tensor) -> Tensor:
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        x_mean = self.decode(z)
        d = x.shape[-1]
        # A constant variance stays a Python number (the arithmetic as it always was); an annealed
        # one is read from its buffer.
        x_var: Tensor | float = self.x_var if self.x_var1 != self.x_var0 else self.x_var0
        log_norm = d * (
            torch.log(2 * math.pi * x_var) if isinstance(x_var, Tensor) else math.log(2 * math.pi * x_var)
        )
        log_px = -0.5 * (log_norm + ((x - x_mean) ** 2).sum(-1) / x_var)
        if self.prior_components:  # one-sample KL to the learned mixture prior
            eps = (z - mu) * torch.exp(-0.5 * logvar)
            log_q = (-0.5 * eps**2 - 0.5 * logvar).sum(-1) - 0.5 * self.latent * math.log(2 * math.pi)
            log_p = diag_mixture_log_prob(z, *self.prior())
            return log_px - (log_q - log_p)
        kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(-1)
        return log_px - kl

    elbo = forward

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        """Decoder means at prior draws (what the official code plots as the estimator's samples)."""
        w = self.decoder[0].weight
        z = torch.randn(n, self.latent, device=w.device, dtype=w.dtype)
        if self.prior_components:
            means, log_stds, log_w = self.prior()
            idx = torch.multinomial(log_w.exp(), n, replacement=True)
            z = means[idx] + torch.exp(log_stds[idx]) * z
        return self.decode(z)

    def prior(self) -> tuple[Tensor, Tensor, Tensor]:
        """The mixture prior's means, log-stds and log-weights (stored divided by ``prior_rate``)."""
        r = self.prior_rate
        return self.prior_means * r, self.prior_log_stds * r, torch.log_softmax(self.prior_logits * r, 0)

    def decode(self, z: Tensor) -> Tensor:
        return z + self.decoder(z) if self.residual else self.decoder(z)


def build_vae(cfg: Config, x_dim: int) -> VAE:
    m: VAEConfig = cfg.model
    return VAE(x_dim, m.vae_latent, m.est_hidden, m.vae_x_var, x_var_final=m.vae_x_var_final,
               anneal_steps=m.vae_anneal_steps, prior_components=m.vae_prior_components,
               prior_std=m.vae_prior_std, prior_rate=m.vae_prior_rate, residual=m.vae_residual)  # fmt: skip

"""VEEGAN (Srivastava et al. 2017): a reconstructor network that inverts the generator.

A reconstructor ``F: x -> z`` is trained to map generated points back to the noise that made
them; a discriminator on ``(z, x)`` pairs tells generator pairs ``(z, G(z))`` from data pairs
``(F(x), x)``. The generator minimises the paper's objective (Eq. 8): the discriminator's
log-ratio estimate on its own pairs plus the reconstruction error ``||z - F(G(z))||^2``; the
reconstructor minimises the reconstruction error. Collapsing two modes onto one makes ``G``
non-invertible, which the reconstruction term penalises.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from lbt.errors import LBTError
from lbt.methods.base import DataFn, Method, OuterSettings
from lbt.methods.gan import AdversaryConfig, check_config, gan_outer, init_networks, make_adversary
from lbt.models import make_discriminator, make_generator
from lbt.models.generators import glorot_, mlp
from lbt.optim import State

if TYPE_CHECKING:
    from lbt.config import Config


@dataclasses.dataclass
class VEEGANConfig(AdversaryConfig):
    """VEEGAN's own ``gan`` keys, beside the GAN family's."""

    recon_weight: float = 1.0  # weight of the latent reconstruction loss
    rec_hidden: int = 128  # reconstructor width (two hidden layers)


class VEEGAN(Method):
    """Needs a generator with ``z_dim`` and ``forward(z)`` (the reconstructor must see ``z``)."""

    name = "veegan"

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        reconstructor: nn.Module,
        settings: VEEGANConfig | None = None,
        outer: OuterSettings | None = None,
    ) -> None:
        """``settings``: the ``gan`` section (discriminator, ``recon_weight``); ``outer``: the
        generator's Adam, which the reconstructor shares, and the batch sizes."""
        super().__init__()
        if not isinstance(getattr(generator, "z_dim", None), int):
            raise LBTError("veegan needs a generator with an integer z_dim and forward(z) -> x")
        s = settings if settings is not None else VEEGANConfig()
        o = outer if outer is not None else OuterSettings()
        self.generator = generator
        self.discriminator = discriminator
        self.reconstructor = reconstructor
        self.z_dim: int = generator.z_dim
        self.batch_size = o.batch_size
        self.gen_batch_size = o.gen_batch_size
        self.recon_weight = s.recon_weight
        self.adv = make_adversary(discriminator, s.disc_lr, o.beta1, o.beta2, o.eps, steps=s.disc_steps)
        self.gen_opt = o.adam(generator)
        self.rec_opt = o.adam(reconstructor)

    def _z(self, n: int) -> Tensor:
        return torch.randn(
            n, self.z_dim, device=(w := next(self.generator.parameters())).device, dtype=w.dtype
        )

    def _data_pairs(self, x: Tensor) -> Tensor:
        """``(z, x)`` with ``z ~ N(F(x), I)``: the reconstructor is a unit-variance Gaussian, whose
        negative log-likelihood is the l2 reconstruction loss. A deterministic ``z = F(x)`` would
        put data pairs on an ``x_dim``-dimensional sheet that D separates from ``N(0, I)`` at once."""
        f = self.reconstructor(x)
        return torch.cat([f + torch.randn_like(f), x.flatten(1)], 1)

    def _gen_pairs(self, z: Tensor) -> Tensor:
        return torch.cat([z, self.generator(z).flatten(1)], 1)

    def losses(self, n: int) -> tuple[Tensor, Tensor]:
        """(adversarial, reconstruction) terms of Eq. 8 on ``n`` fresh noise draws."""
        z = self._z(n)
        x = self.generator(z)
        # D says "data" with a large logit, so -logit estimates log q(z, x) / p(z, x) on our pairs.
        adversarial = -self.adv.logits(torch.cat([z, x.flatten(1)], 1)).mean()
        recon = ((z - self.reconstructor(x)) ** 2).mean()  # per latent dimension, see docs/methods.md
        return adversarial, recon

    def generator_loss(self, data: DataFn) -> Tensor:
        """Eq. 8, minimised by both the generator and the reconstructor."""
        adversarial, recon = self.losses(self.gen_batch_size)
        return adversarial + self.recon_weight * recon

    def step(self, data: DataFn, lr_scale: float = 1.0) -> dict[str, float]:
        n = self.batch_size
        d_loss = self.adv.update(
            lambda: self._data_pairs(data(n)), lambda: self._gen_pairs(self._z(n)), self.lr_factor
        )
        adversarial, recon = self.losses(self.gen_batch_size)
        loss = adversarial + self.recon_weight * recon
        gen_params = self.gen_opt.params()
        rec_params = self.rec_opt.params()
        grads = torch.autograd.grad(loss, [*gen_params.values(), *rec_params.values()], allow_unused=True)
        named = list(gen_params.items()) + list(rec_params.items())
        g = {k: torch.zeros_like(p) if gi is None else gi for (k, p), gi in zip(named, grads, strict=True)}
        grad_norm = self.gen_opt.apply({k: g[k] for k in gen_params}, lr_scale)
        self.rec_opt.apply({k: g[k] for k in rec_params}, lr_scale)
        return {
            "loss_disc": d_loss,
            "loss_adv": float(adversarial.detach()),
            "loss_recon": float(recon.detach()),
            "loss_gen": float(loss.detach()),
            "grad_norm_gen": grad_norm,
        }

    @torch.no_grad()
    def diagnostics(self, data: DataFn, n: int) -> dict[str, float]:
        z = self._z(n)
        out = self.adv.probabilities(self._data_pairs(data(n)), self._gen_pairs(z))
        out["recon_error"] = float(((z - self.reconstructor(self.generator(z))) ** 2).mean())
        return out

    def optimizer_states(self) -> dict[str, State]:
        return {
            "gen_opt.state": self.gen_opt.state,
            "rec_opt.state": self.rec_opt.state,
            "disc_opt.state": self.adv.opt.state,
        }

    def load_optimizer_states(self, states: dict[str, State]) -> None:
        self.gen_opt.state = states["gen_opt.state"]
        self.rec_opt.state = states["rec_opt.state"]
        self.adv.opt.state = states["disc_opt.state"]


def build_veegan(cfg: Config, x_dim: int, generator: nn.Module | None = None,
                 estimator: nn.Module | None = None) -> VEEGAN:  # fmt: skip
    """``train.method=veegan``: a reconstructor of two ``gan.rec_hidden`` ReLU layers and a
    ``model.discriminator`` on ``(z, x)`` pairs."""
    check_config(cfg, 1)
    made = None if generator is not None else make_generator(cfg, x_dim)
    gen = generator if generator is not None else made
    z_dim = getattr(gen, "z_dim", None)
    if not isinstance(z_dim, int):
        raise LBTError("veegan needs a generator with an integer z_dim and forward(z) -> x")
    h = cfg.gan.rec_hidden
    reconstructor = glorot_(mlp([x_dim, h, h, z_dim], nn.ReLU))
    disc = make_discriminator(cfg, z_dim + x_dim)
    init_networks(cfg, made, disc, reconstructor)
    return VEEGAN(gen, disc, reconstructor, cfg.gan, gan_outer(cfg))

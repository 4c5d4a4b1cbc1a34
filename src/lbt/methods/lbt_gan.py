"""LBT-GAN (Du et al. 2018, Sec. 4): LBT's teaching loss plus ``lambda`` times the GAN loss.

The estimator side is :class:`lbt.methods.lbt.LBT` unchanged; the discriminator side is the
GAN baselines' :class:`lbt.methods.gan.Adversary`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from lbt.methods.base import DataFn, OuterSettings
from lbt.methods.gan import AdversaryConfig, check_config, make_adversary, nonsaturating_loss
from lbt.methods.lbt import LBT, LBTConfig
from lbt.models import as_estimator, make_discriminator, make_estimator, make_generator
from lbt.optim import State

if TYPE_CHECKING:
    from lbt.config import Config


@dataclasses.dataclass
class LBTGANConfig(AdversaryConfig):
    """LBT-GAN's own ``gan`` keys, beside the GAN family's."""

    lbt_gan_weight: float = 0.1  # lambda on the GAN loss (official toy default)
    lbt_gan_warmup: int = 0  # first iterations train G on the GAN loss only
    lbt_gan_warmup_fit: bool = True  # E learns during the warm-up (official image code: no)
    lbt_gan_pack: int = 1  # samples per discriminator input (PacGAN's packing; 1: none)
    lbt_gan_teach_every: int = 1  # fit E and teach on every N-th iteration, GAN-only between


class LBTGAN(LBT):
    """LBT plus a discriminator: generator loss = teaching loss + ``gan.lbt_gan_weight`` * GAN loss.

    ``gan.lbt_gan_warmup`` > 0 trains G on the GAN loss alone for its first iterations (no
    unroll, so they are cheap) while the discriminator keeps learning. With
    ``gan.lbt_gan_warmup_fit`` the estimator learns meanwhile, so teaching starts from an estimator
    that already fits G; without it the estimator stays at its initialisation until the warm-up
    ends, as in the official Stacked-MNIST code. ``gan.lbt_gan_teach_every`` = N > 1 fits E and
    teaches only on every N-th iteration after the warm-up (the first one included); the others
    are GAN-only steps, so the teacher's cost is paid 1/N as often. ``settings`` and ``outer`` are
    LBT's.
    """

    name = "lbt-gan"

    def __init__(
        self,
        generator: nn.Module,
        estimator: nn.Module,
        discriminator: nn.Module,
        settings: LBTConfig | None = None,
        gan: LBTGANConfig | None = None,
        outer: OuterSettings | None = None,
    ) -> None:
        o = outer if outer is not None else OuterSettings()
        g = gan if gan is not None else LBTGANConfig()
        super().__init__(generator, estimator, settings, o)
        self.discriminator = discriminator
        self.gan_weight = g.lbt_gan_weight  # lambda, constant as in the paper
        self.warmup, self.warmup_fit = g.lbt_gan_warmup, g.lbt_gan_warmup_fit
        self.teach_every = g.lbt_gan_teach_every
        self.adv = make_adversary(discriminator, g.disc_lr, o.beta1, o.beta2, o.eps,
                                  packing=g.lbt_gan_pack, steps=g.disc_steps)  # fmt: skip

    def generator_losses(self, data: DataFn) -> tuple[Tensor, Tensor]:
        """(teaching loss, GAN loss) at the current estimator and discriminator."""
        teach, _ = self.teach(data(self.batch_size))
        gan = nonsaturating_loss(self.adv.logits(self.generator.sample(self.gen_batch_size)))
        return teach, gan

    def generator_loss(self, data: DataFn) -> Tensor:
        teach, gan = self.generator_losses(data)
        return teach + self.gan_weight * gan

    def step(self, data: DataFn, lr_scale: float = 1.0) -> dict[str, float]:
        self._calibrate(data)
        self._tick()
        warming = self.warmup > 0 and int(self.steps_done) <= self.warmup
        teaching = not warming and (int(self.steps_done) - self.warmup - 1) % self.teach_every == 0
        fit = (teaching or (warming and self.warmup_fit)) and self.n_est > 0
        logs = {"loss_est": self.update_estimator()} if fit else {}
        n = self.batch_size
        d_loss = self.adv.update(lambda: data(n), lambda: self.generator.sample(n), self.lr_factor)
        if not teaching:
            gan = nonsaturating_loss(self.adv.logits(self.generator.sample(self.gen_batch_size)))
            grad_norm = self.gen_opt.apply(self.gen_opt.grads_of(gan), lr_scale)
            return {**logs, "loss_disc": d_loss, "loss_gan": float(gan.detach()),
                    "loss_gen": float(gan.detach()), "grad_norm_gen": grad_norm}  # fmt: skip
        surrogate, teach = self.teach(data(self.batch_size))
        gan = nonsaturating_loss(self.adv.logits(self.generator.sample(self.gen_batch_size)))
        weight = self.gan_weight
        loss = surrogate + weight * gan
        grad_norm = self.gen_opt.apply(self.gen_opt.grads_of(loss), lr_scale)
        return {
            **logs,
            "loss_disc": d_loss,
            "loss_teach": float(teach),
            "loss_gan": float(gan.detach()),
            "loss_gen": float(teach) + weight * float(gan.detach()),
            "grad_norm_gen": grad_norm,
        }

    @torch.no_grad()
    def diagnostics(self, data: DataFn, n: int) -> dict[str, float]:
        out = super().diagnostics(data, n)
        n -= n % self.adv.packing
        out.update(self.adv.probabilities(data(n), self.sample(n)))
        return out

    def optimizer_states(self) -> dict[str, State]:
        return {**super().optimizer_states(), "disc_opt.state": self.adv.opt.state}

    def load_optimizer_states(self, states: dict[str, State]) -> None:
        super().load_optimizer_states(states)
        self.adv.opt.state = states["disc_opt.state"]


def build_lbt_gan(cfg: Config, x_dim: int, generator: nn.Module | None = None,
                  estimator: nn.Module | None = None) -> LBTGAN:  # fmt: skip
    """``train.method=lbt-gan``: LBT exactly as :func:`lbt.methods.lbt.build_lbt` configures it,
    plus ``model.discriminator`` and the weighted GAN loss."""
    check_config(cfg, cfg.gan.lbt_gan_pack, "gan.lbt_gan_pack")
    return LBTGAN(
        generator or make_generator(cfg, x_dim),
        as_estimator(estimator or make_estimator(cfg, x_dim)),
        make_discriminator(cfg, x_dim * cfg.gan.lbt_gan_pack),
        cfg.lbt,
        cfg.gan,
        OuterSettings.from_config(cfg.train),
    )

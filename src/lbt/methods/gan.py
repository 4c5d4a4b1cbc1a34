"""GAN, Unrolled GAN and PacGAN on the shared loop, with their builders.

They differ only in what the generator's loss sees:

* **GAN** (Goodfellow et al. 2014): the non-saturating loss ``-log D(G(z))``;
* **PacGAN** (Lin et al. 2018): the same, but the discriminator judges ``pack`` samples at once;
* **Unrolled GAN** (Metz et al. 2017): the loss is taken at the discriminator after K more of
  its own (pure Adam) steps, differentiated through with :func:`lbt.unroll.unroll`.

VEEGAN (:mod:`lbt.methods.veegan`) and LBT-GAN (:mod:`lbt.methods.lbt_gan`) reuse the
:class:`Adversary` and the checks here. Everything is generic: any generator with ``.sample(n)``,
any discriminator mapping a batch to logits of shape ``(B,)`` or ``(B, 1)``. The discriminator's
optimizer is a pure :mod:`lbt.optim` Adam, so its state is a checkpointable dict and the very same
optimizer can be unrolled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from lbt.errors import LBTError
from lbt.methods.base import DataFn, Method, OuterSettings, PureAdamStep, outer_adam
from lbt.models import make_discriminator, make_generator
from lbt.models.discriminators import DiscriminatorConfig, normal_init_
from lbt.optim import Params, State
from lbt.unroll import params_of, unroll

if TYPE_CHECKING:
    from lbt.config import Config


@dataclasses.dataclass
class AdversaryConfig(DiscriminatorConfig):
    """The GAN family's shared ``gan`` keys (GAN, Unrolled GAN, PacGAN here; VEEGAN and LBT-GAN
    add their own) and the discriminator's (``DiscriminatorConfig``)."""

    gen_lr: float = 1e-3  # generator lr of the pure GAN baselines (LBT-GAN uses train.gen_lr)
    disc_lr: float = 1e-4  # discriminator (and VEEGAN reconstructor: gen_lr) Adam lr
    disc_steps: int = 1  # discriminator updates per iteration
    unroll_steps: int = 5  # Unrolled GAN: K discriminator steps differentiated through
    pack: int = 2  # PacGAN: samples per discriminator input
    simultaneous: bool = False  # gan / unrolled-gan / pacgan: G and D step from the same point


def nonsaturating_loss(fake_logits: Tensor) -> Tensor:
    """Generator loss ``-log sigmoid(D(G(z)))`` (Goodfellow et al. 2014, Sec. 3)."""
    return F.softplus(-fake_logits).mean()


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Binary cross-entropy with real = 1, generated = 0."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def pack(x: Tensor, p: int) -> Tensor:
    """Concatenate groups of ``p`` consecutive samples along the feature/channel axis (PacGAN)."""
    if p == 1:
        return x
    if x.shape[0] % p:
        raise ValueError(f"batch of {x.shape[0]} is not divisible by the packing degree {p}")
    return x.reshape(x.shape[0] // p, p, *x.shape[1:]).flatten(1, 2)


class Adversary:
    """A discriminator with its pure-Adam state, and its loss as a function of explicit params.

    Holding the loss in that form is what lets Unrolled GAN reuse :func:`lbt.unroll.unroll`: the
    ordinary update is an unroll with ``create_graph=False``, the generator's look-ahead is the
    same unroll with ``create_graph=True``.
    """

    def __init__(self, net: nn.Module, opt: PureAdamStep, *, packing: int = 1, steps: int = 1) -> None:
        self.net = net
        self.opt = opt
        self.packing = packing
        self.steps = steps

    def logits(self, x: Tensor, params: Params | None = None) -> Tensor:
        x = pack(x, self.packing)
        out = self.net(x) if params is None else functional_call(self.net, params, (x,))
        return out.reshape(x.shape[0])  # (B,) or (B, 1) -> (B,); anything else is a bug

    def loss(self, params: Params, batch: Tensor) -> Tensor:
        """Discriminator loss on ``batch = cat([real, fake])`` (equal halves)."""
        real, fake = batch.chunk(2)
        return discriminator_loss(self.logits(real, params), self.logits(fake, params))

    def batches(self, real: Callable[[], Tensor], fake: Callable[[], Tensor]) -> Callable[[int], Tensor]:
        return lambda _k: torch.cat([real(), fake()])

    def update(self, real: Callable[[], Tensor], fake: Callable[[], Tensor], lr_scale: float = 1.0) -> float:
        """``steps`` ordinary discriminator updates on fresh batches; returns the last loss."""
        sample = self.batches(real, fake)

        def detached(k: int) -> Tensor:
            with torch.no_grad():  # no graph through the generator for D's own update
                return sample(k)

        phi, state, losses = unroll(
            self.loss, params_of(self.net), self.opt.state, self.opt.opt,
            detached, self.steps, create_graph=False, lr_scale=lr_scale,
        )  # fmt: skip
        with torch.no_grad():
            for k, p in self.net.named_parameters():
                if k in phi:
                    p.copy_(phi[k])
        self.opt.state = state
        return float(losses[-1])

    def look_ahead(self, real: Callable[[], Tensor], fake: Callable[[], Tensor], k: int) -> Params:
        """The discriminator after ``k`` more steps, as a differentiable function of ``fake``'s source."""
        phi_k, _, _ = unroll(
            self.loss, params_of(self.net), self.opt.state, self.opt.opt,
            self.batches(real, fake), k, create_graph=True,
        )  # fmt: skip
        return phi_k

    @torch.no_grad()
    def probabilities(self, real: Tensor, fake: Tensor) -> dict[str, float]:
        return {
            "disc_real": float(torch.sigmoid(self.logits(real)).mean()),
            "disc_fake": float(torch.sigmoid(self.logits(fake)).mean()),
        }


def make_adversary(
    net: nn.Module, lr: float, beta1: float, beta2: float, eps: float, *, packing: int = 1, steps: int = 1
) -> Adversary:
    """Discriminators use the same Adam form as the generators (no gradient clipping)."""
    return Adversary(net, outer_adam(net, lr, beta1, beta2, eps, 0.0), packing=packing, steps=steps)


class GAN(Method):
    """Non-saturating GAN; :class:`PacGAN` packs ``gan.pack`` samples, :class:`UnrolledGAN` unrolls
    ``gan.unroll_steps`` discriminator steps.

    ``settings`` is the ``gan`` config section (discriminator rate and steps, ``simultaneous``);
    ``outer`` the generator's Adam and the batch sizes (the builder puts ``gan.gen_lr`` there).
    """

    name = "gan"

    @staticmethod
    def packing_of(settings: AdversaryConfig) -> int:
        """Samples per discriminator input (its input is ``packing * x_dim`` wide)."""
        return 1

    @staticmethod
    def look_ahead_steps(settings: AdversaryConfig) -> int:
        """Discriminator steps the generator's loss looks ahead through (0: none)."""
        return 0

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        settings: AdversaryConfig | None = None,
        outer: OuterSettings | None = None,
    ) -> None:
        super().__init__()
        s = settings if settings is not None else AdversaryConfig()
        o = outer if outer is not None else OuterSettings()
        self.generator = generator
        self.discriminator = discriminator
        self.batch_size = o.batch_size
        self.gen_batch_size = o.gen_batch_size
        self.unroll_steps = self.look_ahead_steps(s)
        self.simultaneous = s.simultaneous
        self.adv = make_adversary(discriminator, s.disc_lr, o.beta1, o.beta2, o.eps,
                                  packing=self.packing_of(s), steps=s.disc_steps)  # fmt: skip
        self.gen_opt = o.adam(generator)

    def generator_loss(self, data: DataFn) -> Tensor:
        params = None
        if self.unroll_steps > 0:  # Metz et al.: the loss at D after K steps, gradient through them
            n = self.batch_size
            params = self.adv.look_ahead(lambda: data(n), lambda: self.generator.sample(n), self.unroll_steps)
        return nonsaturating_loss(self.adv.logits(self.generator.sample(self.gen_batch_size), params))

    def _generator_grads(self, data: DataFn) -> tuple[Tensor, Params]:
        loss = self.generator_loss(data)
        return loss, self.gen_opt.grads_of(loss)

    def step(self, data: DataFn, lr_scale: float = 1.0) -> dict[str, float]:
        """D's update, then G's at the updated D; ``simultaneous``: G's gradient is taken first, at
        the D both players start from (ALI's ``ali_algorithm``, which PacGAN's 2-D code uses)."""
        n = self.batch_size
        early = self._generator_grads(data) if self.simultaneous else None
        d_loss = self.adv.update(lambda: data(n), lambda: self.generator.sample(n), self.lr_factor)
        loss, grads = early or self._generator_grads(data)
        grad_norm = self.gen_opt.apply(grads, lr_scale)
        return {"loss_disc": d_loss, "loss_gen": float(loss.detach()), "grad_norm_gen": grad_norm}

    @torch.no_grad()
    def diagnostics(self, data: DataFn, n: int) -> dict[str, float]:
        """Mean D(x) on real and generated data (0.5 / 0.5 at the GAN equilibrium); the samples are
        drawn as evaluation draws them (``Method.sample``: batch norm on its population statistics,
        which evaluating must not move)."""
        n -= n % self.adv.packing
        return self.adv.probabilities(data(n), self.sample(n))

    def optimizer_states(self) -> dict[str, State]:
        return {"gen_opt.state": self.gen_opt.state, "disc_opt.state": self.adv.opt.state}

    def load_optimizer_states(self, states: dict[str, State]) -> None:
        self.gen_opt.state = states["gen_opt.state"]
        self.adv.opt.state = states["disc_opt.state"]


class UnrolledGAN(GAN):
    name = "unrolled-gan"

    @staticmethod
    def look_ahead_steps(settings: AdversaryConfig) -> int:
        return settings.unroll_steps


class PacGAN(GAN):
    name = "pacgan"

    @staticmethod
    def packing_of(settings: AdversaryConfig) -> int:
        return settings.pack


# -- builders (registered in lbt.methods.METHODS) -------------------------------------------------
def check_config(cfg: Config, packing: int, key: str = "gan.pack") -> None:
    """What a GAN-family method needs of the config beyond each key's own range; ``key`` names
    the setting ``packing`` came from."""
    t = cfg.train
    if t.batch_size % packing or t.gen_batch_size % packing:
        raise LBTError(f"{key}={packing} must divide train.batch_size={t.batch_size} "
                       f"and train.gen_batch_size={t.gen_batch_size}")  # fmt: skip
    if cfg.gan.recon_weight < 0 or cfg.gan.lbt_gan_weight < 0:
        raise LBTError("gan.recon_weight and gan.lbt_gan_weight must be >= 0")
    if cfg.gan.simultaneous and cfg.train.method not in ("gan", "unrolled-gan", "pacgan"):
        raise LBTError(f"gan.simultaneous is implemented for gan, unrolled-gan and pacgan, "
                       f"not {cfg.train.method}")  # fmt: skip


def init_networks(cfg: Config, *nets: nn.Module | None) -> None:
    """Re-initialise the networks a builder made (not a user's) when ``gan.init_std`` > 0."""
    if cfg.gan.init_std > 0:
        for net in nets:
            if net is not None:
                normal_init_(net, cfg.gan.init_std)


def gan_outer(cfg: Config) -> OuterSettings:
    """The pure GAN baselines' generator Adam runs at ``gan.gen_lr`` (LBT-GAN keeps ``train.gen_lr``)."""
    return OuterSettings.from_config(cfg.train, gen_lr=cfg.gan.gen_lr)


def build_gan(cfg: Config, x_dim: int, generator: nn.Module | None = None,
              estimator: nn.Module | None = None, cls: type[GAN] | None = None) -> GAN:  # fmt: skip
    """``train.method=gan`` (or ``cls``: Unrolled GAN, PacGAN) with ``model.discriminator``."""
    cls = cls or GAN
    packing = cls.packing_of(cfg.gan)
    check_config(cfg, packing)
    made = None if generator is not None else make_generator(cfg, x_dim)
    disc = make_discriminator(cfg, x_dim * packing)
    init_networks(cfg, made, disc)
    return cls(generator if generator is not None else made, disc, cfg.gan, gan_outer(cfg))


def build_unrolled_gan(cfg: Config, x_dim: int, generator: nn.Module | None = None,
                       estimator: nn.Module | None = None) -> GAN:  # fmt: skip
    return build_gan(cfg, x_dim, generator, estimator, UnrolledGAN)


def build_pacgan(cfg: Config, x_dim: int, generator: nn.Module | None = None,
                 estimator: nn.Module | None = None) -> GAN:  # fmt: skip
    return build_gan(cfg, x_dim, generator, estimator, PacGAN)


__all__ = [
    "GAN",
    "Adversary",
    "PacGAN",
    "UnrolledGAN",
    "build_gan",
    "build_pacgan",
    "build_unrolled_gan",
    "discriminator_loss",
    "nonsaturating_loss",
]

"""Plugin: the GAN-family baselines and LBT-GAN as ``train.method`` values, and ``lbt compare``.

Every builder uses the shared generator (``model.generator``) and the discriminator named by
``model.discriminator``; method-specific settings live in the ``gan`` config section.
"""

from __future__ import annotations

import argparse

from torch import Tensor, nn

from lbt.config import Config
from lbt.errors import LBTError
from lbt.methods import (
    DISCRIMINATORS,
    GENERATORS,
    make_discriminator,
    make_estimator,
    make_generator,
    register,
)
from lbt.methods.base import Method, OuterSettings
from lbt.methods.gan import GAN, LBTGAN, PacGAN, UnrolledGAN
from lbt.methods.veegan import VEEGAN
from lbt.models import as_estimator
from lbt.models.toy import MLPGenerator, glorot_, mlp

GAN_METHODS = ("gan", "unrolled-gan", "veegan", "pacgan", "lbt-gan")


# -- PacGAN's 2-D networks (docs/methods.md, "PacGAN's published 2-D recipes") --------------------
class Maxout(nn.Module):
    """The maximum over each group of ``pieces`` consecutive features (Goodfellow et al. 2013)."""

    def __init__(self, pieces: int) -> None:
        super().__init__()
        self.pieces = pieces

    def forward(self, x: Tensor) -> Tensor:
        return x.unflatten(-1, (x.shape[-1] // self.pieces, self.pieces)).amax(-1)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


def maxout_discriminator(in_dim: int, hidden: int, layers: int, pieces: int) -> nn.Sequential:
    """``layers`` maxout layers of ``hidden`` units (each the max of ``pieces`` affine maps), then
    one logit: PacGAN's 2-D discriminator is three of 200 units with 5 pieces."""
    mods: list[nn.Module] = []
    for a in [in_dim] + [hidden] * (layers - 1):
        mods += [nn.Linear(a, hidden * pieces), Maxout(pieces)]
    return glorot_(nn.Sequential(*mods, nn.Linear(hidden, 1)))


def normal_init_(module: nn.Module, std: float) -> nn.Module:
    """Dense weights ~ N(0, std), zero biases (``gan.init_std``; PacGAN's 2-D code: 0.02)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


GENERATORS["mlp-bn"] = lambda cfg, x_dim: MLPGenerator(
    cfg.model.z_dim, x_dim, cfg.model.gen_hidden, cfg.model.gen_layers, cfg.model.gen_activation,
    batchnorm=True,
)  # fmt: skip
DISCRIMINATORS["maxout"] = lambda cfg, in_dim: maxout_discriminator(
    in_dim, cfg.gan.disc_hidden, cfg.gan.disc_layers, cfg.gan.maxout_pieces
)


def _init(cfg: Config, *nets: nn.Module | None) -> None:
    """Re-initialise the networks this builder made when ``gan.init_std`` > 0."""
    if cfg.gan.init_std > 0:
        for net in nets:
            if net is not None:
                normal_init_(net, cfg.gan.init_std)


def _check(cfg: Config, packing: int) -> None:
    t = cfg.train
    if t.batch_size % packing or t.gen_batch_size % packing:
        raise LBTError(f"gan.pack={packing} must divide train.batch_size={t.batch_size} "
                       f"and train.gen_batch_size={t.gen_batch_size}")  # fmt: skip
    if cfg.gan.recon_weight < 0 or cfg.gan.lbt_gan_weight < 0:
        raise LBTError("gan.recon_weight and gan.lbt_gan_weight must be >= 0")
    if cfg.gan.simultaneous and cfg.train.method not in ("gan", "unrolled-gan", "pacgan"):
        raise LBTError(f"gan.simultaneous is implemented for gan, unrolled-gan and pacgan, "
                       f"not {cfg.train.method}")  # fmt: skip


def _outer(cfg: Config) -> OuterSettings:
    """The pure GAN baselines' generator Adam runs at ``gan.gen_lr`` (LBT-GAN keeps ``train.gen_lr``)."""
    return OuterSettings.from_config(cfg.train, gen_lr=cfg.gan.gen_lr)


def _gan(cls: type[GAN]):  # noqa: ANN202
    def build(cfg: Config, x_dim: int, generator: nn.Module | None = None,
              estimator: nn.Module | None = None) -> Method:  # fmt: skip
        packing = cls.packing_of(cfg.gan)
        _check(cfg, packing)
        gen = None if generator is not None else make_generator(cfg, x_dim)
        disc = make_discriminator(cfg, x_dim * packing)
        _init(cfg, gen, disc)
        return cls(generator if generator is not None else gen, disc, cfg.gan, _outer(cfg))

    return build


register("gan")(_gan(GAN))
register("unrolled-gan")(_gan(UnrolledGAN))
register("pacgan")(_gan(PacGAN))


@register("veegan")
def build_veegan(cfg: Config, x_dim: int, generator: nn.Module | None = None,
                 estimator: nn.Module | None = None) -> Method:  # fmt: skip
    _check(cfg, 1)
    made = None if generator is not None else make_generator(cfg, x_dim)
    gen = generator if generator is not None else made
    z_dim = getattr(gen, "z_dim", None)
    if not isinstance(z_dim, int):
        raise LBTError("veegan needs a generator with an integer z_dim and forward(z) -> x")
    h = cfg.gan.rec_hidden
    reconstructor = glorot_(mlp([x_dim, h, h, z_dim], nn.ReLU))
    disc = make_discriminator(cfg, z_dim + x_dim)
    _init(cfg, made, disc, reconstructor)
    return VEEGAN(gen, disc, reconstructor, cfg.gan, _outer(cfg))


@register("lbt-gan")
def build_lbt_gan(cfg: Config, x_dim: int, generator: nn.Module | None = None,
                  estimator: nn.Module | None = None) -> Method:  # fmt: skip
    """LBT exactly as ``build_lbt`` configures it, plus a discriminator and the weighted GAN loss."""
    _check(cfg, 1)
    return LBTGAN(
        generator or make_generator(cfg, x_dim),
        as_estimator(estimator or make_estimator(cfg, x_dim)),
        make_discriminator(cfg, x_dim),
        cfg.lbt,
        cfg.gan,
        OuterSettings.from_config(cfg.train),
    )


# -- the `lbt compare` subcommand -----------------------------------------------------------------
def add_subcommand(subparsers: argparse._SubParsersAction) -> str:
    from lbt.compare import add_arguments

    p = subparsers.add_parser("compare", help="train several methods x seeds and tabulate/plot them")
    add_arguments(p)
    return "compare"


def run_subcommand(args: argparse.Namespace) -> int:
    from lbt.compare import run_from_args

    return run_from_args(args)

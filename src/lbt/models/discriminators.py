"""Discriminators on flat vectors for the GAN-family methods: an MLP and PacGAN's maxout network.

A discriminator maps a batch ``(B, in_dim)`` to logits of shape ``(B,)`` or ``(B, 1)``. ``in_dim``
is what it sees: ``x_dim``, ``pack * x_dim`` (PacGAN) or ``z_dim + x_dim`` (VEEGAN's pairs). The
convolutional ones for images are in :mod:`lbt.models.images`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import Tensor, nn

from lbt.models.generators import ACTIVATIONS, glorot_, mlp

if TYPE_CHECKING:
    from lbt.config import Config


@dataclass
class DiscriminatorConfig:
    """The 2-D discriminators' keys (part of the ``gan`` section)."""

    disc_hidden: int = 128
    disc_layers: int = 2
    disc_activation: str = "relu"  # relu | tanh | leaky_relu
    maxout_pieces: int = 5  # model.discriminator=maxout: linear pieces per hidden unit
    init_std: float = 0.0  # > 0: N(0, init_std) dense weights, zero biases (GAN baselines); 0: Glorot


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


# -- builders: ``model.discriminator=NAME`` (registered in lbt.models.DISCRIMINATORS) -------------
def build_mlp_discriminator(cfg: Config, in_dim: int) -> nn.Module:
    """``mlp``: ``gan.disc_layers`` hidden layers of ``gan.disc_hidden``, Glorot-initialised."""
    g: DiscriminatorConfig = cfg.gan
    return glorot_(mlp([in_dim] + [g.disc_hidden] * g.disc_layers + [1], ACTIVATIONS[g.disc_activation]))


def build_maxout_discriminator(cfg: Config, in_dim: int) -> nn.Module:
    """``maxout``: PacGAN's 2-D discriminator, ``gan.maxout_pieces`` pieces per hidden unit."""
    g: DiscriminatorConfig = cfg.gan
    return maxout_discriminator(in_dim, g.disc_hidden, g.disc_layers, g.maxout_pieces)

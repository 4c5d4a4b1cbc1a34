"""The MLP generators (``model.generator=mlp`` / ``mlp-bn``) and the dense layers the networks share.

``mlp``, ``bn_mlp`` and ``glorot_`` (TensorFlow's dense init, as in the official code) build the
paper's generator here and are reused by the VAE teacher, the discriminators and VEEGAN's
reconstructor. A generator is an ``nn.Module`` with ``sample(n)``; the builders at the end make
one from a config and :mod:`lbt.models` names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from lbt.config import Config


@dataclass
class GeneratorConfig:
    """The MLP generators' keys (part of ``model``)."""

    generator: str = "mlp"  # lbt.models.GENERATORS
    z_dim: int = 256
    gen_hidden: int = 128
    gen_layers: int = 2  # hidden layers (paper: 2)
    gen_activation: str = "tanh"  # (paper: tanh)


def mlp(sizes: list[int], activation: type[nn.Module] = nn.Tanh) -> nn.Sequential:
    """Dense layers with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def glorot_(module: nn.Module) -> nn.Module:
    """TensorFlow's default dense init (Glorot-uniform weights, zero bias), as in the official code."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def bn_mlp(sizes: list[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Like :func:`mlp`, but each hidden layer is a bias-free dense layer, batch norm, activation.

    The batch norm is that of PacGAN's 2-D generator (Blocks' defaults: epsilon 1e-4; population
    statistics averaged with weight 0.05 per step); the output layer keeps its bias.
    """
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        hidden = i < len(sizes) - 2
        layers.append(nn.Linear(a, b, bias=not hidden))
        if hidden:
            layers += [nn.BatchNorm1d(b, eps=1e-4, momentum=0.05), activation()]
    return nn.Sequential(*layers)


ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU}


class MLPGenerator(nn.Module):
    """x = G(z), z ~ N(0, I); the paper's is two tanh hidden layers of 128 and a linear output."""

    def __init__(self, z_dim: int = 256, x_dim: int = 2, hidden: int = 128, layers: int = 2,
                 activation: str = "tanh", batchnorm: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.z_dim = z_dim
        build = bn_mlp if batchnorm else mlp  # batchnorm: PacGAN's 2-D generator (bn_mlp)
        self.net = glorot_(build([z_dim] + [hidden] * layers + [x_dim], ACTIVATIONS[activation]))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)

    def sample(self, n: int) -> Tensor:
        return self(
            torch.randn(n, self.z_dim, device=self.net[0].weight.device, dtype=self.net[0].weight.dtype)
        )


# -- builders: ``model.generator=NAME`` (registered in lbt.models) ----------------------------------
def build_mlp_generator(cfg: Config, x_dim: int) -> MLPGenerator:
    """``mlp``: the paper's generator (``model.gen_layers`` layers of ``model.gen_hidden``)."""
    m: GeneratorConfig = cfg.model
    return MLPGenerator(m.z_dim, x_dim, m.gen_hidden, m.gen_layers, m.gen_activation)


def build_mlp_bn_generator(cfg: Config, x_dim: int) -> MLPGenerator:
    """``mlp-bn``: the same with batch norm in every hidden layer (PacGAN's 2-D generator)."""
    m: GeneratorConfig = cfg.model
    return MLPGenerator(m.z_dim, x_dim, m.gen_hidden, m.gen_layers, m.gen_activation, batchnorm=True)

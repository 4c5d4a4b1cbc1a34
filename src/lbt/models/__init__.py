"""Generators, explicit density estimators (teachers) and discriminators, built by name.

Each table maps a config value (``model.generator``, ``model.estimator``, ``model.discriminator``)
to a builder ``(cfg, dim) -> nn.Module`` defined beside its network; the tables are the only
list of those names (config validation reads them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import nn

from lbt.models.discriminators import build_maxout_discriminator, build_mlp_discriminator
from lbt.models.generators import MLPGenerator, build_mlp_bn_generator, build_mlp_generator
from lbt.models.images import (
    build_bernoulli_vae,
    build_conv_bn_discriminator,
    build_conv_discriminator,
    build_dcgan,
    build_dcgan_tanh,
    build_gaussian_vae,
)
from lbt.models.teachers import (
    VAE,
    GaussianEstimator,
    KDETeacher,
    MixtureEstimator,
    Refits,
    Scheduled,
    Teacher,
    TeacherModule,
    as_estimator,
)
from lbt.models.teachers.flow import build_flow
from lbt.models.teachers.kde import build_kde
from lbt.models.teachers.mixture import build_gaussian, build_mixture
from lbt.models.teachers.vae import build_categorical_vae, build_vae
from lbt.registry import Registry

if TYPE_CHECKING:
    from lbt.config import Config

NetBuilder = Callable[["Config", int], nn.Module]

# The 2-D networks, then the image ones (lbt.models.images).
GENERATORS: Registry[NetBuilder] = Registry("model.generator", {
    "mlp": build_mlp_generator,
    "mlp-bn": build_mlp_bn_generator,
    "dcgan": build_dcgan,
    "dcgan-tanh": build_dcgan_tanh,
})  # fmt: skip
ESTIMATORS: Registry[NetBuilder] = Registry("model.estimator", {
    "vae": build_vae,
    "categorical-vae": build_categorical_vae,
    "mixture": build_mixture,
    "gaussian": build_gaussian,
    "kde": build_kde,
    "flow": build_flow,
    "bernoulli-vae": build_bernoulli_vae,
    "gaussian-vae": build_gaussian_vae,
})  # fmt: skip
# ``dim`` is the flattened feature count the discriminator sees (lbt.models.discriminators).
DISCRIMINATORS: Registry[NetBuilder] = Registry("model.discriminator", {
    "mlp": build_mlp_discriminator,
    "maxout": build_maxout_discriminator,
    "conv": build_conv_discriminator,
    "conv-bn": build_conv_bn_discriminator,
})  # fmt: skip


def make_generator(cfg: Config, x_dim: int) -> nn.Module:
    """The generator named by ``model.generator``."""
    return GENERATORS[cfg.model.generator](cfg, x_dim)


def make_estimator(cfg: Config, x_dim: int) -> nn.Module:
    """The estimator (teacher) named by ``model.estimator``."""
    return ESTIMATORS[cfg.model.estimator](cfg, x_dim)


def make_discriminator(cfg: Config, in_dim: int) -> nn.Module:
    """The discriminator named by ``model.discriminator`` (GAN baselines, LBT-GAN)."""
    return DISCRIMINATORS[cfg.model.discriminator](cfg, in_dim)


__all__ = [
    "DISCRIMINATORS",
    "ESTIMATORS",
    "GENERATORS",
    "VAE",
    "GaussianEstimator",
    "KDETeacher",
    "MLPGenerator",
    "MixtureEstimator",
    "Refits",
    "Scheduled",
    "Teacher",
    "TeacherModule",
    "as_estimator",
    "make_discriminator",
    "make_estimator",
    "make_generator",
]

"""Training methods, built by name from a config; all share :func:`lbt.train.Trainer`'s loop."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from lbt.config import Config
from lbt.methods.base import Method, OuterSettings
from lbt.methods.lbt import LBT
from lbt.models import VAE, GaussianEstimator, KDETeacher, MixtureEstimator, MLPGenerator, as_estimator
from lbt.models.teachers.flow import FlowTeacher
from lbt.models.toy import ACTIVATIONS, glorot_, mlp

Builder = Callable[[Config, int, nn.Module | None, nn.Module | None], Method]
METHODS: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        METHODS[name] = fn
        return fn

    return deco


GENERATORS: dict[str, Callable[[Config, int], nn.Module]] = {
    "mlp": lambda cfg, x_dim: MLPGenerator(
        cfg.model.z_dim, x_dim, cfg.model.gen_hidden, cfg.model.gen_layers, cfg.model.gen_activation
    ),
}
ESTIMATORS: dict[str, Callable[[Config, int], nn.Module]] = {
    "vae": lambda cfg, x_dim: VAE(x_dim, cfg.model.vae_latent, cfg.model.est_hidden, cfg.model.vae_x_var),
    "mixture": lambda cfg, x_dim: MixtureEstimator(
        x_dim,
        cfg.model.mixture_components,
        init_std=cfg.model.mixture_init_std,
        init_from_samples=cfg.model.mixture_init == "samples",
    ),
    "gaussian": lambda cfg, x_dim: GaussianEstimator(x_dim),
    "kde": lambda cfg, x_dim: KDETeacher(
        x_dim,
        cfg.model.kde_bandwidth,
        rule=cfg.model.kde_rule,
        bandwidth_final=cfg.model.kde_bandwidth_final,
        anneal_steps=cfg.model.kde_anneal_steps,
        relative=cfg.model.kde_relative,
    ),  # fmt: skip
    "flow": lambda cfg, x_dim: FlowTeacher(
        x_dim, cfg.model.flow_kind, cfg.model.flow_transforms, cfg.model.flow_hidden
    ),
}


def _mlp_discriminator(cfg: Config, in_dim: int) -> nn.Module:
    g = cfg.gan
    sizes = [in_dim] + [g.disc_hidden] * g.disc_layers + [1]
    return glorot_(mlp(sizes, ACTIVATIONS[g.disc_activation]))


# A discriminator maps a batch (B, *in_shape) to logits of shape (B,) or (B, 1). ``in_dim`` is the
# flattened feature count it sees: x_dim, pack * x_dim (PacGAN) or z_dim + x_dim (VEEGAN).
DISCRIMINATORS: dict[str, Callable[[Config, int], nn.Module]] = {"mlp": _mlp_discriminator}


def make_discriminator(cfg: Config, x_dim: int) -> nn.Module:
    """The discriminator named by ``model.discriminator`` (GAN baselines, LBT-GAN)."""
    return DISCRIMINATORS[cfg.model.discriminator](cfg, x_dim)


def make_generator(cfg: Config, x_dim: int) -> nn.Module:
    """The generator named by ``model.generator`` (extensions add entries to ``GENERATORS``)."""
    return GENERATORS[cfg.model.generator](cfg, x_dim)


def make_estimator(cfg: Config, x_dim: int) -> nn.Module:
    """The estimator named by ``model.estimator`` (extensions add entries to ``ESTIMATORS``)."""
    return ESTIMATORS[cfg.model.estimator](cfg, x_dim)


@register("lbt")
def build_lbt(
    cfg: Config, x_dim: int, generator: nn.Module | None = None, estimator: nn.Module | None = None
) -> Method:
    return LBT(
        generator or make_generator(cfg, x_dim),
        as_estimator(estimator or make_estimator(cfg, x_dim)),
        cfg.lbt,
        OuterSettings.from_config(cfg.train),
    )


def build_method(
    cfg: Config, x_dim: int, generator: nn.Module | None = None, estimator: nn.Module | None = None
) -> Method:
    return METHODS[cfg.train.method](cfg, x_dim, generator, estimator)


__all__ = [
    "LBT",
    "METHODS",
    "Method",
    "DISCRIMINATORS",
    "build_method",
    "make_discriminator",
    "make_estimator",
    "make_generator",
    "register",
]

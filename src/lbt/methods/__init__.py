"""Training methods, built by name from a config; all share :func:`lbt.train.Trainer`'s loop."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from lbt.config import Config
from lbt.methods.base import Method
from lbt.methods.lbt import LBT, inner_optimizer
from lbt.models import VAE, GaussianEstimator, MixtureEstimator, MLPGenerator, as_estimator

Builder = Callable[[Config, int, nn.Module | None, nn.Module | None], Method]
METHODS: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        METHODS[name] = fn
        return fn

    return deco


def make_generator(cfg: Config, x_dim: int) -> nn.Module:
    return MLPGenerator(cfg.model.z_dim, x_dim, cfg.model.gen_hidden)


def make_estimator(cfg: Config, x_dim: int) -> nn.Module:
    m = cfg.model
    if m.estimator == "vae":
        return VAE(x_dim, m.vae_latent, m.est_hidden, m.vae_x_var)
    if m.estimator == "mixture":
        return MixtureEstimator(x_dim, m.mixture_components, init_std=m.mixture_init_std)
    return GaussianEstimator(x_dim)


@register("lbt")
def build_lbt(
    cfg: Config, x_dim: int, generator: nn.Module | None = None, estimator: nn.Module | None = None
) -> Method:
    t, lb = cfg.train, cfg.lbt
    inner = inner_optimizer(
        lb.inner_optimizer, lb.est_lr, t.beta1, t.beta2, t.eps,
        eps_inside_sqrt=lb.adam_eps_inside_sqrt, second_moment_grad=lb.adam_second_moment_grad,
    )  # fmt: skip
    return LBT(
        generator or make_generator(cfg, x_dim),
        as_estimator(estimator or make_estimator(cfg, x_dim)),
        unroll_steps=lb.unroll_steps, n_est=lb.n_est, est_steps=lb.est_steps,
        est_lr_mult=lb.est_lr_mult, inner=inner, gen_lr=t.gen_lr, beta1=t.beta1, beta2=t.beta2,
        eps=t.eps, clip_norm=t.clip_norm, gen_batch_size=t.gen_batch_size, batch_size=t.batch_size,
    )  # fmt: skip


def build_method(
    cfg: Config, x_dim: int, generator: nn.Module | None = None, estimator: nn.Module | None = None
) -> Method:
    return METHODS[cfg.train.method](cfg, x_dim, generator, estimator)


__all__ = [
    "LBT",
    "METHODS",
    "Method",
    "build_method",
    "make_estimator",
    "make_generator",
    "register",
]

"""Training methods, built by name (``train.method``); all share :class:`lbt.train.Trainer`'s loop.

:data:`METHODS` is the only list of method names: each maps to a builder
``(cfg, x_dim, generator=None, estimator=None) -> Method`` that lives beside its class.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import nn

from lbt.methods.base import (
    Adversarial,
    CompilesTeacher,
    Method,
    OuterSettings,
    Submodule,
    Teaches,
)
from lbt.methods.gan import build_gan, build_pacgan, build_unrolled_gan
from lbt.methods.lbt import LBT, build_lbt
from lbt.methods.lbt_gan import build_lbt_gan
from lbt.methods.mle import MLE, build_mle
from lbt.methods.veegan import build_veegan
from lbt.models import (
    DISCRIMINATORS,
    ESTIMATORS,
    GENERATORS,
    make_discriminator,
    make_estimator,
    make_generator,
)
from lbt.registry import Registry

if TYPE_CHECKING:
    from lbt.config import Config

Builder = Callable[["Config", int, nn.Module | None, nn.Module | None], Method]
METHODS: Registry[Builder] = Registry("train.method", {
    "lbt": build_lbt,
    "gan": build_gan,
    "unrolled-gan": build_unrolled_gan,
    "pacgan": build_pacgan,
    "veegan": build_veegan,
    "lbt-gan": build_lbt_gan,
    "mle": build_mle,
})  # fmt: skip


def register(name: str) -> Callable[[Builder], Builder]:
    """Decorator: ``@register("name")`` makes a builder selectable as ``train.method=name``
    (in an extension's ``register``, ``registry.methods[name] = builder`` does the same)."""
    return METHODS.register(name)


def build_method(
    cfg: Config, x_dim: int, generator: nn.Module | None = None, estimator: nn.Module | None = None
) -> Method:
    return METHODS[cfg.train.method](cfg, x_dim, generator, estimator)


__all__ = [
    "Adversarial",
    "CompilesTeacher",
    "DISCRIMINATORS",
    "ESTIMATORS",
    "GENERATORS",
    "LBT",
    "METHODS",
    "MLE",
    "Method",
    "OuterSettings",
    "Submodule",
    "Teaches",
    "build_lbt",
    "build_method",
    "make_discriminator",
    "make_estimator",
    "make_generator",
    "register",
]

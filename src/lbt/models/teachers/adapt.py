"""The teacher convention, ``forward(x)`` = per-sample log-density, as code.

The unroll and the implicit hypergradient call a teacher only through ``forward`` (under
``torch.func.functional_call``), so every teacher must answer there. The package's teachers derive
from :class:`TeacherModule`, which says they already do; :func:`as_estimator` adapts a user's
density model that names it ``log_prob`` or ``elbo``, or builds a distribution (zuko flows).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class TeacherModule(nn.Module):
    """Base of the package's teachers: ``forward(x)`` is already the per-sample log-density."""


class _MethodAsForward(TeacherModule):
    """A user's density model seen through the ``forward(x) = log p(x)`` convention."""

    def __init__(self, inner: nn.Module, method: str):
        super().__init__()
        self.inner = inner
        self.method = method

    def forward(self, x: Tensor) -> Tensor:
        if self.method == "distribution":  # zuko-style: forward() builds the distribution
            return self.inner().log_prob(x)
        return getattr(self.inner, self.method)(x)

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        if self.method == "distribution":
            return self.inner().sample((n,))
        return self.inner.sample(n)


def _returns_distribution(module: nn.Module) -> bool:
    """Whether ``module()`` (no input) builds a ``torch.distributions.Distribution``, as flows do."""
    try:
        with torch.no_grad():
            return isinstance(module(), torch.distributions.Distribution)
    except TypeError:  # forward needs an input: it is not a distribution factory
        return False


def as_estimator(module: nn.Module) -> nn.Module:
    """Adapt a user's density model to the ``forward(x) = log p(x)`` convention.

    The package's teachers (:class:`TeacherModule`) already follow it. Otherwise, in this order: a
    module with a ``log_prob`` method, one with an ``elbo`` method, and one whose ``forward()``
    returns a ``torch.distributions.Distribution`` (zuko flows) are wrapped; anything else is taken
    to return a per-sample log-density from ``forward(x)`` already.
    """
    if isinstance(module, TeacherModule):
        return module
    for name in ("log_prob", "elbo"):
        if callable(getattr(module, name, None)):
            return _MethodAsForward(module, name)
    if _returns_distribution(module):
        return _MethodAsForward(module, "distribution")
    return module

"""What LBT needs from a teacher (an explicit density estimator), as declared interfaces.

A teacher is an ``nn.Module`` whose ``forward(x)`` is a per-sample, differentiable log-density
(an ELBO counts). The hypergradient evaluates it at explicit parameters through
``torch.func.functional_call``, so nothing else is required. Two optional abilities:

* :class:`Refits` -- the teacher can be (re)fitted from generator samples in closed form, and that
  fit is differentiable in the samples (a kernel density's centres, a mixture's means);
* :class:`Scheduled` -- the teacher changes with training progress (a bandwidth schedule);
* :class:`Calibrates` -- the teacher takes its units from the real data once (a relative bandwidth);
* :class:`ViewsData` -- the teacher reads the real data of the teaching loss its own way (blurred);
* :class:`Samples` and :class:`ImportanceWeighted` -- evaluation only: the teacher draws samples
  (its figure) or gives a tighter importance-weighted bound (the VAEs' held-out IWAE).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import Tensor

from lbt.optim import Params


@runtime_checkable
class Teacher(Protocol):
    """``forward(x)`` -> per-sample log-likelihood (or a lower bound on it), shape ``(B,)``."""

    def forward(self, x: Tensor) -> Tensor: ...


@runtime_checkable
class Refits(Protocol):
    """Closed-form (re)fit from generator samples; returns entries that override the teacher's
    parameters or buffers and stay differentiable in ``samples`` (empty: nothing to refit)."""

    def refit(self, samples: Tensor) -> Params: ...


@runtime_checkable
class Scheduled(Protocol):
    """Told the training iteration before each step (e.g. to anneal a bandwidth)."""

    def schedule(self, iteration: int) -> None: ...


@runtime_checkable
class Calibrates(Protocol):
    """Shown a batch of real data before training, to set scales (never a likelihood term)."""

    def calibrate(self, x_data: Tensor) -> None: ...


@runtime_checkable
class ViewsData(Protocol):
    """Maps the real batch before the teaching loss reads it (a kernel density blurs it)."""

    def view_data(self, x_data: Tensor) -> Tensor: ...


@runtime_checkable
class Samples(Protocol):
    """Draws ``n`` samples from the fitted density (for the samples figure)."""

    def sample(self, n: int) -> Tensor: ...


@runtime_checkable
class ImportanceWeighted(Protocol):
    """An importance-weighted bound with ``k`` samples per input, tighter than ``forward``'s ELBO."""

    def iwae(self, x: Tensor, k: int = 100) -> Tensor: ...

"""The hypergradient as a swappable strategy.

LBT's generator loss is ``f_G(phi*(theta)) = -mean_x log p_E(x; phi*(theta))`` where ``phi*`` is the
teacher fitted to generator samples. A strategy turns one :class:`TeachingProblem` into a
*surrogate* scalar whose gradient with respect to the generator's parameters is the chosen
approximation of ``d f_G / d theta``, plus the value of ``f_G`` itself for the logs. The methods
(LBT, LBT-GAN) only ever call ``strategy(problem, x_data)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from torch import Tensor

from lbt.optim import Optimizer, Params, State
from lbt.unroll import InnerStep, Loss


@dataclass
class TeachingProblem:
    """Everything a strategy needs for one generator update.

    ``loss(phi, x)`` is ``-mean log p_E(x; phi)`` with any closed-form context (kernel centres)
    already bound; ``phi0`` is the teacher's starting point and may depend on the generator
    (a refit); ``gen_batch(k)`` draws a fresh generator batch that is differentiable in theta.
    ``carry`` is what a strategy keeps from one generator update to the next (the implicit
    solve's warm start); the method owns it and checkpoints it.
    """

    loss: Loss
    phi0: Params
    state: State
    inner: Optimizer
    gen_batch: Callable[[int], Tensor]
    steps: int
    options: dict[str, float] = field(default_factory=dict)
    carry: Params = field(default_factory=dict)
    step: InnerStep | None = None  # a compiled inner step (lbt.compiled); None: autograd's


class Teaching(NamedTuple):
    surrogate: Tensor  # differentiate this w.r.t. theta
    loss: Tensor  # f_G at the fitted teacher, detached (for the logs)


class Hypergradient(Protocol):
    def __call__(self, problem: TeachingProblem, x_data: Tensor) -> Teaching: ...

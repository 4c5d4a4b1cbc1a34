"""Normalizing-flow teacher on zuko: an exact, differentiable log-density with many parameters.

A zuko flow is a *lazy* distribution: ``flow()`` builds a ``torch.distributions.Distribution``
whose transforms hold references to the flow's modules, and ``log_prob`` runs them later. Under
``torch.func.functional_call`` the explicit parameters are swapped in only for the duration of
the call, so ``functional_call(flow, phi, ()).log_prob(x)`` silently evaluates the module's *own*
parameters. :class:`FlowTeacher` therefore builds the distribution and evaluates it inside one
``forward(x)``, which is what the unrolled and implicit hypergradients call at explicit ``phi``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from lbt.models.teachers.adapt import TeacherModule

if TYPE_CHECKING:
    from lbt.config import Config

FLOW_KINDS = ("nsf", "maf")


@dataclass
class FlowConfig:
    """The flow teacher's ``model.flow_*`` keys (part of ``model``)."""

    flow_kind: str = "nsf"  # nsf | maf (zuko)
    flow_transforms: int = 3
    flow_hidden: int = 64  # width of the two hidden layers of each transform's network


def make_flow(x_dim: int, kind: str = "nsf", transforms: int = 3, hidden: int = 64) -> nn.Module:
    """A zuko NSF (rational-quadratic splines) or MAF (affine) with two hidden layers per transform."""
    import zuko

    if kind not in FLOW_KINDS:
        raise ValueError(f"unknown flow kind {kind!r} (one of {', '.join(FLOW_KINDS)})")
    cls = zuko.flows.NSF if kind == "nsf" else zuko.flows.MAF
    return cls(features=x_dim, transforms=transforms, hidden_features=(hidden, hidden))


class FlowTeacher(TeacherModule):
    """``forward(x) = log p_flow(x)`` per sample, for a zuko flow (or any module whose ``forward()``
    returns a ``torch.distributions.Distribution``)."""

    def __init__(
        self, x_dim: int = 2, kind: str = "nsf", transforms: int = 3, hidden: int = 64, *,
        flow: nn.Module | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.flow = flow if flow is not None else make_flow(x_dim, kind, transforms, hidden)

    def forward(self, x: Tensor) -> Tensor:
        return self.flow().log_prob(x)

    log_prob = forward

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        return self.flow().sample((n,))


def build_flow(cfg: Config, x_dim: int) -> FlowTeacher:
    """``model.estimator=flow`` from the ``model.flow_*`` keys."""
    m: FlowConfig = cfg.model
    return FlowTeacher(x_dim, m.flow_kind, m.flow_transforms, m.flow_hidden)

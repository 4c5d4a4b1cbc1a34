"""Kernel-density teacher: the lower level of LBT solved in closed form.

Fitting a Gaussian kernel density to the generator's samples *is* taking those samples as the
centres, so ``phi*(theta) = G(z; theta)`` and the hypergradient of
``-mean_x log p_KDE(x; G(z))`` is exact (plain backpropagation, no unroll, no inner optimizer).
The bandwidth is fixed, annealed geometrically from ``bandwidth`` to ``bandwidth_final`` over
``anneal_steps`` iterations, or set per fit by Scott's rule on the samples. With ``relative``
the bandwidths are multiples of the real data's standard deviation (measured once, by
:meth:`calibrate`), so one recipe serves rings and grids of any radius or spacing.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from lbt.models.toy import TeacherModule
from lbt.optim import Params

if TYPE_CHECKING:
    from lbt.config import Config

BANDWIDTH_RULES = ("fixed", "anneal", "scott")


def kde_log_prob(x: Tensor, centres: Tensor, bandwidth: Tensor) -> Tensor:
    """log of the equal-weight isotropic Gaussian mixture on ``centres`` with std ``bandwidth``."""
    d = x.shape[-1]
    d2 = (x * x).sum(-1, keepdim=True) - 2 * x @ centres.T + (centres * centres).sum(-1)
    log_k = -0.5 * d2.clamp_min(0) / bandwidth**2
    norm = math.log(centres.shape[0]) + d * (torch.log(bandwidth) + 0.5 * math.log(2 * math.pi))
    return torch.logsumexp(log_k, dim=-1) - norm


class KDETeacher(TeacherModule):
    """Gaussian KDE on generator samples; ``centres`` and ``bandwidth`` are buffers set by :meth:`refit`."""

    def __init__(
        self,
        x_dim: int = 2,
        bandwidth: float = 0.05,
        *,
        rule: str = "fixed",
        bandwidth_final: float | None = None,
        anneal_steps: int = 0,
        relative: bool = False,
    ) -> None:
        super().__init__()
        if rule not in BANDWIDTH_RULES:
            raise ValueError(f"unknown bandwidth rule {rule!r} (one of {', '.join(BANDWIDTH_RULES)})")
        self.rule = rule
        self.h0 = bandwidth
        self.h1 = bandwidth if bandwidth_final is None else bandwidth_final
        self.anneal_steps = anneal_steps
        self.relative = relative
        self.register_buffer("centres", torch.zeros(1, x_dim))
        self.register_buffer("bandwidth", torch.tensor(float(bandwidth)))
        self.register_buffer("scale", torch.tensor(-1.0))  # data std once calibrated (relative)
        self._register_load_state_dict_pre_hook(self._fit_centres)

    def _fit_centres(self, state: dict, prefix: str, *_: object) -> None:
        """A checkpoint's centres have the generator batch's shape; take it on load."""
        saved = state.get(prefix + "centres")
        if saved is not None:
            self.centres = self.centres.new_zeros(saved.shape)

    def forward(self, x: Tensor) -> Tensor:
        return kde_log_prob(x, self.centres, self.bandwidth)

    log_prob = forward

    def calibrate(self, x_data: Tensor) -> None:
        """Fix the unit of a ``relative`` bandwidth: the data's per-coordinate standard deviation
        (root mean square over coordinates). Done once; the unit is checkpointed."""
        if self.relative and float(self.scale) <= 0:
            self.scale.fill_(float(x_data.detach().var(0).mean().sqrt()))
            self.schedule(0)

    def schedule(self, iteration: int) -> None:
        """The bandwidth at ``iteration``: fixed, or annealed geometrically (rule ``anneal``)."""
        unit = float(self.scale) if self.relative and float(self.scale) > 0 else 1.0
        t = min(iteration / max(self.anneal_steps, 1), 1.0) if self.rule == "anneal" else 0.0
        self.bandwidth.fill_(unit * self.h0 * (self.h1 / self.h0) ** t)

    def refit(self, samples: Tensor) -> Params:
        """The fit is the samples themselves (differentiable); Scott's rule sets the bandwidth
        from their spread, treated as a constant (no gradient through the rule)."""
        out: Params = {"centres": samples}
        if self.rule == "scott":
            n, d = samples.shape
            sigma = samples.detach().std(0).mean()
            out["bandwidth"] = sigma * n ** (-1.0 / (d + 4))
        return out

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        idx = torch.randint(0, self.centres.shape[0], (n,), device=self.centres.device)
        return self.centres[idx] + self.bandwidth * torch.randn(n, self.centres.shape[1], device=idx.device)


def build_kde(cfg: Config, x_dim: int) -> KDETeacher:
    """``model.estimator=kde`` from the ``model.kde_*`` keys."""
    m = cfg.model
    return KDETeacher(x_dim, m.kde_bandwidth, rule=m.kde_rule, bandwidth_final=m.kde_bandwidth_final,
                      anneal_steps=m.kde_anneal_steps, relative=m.kde_relative)  # fmt: skip

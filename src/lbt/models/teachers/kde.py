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
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from lbt.models.teachers.adapt import TeacherModule
from lbt.optim import Params

if TYPE_CHECKING:
    from lbt.config import Config

BANDWIDTH_RULES = ("fixed", "anneal", "scott")


@dataclass
class KDEConfig:
    """The kernel-density teacher's ``model.kde_*`` keys (part of ``model``)."""

    kde_bandwidth: float = 0.05  # the bandwidth (start of an anneal)
    kde_rule: str = "fixed"  # fixed | anneal (geometric to kde_bandwidth_final) | scott
    kde_bandwidth_final: float = 0.05
    kde_anneal_steps: int = 0
    kde_relative: bool = False  # bandwidths in units of the data's standard deviation
    kde_smooth_data: bool = False  # read the real data through the kernel too (see KDETeacher.view_data)


class _GaussianLogSumExp(torch.autograd.Function):
    """``logsumexp_j(-|x_i - c_j|^2 * inv_var / 2)`` with a hand-written backward.

    Autograd through the plain expression keeps half a dozen (n_x, n_c) intermediates and walks
    each of them back; here the only one kept is the softmax ``W`` over centres, and every
    gradient is a product of ``W`` with a thin matrix, so a step costs a few passes over one
    matrix (about three times faster on the 2-D presets, docs/benchmarks.md). First-order only:
    ``W`` is saved without a graph, so a double backward raises instead of going silently wrong.
    """

    @staticmethod
    def forward(ctx, x: Tensor, centres: Tensor, inv_var: Tensor) -> Tensor:  # noqa: ANN001
        xx = (x * x).sum(-1)
        cc = (centres * centres).sum(-1)
        # inv_var * (x.c - |c|^2 / 2): log k up to a per-row constant, which the softmax ignores and
        # lse gets back below. Thin products are written in the layout BLAS is fast at.
        w = torch.addmm(-0.5 * inv_var * cc, x * inv_var, centres.T.contiguous())
        top = w.amax(-1, keepdim=True)
        # Far centres' weights underflow; floored above the subnormal range, where CPU arithmetic is
        # many times slower (a narrow bandwidth made a step 3x slower). The floor is ~1e-38 of the
        # largest weight: below float32's resolution of any sum it enters.
        w.sub_(top).clamp_min_(math.log(torch.finfo(w.dtype).tiny) + 1.0).exp_()
        total = w.sum(-1, keepdim=True)
        w.div_(total)  # the softmax W over centres
        lse = (top + total.log()).squeeze(-1) - 0.5 * inv_var * xx
        ctx.save_for_backward(x, centres, inv_var, w, xx, cc)
        return lse

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: Tensor) -> tuple[Tensor | None, Tensor | None, Tensor | None]:  # noqa: ANN001
        x, centres, inv_var, w, xx, cc = ctx.saved_tensors
        need_x, need_c, need_v = ctx.needs_input_grad
        grad_x = grad_c = grad_v = None
        wc = None
        if need_x or need_v:  # each point's W-weighted mean centre
            wc = (centres.T.contiguous() @ w.T).T
        if need_x:
            grad_x = inv_var * g[:, None] * (wc - x)
        if need_c:
            gx = (g[:, None] * x).T.contiguous()
            grad_c = inv_var * ((gx @ w).T - (g @ w)[:, None] * centres)
        if need_v:  # d lse / d inv_var = -sum_j W_ij d2_ij / 2, with sum_j W_ij = 1
            d2 = xx - 2 * (x * wc).sum(-1) + w @ cc
            grad_v = (-0.5 * (g * d2).sum()).reshape(inv_var.shape)
        return grad_x, grad_c, grad_v


def kde_log_prob(x: Tensor, centres: Tensor, bandwidth: Tensor) -> Tensor:
    """log of the equal-weight isotropic Gaussian mixture on ``centres`` with std ``bandwidth``."""
    d = x.shape[-1]
    if x.dim() != 2:
        return kde_log_prob(x.reshape(-1, d), centres, bandwidth).reshape(x.shape[:-1])
    lse = _GaussianLogSumExp.apply(x, centres, bandwidth.pow(-2))
    norm = math.log(centres.shape[0]) + d * (torch.log(bandwidth) + 0.5 * math.log(2 * math.pi))
    return lse - norm


def kde_log_prob_reference(x: Tensor, centres: Tensor, bandwidth: Tensor) -> Tensor:
    """The same density through plain autograd: the reference the fused version is tested against."""
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
        smooth_data: bool = False,
    ) -> None:
        super().__init__()
        if rule not in BANDWIDTH_RULES:
            raise ValueError(f"unknown bandwidth rule {rule!r} (one of {', '.join(BANDWIDTH_RULES)})")
        self.rule = rule
        self.h0 = bandwidth
        self.h1 = bandwidth if bandwidth_final is None else bandwidth_final
        self.anneal_steps = anneal_steps
        self.relative = relative
        self.smooth_data = smooth_data
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

    def view_data(self, x_data: Tensor) -> Tensor:
        """The real data as the teaching loss reads it: with ``smooth_data``, blurred by the kernel.

        The kernel density's model is the generator convolved with the kernel, so its likelihood of
        raw data is best for a generator *thinner* than the data (the data deconvolved); blurring
        the data by the same kernel compares like with like, and the optimum is the data itself.
        """
        if not self.smooth_data:
            return x_data
        return x_data + self.bandwidth * torch.randn_like(x_data)

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        idx = torch.randint(0, self.centres.shape[0], (n,), device=self.centres.device)
        return self.centres[idx] + self.bandwidth * torch.randn(n, self.centres.shape[1], device=idx.device)


def build_kde(cfg: Config, x_dim: int) -> KDETeacher:
    """``model.estimator=kde`` from the ``model.kde_*`` keys."""
    m: KDEConfig = cfg.model
    return KDETeacher(x_dim, m.kde_bandwidth, rule=m.kde_rule, bandwidth_final=m.kde_bandwidth_final,
                      anneal_steps=m.kde_anneal_steps, relative=m.kde_relative,
                      smooth_data=m.kde_smooth_data)  # fmt: skip

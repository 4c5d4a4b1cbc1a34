"""The paper's hypergradient: K differentiable optimizer steps, backpropagated through.

With K = 0 this is plain backpropagation through a closed-form fit (``phi0`` from a refit), which
is the exact hypergradient for a kernel-density teacher.
"""

from __future__ import annotations

from torch import Tensor

from lbt.hypergrad.base import Teaching, TeachingProblem
from lbt.unroll import unroll


def unrolled(problem: TeachingProblem, x_data: Tensor) -> Teaching:
    """``f_G(phi_K(theta))`` with every inner step kept in the graph (memory grows with K)."""
    p = problem
    phi_k, _, _ = unroll(p.loss, p.phi0, p.state, p.inner, p.gen_batch, p.steps, create_graph=True,
                         step=p.step)  # fmt: skip
    out = p.loss(phi_k, x_data)
    return Teaching(out, out.detach())

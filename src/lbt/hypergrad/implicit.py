"""The implicit (influence-function) hypergradient, paper Sec. 4.2.

If ``phi*`` minimises the teacher's fitting loss ``f_E(phi, theta) = -mean log p_E(G(z; theta); phi)``
then ``grad_phi f_E(phi*, theta) = 0`` and the implicit function theorem gives

    d f_G / d theta = - grad_phi f_G(phi*)^T  H^-1  d(grad_phi f_E(phi*, theta)) / d theta,

with ``H`` the Hessian of ``f_E`` in ``phi``. Here ``phi*`` is approximated by ``phi_K``: the K
inner steps run *without* a graph (memory does not grow with K), ``u = (H + damping I)^-1 v`` with
``v = grad_phi f_G(phi_K)`` is solved by conjugate gradient or a truncated Neumann series from
Hessian-vector products, and the surrogate ``-u . grad_phi f_E(phi_K; G(z; theta))`` (``u`` held
constant) has the hypergradient as its gradient in theta.

Approximations: ``phi_K`` is treated as a stationary point of ``f_E`` (it is not exactly one after
K steps, and a refit that places ``phi_0`` at generator samples is not differentiated through);
``f_E`` is evaluated on one generator batch; the solve is truncated at ``implicit_iters`` products.
With ``implicit_warm_start`` the conjugate-gradient solve starts from the previous generator
update's solution (kept in ``TeachingProblem.carry``): ``H`` and ``v`` move little between
updates, so a few products refine what earlier solves found (amortized implicit
differentiation, Arbel & Mairal 2022) instead of starting again from zero. A solution is only
carried where the teacher is convex along it (:func:`_worth_carrying`, from the solve's residual).
A teacher fitted entirely in closed form (the kernel density: no parameters left to fit by
gradient steps) has no stationarity condition to differentiate; for it the implicit-function
derivative *is* the derivative of the closed-form fit, so the strategy backpropagates through it
exactly, as :func:`lbt.hypergrad.unrolled` does with K = 0.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from lbt import distributed
from lbt.errors import LBTError
from lbt.hypergrad.base import Teaching, TeachingProblem
from lbt.optim import Params
from lbt.unroll import unroll

DEFAULTS: dict[str, float | str] = {
    "implicit_solver": "cg",
    "implicit_iters": 10,
    "implicit_damping": 0.0,
    "implicit_alpha": 0.01,
    "implicit_warm_start": False,
}
SOLVERS = ("cg", "neumann")


def _dot(a: Params, b: Params) -> Tensor:
    return sum((a[k] * b[k]).sum() for k in a)  # type: ignore[return-value]


def _axpy(alpha: Tensor | float, x: Params, y: Params) -> Params:
    """``alpha * x + y``."""
    return {k: alpha * x[k] + y[k] for k in y}


def conjugate_gradient(
    hvp: Callable[[Params], Params],
    v: Params,
    iters: int,
    *,
    fallback_step: float = 0.01,
    u0: Params | None = None,
) -> Params:
    """Approximately solve ``A u = v`` for symmetric ``A`` given as ``hvp(p) = A p``.

    Starts from ``u0`` (one more product, for its residual) or from zero; stops early once the
    residual is negligible. The Hessian of a non-convex teacher may be indefinite: at a
    direction of non-positive curvature the iteration stops and returns the iterate so far
    (``fallback_step * v`` if that is still zero, the first Neumann term).
    """
    return _cg(hvp, v, iters, fallback_step, u0)[0]


def _cg(
    hvp: Callable[[Params], Params], v: Params, iters: int, fallback_step: float, u0: Params | None
) -> tuple[Params, Params]:
    """:func:`conjugate_gradient`'s ``u`` and its residual ``v - A u`` (tracked, no extra product)."""
    if u0 is None:
        u = {k: torch.zeros_like(t) for k, t in v.items()}
        r = dict(v)
    else:
        u = dict(u0)
        r = _axpy(-1.0, hvp(u), v)
    p = dict(r)
    rr = _dot(r, r)
    tol = 1e-20 * float(_dot(v, v)) + 1e-30
    if float(rr) <= tol:  # v = 0, or the start already solves the system
        return u, r
    for i in range(iters):
        hp = hvp(p)
        php = _dot(p, hp)
        if not float(php) > 0:  # negative curvature (or NaN): the quadratic model has no minimum
            if i > 0 or u0 is not None:
                return u, r
            return {k: fallback_step * t for k, t in v.items()}, _axpy(-fallback_step, hp, v)
        a = rr / php
        u = _axpy(a, p, u)
        r = _axpy(-a, hp, r)
        rr_new = _dot(r, r)
        if float(rr_new) <= tol:
            break
        p = _axpy(rr_new / rr, p, r)
        rr = rr_new
    return u, r


def neumann(hvp, v: Params, iters: int, alpha: float) -> Params:  # noqa: ANN001
    """``u = alpha * sum_{j=0}^{iters} (I - alpha A)^j v``, the truncated Neumann series for ``A^-1 v``
    (converges when ``0 < alpha * eig(A) < 2``; Lorraine et al. 2020)."""
    p = dict(v)
    acc = dict(v)
    for _ in range(iters):
        hp = hvp(p)
        p = {k: p[k] - alpha * hp[k] for k in p}
        acc = {k: acc[k] + p[k] for k in acc}
    return {k: alpha * t for k, t in acc.items()}


def _carried(carry: Params, v: Params) -> Params | None:
    """The previous solution if it fits this system (same parameters, shapes, dtypes, devices)."""
    same = set(carry) == set(v) and all(
        (carry[k].shape, carry[k].dtype, carry[k].device) == (v[k].shape, v[k].dtype, v[k].device) for k in v
    )
    return dict(carry) if same else None


def _worth_carrying(u: Params, r: Params, v: Params) -> bool:
    """Carry ``u`` only where the system is convex along it and ``u`` beats zero on the quadratic
    model ``u.Au / 2 - v.u`` (``Au = v - r``): a non-convex teacher otherwise lets it grow
    without bound."""
    uv = float(_dot(u, v))
    curvature = uv - float(_dot(u, r))
    return curvature > 0 and 0.5 * curvature - uv < 0


def implicit(problem: TeachingProblem, x_data: Tensor) -> Teaching:
    """``-v^T (H + damping I)^-1 d(grad_phi f_E)/d theta`` at ``phi_K``, ``v = grad_phi f_G(phi_K)``."""
    p = problem
    opts = {**DEFAULTS, **p.options}
    solver = str(opts["implicit_solver"])
    iters = int(opts["implicit_iters"])
    damping = float(opts["implicit_damping"])
    alpha = float(opts["implicit_alpha"])
    warm = bool(opts["implicit_warm_start"])
    if solver not in SOLVERS:
        raise LBTError(f"lbt.implicit_solver={solver!r} is not one of: {', '.join(SOLVERS)}")
    if warm and solver != "cg":
        raise LBTError("lbt.implicit_warm_start needs lbt.implicit_solver=cg (the Neumann series "
                       "has no starting point to carry)")  # fmt: skip
    if not p.phi0:  # fitted in closed form (kernel density): differentiate the fit itself, exactly
        out = p.loss(p.phi0, x_data)
        return Teaching(out, out.detach())
    if p.steps < 1:
        raise LBTError("lbt.hypergrad=implicit needs lbt.unroll_steps >= 1: it differentiates the "
                       "stationarity of the teacher fitted by K gradient steps (K=0 has no fit)")  # fmt: skip

    def detached_batch(k: int) -> Tensor:
        with torch.no_grad():
            return p.gen_batch(k).detach()

    # phi_K without a graph: phi_0 (even a differentiable refit) is a starting point only.
    phi0 = {k: v.detach() for k, v in p.phi0.items()}
    phi_k, _, _ = unroll(p.loss, phi0, p.state, p.inner, detached_batch, p.steps, create_graph=False)
    phi = {k: v.detach().requires_grad_(True) for k, v in phi_k.items()}
    names = list(phi)
    with torch.enable_grad():
        f_g = p.loss(phi, x_data)
        v = dict(zip(names, torch.autograd.grad(f_g, [phi[k] for k in names]), strict=True))
        # Data-parallel: v and every Hessian-vector product are the whole batch's (the mean over
        # ranks), so each rank solves the same system; the mixed term stays per rank and is
        # averaged with the generator's gradients.
        v = distributed.mean(v)
        # One differentiable generator batch serves both the Hessian (in phi) and the mixed term
        # (in theta), so H and d grad_phi f_E / d theta belong to the same f_E (same VAE noise).
        f_e = p.loss(phi, p.gen_batch(p.steps))
        g = dict(
            zip(names, torch.autograd.grad(f_e, [phi[k] for k in names], create_graph=True), strict=True)
        )

        def hvp(vec: Params) -> Params:
            hv = torch.autograd.grad(
                [g[k] for k in names], [phi[k] for k in names],
                grad_outputs=[vec[k] for k in names], retain_graph=True, allow_unused=True,
            )  # fmt: skip
            out = {
                k: torch.zeros_like(phi[k]) if h is None else h.detach()
                for k, h in zip(names, hv, strict=True)
            }
            out = distributed.mean(out)
            return {k: out[k] + damping * vec[k] for k in names} if damping else out

        if solver == "cg":
            u0 = _carried(p.carry, v) if warm else None
            u, r = _cg(hvp, v, iters, alpha, u0)
            if warm:  # in place: the method holds (and checkpoints) this very dict
                p.carry.clear()
                if _worth_carrying(u, r, v):
                    p.carry.update({k: t.detach().clone() for k, t in u.items()})
        else:
            u = neumann(hvp, v, iters, alpha)
        surrogate = -_dot({k: u[k].detach() for k in names}, g)
        # A context fitted in closed form (bound in the loss) may carry theta directly: its term.
        direct = p.loss({k: t.detach() for k, t in phi.items()}, x_data)
        if direct.requires_grad:
            surrogate = surrogate + direct - direct.detach()
    return Teaching(surrogate, f_g.detach())

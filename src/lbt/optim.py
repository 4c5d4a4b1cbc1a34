"""Pure, differentiable optimizers (optax-style: ``init(params) -> state``, ``update``).

Parameters, gradients and optimizer state are plain ``dict[str, Tensor]``. ``update`` never
mutates its inputs and builds its result from ordinary tensor ops, so when the gradients carry
a graph (``create_graph=True``) the new parameters stay differentiable with respect to whatever
produced those gradients -- the generator, in LBT's unrolled inner loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

Params = dict[str, Tensor]
State = dict[str, Tensor]


@dataclass(frozen=True)
class Optimizer:
    """A pair of pure functions; ``update(grads, state, params, lr_scale)`` returns new params/state."""

    init: Callable[[Params], State]
    update: Callable[[Params, State, Params, float | Tensor], tuple[Params, State]]
    name: str = ""


def cosine_hold(it: int, total: int, hold: float, end: float) -> float:
    """A factor held at 1 for the first ``hold`` fraction of ``total`` iterations, then a cosine
    to ``end`` at ``total``: a schedule that leaves an early phase alone and settles late.
    ``end < 0`` or ``total <= 0`` means no schedule (always 1), the convention of every caller."""
    if end < 0 or total <= 0:
        return 1.0
    start = hold * total
    if it <= start:
        return 1.0
    frac = min((it - start) / max(total - start, 1e-12), 1.0)
    return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * frac))


def sgd(lr: float) -> Optimizer:
    """Plain gradient descent, paper Eq. 4: ``phi <- phi - lr * grad``."""

    def init(params: Params) -> State:
        return {}

    def update(
        grads: Params, state: State, params: Params, lr_scale: float | Tensor = 1.0
    ) -> tuple[Params, State]:
        step = lr * lr_scale
        return {k: params[k] - step * grads[k] for k in params}, state

    return Optimizer(init, update, "sgd")


def adam(
    lr: float,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    *,
    eps_inside_sqrt: bool = True,
    differentiate_second_moment: bool = False,
) -> Optimizer:
    """Adam as a pure function.

    The defaults follow the official LBT TensorFlow code: the bias corrections are folded into
    the step size, epsilon sits *inside* the square root (``m / sqrt(v + eps)``, which keeps the
    derivative finite when ``v = 0``) and the second moment is a stop-gradient, so the
    hypergradient only flows through the first moment. The step counter and the bias corrections
    stay tensors (on the parameters' device), so an update never waits for the device and a
    compiled step does not specialise on the iteration. ``eps_inside_sqrt=False`` gives the
    ``torch.optim.Adam`` formula ``m_hat / (sqrt(v_hat) + eps)``;
    ``differentiate_second_moment=True`` lets the hypergradient flow through ``v`` as well.
    """

    def init(params: Params) -> State:
        state: State = {"step": torch.zeros((), dtype=torch.float64)}
        for k, p in params.items():
            state["m." + k] = torch.zeros_like(p).detach()
            state["v." + k] = torch.zeros_like(p).detach()
        return state

    def update(
        grads: Params, state: State, params: Params, lr_scale: float | Tensor = 1.0
    ) -> tuple[Params, State]:
        t = state["step"] + 1.0
        bc1 = 1.0 - b1**t
        bc2 = 1.0 - b2**t
        step = lr * lr_scale
        coef = step * bc2**0.5 / bc1  # epsilon inside the root: both corrections in the step size
        new_state: State = {"step": t}
        if not torch.is_grad_enabled():  # an ordinary step: no graph wanted
            return _adam_no_graph(grads, state, params, new_state, step, coef, bc1, bc2)
        new_params: Params = {}
        for k, p in params.items():
            g = grads[k]
            m = b1 * state["m." + k] + (1.0 - b1) * g
            g2 = g * g if differentiate_second_moment else (g * g).detach()
            v = b2 * state["v." + k] + (1.0 - b2) * g2
            if eps_inside_sqrt:
                new_params[k] = p - coef * m / torch.sqrt(v + eps)
            else:
                new_params[k] = p - step * (m / bc1) / (torch.sqrt(v / bc2) + eps)
            new_state["m." + k] = m
            new_state["v." + k] = v
        return new_params, new_state

    def _adam_no_graph(
        grads: Params,
        state: State,
        params: Params,
        new_state: State,
        step: float | Tensor,
        coef: Tensor,
        bc1: Tensor,
        bc2: Tensor,
    ) -> tuple[Params, State]:
        """The same update for every tensor at once, with three new lists and one scratch list.

        Each line is the formula above, op for op and in the same order, as ``torch._foreach_*``
        calls (one call for all of a network's tensors: on a GPU one fused launch instead of one
        per tensor, on a CPU a C++ loop instead of a Python one) written in place into the new
        ``m``, ``v``, ``p`` and the scratch: bitwise the same result (tested), and valid only where
        no graph is wanted (ordinary, non-unrolled steps). Its inputs are never written to.
        """
        names = list(params)
        p, g = [params[k] for k in names], [grads[k] for k in names]
        m2 = torch._foreach_mul([state["m." + k] for k in names], b1)
        tmp = torch._foreach_mul(g, 1.0 - b1)
        torch._foreach_add_(m2, tmp)
        tmp = torch._foreach_mul(g, g)
        torch._foreach_mul_(tmp, 1.0 - b2)
        v2 = torch._foreach_mul([state["v." + k] for k in names], b2)
        torch._foreach_add_(v2, tmp)
        if eps_inside_sqrt:
            tmp = torch._foreach_add(v2, eps)
            torch._foreach_sqrt_(tmp)
            p2 = torch._foreach_mul(m2, coef)
        else:
            tmp = torch._foreach_div(v2, bc2)
            torch._foreach_sqrt_(tmp)
            torch._foreach_add_(tmp, eps)
            p2 = torch._foreach_div(m2, bc1)
            torch._foreach_mul_(p2, step)
        torch._foreach_div_(p2, tmp)
        p2 = torch._foreach_sub(p, p2)
        for k, mk, vk in zip(names, m2, v2, strict=True):
            new_state["m." + k], new_state["v." + k] = mk, vk
        return dict(zip(names, p2, strict=True)), new_state

    return Optimizer(init, update, "adam")


def detach(tree: dict[str, Tensor]) -> dict[str, Tensor]:
    """Cut every tensor of a params/state dict from the graph (the end of an unroll)."""
    return {k: v.detach() for k, v in tree.items()}


def global_norm(grads: Params) -> Tensor:
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads.values()]))


def clip_by_global_norm(grads: Params, max_norm: float) -> tuple[Params, Tensor]:
    """Scale all gradients together so their joint norm is at most ``max_norm`` (as TF does).

    Returns the clipped gradients and the norm *before* clipping, for logging. ``max_norm <= 0``
    disables clipping.
    """
    norm = global_norm(grads)
    if max_norm <= 0:
        return grads, norm
    scale = torch.clamp(max_norm / (norm + 1e-12), max=1.0)
    return {k: g * scale for k, g in grads.items()}, norm

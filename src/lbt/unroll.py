"""The differentiable inner loop of LBT (paper Eq. 4-8, Algorithm 1).

``unroll`` runs K optimizer steps of a module's parameters on a loss that depends on fresh
batches from ``sample_fn``. With ``create_graph=True`` each step's gradient is itself part of the
autograd graph, so the returned ``phi_K`` is a differentiable function of whatever produced the
batches (the generator's parameters ``theta``), and ``d loss(phi_K) / d theta`` is the exact
hypergradient. The same function serves Unrolled GAN (the discriminator is unrolled instead).

One step is an :data:`InnerStep`: :func:`eager_step` (autograd, the reference) by default, or a
compiled one (:mod:`lbt.compiled`) that computes the same numbers in fewer, fused operations.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call

from lbt import distributed
from lbt.optim import Optimizer, Params, State

Loss = Callable[[Params, Tensor], Tensor]
# (phi, state, x, lr_scale) -> (phi', state', loss at phi): one optimizer step of the teacher.
InnerStep = Callable[[Params, State, Tensor, "float | Tensor"], tuple[Params, State, Tensor]]


def params_of(module: nn.Module) -> Params:
    """The module's trainable parameters as a detached dict (the starting point phi_0)."""
    return {k: p.detach() for k, p in module.named_parameters() if p.requires_grad}


def functional_loss(module: nn.Module, reduce: Callable[[Tensor], Tensor]) -> Loss:
    """``loss(params, x) = reduce(module(x))`` evaluated at explicit ``params`` (functional_call)."""

    def loss(params: Params, x: Tensor) -> Tensor:
        return reduce(functional_call(module, params, (x,)))

    return loss


def eager_step(loss: Loss, optimizer: Optimizer, create_graph: bool) -> InnerStep:
    """One step through autograd; with ``create_graph`` the step itself stays differentiable."""

    def step(phi: Params, state: State, x: Tensor, lr_scale: float | Tensor) -> tuple[Params, State, Tensor]:
        with torch.enable_grad():  # the inner step needs d loss / d phi even under no_grad
            value = loss(phi, x)
            g = torch.autograd.grad(value, list(phi.values()), create_graph=create_graph)
            # Data-parallel: the mean over ranks (the whole batch's gradient), differentiable when
            # the step is in the graph, so every rank's phi_K and hypergradient are the full batch's.
            grads = distributed.mean(dict(zip(phi, g, strict=True)), differentiable=create_graph)
        with torch.set_grad_enabled(create_graph):
            phi, state = optimizer.update(grads, state, phi, lr_scale)
        return phi, state, value.detach()

    return step


def unroll(
    loss: Loss,
    params: Params,
    opt_state: State,
    optimizer: Optimizer,
    sample_fn: Callable[[int], Tensor],
    steps: int,
    *,
    create_graph: bool = True,
    lr_scale: float | Tensor = 1.0,
    step: InnerStep | None = None,
) -> tuple[Params, State, list[Tensor]]:
    """Apply ``steps`` optimizer updates to ``params``, each on the fresh batch ``sample_fn(k)``.

    Returns ``(phi_K, state_K, losses)`` (the losses as detached tensors: reading them is left to
    the caller, once, so the loop never waits on the device); ``steps=0`` returns ``params``
    unchanged. With ``create_graph=False`` every step is cut from the graph (the cheap, ordinary
    estimator update); with ``True`` nothing is cut, so gradients of a function of ``phi_K`` reach
    the tensors ``sample_fn`` depends on. ``step`` replaces the autograd step (same signature).
    """
    if steps < 0:
        raise ValueError(f"unroll needs a non-negative number of steps, got {steps}")
    one_step = step if step is not None else eager_step(loss, optimizer, create_graph)
    phi = {k: v if v.requires_grad else v.detach().requires_grad_(True) for k, v in params.items()}
    state = opt_state
    losses: list[Tensor] = []
    for k in range(steps):
        x = sample_fn(k)
        if not create_graph:
            x = x.detach()
        phi, state, value = one_step(phi, state, x, lr_scale)
        losses.append(value)
        if not create_graph:
            phi = {n: v.detach().requires_grad_(True) for n, v in phi.items()}
            state = {n: v.detach() for n, v in state.items()}
    return phi, state, losses

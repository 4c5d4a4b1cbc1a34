"""The differentiable inner loop of LBT (paper Eq. 4-8, Algorithm 1).

``unroll`` runs K optimizer steps of a module's parameters on a loss that depends on fresh
batches from ``sample_fn``. With ``create_graph=True`` each step's gradient is itself part of the
autograd graph, so the returned ``phi_K`` is a differentiable function of whatever produced the
batches (the generator's parameters ``theta``), and ``d loss(phi_K) / d theta`` is the exact
hypergradient. The same function serves Unrolled GAN (the discriminator is unrolled instead).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call

from lbt import distributed
from lbt.optim import Optimizer, Params, State

Loss = Callable[[Params, Tensor], Tensor]


def params_of(module: nn.Module) -> Params:
    """The module's trainable parameters as a detached dict (the starting point phi_0)."""
    return {k: p.detach() for k, p in module.named_parameters() if p.requires_grad}


def functional_loss(module: nn.Module, reduce: Callable[[Tensor], Tensor]) -> Loss:
    """``loss(params, x) = reduce(module(x))`` evaluated at explicit ``params`` (functional_call)."""

    def loss(params: Params, x: Tensor) -> Tensor:
        return reduce(functional_call(module, params, (x,)))

    return loss


def unroll(
    loss: Loss,
    params: Params,
    opt_state: State,
    optimizer: Optimizer,
    sample_fn: Callable[[int], Tensor],
    steps: int,
    *,
    create_graph: bool = True,
    lr_scale: float = 1.0,
) -> tuple[Params, State, list[float]]:
    """Apply ``steps`` optimizer updates to ``params``, each on the fresh batch ``sample_fn(k)``.

    Returns ``(phi_K, state_K, losses)``; ``steps=0`` returns ``params`` unchanged. With
    ``create_graph=False`` every step is cut from the graph (the cheap, ordinary estimator update);
    with ``True`` nothing is cut, so gradients of a function of ``phi_K`` reach the tensors
    ``sample_fn`` depends on.
    """
    if steps < 0:
        raise ValueError(f"unroll needs a non-negative number of steps, got {steps}")
    phi = {k: v if v.requires_grad else v.detach().requires_grad_(True) for k, v in params.items()}
    state = opt_state
    losses: list[float] = []
    for k in range(steps):
        x = sample_fn(k)
        if not create_graph:
            x = x.detach()
        with torch.enable_grad():  # the inner step needs d loss / d phi even under no_grad
            value = loss(phi, x)
            g = torch.autograd.grad(value, list(phi.values()), create_graph=create_graph)
            # Data-parallel: the mean over ranks (the whole batch's gradient), differentiable when
            # the step is in the graph, so every rank's phi_K and hypergradient are the full batch's.
            grads = distributed.mean(dict(zip(phi, g, strict=True)), differentiable=create_graph)
        losses.append(float(value.detach()))
        with torch.set_grad_enabled(create_graph):
            phi, state = optimizer.update(grads, state, phi, lr_scale)
        if not create_graph:
            phi = {n: v.detach().requires_grad_(True) for n, v in phi.items()}
            state = {n: v.detach() for n, v in state.items()}
    return phi, state, losses

"""The teacher's inner step and loss through ``torch.compile`` (``train.compile``).

Autograd's double backward cannot be compiled, so a compiled step is written with ``torch.func``:
``grad_and_value`` of the teacher's loss, then the optimizer's update, as one pure function of
``(phi, state, x, lr_scale, context)``. ``torch.compile`` traces it, the gradient inside it
included, into one graph whose own backward is first-order, so a chain of compiled steps stays
differentiable by plain autograd in ``phi`` and in ``x``, hence in the generator's parameters.
The generator itself stays eager (any generator, batch norm included). Random draws inside a
step (a VAE's noise) come from the eager random stream in the eager order (inductor's
``fallback_random``), so a compiled step reproduces the eager step to round-off and a seed
gives the same run. ``context`` carries a closed-form fit (a kernel density's centres) into the
compiled loss as an argument, so a new fit is new data, not a new graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from lbt.errors import LBTError
from lbt.optim import Optimizer, Params, State
from lbt.unroll import InnerStep, Loss

COMPILE_MODES = ("none", "inductor", "cudagraphs")  # train.compile
RECOMPILE_LIMIT = 256
ContextLoss = Callable[[Params, Params, Tensor], Tensor]  # (phi, context, x) -> loss


def _options(mode: str) -> dict[str, Any]:
    if mode not in COMPILE_MODES[1:]:
        raise LBTError(f"train.compile={mode!r} is not one of: {', '.join(COMPILE_MODES[1:])}")
    return {"fallback_random": True, "triton.cudagraphs": mode == "cudagraphs"}


def functional_step(loss: ContextLoss, optimizer: Optimizer) -> Callable[..., tuple[Params, State, Tensor]]:
    """One optimizer step as a pure function: what :func:`lbt.unroll.eager_step` computes."""

    def step(phi: Params, state: State, x: Tensor, lr_scale: Tensor, context: Params):
        grads, value = torch.func.grad_and_value(lambda p: loss(p, context, x))(phi)
        new_phi, new_state = optimizer.update(grads, state, phi, lr_scale)
        return new_phi, new_state, value.detach()

    return step


class CompiledTeacher:
    """A teacher's compiled pieces: the unrolled step, the fitting step and the loss.

    ``loss(phi, x)`` is the teacher's loss at explicit parameters (:func:`lbt.unroll.functional_loss`);
    ``inner`` and ``fit`` the unrolled and the fitting optimizers. Each piece is compiled on first
    use; shapes are static, so a run compiles each once.
    """

    def __init__(self, loss: Loss, inner: Optimizer, fit: Optimizer, mode: str) -> None:
        options = _options(mode)
        # Every teacher's pieces share these functions' code, on which dynamo keeps its cache: a
        # process that builds several runs (lbt compare, a notebook, the tests) needs more than
        # the default 8 entries (each run's guards differ: its own modules).
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)

        def with_context(phi: Params, context: Params, x: Tensor) -> Tensor:
            return loss({**context, **phi}, x)

        def compiled(fn: Callable[..., Any]) -> Callable[..., Any]:
            return torch.compile(fn, fullgraph=True, dynamic=False, options=options)

        self.mode = mode
        self._last_scale: tuple[tuple[float, torch.device], Tensor] | None = None
        self._loss = compiled(with_context)
        self._unrolled = compiled(functional_step(with_context, inner))
        self._fit = compiled(functional_step(with_context, fit))

    def loss(self, context: Params) -> Loss:
        """The loss with ``context`` bound, as :data:`lbt.unroll.Loss`."""
        return lambda phi, x: self._loss(phi, context, x)

    def step(self, context: Params, *, fit: bool) -> InnerStep:
        """The fitting (``fit``, run without a graph) or the unrolled step, ``context`` bound."""
        fn = self._fit if fit else self._unrolled
        graphs = self.mode == "cudagraphs"

        def step(
            phi: Params, state: State, x: Tensor, lr_scale: float | Tensor
        ) -> tuple[Params, State, Tensor]:
            phi, state, value = fn(phi, state, x, self._scale(lr_scale, x.device), context)
            if graphs:  # a graph's outputs live in its pool until its next replay: keep copies
                phi, state = _copied(phi), _copied(state)
            return phi, state, value

        return step

    def _scale(self, lr_scale: float | Tensor, device: torch.device) -> Tensor:
        """The rate factor as a tensor (a number would be compiled in as a constant), made once per
        value: a new host-to-device copy on every step would be a wait on a GPU."""
        if isinstance(lr_scale, Tensor):
            return lr_scale
        key = (float(lr_scale), device)
        if self._last_scale is None or self._last_scale[0] != key:
            self._last_scale = (key, torch.tensor(key[0], dtype=torch.float64, device=device))
        return self._last_scale[1]

    def begin_iteration(self) -> None:
        """Tell the CUDA graphs a new training iteration starts (earlier outputs may be reused)."""
        if self.mode == "cudagraphs":
            torch.compiler.cudagraph_mark_step_begin()


def _copied(tree: Params) -> Params:
    return {k: v.clone() for k, v in tree.items()}

"""An exponential moving average of a network's weights, swapped in to evaluate and sample.

Training noise keeps the last iterate jittering around the solution (on the narrow 2-D mixtures a
jitter moves samples off the modes); the average sits nearer its centre at no cost to training,
which never sees it. The loop keeps one for the generator (``train.gen_ema``), so every method
gets it alike, and one for a teacher (``train.est_ema``), which chases a moving generator.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn


class WeightAverage:
    """EMA of ``module``'s state (parameters and floating buffers; other buffers are copied).

    The decay ramps up as ``min(decay, (1 + t) / (10 + t))`` after ``t`` updates, so the early
    average is not dominated by the initial weights.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        self.module = module
        self.decay = decay
        self.updates = 0
        self.shadow: dict[str, Tensor] = {k: v.detach().clone() for k, v in module.state_dict().items()}
        self._own: dict[str, Tensor] | None = None  # the module's own state while swapped out

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, v in self.module.state_dict().items():
            s = self.shadow[k]
            if s.is_floating_point():
                s.lerp_(v, 1.0 - d)
            else:
                s.copy_(v)

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """The module holds the averaged weights inside the block, its own ones after it (a nested
        block, e.g. sampling inside an evaluation, finds them already in place)."""
        if self._own is not None:
            yield
            return
        self._own = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
        self.module.load_state_dict(self.shadow)
        try:
            yield
        finally:
            self.module.load_state_dict(self._own)
            self._own = None

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "shadow": {k: v.clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.updates = int(state["updates"])
        for k, v in state["shadow"].items():
            self.shadow[k].copy_(v)

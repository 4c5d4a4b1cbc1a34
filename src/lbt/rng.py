"""Every random stream a run draws from: seeding, forking and checkpointing them together.

``torch.manual_seed`` reseeds the CPU generator *and* every CUDA generator, so anything that
reseeds for a side computation (evaluation, figures) must fork the accelerator's state as well as
the CPU's, or how often one evaluates would change training on a GPU.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Python, NumPy and torch (CPU and all CUDA devices) from one seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _cuda_devices(device: torch.device | str | None) -> list[int]:
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type != "cuda" or not torch.cuda.is_available():
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


@contextmanager
def forked(seed: int | None, device: torch.device | str | None = None) -> Iterator[None]:
    """Run the block seeded by ``seed`` (None: from the current state), leaving the CPU and
    ``device``'s generators as they were: the one way the package draws on a side stream."""
    with torch.random.fork_rng(devices=_cuda_devices(device)):
        if seed is not None:
            torch.manual_seed(seed)
        yield


def get_state() -> dict[str, Any]:
    """A checkpointable copy of every generator (CUDA ones only where CUDA is in use)."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_state(state: dict[str, Any]) -> None:
    """Restore :func:`get_state`'s copy; CUDA states apply only where the same GPUs are visible."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)

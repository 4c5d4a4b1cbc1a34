"""Learning by Teaching: train an implicit generator by teaching an explicit density estimator.

Quick start (Python)::

    from lbt import Trainer
    trainer = Trainer(preset="ring", overrides={"train.iterations": 500}, progress=False)
    metrics = trainer.fit()
    x = trainer.sample(1000)

Every ``import lbt.x`` runs this file first, so it imports only the leaf building blocks; the
config, the metrics and the loop are imported when first named (``lbt.Trainer``), which keeps
``import lbt.optim`` free of the loop, the CLI and the image code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lbt.errors import LBTError
from lbt.optim import adam, sgd
from lbt.unroll import unroll  # the function: it shadows the submodule's name, as it always has

if TYPE_CHECKING:
    from lbt.config import Config, build
    from lbt.metrics import ModeMetrics, gaussian_kl, mode_metrics
    from lbt.train import Trainer

__version__ = "0.1.0"

# Imported on first use: name -> the module that defines it.
_LAZY = {
    "Config": "lbt.config",
    "build": "lbt.config",
    "ModeMetrics": "lbt.metrics",
    "gaussian_kl": "lbt.metrics",
    "mode_metrics": "lbt.metrics",
    "Trainer": "lbt.train",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'lbt' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # once: later lookups are ordinary attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Config", "LBTError", "ModeMetrics", "Trainer", "adam", "build", "gaussian_kl",
    "mode_metrics", "sgd", "unroll",
]  # fmt: skip

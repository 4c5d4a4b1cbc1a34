"""Learning by Teaching: train an implicit generator by teaching an explicit density estimator.

Quick start (Python)::

    from lbt import Trainer
    trainer = Trainer(preset="ring", overrides={"train.iterations": 500}, progress=False)
    metrics = trainer.fit()
    x = trainer.sample(1000)
"""

__version__ = "0.1.0"

from lbt.config import Config, build  # noqa: E402
from lbt.errors import LBTError  # noqa: E402
from lbt.metrics import ModeMetrics, gaussian_kl, mode_metrics  # noqa: E402
from lbt.optim import adam, sgd  # noqa: E402
from lbt.train import Trainer  # noqa: E402
from lbt.unroll import unroll  # noqa: E402

__all__ = [
    "Config", "LBTError", "ModeMetrics", "Trainer", "adam", "build", "gaussian_kl",
    "mode_metrics", "sgd", "unroll",
]  # fmt: skip

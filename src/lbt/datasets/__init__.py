"""Data sets by name (``data.name``): 2-D mixtures and point clouds here, images by the image extension.

A data set has ``dim`` and ``sample(n)`` (a batch of flat float rows, drawn from the global RNG).
A Gaussian mixture also exposes ``means`` and ``std``, which the 2-D metrics score against; a data
set may instead define ``evaluate(method, n)`` and ``figures(method, out_dir, history)``, which
the loop then calls in place of the 2-D metrics and plots (the image data sets do).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lbt.datasets.toy import Mixture, PointCloud, grid, load_points, ring
from lbt.registry import Registry

if TYPE_CHECKING:
    from lbt.config import Config

DATASETS: Registry[Callable[[Config], Any]] = Registry("data.name", {
    "ring": lambda c: ring(c.data.modes, c.data.radius, c.data.std),
    "grid": lambda c: grid(c.data.modes, c.data.spacing, c.data.std),
    "npy": lambda c: load_points(c.data.path),
})  # fmt: skip


def make_data(cfg: Config) -> Any:
    """The data set named by ``data.name``."""
    return DATASETS[cfg.data.name](cfg)


__all__ = ["DATASETS", "Mixture", "PointCloud", "grid", "load_points", "make_data", "ring"]

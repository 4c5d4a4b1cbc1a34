"""Data sets by name (``data.name``): 2-D mixtures, point clouds (:mod:`lbt.datasets.points`: a user's
``.npy`` / ``.csv`` and the built-in densities) and images (:mod:`lbt.datasets.images`).

A :class:`DataSet` has ``dim`` and ``sample(n)`` (a batch of flat float rows, drawn from the global
RNG). A Gaussian mixture also exposes ``means`` and ``std``, which the 2-D metrics score against; a
data set may instead score and draw itself (:class:`EvaluatesItself`, :class:`DrawsFigures`), and
the loop then calls those in place of the 2-D metrics and plots (the point clouds and images do).
A data set that trains on rescaled rows maps samples back to its own units (:class:`HasUnits`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lbt.datasets.densities import DENSITIES
from lbt.datasets.images import CIFAR10Images, FolderImages, MNISTImages, StackedMNIST
from lbt.datasets.points import PointCloud, csv_data, density_data, load_points, npy_data
from lbt.datasets.toy import Mixture, grid, ring
from lbt.registry import Registry

if TYPE_CHECKING:
    from pathlib import Path

    from torch import Tensor

    from lbt.config import Config
    from lbt.methods import Method


@runtime_checkable
class DataSet(Protocol):
    """What the loop draws training batches from."""

    dim: int

    def sample(self, n: int) -> Tensor: ...


@runtime_checkable
class EvaluatesItself(Protocol):
    """A data set with its own metrics (image modes, held-out likelihood, FD), in place of the 2-D ones.

    ``final`` marks the evaluation at the end of training (and ``lbt eval``), where the costly
    metrics are computed; the caller says so, whatever ``n`` is.
    """

    def evaluate(self, method: Method, n: int, final: bool = False) -> dict[str, float]: ...


@runtime_checkable
class DrawsFigures(Protocol):
    """A data set with its own figures (sample grids, ELBO curves), in place of the 2-D density plot."""

    def figures(self, method: Method, out_dir: Path, history: list[dict[str, float]]) -> None: ...


@runtime_checkable
class HasUnits(Protocol):
    """A data set that trains on rescaled rows (a standardised point cloud): ``to_data_units`` maps
    the generator's samples back for what a person sees (``Trainer.sample``, figures, metrics), and
    ``units()`` is the record of the rescaling a run keeps (standardization.json)."""

    def to_data_units(self, x: Tensor) -> Tensor: ...

    def units(self) -> dict[str, Any]: ...


DATASETS: Registry[Callable[[Config], DataSet]] = Registry("data.name", {
    "ring": lambda c: ring(c.data.modes, c.data.radius, c.data.std),
    "grid": lambda c: grid(c.data.modes, c.data.spacing, c.data.std),
    "npy": npy_data,
    "csv": csv_data,
    **{name: density_data(name) for name in DENSITIES},
    "mnist": MNISTImages,
    "stacked-mnist": StackedMNIST,
    "folder": FolderImages,
    "cifar10": CIFAR10Images,
})  # fmt: skip


def make_data(cfg: Config) -> DataSet:
    """The data set named by ``data.name``."""
    return DATASETS[cfg.data.name](cfg)


__all__ = [
    "DATASETS",
    "DataSet",
    "DrawsFigures",
    "EvaluatesItself",
    "HasUnits",
    "Mixture",
    "PointCloud",
    "grid",
    "load_points",
    "make_data",
    "ring",
]

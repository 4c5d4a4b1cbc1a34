"""A point cloud a run learns from and is judged by: a user's ``.npy`` / ``.csv`` or a built-in density.

The rows are split once into training and held-out rows (``data.holdout``, by ``data.holdout_seed``,
never the run's seed, so every seed of a study shares one split and a resume rebuilds the same one).
With ``data.standardize`` the training rows' mean and standard deviation move the data to zero mean
and unit spread: training batches, the generator and the teacher live in that space, and
:meth:`PointCloud.to_data_units` maps samples back wherever a person sees them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from lbt.datasets import densities
from lbt.datasets.readers import read_csv, read_npy
from lbt.errors import LBTError

if TYPE_CHECKING:
    from lbt.config import Config
    from lbt.methods.base import Method
    from lbt.metrics.points import Reference

SPLIT_STREAM = 1  # the split's stream of data.holdout_seed (a built-in density is drawn from stream 0)
FIGURE_POINTS = 50_000  # real and generated points in density.png (2-D)
PAIR_POINTS = 5_000  # ... in pairs.png and marginals.png (D > 2)


def split_rows(n: int, holdout: float, seed: int, min_heldout: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(training, held-out) row indices of ``n`` rows: ``round(holdout * n)`` rows held out, in a
    random order fixed by ``seed`` (training rows sorted). The one place the split is made."""
    if not 0 <= holdout < 1:
        raise LBTError(f"data.holdout must lie in [0, 1), got {holdout}")
    n_test = round(holdout * n)
    if holdout > 0 and n_test < min_heldout:
        raise LBTError(f"data.holdout={holdout} of {n} points holds out {n_test}; the metrics need at "
                       f"least {min_heldout} (two halves of eval.knn_k + 1): use more points or a larger "
                       "holdout")  # fmt: skip
    if n - n_test < 2:
        raise LBTError(
            f"data.holdout={holdout} of {n} points leaves {n - n_test} to train on; at least 2 needed"
        )
    perm = np.random.default_rng([seed, SPLIT_STREAM]).permutation(n)
    return np.sort(perm[n_test:]), perm[:n_test]


def moments(x: Tensor, chunk: int = 1024) -> tuple[Tensor, Tensor]:
    """Per-column mean and standard deviation (ddof 0), summed in float64 a block of rows at a time.

    A constant column (std below 1e-6 of its magnitude: float rounding) gets std 1, so it is only
    centred, never divided by zero.
    """
    n = len(x)
    mean = sum(x[i : i + chunk].double().sum(0) for i in range(0, n, chunk)) / n
    var = sum(((x[i : i + chunk].double() - mean) ** 2).sum(0) for i in range(0, n, chunk)) / n
    std = var.sqrt()
    constant = std <= 1e-6 * mean.abs().clamp_min(1e-300)
    return mean.float(), torch.where(constant, torch.ones_like(std), std).float()


class PointCloud:
    """An (N, D) sample: training batches drawn with replacement from the training rows, the held-out
    rows scored against (:meth:`evaluate`), figures in the data's units (:meth:`figures`).

    ``holdout=0`` holds nothing out: the two-sample metrics then compare with training rows and no
    held-out likelihood is reported.
    """

    def __init__(
        self,
        points: Tensor | np.ndarray,
        name: str = "points",
        *,
        holdout: float = 0.2,
        holdout_seed: int = 0,
        standardize: bool = True,
        knn_k: int = 3,
        point_samples: int = 2000,
    ) -> None:
        x = torch.as_tensor(np.asarray(points), dtype=torch.float32)
        if x.ndim != 2 or len(x) < 2:
            raise LBTError(f"a point cloud needs an (N, D) array with N >= 2, got shape {tuple(x.shape)}")
        self.name, self.knn_k, self.point_samples = name, knn_k, point_samples
        self.holdout, self.holdout_seed, self.standardize = holdout, holdout_seed, standardize
        self.train_index, self.heldout_index = split_rows(len(x), holdout, holdout_seed, 2 * (knn_k + 1))
        if holdout == 0 and len(x) < 2 * (knn_k + 1):
            raise LBTError(f"{len(x)} points are too few for the metrics: at least {2 * (knn_k + 1)} needed")
        train, test = x[torch.from_numpy(self.train_index)], x[torch.from_numpy(self.heldout_index)]
        del x
        if standardize:
            self.center, self.scale = moments(train)
            train.sub_(self.center).div_(self.scale)
            test.sub_(self.center).div_(self.scale)
        else:
            self.center, self.scale = torch.zeros(train.shape[1]), torch.ones(train.shape[1])
        self.train, self.test = train, test  # both standardised
        self._references: dict[int, tuple[Reference, dict[str, float]]] = {}

    @property
    def dim(self) -> int:
        return self.train.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` standardised training rows, drawn with replacement."""
        return self.train[torch.randint(0, len(self.train), (n,), generator=generator)]

    # -- units ---------------------------------------------------------------------------------
    def to_data_units(self, x: Tensor) -> Tensor:
        """Standardised rows (a generator's samples) in the data's own units."""
        if not self.standardize:
            return x
        return x * self.scale.to(x) + self.center.to(x)

    def units(self) -> dict[str, Any]:
        """The standardisation and the split, for the run directory (standardization.json)."""
        return {
            "standardize": self.standardize,
            "mean": self.center.tolist(),
            "std": self.scale.tolist(),
            "holdout": self.holdout,
            "holdout_seed": self.holdout_seed,
            "train_rows": len(self.train),
            "heldout_rows": len(self.test),
        }

    def log_scale(self) -> float:
        """sum(log std): what a log density in standardised units loses in the data's units."""
        return float(self.scale.double().log().sum())

    def rows(self, index: Tensor) -> Tensor:
        """Standardised rows by index into the training rows followed by the held-out rows."""
        t = len(self.train)
        return torch.cat([self.train[index[index < t]], self.test[index[index >= t] - t]])

    def extent(self, margin: float | None = None) -> tuple[float, float, float, float]:
        """A plotting window (data units) around every row, with a margin."""
        parts = [p for p in (self.train, self.test) if len(p)]
        lo = self.to_data_units(torch.stack([p.min(0).values for p in parts]).min(0).values)
        hi = self.to_data_units(torch.stack([p.max(0).values for p in parts]).max(0).values)
        m = margin if margin is not None else 0.1 * float((hi - lo).max())
        return float(lo[0]) - m, float(hi[0]) + m, float(lo[1]) - m, float(hi[1]) + m

    # -- metrics (EvaluatesItself) ---------------------------------------------------------------
    def reference_rows(self) -> Tensor:
        """What the generator is scored against: the held-out rows, or the training rows without any."""
        return self.test if len(self.test) else self.train

    def count(self, n: int) -> int:
        """Points per two-sample evaluation: at most ``eval.point_samples`` and half the reference."""
        return max(min(n, self.point_samples, len(self.reference_rows()) // 2), self.knn_k + 1)

    def reference(self, count: int) -> tuple[Reference, dict[str, float]]:
        """Half A of the reference rows (``count`` of them), its own pass done, and the floors (half A
        against half B, as many rows): computed once per count, then reused."""
        if count not in self._references:
            from lbt.metrics.points import Reference

            rows = self.reference_rows()
            half = len(rows) // 2
            ref = Reference.of(rows[:count], self.knn_k)
            floors = {f"{k}_floor": v for k, v in ref.compare(rows[half : half + count]).items()}
            self._references[count] = (ref, floors)
        return self._references[count]

    @torch.no_grad()
    def evaluate(self, method: Method, n: int, final: bool = False) -> dict[str, float]:
        """Precision, recall and energy distance of the generator against held-out half A, each with its
        floor (half A against half B), and the teacher's held-out log-likelihood (or ELBO).

        Distances are measured in the standardised space (every coordinate on one scale); the
        log-likelihood is in the data's units. ``final`` changes nothing: every metric is cheap.
        """
        from lbt.methods.base import Teaches
        from lbt.metrics.points import heldout_loglik

        count = self.count(n)
        ref, floors = self.reference(count)
        x = method.sample(count)
        finite = torch.isfinite(x).all(1)
        out: dict[str, float] = {
            "point_samples": count,
            "sample_nonfinite_fraction": float(1 - finite.double().mean()),
        }
        if int(finite.sum()) > self.knn_k:
            out.update(ref.compare(x[finite]))
        else:
            out.update({"precision": math.nan, "recall": math.nan, "energy_distance": math.nan})
        out.update(floors)
        if isinstance(method, Teaches) and len(self.test):
            out.update(heldout_loglik(method.estimator, self.test, self.log_scale()))
        return out

    # -- figures (DrawsFigures) ----------------------------------------------------------------
    @torch.no_grad()
    def figures(self, method: Method, out_dir: Path, history: list[dict[str, float]]) -> None:
        """2-D: density.png (data against generator, data units); more coordinates: pairs.png (the
        first 4) and marginals.png (the first 8); and curves.png (the metrics over training)."""
        from lbt.plots import curves_figure, density_figure, marginals_figure, pairs_figure

        label = method.name + (f" (iteration {int(history[-1]['iteration'])})" if history else "")
        n = FIGURE_POINTS if self.dim == 2 else PAIR_POINTS
        real = self.to_data_units(self.rows(torch.randperm(len(self.train) + len(self.test))[:n])).numpy()
        fake = self.to_data_units(method.sample(len(real)).cpu()).numpy()  # as many as the data shows
        if self.dim == 2:
            density_figure([("data", real), (label, fake)], self.extent(), out_dir / "density.png")
        if self.dim > 2:
            pairs_figure(real, fake, out_dir / "pairs.png", label)
        if self.dim != 2:
            marginals_figure(real, fake, out_dir / "marginals.png", label)
        curves_figure({method.name: history}, out_dir / "curves.png")


def from_config(points: np.ndarray | Tensor, cfg: Config, name: str) -> PointCloud:
    """A point cloud with the config's split, standardisation and metric settings."""
    d, e = cfg.data, cfg.eval
    return PointCloud(points, name, holdout=d.holdout, holdout_seed=d.holdout_seed,
                      standardize=d.standardize, knn_k=e.knn_k, point_samples=e.point_samples)  # fmt: skip


def load_points(path: str | Path, **options: Any) -> PointCloud:
    """A point cloud from a ``.npy`` file, or a ``.csv`` one by its suffix; ``options`` as PointCloud's."""
    p = Path(path)
    arr = read_csv(p) if p.suffix.lower() == ".csv" else read_npy(p)
    return PointCloud(arr, p.stem, **options)


def npy_data(cfg: Config) -> PointCloud:
    return from_config(read_npy(cfg.data.path), cfg, Path(cfg.data.path).stem)


def csv_data(cfg: Config) -> PointCloud:
    return from_config(read_csv(cfg.data.path), cfg, Path(cfg.data.path).stem)


def density_data(name: str) -> Callable[[Config], PointCloud]:
    """The builder of the built-in density ``name``: ``data.points`` rows with ``data.noise``, drawn
    from ``data.holdout_seed`` (the data's seed, independent of the run's)."""

    def build(cfg: Config) -> PointCloud:
        d = cfg.data
        return from_config(densities.draw(name, d.points, d.noise, d.holdout_seed), cfg, name)

    return build

"""Metrics for any point cloud: improved precision and recall, the energy distance, held-out likelihood.

* **Precision and recall** (Kynkäänniemi et al. 2019): each set's manifold is the union of balls
  around its points, each ball's radius the distance to that point's ``k``-th nearest neighbour in
  its own set. Precision is the fraction of generated points inside the real manifold (are the
  samples realistic?), recall the fraction of real points inside the generated one (is all of the
  data covered?).
* **Energy distance** (Székely), ``E = 2 E|X - Y| - E|X - X'| - E|Y - Y'|``, from the unbiased
  U-statistics: the within-set means skip the ``i == j`` pairs, so two draws of one distribution
  give about 0 (it can fall just below 0 by chance); it is 0 exactly when the distributions agree.

Both read the same blocks of pairwise distances (real-real, generated-generated, real-generated),
computed by matrix products a block of rows at a time: memory stays O(chunk x n), never n x n x D,
and the real set's own pass is made once (:class:`Reference`) and reused for every evaluation.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lbt.errors import LBTError

CHUNK = 1024  # rows per block of pairwise distances


def _sq_dists(a: Tensor, b: Tensor, b_sq: Tensor) -> Tensor:
    """Squared Euclidean distances ``(len(a), len(b))`` by ``|a|^2 + |b|^2 - 2 a b^T`` (no n x m x D)."""
    return ((a * a).sum(1)[:, None] + b_sq[None, :] - 2 * a @ b.T).clamp_min_(0)


def _self_pass(x: Tensor, k: int, chunk: int) -> tuple[Tensor, float]:
    """Each point's distance to its ``k``-th nearest other point, and the mean distance over pairs i != j."""
    n = len(x)
    if n <= k:
        raise LBTError(f"{n} points cannot give k-nearest-neighbour radii with eval.knn_k={k}")
    x_sq = (x * x).sum(1)
    radii = torch.empty(n, device=x.device, dtype=x.dtype)
    total = torch.zeros((), device=x.device, dtype=torch.float64)
    for i in range(0, n, chunk):
        d = _sq_dists(x[i : i + chunk], x, x_sq)
        rows = torch.arange(len(d), device=x.device)
        d[rows, rows + i] = 0.0  # the expansion leaves rounding noise on the diagonal
        d.sqrt_()
        total += d.sum(dtype=torch.float64)
        d[rows, rows + i] = math.inf  # a point is not its own neighbour
        radii[i : i + chunk] = d.topk(k, dim=1, largest=False).values[:, -1]
    return radii, float(total) / (n * (n - 1))


def _cross_pass(x: Tensor, y: Tensor, rx: Tensor, ry: Tensor, chunk: int) -> tuple[float, float, float]:
    """(fraction of ``x`` inside ``y``'s manifold, of ``y`` inside ``x``'s, mean distance |x - y|)."""
    y_sq = (y * y).sum(1)
    y_inside = torch.zeros(len(y), dtype=torch.bool, device=y.device)
    x_inside = 0
    total = torch.zeros((), device=x.device, dtype=torch.float64)
    for i in range(0, len(x), chunk):
        d = _sq_dists(x[i : i + chunk], y, y_sq).sqrt_()
        total += d.sum(dtype=torch.float64)
        x_inside += int((d <= ry[None, :]).any(1).sum())
        y_inside |= (d <= rx[i : i + chunk, None]).any(0)
    return x_inside / len(x), float(y_inside.double().mean()), float(total) / (len(x) * len(y))


@dataclass
class Reference:
    """A real sample with its own pass done once: its k-NN radii and mean within-set distance."""

    points: Tensor
    radii: Tensor
    mean_self: float
    k: int = 3
    chunk: int = CHUNK

    @classmethod
    def of(cls, points: Tensor, k: int = 3, chunk: int = CHUNK) -> Reference:
        x = points.float()
        radii, mean_self = _self_pass(x, k, chunk)
        return cls(x, radii, mean_self, k, chunk)

    def compare(self, fake: Tensor) -> dict[str, float]:
        """``precision``, ``recall`` and ``energy_distance`` of ``fake`` against this sample."""
        real, radii = self.points.to(fake.device), self.radii.to(fake.device)
        fake = fake.float()
        fake_radii, fake_self = _self_pass(fake, self.k, self.chunk)
        precision, recall, cross = _cross_pass(fake, real, fake_radii, radii, self.chunk)
        return {
            "precision": precision,
            "recall": recall,
            "energy_distance": 2 * cross - self.mean_self - fake_self,
        }


def two_sample(real: Tensor, fake: Tensor, k: int = 3, chunk: int = CHUNK) -> dict[str, float]:
    """Precision, recall and energy distance of ``fake`` against ``real`` (both ``(n, D)``)."""
    return Reference.of(real, k, chunk).compare(fake)


def is_bound(teacher: nn.Module) -> bool:
    """Whether the teacher's ``forward`` is an ELBO (a VAE's lower bound) rather than an exact log density."""
    from lbt.models.teachers import VAE, CategoricalVAE, ImportanceWeighted

    return isinstance(teacher, (VAE, CategoricalVAE, ImportanceWeighted))


@torch.no_grad()
def heldout_loglik(
    teacher: nn.Module, x: Tensor, log_scale: float = 0.0, chunk: int = CHUNK
) -> dict[str, float]:
    """The teacher's mean log density of held-out rows ``x`` (in its own, standardised units), moved to
    the data's units by subtracting ``log_scale`` = sum(log std) of the standardisation; keyed
    ``heldout_elbo`` where the teacher gives a bound (a VAE), else ``heldout_loglik``."""
    dev = next(itertools.chain(teacher.parameters(), teacher.buffers()), torch.empty(0)).device
    parts = [teacher(x[i : i + chunk].to(dev)).double().cpu() for i in range(0, len(x), chunk)]
    key = "heldout_elbo" if is_bound(teacher) else "heldout_loglik"
    return {key: float(torch.cat(parts).mean()) - log_scale}

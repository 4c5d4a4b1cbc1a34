"""2-D benchmark distributions: the paper's ring and grid Gaussian mixtures.

Point clouds (a user's points, the built-in densities) are :mod:`lbt.datasets.points`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from lbt.errors import LBTError


@dataclass
class Mixture:
    """Equal-weight isotropic Gaussian mixture; ``means`` is (modes, dim)."""

    means: Tensor
    std: float
    name: str = "mixture"

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def n_modes(self) -> int:
        return self.means.shape[0]

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        idx = torch.randint(0, self.n_modes, (n,), generator=generator)
        noise = torch.randn(n, self.dim, generator=generator)
        return self.means[idx] + self.std * noise

    def log_prob(self, x: Tensor) -> Tensor:
        d2 = torch.cdist(x, self.means.to(x)) ** 2
        log_comp = -0.5 * d2 / self.std**2 - self.dim * math.log(self.std * math.sqrt(2 * math.pi))
        return torch.logsumexp(log_comp, dim=1) - math.log(self.n_modes)

    def extent(self, margin: float | None = None) -> tuple[float, float, float, float]:
        """A plotting window that shows every mode with a margin."""
        lo = self.means.min(0).values
        hi = self.means.max(0).values
        m = margin if margin is not None else max(0.25 * float((hi - lo).max()), 6 * self.std)
        return float(lo[0]) - m, float(hi[0]) + m, float(lo[1]) - m, float(hi[1]) + m


def ring(modes: int = 8, radius: float = 1.0, std: float = 0.1) -> Mixture:
    """``modes`` Gaussians evenly on a circle (the official code starts at angle 0 on the y-axis)."""
    t = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    means = radius * torch.stack([torch.sin(t), torch.cos(t)], dim=1)
    return Mixture(means.float(), std, "ring")


def grid(modes: int = 100, spacing: float = 0.2, std: float = 0.01) -> Mixture:
    """An n x n grid (``modes`` = n^2) centred on the origin with ``spacing`` between neighbours."""
    n = math.isqrt(modes)
    if n * n != modes:
        raise LBTError(f"data.modes={modes} is not a square number; a grid needs n x n modes")
    axis = (torch.arange(n, dtype=torch.float64) - (n - 1) / 2) * spacing
    gx, gy = torch.meshgrid(axis, axis, indexing="ij")
    return Mixture(torch.stack([gx.flatten(), gy.flatten()], 1).float(), std, "grid")

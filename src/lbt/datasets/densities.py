"""Public 2-D benchmark densities, drawn as finite point clouds (``data.name=moons`` and the others).

Written here in the manner of scikit-learn's ``make_moons`` / ``make_circles`` / ``make_swiss_roll``
and of the flow papers' ``8gaussians`` / ``rings`` (FFJORD's toy sets), without importing either. Each
function draws ``n`` rows with Gaussian noise of standard deviation ``noise`` (in the output's units)
from a numpy generator; the data set then treats the cloud exactly as a user's points (held-out
rows, standardisation, metrics).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Density = Callable[[int, float, np.random.Generator], np.ndarray]


def _noisy(x: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    return x + noise * rng.standard_normal(x.shape) if noise > 0 else x


def moons(n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Two interleaved half circles (``make_moons``): the upper of radius 1 at the origin, the lower
    shifted to (1, 0.5) and flipped; points evenly spaced along each arc."""
    n_out = n // 2
    t_out, t_in = np.linspace(0, math.pi, n_out), np.linspace(0, math.pi, n - n_out)
    outer = np.stack([np.cos(t_out), np.sin(t_out)], 1)
    inner = np.stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5], 1)
    return _noisy(np.concatenate([outer, inner]), noise, rng)


def circles(n: int, noise: float, rng: np.random.Generator, factor: float = 0.5) -> np.ndarray:
    """Two concentric circles (``make_circles``): radius 1 and ``factor``."""
    n_out = n // 2
    t_out = np.linspace(0, 2 * math.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * math.pi, n - n_out, endpoint=False)
    outer = np.stack([np.cos(t_out), np.sin(t_out)], 1)
    inner = factor * np.stack([np.cos(t_in), np.sin(t_in)], 1)
    return _noisy(np.concatenate([outer, inner]), noise, rng)


def swissroll(n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """The (x, z) plane of ``make_swiss_roll``, ``t (cos t, sin t)`` with ``t`` uniform in
    [1.5 pi, 4.5 pi], divided by 5 as in the flow papers (a spread of about +-2.5)."""
    t = 1.5 * math.pi * (1 + 2 * rng.random(n))
    return _noisy(np.stack([t * np.cos(t), t * np.sin(t)], 1) / 5.0, noise, rng)


def gaussians8(n: int, noise: float, rng: np.random.Generator, radius: float = 2.8284271) -> np.ndarray:
    """Eight Gaussians of standard deviation ``noise`` centred evenly on a circle (FFJORD's
    ``8gaussians``: centres at 4 on the axes and diagonals, std 0.5, all divided by 1.414, so a
    radius of 2.83 and a std of 0.354)."""
    angle = rng.integers(0, 8, n) * (math.pi / 4)
    centres = radius * np.stack([np.cos(angle), np.sin(angle)], 1)
    return _noisy(centres, noise, rng)


def rings(n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Four concentric rings of radii 3, 2.25, 1.5 and 0.75 (FFJORD's ``rings``), points evenly
    spaced on each, about a quarter of them on each ring."""
    sizes = [n // 4] * 3 + [n - 3 * (n // 4)]
    parts = []
    for r, m in zip((3.0, 2.25, 1.5, 0.75), sizes, strict=True):
        t = np.linspace(0, 2 * math.pi, m, endpoint=False)
        parts.append(r * np.stack([np.cos(t), np.sin(t)], 1))
    return _noisy(np.concatenate(parts), noise, rng)


# name -> (draw, the noise ``data.noise < 0`` means)
DENSITIES: dict[str, tuple[Density, float]] = {
    "moons": (moons, 0.05),
    "circles": (circles, 0.05),
    "swissroll": (swissroll, 0.2),  # scikit-learn's noise=1.0 on the unscaled roll
    "gaussians8": (gaussians8, 0.5 / math.sqrt(2)),
    "rings": (rings, 0.08),
}


def draw(name: str, n: int, noise: float, seed: int) -> np.ndarray:
    """``n`` rows of the density ``name`` (noise < 0: its default), the same for the same ``seed``."""
    fn, default = DENSITIES[name]
    rng = np.random.default_rng([seed, 0])  # stream 0 of the data's seed; the split takes stream 1
    return fn(n, default if noise < 0 else noise, rng).astype(np.float32)

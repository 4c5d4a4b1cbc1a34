"""Stacked MNIST (Metz et al. 2017; VEEGAN; PacGAN): three MNIST digits as the three channels.

Each channel holds an independently, uniformly drawn MNIST image, so there are 10^3 = 1000
modes; the mode of an image with digits (a, b, c) in channels (0, 1, 2) is ``100a + 10b + c``.
Training batches are stacked on the fly from the global (seeded) RNG; :func:`stacked_set` builds a
fixed, seeded set (used for held-out likelihoods and tests). Reading the modes of generated images
back is evaluation (:mod:`lbt.metrics.images`).
"""

from __future__ import annotations

import torch
from torch import Tensor

MODES = 1000
CHANNEL = 28 * 28


def mode_index(digits: Tensor) -> Tensor:
    """Digits ``(..., 3)`` (channel order) -> mode index ``100 d0 + 10 d1 + d2`` in [0, 1000)."""
    d = digits.long()
    return 100 * d[..., 0] + 10 * d[..., 1] + d[..., 2]


def stack(images_u8: Tensor, idx: Tensor) -> Tensor:
    """Flat stacked images ``(n, 3 * 784)`` in [0, 1] from ``(N, 784)`` uint8 digits and ``(n, 3)`` picks."""
    return images_u8[idx].reshape(len(idx), 3 * CHANNEL).float().div_(255.0)


def stacked_set(images_u8: Tensor, labels: Tensor, n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A fixed set of ``n`` stacked images and their true modes, reproducible from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(images_u8), (n, 3), generator=gen)
    return stack(images_u8, idx), mode_index(labels[idx])

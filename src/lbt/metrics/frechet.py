"""Fréchet distances between Gaussian fits of two feature sets, and the MNIST classifier's feature space.

``fd_classifier`` (docs/metrics.md, "Image metrics"): the penultimate (128-d, post-ReLU)
activations of :class:`lbt.metrics.classifier.DigitNet`, trained and cached by the project, so it
works offline everywhere; Stacked MNIST's three channels are classified separately and their
features concatenated (384-d). Not comparable with an FID.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import numpy as np
import torch
from torch import Tensor, nn

from lbt.errors import LBTError
from lbt.threads import intra_op_threads

# -- the Fréchet distance ----------------------------------------------------------------------


def one_thread() -> AbstractContextManager[None]:
    """Run a block on one intra-op thread. The eigen-solvers on these small (<= 2048) matrices gain
    nothing from threads and, on a loaded machine, lose a lot: on a busy 2-core box a 2048 x 2048
    ``eigvals`` took 97 s on 2 threads against 4 s on one."""
    return intra_op_threads(1)


def _sym_sqrt(c: Tensor) -> Tensor:
    """Square root of a symmetric positive semi-definite matrix (eigendecomposition, float64)."""
    w, v = torch.linalg.eigh((c + c.T) / 2)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def frechet_distance(mu1: Tensor | np.ndarray, cov1: Tensor | np.ndarray, mu2: Tensor | np.ndarray,
                     cov2: Tensor | np.ndarray) -> float:  # fmt: skip
    """``|mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2))``, the squared 2-Wasserstein distance of
    two Gaussians, in float64.

    ``tr (C1 C2)^(1/2)`` is computed as ``tr (S C2 S)^(1/2)`` with ``S = C1^(1/2)``: the product is
    similar to ``C1 C2`` (same eigenvalues) but symmetric positive semi-definite, so both roots come
    from ``eigh`` with round-off negatives clamped to 0 (no complex parts, no ``sqrtm`` iterations).
    """
    m1, c1, m2, c2 = (torch.as_tensor(a).detach().to("cpu", torch.float64) for a in (mu1, cov1, mu2, cov2))
    with one_thread():
        s1 = _sym_sqrt(c1)
        inner = s1 @ c2 @ s1
        tr_cross = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0).sqrt().sum()
    d = (m1 - m2).square().sum() + torch.trace(c1) + torch.trace(c2) - 2 * tr_cross
    return max(float(d), 0.0)


def gaussian_stats(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and unbiased covariance of ``(N, d)`` features, in float64."""
    f = features.detach().to("cpu", torch.float64)
    if len(f) < 2:
        raise LBTError(f"a Fréchet distance needs at least 2 samples, got {len(f)}")
    return f.mean(0), torch.cov(f.T).reshape(f.shape[1], f.shape[1])


def fd_features(a: Tensor, b: Tensor) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets."""
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))


# -- the classifier feature space (MNIST family) ------------------------------------------------


@torch.no_grad()
def classifier_features(model: nn.Module, x: Tensor, channels: int = 1, batch: int = 2000) -> Tensor:
    """DigitNet penultimate features of flat images ``(N, channels * 784)`` in [0, 1]:
    ``(N, 128 * channels)``, the channels' features concatenated in channel order."""
    from lbt.metrics.classifier import features

    flat = x.reshape(len(x) * channels, 784)  # rows: image 0 ch 0, 1, 2; image 1 ...
    return features(model, flat.clamp(0, 1), batch).reshape(len(x), -1)


class ClassifierFD:
    """``fd_classifier``: Fréchet distance to fixed real reference images in DigitNet feature space."""

    def __init__(self, model: nn.Module, reference: Tensor, channels: int = 1) -> None:
        self.model, self.channels = model, channels
        self.reference_samples = len(reference)
        self.ref_stats = gaussian_stats(classifier_features(model, reference, channels))

    def __call__(self, x: Tensor) -> float:
        return frechet_distance(
            *self.ref_stats, *gaussian_stats(classifier_features(self.model, x, self.channels))
        )

"""Image metrics: held-out likelihoods, Stacked-MNIST modes, Fréchet distances, KID and the Inception Score.

:class:`ImageMetrics` scores a generator on one image data set (what ``evaluate`` of the image
data sets in :mod:`lbt.datasets.images` returns): the teacher's held-out ELBO / IWAE where there
is a test split, the modes of Stacked MNIST, and the Fréchet distances below. This module is the
orchestration and the Stacked-MNIST modes; the Fréchet maths and the classifier's features are in
:mod:`lbt.metrics.frechet`, the Inception detector and torchmetrics' statistics in
:mod:`lbt.metrics.inception` (both re-exported here).

Two feature spaces (docs/metrics.md, "Image metrics"):

* **The project's own MNIST classifier** (``fd_classifier``): the penultimate (128-d, post-ReLU)
  activations of :class:`lbt.metrics.classifier.DigitNet`, which is trained and cached by the project, so
  this works offline everywhere. Stacked MNIST: the three channels go through the classifier
  separately and their features are **concatenated** (384-d), so the distance sees each channel's
  digit quality and also the joint statistics of the channels (which digit goes with which).
  The reference statistics come from real held-out (test) images.
* **Inception-v3** (``fid``, ``kid``, ``inception_score``), the feature space of published tables:
  a TorchScript detector read from the local file ``eval.inception_weights`` (never downloaded),
  normally NVIDIA's ``inception-2015-12-05.pt`` (:data:`WEIGHTS_URL`), the TorchScript conversion
  of the 2015-12-05 TensorFlow Inception graph that StyleGAN2-ADA / StyleGAN3 and clean-fid use.
  No network architecture is shipped here: the file carries its own graph and weights, and is
  only called (``return_features=True`` for the 2048-d pool features, class probabilities
  otherwise). The statistics are torchmetrics' FID, KID and IS, fed the extracted features through
  a pass-through module.

The two are not comparable: a classifier FD is not an FID and the numbers differ in scale.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from lbt import rng
from lbt.datasets.stacked import CHANNEL, MODES, mode_index
from lbt.methods.base import Teaches
from lbt.metrics.frechet import (
    ClassifierFD,
    classifier_features,
    fd_features,
    frechet_distance,
    gaussian_stats,
    one_thread,
)
from lbt.metrics.inception import (
    WEIGHTS_URL,
    InceptionDetector,
    InceptionMetrics,
    load_inception,
    to_uint8_rgb,
)
from lbt.models.teachers import ImportanceWeighted

if TYPE_CHECKING:
    from lbt.config import Config
    from lbt.methods.base import Method

__all__ = [  # the Fréchet and Inception names stay importable from here
    "WEIGHTS_URL", "ClassifierFD", "ImageMetrics", "InceptionDetector", "InceptionMetrics",
    "classifier_features", "classify_confident", "classify_modes", "fd_features", "frechet_distance",
    "gaussian_stats", "generate", "load_inception", "one_thread", "stacked_mode_metrics", "to_uint8_rgb",
]  # fmt: skip


# -- Stacked MNIST: the mode of each image, read by the digit classifier ------------------------

CONFIDENT = 0.9


@torch.no_grad()
def classify_modes(classifier: nn.Module, x: Tensor, batch: int = 2000) -> Tensor:
    """Mode of each flat stacked image: the classifier labels every channel separately."""
    return classify_confident(classifier, x, batch)[0]


@torch.no_grad()
def classify_confident(classifier: nn.Module, x: Tensor, batch: int = 2000) -> tuple[Tensor, Tensor]:
    """Modes, and whether all three digits were recognised with probability >= ``CONFIDENT``."""
    from lbt.metrics.classifier import predict_proba

    channels = x.reshape(len(x) * 3, CHANNEL)  # rows ordered (image 0: ch 0, 1, 2; image 1: ...)
    conf, digits = predict_proba(classifier, channels.cpu(), batch).max(1)
    return mode_index(digits.reshape(len(x), 3)), (conf.reshape(len(x), 3) >= CONFIDENT).all(1)


def stacked_mode_metrics(modes: Tensor, total: int = MODES) -> dict[str, float]:
    """Modes covered (at least one sample) and KL(sample mode histogram || uniform), in nats.

    A plain dict of Stacked-MNIST mode counts, unlike :func:`lbt.metrics.mode_metrics` (2-D
    mixtures, which also scores sample quality)."""
    counts = torch.bincount(modes.long(), minlength=total).double()
    p = counts / counts.sum()
    nz = p > 0
    kl = float((p[nz] * torch.log(p[nz] * total)).sum())
    return {"modes_covered": int(nz.sum()), "modes_total": total, "kl_to_uniform": kl,
            "max_kl": math.log(total)}  # fmt: skip


# -- scoring a generator on an image data set ---------------------------------------------------


def device_of(module: nn.Module) -> torch.device:
    """Where ``module`` lives: its first parameter's device, else its first buffer's (a kernel
    density has only buffers), else the CPU."""
    return next(itertools.chain(module.parameters(), module.buffers()), torch.empty(0)).device


@torch.no_grad()
def generate(method: Method, n: int, chunk: int = 2000, side_stream: bool = False) -> Tensor:
    """``n`` generator samples on the CPU, drawn in chunks. ``side_stream``: from a fork of the
    random streams, so that the metrics drawn afterwards see the same random numbers as without."""
    if not side_stream:
        return torch.cat([method.sample(min(chunk, n - i)).cpu() for i in range(0, n, chunk)])
    with rng.forked(None, device_of(method)):
        return generate(method, n, chunk)


class ImageMetrics:
    """The metrics of one image data set (``data``: an :mod:`lbt.datasets.images` reader).

    What is measured follows the data: ``elbo_test`` / ``iwae_test`` where it has a test split,
    ``fd_classifier`` for the MNIST family (``data.classifier_fd``), mode counts for Stacked MNIST
    (``data.modes``), and FID / KID / IS at the final evaluation when ``eval.inception_weights`` is
    set. The detector is loaded here, so that a missing, unreadable or wrong file fails before any
    training; the classifier and the reference statistics are made on first use.
    """

    def __init__(self, data: Any, cfg: Config) -> None:
        self.data = data
        self.fd_samples, self.inception_n = cfg.eval.fd_samples, cfg.eval.inception_samples
        self.iw_images, self.iw_samples = cfg.images.iw_images, cfg.images.iw_samples
        self._classifier: tuple[nn.Module, float] | None = None
        self._fd: ClassifierFD | None = None
        self.inception: InceptionMetrics | None = None
        if cfg.eval.inception_weights:
            self.inception = InceptionMetrics(load_inception(cfg.eval.inception_weights))

    def evaluate(self, method: Method, n: int, final: bool = False) -> dict[str, float]:
        """The metrics on ``n`` samples; ``final`` (the caller's word: the end of training, ``lbt
        eval``) adds the costly ones, IWAE and FID / KID / IS."""
        if self.data.modes:
            return self.stacked(method, n, final)
        has_test = self.data.test_u8 is not None
        teaches = isinstance(method, Teaches) and has_test
        out = self.likelihoods(method.estimator, final) if teaches else {}
        if self.data.classifier_fd:
            out.update(self.fd_metrics(generate(method, min(n, self.fd_samples), side_stream=True)))
        out.update(self.final_metrics(method, final))
        return out

    def stacked(self, method: Method, n: int, final: bool = False) -> dict[str, float]:
        """Modes covered and KL to uniform on ``n`` samples (standard protocol: n = 26,000); the
        first ``eval.fd_samples`` of the same samples give ``fd_classifier``."""
        clf, acc = self.classifier()
        parts, kept = [], []
        for i in range(0, n, 2000):
            x = method.sample(min(2000, n - i)).cpu()
            parts.append(classify_confident(clf, x))
            if i < self.fd_samples:
                kept.append(x[: self.fd_samples - i])
        modes = torch.cat([m for m, _ in parts])
        confident = torch.cat([c for _, c in parts])
        out: dict[str, float] = {
            **stacked_mode_metrics(modes, self.data.modes),
            "mode_samples": n,
            "classifier_test_accuracy": acc,
            # the 2-D metric's name, read by progress lines and tables: here the fraction of
            # samples whose three digits are all recognised with p >= 0.9
            "high_quality_fraction": float(confident.double().mean()),
            # argmax labels count a mode even for an unreadable blob; this counts only modes hit
            # by at least one sample whose three digits are all recognised with p >= 0.9
            "modes_covered_confident": int(torch.unique(modes[confident]).numel()),
        }
        if isinstance(method, Teaches):
            out.update(self.likelihoods(method.estimator, final))
        out.update(self.fd_metrics(torch.cat(kept)))
        out.update(self.final_metrics(method, final))
        return out

    def final_metrics(self, method: Method, final: bool) -> dict[str, float]:
        """FID / KID / IS, at the final evaluation only, when ``eval.inception_weights`` is set."""
        return self.inception_metrics(method) if self.inception is not None and final else {}

    def classifier(self) -> tuple[nn.Module, float]:
        if self._classifier is None:
            from lbt.metrics.classifier import load_or_train

            self._classifier = load_or_train(self.data.directory)
        return self._classifier

    def fd_metrics(self, x: Tensor) -> dict[str, float]:
        """``fd_classifier``: Fréchet distance of generated ``x`` to 10,000 real test images in the
        digit classifier's penultimate feature space (per channel, concatenated)."""
        if self._fd is None:
            self._fd = ClassifierFD(
                self.classifier()[0], self.data.real_reference(10_000), self.data.channels
            )
        return {"fd_classifier": self._fd(x), "fd_samples": len(x)}

    def inception_metrics(self, method: Method) -> dict[str, float]:
        """``fid``, ``kid``, ``inception_score`` on ``eval.inception_samples`` generated images
        against as many real held-out images (or all there are)."""
        m, c, s = self.inception, self.data.channels, self.data.side
        assert m is not None
        dev = device_of(method)
        m.extractor.to(dev)
        if m.reference is None:
            m.set_reference(to_uint8_rgb(self.data.real_reference(self.inception_n), c, s))
        return m(to_uint8_rgb(generate(method, self.inception_n, side_stream=True), c, s))

    @torch.no_grad()
    def likelihoods(self, est: nn.Module, with_iwae: bool) -> dict[str, float]:
        """Mean one-sample ELBO of the held-out set (paper: -97.4) and, finally, the IWAE bound."""
        x = self.data.test_set()
        dev = device_of(est)
        elbo = torch.cat([est(x[i : i + 1000].to(dev)).cpu() for i in range(0, len(x), 1000)])
        out = {"elbo_test": float(elbo.mean())}
        if with_iwae and isinstance(est, ImportanceWeighted):
            xs = x[: self.iw_images]
            k = self.iw_samples
            iw = torch.cat([est.iwae(xs[i : i + 100].to(dev), k).cpu() for i in range(0, len(xs), 100)])
            out["iwae_test"] = float(iw.mean())
            out["iwae_samples"] = k
        return out

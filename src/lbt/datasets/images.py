"""Image data sets: MNIST, Stacked MNIST, a folder of images, CIFAR-10 (``data.name``).

Each holds its images as flat ``(n, channels * side^2)`` uint8 rows and draws training batches in
[0, 1] from the global (seeded) RNG. The shared loop calls a data set's ``evaluate`` and
``figures`` in place of the 2-D metrics and plots, so nothing in :mod:`lbt.train` knows about
images: they hand over to :class:`lbt.metrics.images.ImageMetrics` and :mod:`lbt.plots`, both
imported when a data set is built or drawn (they read the methods and teachers, which sit above
the data sets; :mod:`lbt.datasets` registers these classes). The files themselves are read (and
checksummed) by :mod:`lbt.datasets.mnist`, :mod:`lbt.datasets.folder` and :mod:`lbt.datasets.cifar10`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from lbt.config.schema import BINARIZE
from lbt.datasets import cifar10
from lbt.datasets.folder import fit_array, load_folder
from lbt.datasets.mnist import STATIC_SEED, TEST_SEED, binarized, load_mnist
from lbt.datasets.stacked import MODES, stack, stacked_set
from lbt.errors import LBTError

if TYPE_CHECKING:
    from lbt.config import Config
    from lbt.methods.base import Method
    from lbt.metrics.images import ImageMetrics


def _image_metrics(data: MNISTImages, cfg: Config) -> ImageMetrics:
    """The scorer of an image data set, imported here: lbt.metrics.images sits above the data sets."""
    from lbt.metrics.images import ImageMetrics

    return ImageMetrics(data, cfg)


class MNISTImages:
    """Real MNIST training digits as flat ``(n, 784)`` floats in [0, 1]; metrics on the test set."""

    channels = 1
    side = 28
    classifier_fd = True  # fd_classifier in the DigitNet feature space (the MNIST family only)
    modes: int | None = None  # Stacked MNIST: modes counted by the digit classifier
    binarize = "none"  # data.binarize; the natural-image readers below keep grey levels

    def __init__(self, cfg: Config) -> None:
        self.metrics = _image_metrics(self, cfg)  # first: a bad eval.inception_weights fails at once
        self.test_images, self.grid = cfg.images.test_images, cfg.images.grid
        self.directory = cfg.images.data_dir or None
        tr_x, tr_y = load_mnist("train", self.directory)
        te_x, te_y = load_mnist("test", self.directory)
        self.train_u8 = torch.from_numpy(tr_x.reshape(len(tr_x), -1).copy())
        self.train_labels = torch.from_numpy(tr_y.astype(np.int64))
        self.test_u8 = torch.from_numpy(te_x.reshape(len(te_x), -1).copy())
        self.test_labels = torch.from_numpy(te_y.astype(np.int64))
        self.dim = self.channels * 784
        self.binarize = cfg.data.binarize
        if self.binarize not in BINARIZE:
            raise LBTError(f"data.binarize={self.binarize!r} is not one of: {', '.join(BINARIZE)}")
        if self.binarize == "static":  # one fixed draw of the training set, made once
            self.train_u8 = binarized(self.train_u8, STATIC_SEED)
        if self.binarize != "none":  # held-out metrics: a fixed draw of the test set, both modes
            self.test_u8 = binarized(self.test_u8, TEST_SEED)

    def draw(self, x: Tensor) -> Tensor:
        """``data.binarize=dynamic``: a fresh Bernoulli(x) draw from the global (training) RNG."""
        return torch.bernoulli(x) if self.binarize == "dynamic" else x

    def sample(self, n: int) -> Tensor:
        idx = torch.randint(len(self.train_u8), (n,))
        return self.draw(self.train_u8[idx].float().div_(255.0))

    def test_set(self) -> Tensor:
        """Held-out images for the likelihood metrics (the first ``images.test_images``)."""
        return self.test_u8[: self.test_images].float().div_(255.0)

    def real_reference(self, n: int) -> Tensor:
        """The first ``n`` held-out (test) images, flat in [0, 1]: the metrics' real side."""
        return self.test_u8[:n].float().div_(255.0)

    def evaluate(self, method: Method, n: int, final: bool = False) -> dict[str, float]:
        return self.metrics.evaluate(method, n, final)

    def figures(self, method: Method, out_dir: Path, history: list[dict[str, float]]) -> None:
        from lbt.plots import image_figures

        image_figures(method, self, out_dir, history, self.grid)


class StackedMNIST(MNISTImages):
    """Three uniformly drawn digits as the RGB channels (1000 modes), stacked on the fly."""

    channels = 3
    modes = MODES

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self._test: Tensor | None = None

    def sample(self, n: int) -> Tensor:
        return self.draw(stack(self.train_u8, torch.randint(len(self.train_u8), (n, 3))))

    def test_set(self) -> Tensor:
        """A fixed, seeded stack of held-out digits (test split), for ELBO / IWAE."""
        if self._test is None:
            self._test, _ = stacked_set(self.test_u8, self.test_labels, self.test_images, seed=0)
        return self._test

    def real_reference(self, n: int) -> Tensor:
        """``n`` stacks of held-out (test) digits, seeded: the metrics' real side."""
        return stacked_set(self.test_u8, self.test_labels, n, seed=0)[0]


class FolderImages(MNISTImages):
    """``data.name=folder``: every PNG / JPEG under ``data.path``, ``data.channels`` x
    ``data.image_size``^2, flat in [0, 1]. There is no held-out split, so no ``elbo_test``; LBT's
    own ``elbo_data`` / ``elbo_gen`` are still recorded. FID / KID / IS (``eval.inception_weights``)
    take a seeded random subset of the folder as their real side."""

    classifier_fd = False

    def __init__(self, cfg: Config) -> None:
        self.metrics = _image_metrics(self, cfg)
        self.test_images, self.grid = cfg.images.test_images, cfg.images.grid
        self.channels, self.side = cfg.data.channels, cfg.data.image_size
        u8 = load_folder(cfg.data.path, self.side, self.channels, cfg.data.on_bad_file)
        self.train_u8 = torch.from_numpy(u8.reshape(len(u8), -1).copy())
        self.train_labels = self.test_u8 = self.test_labels = None
        self.dim = self.channels * self.side**2

    def real_reference(self, n: int) -> Tensor:
        idx = torch.randperm(len(self.train_u8), generator=torch.Generator().manual_seed(0))[:n]
        return self.train_u8[idx].float().div_(255.0)


class CIFAR10Images(MNISTImages):
    """``data.name=cifar10``: the 50,000 training images (``elbo_test`` / ``iwae_test`` on the
    10,000 test images), resized / greyscaled only if ``data.image_size`` / ``data.channels``
    differ from 32 / 3. FID / KID / IS (``eval.inception_weights``) against the test images."""

    classifier_fd = False

    def __init__(self, cfg: Config) -> None:
        self.metrics = _image_metrics(self, cfg)
        self.test_images, self.grid = cfg.images.test_images, cfg.images.grid
        self.channels, self.side = cfg.data.channels, cfg.data.image_size
        self.directory = cfg.images.data_dir or None
        for split in ("train", "test"):
            x, y = cifar10.load_cifar10(split, cfg.data.path or None, self.directory)
            x = fit_array(x, self.side, self.channels)
            setattr(self, f"{split}_u8", torch.from_numpy(x.reshape(len(x), -1).copy()))
            setattr(self, f"{split}_labels", torch.from_numpy(y.astype(np.int64)))
        self.dim = self.channels * self.side**2

"""The image extension: MNIST, Stacked MNIST, image folders and CIFAR-10 on the shared loop.

Registers the data sets (:mod:`lbt.datasets.images`), the networks (:mod:`lbt.models.images`:
generators ``dcgan`` and ``dcgan-tanh``, estimators ``bernoulli-vae`` and ``gaussian-vae``,
discriminators ``conv`` and ``conv-bn``) and the image presets (``IMAGE_PRESETS`` in
:mod:`lbt.presets`). Their metrics live in :mod:`lbt.metrics.images`, their figures in
:mod:`lbt.plots`, ``lbt data`` in :mod:`lbt.cli`.
"""

from __future__ import annotations

from lbt import config
from lbt.datasets.images import BINARIZE, CIFAR10Images, FolderImages, MNISTImages, StackedMNIST
from lbt.methods import DISCRIMINATORS, ESTIMATORS, GENERATORS
from lbt.models import images as nets
from lbt.presets import IMAGE_PRESETS
from lbt.train import DATA_BUILDERS

DATA_BUILDERS.update({"mnist": MNISTImages, "stacked-mnist": StackedMNIST, "folder": FolderImages,
                      "cifar10": CIFAR10Images})  # fmt: skip
GENERATORS.update({"dcgan": nets.build_dcgan, "dcgan-tanh": nets.build_dcgan_tanh})
ESTIMATORS.update({"bernoulli-vae": nets.build_bernoulli_vae, "gaussian-vae": nets.build_gaussian_vae})
DISCRIMINATORS.update({"conv": nets.build_conv_discriminator, "conv-bn": nets.build_conv_bn_discriminator})

_CHOICES = {
    "images.vae_activation": ("tanh", "relu", "softplus"),
    "data.binarize": BINARIZE,
}
for _name, _values in IMAGE_PRESETS.items():
    config.register_preset(_name, _values, choices=_CHOICES)
config.POSITIVE.update(
    {"images.gen_base", "images.gen_hidden", "images.gen_kernel", "images.disc_width", "images.test_images",
     "images.iw_images", "images.iw_samples", "images.grid"}
)  # fmt: skip

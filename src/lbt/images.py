"""The image extension: MNIST, Stacked MNIST, image folders and CIFAR-10 on the shared loop.

Declared as the entry point ``images`` of the group ``lbt.extensions`` (pyproject.toml), so it is
loaded like any third-party extension (:mod:`lbt.registry`). :func:`register` adds its config
section ``images`` (:class:`ImageConfig`), the data sets (:mod:`lbt.datasets.images`), the
networks (:mod:`lbt.models.images`) and the image presets (``IMAGE_PRESETS`` in
:mod:`lbt.config.presets`). Their metrics are in :mod:`lbt.metrics.images`, their figures in
:mod:`lbt.plots`; ``lbt data`` is a command of :mod:`lbt.cli`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lbt.config.presets import IMAGE_PRESETS
from lbt.datasets.images import BINARIZE, CIFAR10Images, FolderImages, MNISTImages, StackedMNIST
from lbt.models import images as nets
from lbt.registry import Registries


@dataclass
class ImageConfig:
    """The ``images.*`` keys (docs/images.md says where each default comes from)."""

    data_dir: str = ""  # the four MNIST files; empty: $LBT_DATA_DIR, else ./data/mnist
    gen_base: int = 128  # DCGAN generator: channels at 7x7 (128 MNIST, 32 Stacked MNIST)
    gen_hidden: int = 1024  # DCGAN generator: first dense layer
    gen_kernel: int = 4  # DCGAN generator: transposed-conv kernel (official Stacked-MNIST code: 5)
    vae_hidden: str = "500"  # Bernoulli VAE hidden widths, comma-separated (K&W MNIST: 500)
    vae_activation: str = "tanh"  # tanh | relu | softplus
    disc_width: int = 64  # conv discriminator: channels of its first conv
    test_images: int = 10_000  # held-out images for elbo_test
    iw_images: int = 1000  # held-out images for iwae_test (final evaluation only)
    iw_samples: int = 100  # importance samples per image for iwae_test
    grid: int = 10  # sample grids are grid x grid images


POSITIVE = ("gen_base", "gen_hidden", "gen_kernel", "disc_width", "test_images", "iw_images", "iw_samples",
            "grid")  # fmt: skip


def register(registry: Registries) -> None:
    """The extension's whole effect: its config section, data sets, networks and presets."""
    registry.sections["images"] = ImageConfig
    registry.positive.update(f"images.{key}" for key in POSITIVE)
    registry.choices["images.vae_activation"] = ("tanh", "relu", "softplus")
    registry.choices["data.binarize"] = BINARIZE
    registry.datasets.update({"mnist": MNISTImages, "stacked-mnist": StackedMNIST})
    registry.datasets.update({"folder": FolderImages, "cifar10": CIFAR10Images})
    registry.generators.update({"dcgan": nets.build_dcgan, "dcgan-tanh": nets.build_dcgan_tanh})
    registry.estimators.update(
        {"bernoulli-vae": nets.build_bernoulli_vae, "gaussian-vae": nets.build_gaussian_vae}
    )
    registry.discriminators.update(
        {"conv": nets.build_conv_discriminator, "conv-bn": nets.build_conv_bn_discriminator}
    )
    registry.presets.update(IMAGE_PRESETS)

"""Images for LBT, LBT-GAN and the GAN baselines: MNIST, Stacked MNIST, image folders, CIFAR-10.

Registers the data sets (``data.name=mnist | stacked-mnist``, optionally binarised with
``data.binarize``, and the natural-image readers ``folder | cifar10``), the networks (generators
``dcgan`` and the official natural-image ``dcgan-tanh``, estimators ``bernoulli-vae`` and
``gaussian-vae``, discriminators ``conv`` and ``conv-bn``), the presets (``mnist``,
``mnist-lbt-gan``, ``stacked-mnist``, ``paper-mnist``, ``paper-stacked-mnist``, and the official
LBT-GAN natural-image settings ``cifar10-lbt-gan``, ``celeba-lbt-gan``, ``folder-lbt-gan``) and
the ``lbt data mnist|cifar10`` subcommand. The data
objects carry their own ``evaluate`` (held-out ELBO / IWAE, mode counting) and ``figures`` (sample
grids, ELBO curves), which the shared Trainer calls; nothing in the core loop knows about images.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lbt import config
from lbt.config import Config
from lbt.datasets import cifar10
from lbt.datasets.folder import fit_array, load_folder
from lbt.datasets.mnist import STATIC_SEED, TEST_SEED, binarized, data_dir, download, load_mnist
from lbt.datasets.stacked import MODES, classify_confident, mode_metrics, stack, stacked_set
from lbt.errors import LBTError
from lbt.methods import DISCRIMINATORS, ESTIMATORS, GENERATORS
from lbt.methods.base import Method
from lbt.models.images import (
    BernoulliVAE,
    ConvBNDiscriminator,
    ConvDiscriminator,
    DCGANGenerator,
    DCGANTanhGenerator,
    GaussianVAE,
    channels_of,
)
from lbt.train import DATA_BUILDERS

# -- data ------------------------------------------------------------------------------------

BINARIZE = ("none", "dynamic", "static")  # data.binarize (mnist, stacked-mnist)


class MNISTImages:
    """Real MNIST training digits as flat ``(n, 784)`` floats in [0, 1]; metrics on the test set."""

    channels = 1
    side = 28
    classifier_fd = True  # fd_classifier in the DigitNet feature space (the MNIST family only)
    binarize = "none"  # data.binarize; the natural-image readers below keep grey levels

    def __init__(self, cfg: Config) -> None:
        self.init_metrics(cfg)
        self.icfg = cfg.images
        self.final_n = cfg.eval.samples  # IWAE (costly) only at the final evaluation
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
        return self.test_u8[: self.icfg.test_images].float().div_(255.0)

    def init_metrics(self, cfg: Config) -> None:
        """Sample counts and, with ``eval.inception_weights``, the TorchScript Inception detector,
        loaded now so that a missing, unreadable or wrong file fails before any training."""
        self.fd_samples, self.inception_n = cfg.eval.fd_samples, cfg.eval.inception_samples
        self._classifier: tuple[nn.Module, float] | None = None
        self._fd: Any = None
        self._inception: Any = None
        if cfg.eval.inception_weights:
            from lbt.image_metrics import InceptionMetrics, load_inception

            self._inception = InceptionMetrics(load_inception(cfg.eval.inception_weights))

    def real_reference(self, n: int) -> Tensor:
        """The first ``n`` held-out (test) images, flat in [0, 1]: the metrics' real side."""
        return self.test_u8[:n].float().div_(255.0)

    def evaluate(self, method: Method, n: int) -> dict[str, float]:
        est = getattr(method, "estimator", None)
        out = {} if est is None else self.likelihoods(est, n >= self.final_n)
        if self.classifier_fd:
            out.update(self.fd_metrics(generate(method, min(n, self.fd_samples), side_stream=True)))
        out.update(self.final_metrics(method, n))
        return out

    def final_metrics(self, method: Method, n: int) -> dict[str, float]:
        """FID / KID / IS, at the final evaluation only, when ``eval.inception_weights`` is set."""
        return self.inception_metrics(method) if self._inception is not None and n >= self.final_n else {}

    def classifier(self) -> tuple[nn.Module, float]:
        if self._classifier is None:
            from lbt.classifier import load_or_train

            self._classifier = load_or_train(self.directory)
        return self._classifier

    def fd_metrics(self, x: Tensor) -> dict[str, float]:
        """``fd_classifier``: Fréchet distance of generated ``x`` to 10,000 real test images in the
        digit classifier's penultimate feature space (per channel, concatenated)."""
        if self._fd is None:
            from lbt.image_metrics import ClassifierFD

            self._fd = ClassifierFD(self.classifier()[0], self.real_reference(10_000), self.channels)
        return {"fd_classifier": self._fd(x), "fd_samples": len(x)}

    def inception_metrics(self, method: Method) -> dict[str, float]:
        """``fid``, ``kid``, ``inception_score`` on ``eval.inception_samples`` generated images
        against as many real held-out images (or all there are)."""
        from lbt.image_metrics import to_uint8_rgb

        m, c, s = self._inception, self.channels, self.side
        dev = next(iter(method.parameters()), torch.empty(0)).device
        m.extractor.to(dev)
        if m.reference is None:
            m.set_reference(to_uint8_rgb(self.real_reference(self.inception_n), c, s))
        return m(to_uint8_rgb(generate(method, self.inception_n, side_stream=True), c, s))

    @torch.no_grad()
    def likelihoods(self, est: nn.Module, with_iwae: bool) -> dict[str, float]:
        """Mean one-sample ELBO of the held-out set (paper: -97.4) and, finally, the IWAE bound."""
        x = self.test_set()
        dev = next(est.parameters()).device
        elbo = torch.cat([est(x[i : i + 1000].to(dev)).cpu() for i in range(0, len(x), 1000)])
        out = {"elbo_test": float(elbo.mean())}
        if with_iwae and hasattr(est, "iwae"):
            xs = x[: self.icfg.iw_images]
            k = self.icfg.iw_samples
            iw = torch.cat([est.iwae(xs[i : i + 100].to(dev), k).cpu() for i in range(0, len(xs), 100)])
            out["iwae_test"] = float(iw.mean())
            out["iwae_samples"] = k
        return out

    def figures(self, method: Method, out_dir: Path, history: list[dict[str, float]]) -> None:
        g = self.icfg.grid
        c, s = self.channels, self.side
        save_grid(method.sample(g * g).cpu(), c, out_dir / "samples_generator.png", s)
        est = getattr(method, "estimator", None)
        if est is not None and hasattr(est, "sample"):
            save_grid(est.sample(g * g).cpu(), c, out_dir / "samples_estimator.png", s)
        save_grid(self.sample(g * g), c, out_dir / "samples_data.png", s)
        curves(history, out_dir / "elbo_curves.png")


class StackedMNIST(MNISTImages):
    """Three uniformly drawn digits as the RGB channels (1000 modes), stacked on the fly."""

    channels = 3

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self._test: Tensor | None = None

    def sample(self, n: int) -> Tensor:
        return self.draw(stack(self.train_u8, torch.randint(len(self.train_u8), (n, 3))))

    def test_set(self) -> Tensor:
        """A fixed, seeded stack of held-out digits (test split), for ELBO / IWAE."""
        if self._test is None:
            self._test, _ = stacked_set(self.test_u8, self.test_labels, self.icfg.test_images, seed=0)
        return self._test

    def real_reference(self, n: int) -> Tensor:
        """``n`` stacks of held-out (test) digits, seeded: the metrics' real side."""
        return stacked_set(self.test_u8, self.test_labels, n, seed=0)[0]

    def evaluate(self, method: Method, n: int) -> dict[str, float]:
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
            **mode_metrics(modes, MODES),
            "mode_samples": n,
            "classifier_test_accuracy": acc,
            # the 2-D metric's name, read by progress lines and tables: here the fraction of
            # samples whose three digits are all recognised with p >= 0.9
            "high_quality_fraction": float(confident.double().mean()),
            # argmax labels count a mode even for an unreadable blob; this counts only modes hit
            # by at least one sample whose three digits are all recognised with p >= 0.9
            "modes_covered_confident": int(torch.unique(modes[confident]).numel()),
        }
        est = getattr(method, "estimator", None)
        if est is not None:
            out.update(self.likelihoods(est, n >= self.final_n))
        out.update(self.fd_metrics(torch.cat(kept)))
        out.update(self.final_metrics(method, n))
        return out


class FolderImages(MNISTImages):
    """``data.name=folder``: every PNG / JPEG under ``data.path``, ``data.channels`` x
    ``data.image_size``^2, flat in [0, 1]. There is no held-out split, so no ``elbo_test``; LBT's
    own ``elbo_data`` / ``elbo_gen`` are still recorded. FID / KID / IS (``eval.inception_weights``)
    take a seeded random subset of the folder as their real side."""

    classifier_fd = False

    def __init__(self, cfg: Config) -> None:
        self.init_metrics(cfg)
        self.icfg = cfg.images
        self.final_n = cfg.eval.samples
        self.channels, self.side = cfg.data.channels, cfg.data.image_size
        u8 = load_folder(cfg.data.path, self.side, self.channels, cfg.data.on_bad_file)
        self.train_u8 = torch.from_numpy(u8.reshape(len(u8), -1).copy())
        self.train_labels = self.test_u8 = self.test_labels = None
        self.dim = self.channels * self.side**2

    def real_reference(self, n: int) -> Tensor:
        idx = torch.randperm(len(self.train_u8), generator=torch.Generator().manual_seed(0))[:n]
        return self.train_u8[idx].float().div_(255.0)

    def evaluate(self, method: Method, n: int) -> dict[str, float]:
        return self.final_metrics(method, n)


class CIFAR10Images(MNISTImages):
    """``data.name=cifar10``: the 50,000 training images (``elbo_test`` / ``iwae_test`` on the
    10,000 test images), resized / greyscaled only if ``data.image_size`` / ``data.channels``
    differ from 32 / 3. FID / KID / IS (``eval.inception_weights``) against the test images."""

    classifier_fd = False

    def __init__(self, cfg: Config) -> None:
        self.init_metrics(cfg)
        self.icfg = cfg.images
        self.final_n = cfg.eval.samples
        self.channels, self.side = cfg.data.channels, cfg.data.image_size
        self.directory = cfg.images.data_dir or None
        for split in ("train", "test"):
            x, y = cifar10.load_cifar10(split, cfg.data.path or None, self.directory)
            x = fit_array(x, self.side, self.channels)
            setattr(self, f"{split}_u8", torch.from_numpy(x.reshape(len(x), -1).copy()))
            setattr(self, f"{split}_labels", torch.from_numpy(y.astype(np.int64)))
        self.dim = self.channels * self.side**2


@torch.no_grad()
def generate(method: Method, n: int, chunk: int = 2000, side_stream: bool = False) -> Tensor:
    """``n`` generator samples on the CPU, drawn in chunks. ``side_stream``: from a fork of the
    random streams, so that the metrics drawn afterwards see the same random numbers as without."""
    if not side_stream:
        return torch.cat([method.sample(min(chunk, n - i)).cpu() for i in range(0, n, chunk)])
    dev = next(iter(method.parameters()), torch.empty(0)).device
    cuda = [torch.cuda.current_device() if dev.index is None else dev.index] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        return generate(method, n, chunk)


DATA_BUILDERS["mnist"] = MNISTImages
DATA_BUILDERS["stacked-mnist"] = StackedMNIST
DATA_BUILDERS["folder"] = FolderImages
DATA_BUILDERS["cifar10"] = CIFAR10Images


# -- figures ---------------------------------------------------------------------------------


def grid_image(x: Tensor, channels: int, side: int = 28, pad: int = 2) -> np.ndarray:
    """Tile flat images ``(g*g, C*784)`` into one ``(H, W)`` or ``(H, W, 3)`` array in [0, 1]."""
    g = int(np.ceil(np.sqrt(len(x))))
    imgs = np.ones((g * g, channels, side, side), dtype=np.float32)
    imgs[: len(x)] = x.detach().float().clamp(0, 1).reshape(-1, channels, side, side).numpy()
    imgs = np.pad(imgs, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=1.0)
    s = side + 2 * pad
    out = imgs.reshape(g, g, channels, s, s).transpose(0, 3, 1, 4, 2).reshape(g * s, g * s, channels)
    return out[..., 0] if channels == 1 else out


def save_grid(x: Tensor, channels: int, path: Path, side: int = 28) -> None:
    import matplotlib.pyplot as plt

    img = grid_image(x, channels, side)
    plt.imsave(path, img, cmap="gray" if channels == 1 else None, vmin=0, vmax=1)


def curves(history: list[dict[str, float]], path: Path) -> None:
    """ELBO on generated, real (train) and held-out data over training (paper Fig. 4), modes too."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    it = [r["iteration"] for r in history]
    elbos = []
    for key, label in (("elbo_gen", "ELBO on generated data"), ("elbo_data", "ELBO on real data"),
                       ("elbo_test", "ELBO on held-out data")):  # fmt: skip
        ys = [r.get(key, np.nan) for r in history]
        if np.isfinite(ys).any():
            elbos.append((label, ys))
    modes = [r for r in history if "modes_covered" in r]
    n = int(bool(elbos)) + int(bool(modes))
    if n == 0:
        return
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n, 4), squeeze=False)
    panels = iter(axes[0])
    if elbos:  # a GAN has no estimator, hence no ELBO panel
        ax = next(panels)
        for label, ys in elbos:
            ax.plot(it, ys, label=label)
        ax.set_xlabel("iteration")
        ax.set_ylabel("ELBO (nats per image)")
        ax.legend()
        ax.grid(alpha=0.3)
    if modes:
        ax = next(panels)
        its = [r["iteration"] for r in modes]
        ax.plot(its, [r["modes_covered"] for r in modes], color="C3", label="any sample (argmax)")
        if all("modes_covered_confident" in r for r in modes):
            ax.plot(its, [r["modes_covered_confident"] for r in modes], color="C4",
                    label="a sample with all 3 digits at p >= 0.9")  # fmt: skip
            ax.legend()
        ax.set_xlabel("iteration")
        ax.set_ylabel(f"modes covered (of {MODES})")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# -- networks --------------------------------------------------------------------------------


def _hidden(cfg: Config) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in cfg.images.vae_hidden.split(",") if v.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise LBTError(f"images.vae_hidden must be positive integers like 500 or 1000,400, "
                       f"got {cfg.images.vae_hidden!r}")  # fmt: skip
    return sizes


def _side(cfg: Config) -> int:
    """Image side: 28 for the MNIST family, else ``data.image_size`` (folder, cifar10)."""
    return 28 if cfg.data.name in ("mnist", "stacked-mnist") else cfg.data.image_size


def _channels(cfg: Config, x_dim: int, what: str) -> int:
    side = _side(cfg)
    if side % 4:
        raise LBTError(f"{what} needs data.image_size divisible by 4, got {side}")
    try:
        return channels_of(x_dim, side)
    except ValueError:
        raise LBTError(f"{what} is for images (data.name=mnist, stacked-mnist, folder or cifar10; "
                       f"{side}x{side} here), but the data has dimension {x_dim}") from None  # fmt: skip


GENERATORS["dcgan"] = lambda cfg, x_dim: DCGANGenerator(
    cfg.model.z_dim,
    _channels(cfg, x_dim, "model.generator=dcgan"),
    cfg.images.gen_base,
    cfg.images.gen_hidden,
    cfg.images.gen_kernel,
    _side(cfg),
)
ESTIMATORS["bernoulli-vae"] = lambda cfg, x_dim: BernoulliVAE(
    x_dim, _hidden(cfg), cfg.model.vae_latent, cfg.images.vae_activation
)
# PacGAN packs along the feature axis, so in_dim may be a multiple of one image's size.
DISCRIMINATORS["conv"] = lambda cfg, in_dim: ConvDiscriminator(
    _channels(cfg, in_dim, "model.discriminator=conv"), cfg.images.disc_width, side=_side(cfg)
)


def _official(build: Any, cfg: Config, x_dim: int, what: str) -> nn.Module:
    """Build one of the official natural-image networks; a wrong image side is one LBTError line."""
    channels = _channels(cfg, x_dim, what)
    try:
        return build(channels, _side(cfg))
    except ValueError as exc:
        raise LBTError(f"{what}: {exc} (data.image_size)") from None


# The official LBT-GAN CIFAR-10 / CelebA networks (docs/images.md, "Natural-image presets").
GENERATORS["dcgan-tanh"] = lambda cfg, x_dim: _official(
    lambda c, side: DCGANTanhGenerator(cfg.model.z_dim, c, cfg.images.gen_base, cfg.images.gen_kernel, side),
    cfg, x_dim, "model.generator=dcgan-tanh",
)  # fmt: skip
DISCRIMINATORS["conv-bn"] = lambda cfg, in_dim: _official(
    lambda c, side: ConvBNDiscriminator(c, cfg.images.disc_width, side),
    cfg, in_dim, "model.discriminator=conv-bn",
)  # fmt: skip
ESTIMATORS["gaussian-vae"] = lambda cfg, x_dim: GaussianVAE(
    x_dim, _hidden(cfg), cfg.model.vae_latent, cfg.images.vae_activation, cfg.model.vae_x_var
)


# -- presets ---------------------------------------------------------------------------------

_MNIST_MODEL = {"generator": "dcgan", "estimator": "bernoulli-vae", "discriminator": "conv",
                "z_dim": 100, "vae_latent": 50}  # fmt: skip
_STACKED_MODEL = {**_MNIST_MODEL, "vae_latent": 256}
# The CPU presets: batch 64, a short unroll, 20 minutes of training at most (time_limit, seconds).
_CPU_TRAIN = {"batch_size": 64, "gen_batch_size": 64, "gen_lr": 1e-3, "time_limit": 1200}
# adam_eps 1e-3: with the official 1e-8 the MNIST generator drifts to black images (docs/images.md).
_CPU_LBT = {
    "unroll_steps": 2,
    "n_est": 1,
    "est_steps": 2,
    "est_lr": 1e-3,
    "est_lr_mult": 1.0,
    "adam_eps": 1e-3,
}
# About 20 minutes on a 2-core CPU (docs/images.md): a narrower generator, a short unroll.
_MNIST_CPU = {
    "data": {"name": "mnist"},
    "model": _MNIST_MODEL,
    "images": {"gen_base": 64, "vae_hidden": "500"},
    "lbt": _CPU_LBT,
    "eval": {"every": 250, "train_samples": 500, "samples": 1000},
}


def _natural(name: str, side: int) -> dict[str, Any]:
    """The official CIFAR-10 / CelebA LBT-GAN settings for ``data.name=name`` at ``side`` x ``side``.

    Shared by LBT-GAN and its GAN baseline (``recipes``); only the generator's loss differs, as
    between the official script with and without ``-lbt``.
    """
    return {
        "data": {"name": name, "image_size": side, "channels": 3},
        "model": {"generator": "dcgan-tanh", "discriminator": "conv-bn", "estimator": "gaussian-vae",
                  "z_dim": 256, "vae_latent": 256, "vae_x_var": math.exp(-1.0)},
        "images": {"gen_base": 512, "gen_kernel": 5, "disc_width": 64, "vae_hidden": "1000,400",
                   "vae_activation": "relu", "grid": 10},
        "train": {"method": "lbt-gan", "iterations": 300_000, "batch_size": 512, "gen_batch_size": 512,
                  "gen_lr": 1e-4, "beta1": 0.5, "beta2": 0.999, "eps": 1e-8, "clip_norm": 0.0},
        "lbt": {"unroll_steps": 5, "n_est": 3, "est_steps": 5, "est_lr": 1e-4, "est_lr_mult": 3.0,
                "inner_optimizer": "adam", "adam_eps": 1e-8, "adam_eps_inside_sqrt": True,
                "adam_second_moment_grad": False},
        "gan": {"disc_lr": 1e-4, "disc_steps": 1, "lbt_gan_weight": 1.0, "lbt_gan_warmup": 3000,
                "lbt_gan_warmup_fit": False},
        "eval": {"every": 5000, "train_samples": 5000, "samples": 10_000},
        "device": "auto",
        # The GAN baseline: the official script without -lbt (G's loss is the GAN loss alone, same
        # networks, batch, Adam and learning rates; gan.gen_lr is the pure GAN's generator rate).
        "recipes": {"gan": {"gan": {"gen_lr": 1e-4}}},
    }  # fmt: skip


PRESETS: dict[str, dict[str, Any]] = {
    "mnist": {**_MNIST_CPU, "train": {**_CPU_TRAIN, "method": "lbt", "iterations": 4500}},
    # The same with the GAN term (lambda 10): sharper samples and a better test ELBO per CPU minute.
    "mnist-lbt-gan": {
        **_MNIST_CPU,
        "train": {**_CPU_TRAIN, "method": "lbt-gan", "iterations": 3000},
        "gan": {"lbt_gan_weight": 10.0},
    },
    "stacked-mnist": {
        "data": {"name": "stacked-mnist"},
        "model": _STACKED_MODEL,
        "images": {"gen_base": 32, "vae_hidden": "1000,400", "test_images": 2000},
        "train": {**_CPU_TRAIN, "method": "lbt-gan", "iterations": 4000},
        "lbt": _CPU_LBT,
        "gan": {"disc_lr": 2e-4, "lbt_gan_weight": 10.0, "lbt_gan_warmup": 300},
        "eval": {"every": 250, "train_samples": 5000, "samples": 26000},
    },
    # The paper's settings as far as they are known (docs/images.md lists every choice); GPU.
    "paper-mnist": {
        "data": {"name": "mnist"},
        "model": _MNIST_MODEL,
        "images": {"gen_base": 128, "vae_hidden": "500"},
        "train": {
            "method": "lbt",
            "iterations": 50000,
            "batch_size": 64,
            "gen_batch_size": 64,
            "gen_lr": 1e-3,
        },
        "lbt": {"unroll_steps": 5, "n_est": 1, "est_steps": 5, "est_lr": 1e-3, "est_lr_mult": 1.0},
        "eval": {"every": 1000, "train_samples": 1000, "samples": 10000},
        "device": "auto",
    },
    # The official code (LBT-GAN_smnist.py) as docs/images.md reads it.
    "paper-stacked-mnist": {
        "data": {"name": "stacked-mnist"},
        "model": {**_STACKED_MODEL, "z_dim": 256},
        "images": {
            "gen_base": 32,
            "gen_kernel": 5,
            "vae_hidden": "1000,400",
            "vae_activation": "relu",
            "disc_width": 16,
        },  # fmt: skip
        "train": {
            "method": "lbt-gan",
            "iterations": 300000,
            "batch_size": 512,
            "gen_batch_size": 512,
            "gen_lr": 1e-4,
            "clip_norm": 0.0,
        },
        "lbt": {"unroll_steps": 5, "n_est": 3, "est_steps": 5, "est_lr": 1e-4, "est_lr_mult": 3.0},
        "gan": {
            "disc_lr": 1e-4,
            "disc_steps": 1,
            "lbt_gan_weight": 1.0,
            "lbt_gan_warmup": 3000,
            "lbt_gan_warmup_fit": False,
        },  # fmt: skip
        "eval": {"every": 5000, "train_samples": 10000, "samples": 26000},
        "device": "auto",
    },
    # The official LBT-GAN natural-image scripts (LBT-GAN_cifar10.py, LBT-GAN_celeba.py) as
    # docs/images.md reads them; GPU scale. `lbt compare --methods lbt-gan,gan` pairs each with
    # the official GAN baseline (the same script without -lbt) on the same budget.
    "cifar10-lbt-gan": _natural("cifar10", 32),
    "celeba-lbt-gan": _natural("folder", 64),  # needs --set data.path=DIR (aligned CelebA images)
    "folder-lbt-gan": _natural("folder", 32),  # needs --set data.path=DIR
}
_CHOICES = {
    "images.vae_activation": ("tanh", "relu", "softplus"),
    "data.binarize": BINARIZE,
}
for _name, _values in PRESETS.items():
    config.register_preset(_name, _values, choices=_CHOICES)
config.POSITIVE.update(
    {"images.gen_base", "images.gen_hidden", "images.gen_kernel", "images.disc_width", "images.test_images",
     "images.iw_images", "images.iw_samples", "images.grid"}
)  # fmt: skip


# -- `lbt data mnist|cifar10 --data-dir DIR` -------------------------------------------------


def add_subcommand(subparsers: argparse._SubParsersAction) -> str:
    p = subparsers.add_parser("data", help="download and verify a data set (mnist, cifar10)")
    p.add_argument("dataset", choices=["mnist", "cifar10"], help="which data set")
    p.add_argument("--data-dir", default=None,
                   help="where to put the files (default: $LBT_DATA_DIR, else ./data/DATASET)")  # fmt: skip
    return "data"


def run_subcommand(args: argparse.Namespace) -> int:
    if args.dataset == "cifar10":
        directory = cifar10.data_dir(args.data_dir)
        print(f"ok  {cifar10.download(directory)}")
        print(f"CIFAR-10 is ready in {directory}; train with --set data.name=cifar10 --data-dir {directory}")
        return 0
    directory = data_dir(args.data_dir)
    paths = download(directory)
    for p in paths:
        print(f"ok  {p}")
    print(f"MNIST is ready in {directory}; train with --data-dir {directory} (or LBT_DATA_DIR)")
    return 0

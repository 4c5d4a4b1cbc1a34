"""Networks for square images: 28x28 (MNIST, Stacked MNIST) or any side divisible by 4 (``side``).

Images travel *flat*, shape ``(N, C * side * side)`` with values in [0, 1], like every other sample in
this package, so the core loop, the LBT unroll and MLP modules need no special case; the
convolutional modules reshape internally. The estimator follows the package convention
``forward(x) = per-sample ELBO`` and holds no batch-norm state (it is called functionally by the
unroll); the generator may use batch norm because it is always called as an ordinary module.
The builders at the end make each from a config (``model.generator=dcgan`` etc.);
:mod:`lbt.models` registers them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lbt.errors import LBTError
from lbt.models.generators import mlp

if TYPE_CHECKING:
    from lbt.config import Config

SIDE = 28


def importance_weighted(mu: Tensor, logvar: Tensor, log_px: Callable[[Tensor], Tensor], k: int,
                        chunk: int) -> Tensor:  # fmt: skip
    """log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x), z_i ~ q = N(mu, exp(logvar)), per example (Burda
    et al.): the IWAE loop of both image VAEs. ``log_px(z)`` scores the examples at codes (m, B, latent)."""
    std = torch.exp(0.5 * logvar)
    terms = []
    for start in range(0, k, chunk):
        eps = torch.randn(min(chunk, k - start), *mu.shape, device=mu.device, dtype=mu.dtype)
        z = mu + std * eps  # (m, B, latent)
        lp = log_px(z)
        log_pz = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
        log_qz = -0.5 * (eps**2 + logvar + math.log(2 * math.pi)).sum(-1)
        terms.append(lp + log_pz - log_qz)
    return torch.logsumexp(torch.cat(terms), 0) - math.log(k)


class DCGANGenerator(nn.Module):
    """z -> dense ``hidden`` -> dense 7x7x``base`` -> deconv to 14x14x``base/2`` -> deconv to 28x28xC.

    (For ``side`` other than 28: side/4 -> side/2 -> side, e.g. 8x8 -> 16x16 -> 32x32 for CIFAR-10.)

    Batch norm and ReLU after every hidden layer, a sigmoid output (pixel intensities). With
    ``base=128`` it is the usual DCGAN for MNIST; ``base=32`` is the smaller Stacked-MNIST
    generator of the official LBT code (dense 1024 -> 7x7x32 -> transposed convs).
    """

    def __init__(
        self,
        z_dim: int = 100,
        channels: int = 1,
        base: int = 128,
        hidden: int = 1024,
        kernel: int = 4,
        side: int = SIDE,
    ) -> None:
        super().__init__()
        if side % 4:
            raise ValueError(f"DCGANGenerator needs an image side divisible by 4, got {side}")
        self.start = side // 4
        # Any kernel doubles 7 -> 14 -> 28 with these paddings (TF's 'same' for stride 2).
        pad, extra = (kernel - 1) // 2, kernel % 2
        self.z_dim = z_dim
        self.channels = channels
        self.base = base
        self.dense = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, self.start**2 * base), nn.BatchNorm1d(self.start**2 * base), nn.ReLU(),
        )  # fmt: skip
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(base, base // 2, kernel, 2, pad, extra), nn.BatchNorm2d(base // 2), nn.ReLU(),
            nn.ConvTranspose2d(base // 2, channels, kernel, 2, pad, extra),
        )  # fmt: skip

    def logits(self, z: Tensor) -> Tensor:
        h = self.dense(z).view(-1, self.base, self.start, self.start)
        return self.deconv(h).flatten(1)

    def forward(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(z))

    def sample(self, n: int) -> Tensor:
        return self(
            torch.randn(n, self.z_dim, device=self.dense[0].weight.device, dtype=self.dense[0].weight.dtype)
        )


ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "softplus": nn.Softplus}


class BernoulliVAE(nn.Module):
    """Kingma & Welling's VAE: MLP encoder (diagonal Gaussian q(z|x)), MLP Bernoulli decoder.

    ``forward(x)`` is the one-sample reparameterised ELBO per example with the analytic KL; the
    Bernoulli log-likelihood is the binary cross-entropy, which for grey-level targets in [0, 1]
    is the usual (unnormalised) choice. ``hidden=(500,)`` is K&W's MNIST network; the Stacked-MNIST
    variant is ``hidden=(1000, 400)``, ``latent=256``.
    """

    def __init__(
        self, x_dim: int = 784, hidden: Sequence[int] = (500,), latent: int = 50, activation: str = "tanh"
    ) -> None:
        super().__init__()
        act = ACTIVATIONS[activation]
        self.latent = latent
        self.encoder = mlp([x_dim, *hidden, 2 * latent], act)
        self.decoder = mlp([latent, *reversed(hidden), x_dim], act)

    def _encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def forward(self, x: Tensor) -> Tensor:
        mu, logvar = self._encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        log_px = -F.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="none").sum(-1)
        kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(-1)
        return log_px - kl

    @torch.no_grad()
    def iwae(self, x: Tensor, k: int = 100, chunk: int = 25) -> Tensor:
        """Importance-weighted bound with ``k`` samples (Burda et al.), per example, in nats."""
        mu, logvar = self._encode(x)

        def log_px(z: Tensor) -> Tensor:
            logits = self.decoder(z)
            return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)

        return importance_weighted(mu, logvar, log_px, k, chunk)

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        """Decoder means (Bernoulli probabilities) at prior draws: the estimator's samples (Fig. 3)."""
        z = torch.randn(
            n, self.latent, device=self.decoder[0].weight.device, dtype=self.decoder[0].weight.dtype
        )
        return torch.sigmoid(self.decoder(z))


class ConvDiscriminator(nn.Module):
    """DCGAN discriminator: two stride-2 convs (64, 128), a dense 1024 layer, one logit per image.

    Leaky ReLU and no batch norm, so it can be unrolled functionally as well as trained normally.
    """

    def __init__(self, channels: int = 1, width: int = 64, hidden: int = 1024, side: int = SIDE) -> None:
        super().__init__()
        if side % 4:
            raise ValueError(f"ConvDiscriminator needs an image side divisible by 4, got {side}")
        self.channels = channels
        self.side = side
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 14x14
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 7x7
            nn.Flatten(), nn.Linear(2 * width * (side // 4) ** 2, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.reshape(-1, self.channels, self.side, self.side)).squeeze(-1)


def channels_of(x_dim: int, side: int = SIDE) -> int:
    """Image channels implied by a flat dimension (``side * side`` per channel; 784 for 28x28)."""
    c, rem = divmod(x_dim, side * side)
    if rem or c < 1:
        raise ValueError(
            f"x_dim={x_dim} is not a multiple of {side}*{side}; these networks are for {side}x{side} images"
        )
    return c


# -- natural images: the official LBT-GAN CIFAR-10 / CelebA networks ------------------------------
#
# LBT-GAN_cifar10.py and LBT-GAN_celeba.py (taufikxu/Learning-By-Teaching) scale images to [-1, 1];
# the networks below take and return images in [0, 1] like every other module here, and map to
# [-1, 1] inside (x -> 2x - 1 in, y -> (y + 1) / 2 out), so each one computes the official network
# on the official scaling. TensorFlow's 'same' padding for stride-2, 5x5 kernels puts one pixel of
# padding before and two after; it is reproduced exactly, as are TensorFlow's batch-norm defaults
# (epsilon 1e-3, moving averages with decay 0.99) and its Glorot-uniform initialisation.

TF_BN = {"eps": 1e-3, "momentum": 0.01}  # tf.layers.batch_normalization defaults


def doublings(side: int, what: str) -> int:
    """How many stride-2 layers take 4x4 to ``side`` x ``side`` (side must be 4 * 2^n, n >= 1)."""
    n = int(round(math.log2(side / 4))) if side >= 8 else 0
    if n < 1 or 4 * 2**n != side:
        raise ValueError(f"{what} needs an image side of 4 * 2^n (8, 16, 32, 64, ...), got {side}")
    return n


def _glorot(module: nn.Module) -> nn.Module:
    """TensorFlow's default initialisation: Glorot-uniform kernels, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


class SameDeconv(nn.Module):
    """``tf.layers.conv2d_transpose(kernel, stride 2, padding='same')``: exactly twice the side.

    The full transposed convolution is cropped by ``(kernel - 2) // 2`` pixels at the start and
    the rest at the end (TensorFlow's split; PyTorch's ``padding`` would crop symmetrically).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 5, bias: bool = True) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(c_in, c_out, kernel, 2, bias=bias)
        self.before = (kernel - 2) // 2  # full output 2s + k - 2; keep 2s of it
        self.after = kernel - 2 - self.before

    def forward(self, h: Tensor) -> Tensor:
        y = self.conv(h)
        return y[..., self.before : y.shape[-2] - self.after, self.before : y.shape[-1] - self.after]


class SameConv(nn.Module):
    """``tf.layers.conv2d(kernel, stride 2, padding='same')``: half the side, padding split as TF."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 5, bias: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, 2, bias=bias)
        total = kernel - 2  # for an even side: (side/2 - 1) * 2 + kernel - side
        self.pad = (total // 2, total - total // 2) * 2  # (left, right, top, bottom)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, self.pad))


class DCGANTanhGenerator(nn.Module):
    """The official CIFAR-10 / CelebA generator, ``model.generator=dcgan-tanh``.

    z -> dense 4x4x``width`` -> batch norm, ReLU -> stride-2 5x5 transposed convs, each halving the
    channels (no bias, batch norm, ReLU) up to ``side / 2`` -> a last one to ``channels`` (with
    bias) -> tanh. 32x32: 512 -> 256 -> 128 -> 3 channels; 64x64: 512 -> 256 -> 128 -> 64 -> 3.
    """

    def __init__(self, z_dim: int = 256, channels: int = 3, width: int = 512, kernel: int = 5,
                 side: int = 32) -> None:  # fmt: skip
        super().__init__()
        n = doublings(side, "DCGANTanhGenerator")
        if width % 2 ** (n - 1):
            raise ValueError(f"DCGANTanhGenerator: width {width} cannot be halved {n - 1} times")
        self.z_dim, self.channels, self.width, self.side = z_dim, channels, width, side
        self.dense = nn.Linear(z_dim, 16 * width)
        layers: list[nn.Module] = [nn.BatchNorm2d(width, **TF_BN), nn.ReLU()]
        c = width
        for _ in range(n - 1):
            layers += [SameDeconv(c, c // 2, kernel, bias=False), nn.BatchNorm2d(c // 2, **TF_BN), nn.ReLU()]
            c //= 2
        layers.append(SameDeconv(c, channels, kernel, bias=True))
        self.net = nn.Sequential(*layers)
        _glorot(self)

    def forward(self, z: Tensor) -> Tensor:
        y = torch.tanh(self.net(self.dense(z).view(-1, self.width, 4, 4)))  # [-1, 1], as officially
        return ((y + 1.0) * 0.5).flatten(1)

    def sample(self, n: int) -> Tensor:
        w = self.dense.weight
        return self(torch.randn(n, self.z_dim, device=w.device, dtype=w.dtype))


class ConvBNDiscriminator(nn.Module):
    """The official CIFAR-10 / CelebA discriminator, ``model.discriminator=conv-bn``.

    Dropout 0.2 on the input image -> stride-2 5x5 convs from ``width`` channels, doubling, down to
    4x4 (the first with a bias and no batch norm, the others without bias and with batch norm),
    Leaky ReLU 0.2 after each -> one dense logit. 32x32: 64 -> 128 -> 256; 64x64: 64 -> ... -> 512.
    The batch norm uses the statistics of each batch it sees (real and generated batches are
    judged separately, as in the official code).
    """

    def __init__(self, channels: int = 3, width: int = 64, side: int = 32, kernel: int = 5,
                 dropout: float = 0.2) -> None:  # fmt: skip
        super().__init__()
        n = doublings(side, "ConvBNDiscriminator")
        self.channels, self.side = channels, side
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        c_in, c = channels, width
        for i in range(n):
            layers.append(SameConv(c_in, c, kernel, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(c, **TF_BN))
            layers.append(nn.LeakyReLU(0.2))
            c_in, c = c, 2 * c
        layers += [nn.Flatten(), nn.Linear(c_in * 16, 1)]
        self.net = _glorot(nn.Sequential(*layers))

    def forward(self, x: Tensor) -> Tensor:
        y = x.reshape(-1, self.channels, self.side, self.side) * 2.0 - 1.0
        return self.net(y).squeeze(-1)


class GaussianVAE(nn.Module):
    """The official CIFAR-10 / CelebA teacher, ``model.estimator=gaussian-vae``.

    MLP encoder ``x_dim -> hidden -> (mean, log-variance)`` of q(z|x), MLP decoder ``latent ->
    reversed(hidden) -> x_dim`` with a tanh mean, a Gaussian likelihood with one *fixed* variance
    ``x_var`` for every pixel (on the [-1, 1] scale; the official variable starts at log-variance
    -1 and belongs to no optimizer, so it stays at e^-1), analytic KL, one reparameterised sample.

    ``forward(x)`` is the ELBO of the image in [0, 1], in nats: the official [-1, 1]-scale ELBO plus
    ``x_dim * log 2`` (the change of variables), which does not change any gradient.
    """

    def __init__(self, x_dim: int, hidden: Sequence[int] = (1000, 400), latent: int = 256,
                 activation: str = "relu", x_var: float = math.exp(-1.0)) -> None:  # fmt: skip
        super().__init__()
        act = ACTIVATIONS[activation]
        self.latent, self.x_dim, self.x_var = latent, x_dim, x_var
        self.encoder = _glorot(mlp([x_dim, *hidden, 2 * latent], act))
        self.decoder = _glorot(mlp([latent, *reversed(hidden), x_dim], act))
        self._const = -0.5 * x_dim * math.log(2 * math.pi * x_var) + x_dim * math.log(2.0)

    def _log_px(self, y: Tensor, z: Tensor) -> Tensor:
        mean = torch.tanh(self.decoder(z))
        return self._const - ((y - mean) ** 2).sum(-1) / (2 * self.x_var)

    def forward(self, x: Tensor) -> Tensor:
        y = 2.0 * x - 1.0
        mu, logvar = self.encoder(y).chunk(2, dim=-1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(-1)
        return self._log_px(y, z) - kl

    @torch.no_grad()
    def iwae(self, x: Tensor, k: int = 100, chunk: int = 25) -> Tensor:
        """Importance-weighted bound with ``k`` samples (Burda et al.), per example, in nats."""
        y = 2.0 * x - 1.0
        mu, logvar = self.encoder(y).chunk(2, dim=-1)
        return importance_weighted(
            mu, logvar, lambda z: self._log_px(y.expand(len(z), *y.shape), z), k, chunk
        )

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        """Decoder means at prior draws, in [0, 1] (what the official code plots)."""
        w = self.decoder[0].weight
        return (torch.tanh(self.decoder(torch.randn(n, self.latent, device=w.device, dtype=w.dtype))) + 1) / 2


# -- builders: ``model.generator`` / ``estimator`` / ``discriminator=NAME`` from ``images.*`` ------


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
    return SIDE if cfg.data.name in ("mnist", "stacked-mnist") else cfg.data.image_size


def _channels(cfg: Config, x_dim: int, what: str) -> int:
    side = _side(cfg)
    if side % 4:
        raise LBTError(f"{what} needs data.image_size divisible by 4, got {side}")
    try:
        return channels_of(x_dim, side)
    except ValueError:
        raise LBTError(f"{what} is for images (data.name=mnist, stacked-mnist, folder or cifar10; "
                       f"{side}x{side} here), but the data has dimension {x_dim}") from None  # fmt: skip


def _official(build: Callable[[int, int], nn.Module], cfg: Config, x_dim: int, what: str) -> nn.Module:
    """Build one of the official natural-image networks; a wrong image side is one LBTError line."""
    channels = _channels(cfg, x_dim, what)
    try:
        return build(channels, _side(cfg))
    except ValueError as exc:
        raise LBTError(f"{what}: {exc} (data.image_size)") from None


def build_dcgan(cfg: Config, x_dim: int) -> nn.Module:
    i = cfg.images
    channels = _channels(cfg, x_dim, "model.generator=dcgan")
    return DCGANGenerator(cfg.model.z_dim, channels, i.gen_base, i.gen_hidden, i.gen_kernel, _side(cfg))


def build_bernoulli_vae(cfg: Config, x_dim: int) -> nn.Module:
    return BernoulliVAE(x_dim, _hidden(cfg), cfg.model.vae_latent, cfg.images.vae_activation)


def build_conv_discriminator(cfg: Config, in_dim: int) -> nn.Module:
    """PacGAN packs along the feature axis, so ``in_dim`` may be a multiple of one image's size."""
    channels = _channels(cfg, in_dim, "model.discriminator=conv")
    return ConvDiscriminator(channels, cfg.images.disc_width, side=_side(cfg))


# The official LBT-GAN CIFAR-10 / CelebA networks (docs/images.md, "Natural-image presets").
def build_dcgan_tanh(cfg: Config, x_dim: int) -> nn.Module:
    i = cfg.images
    return _official(lambda c, side: DCGANTanhGenerator(cfg.model.z_dim, c, i.gen_base, i.gen_kernel, side),
                     cfg, x_dim, "model.generator=dcgan-tanh")  # fmt: skip


def build_conv_bn_discriminator(cfg: Config, in_dim: int) -> nn.Module:
    return _official(lambda c, side: ConvBNDiscriminator(c, cfg.images.disc_width, side),
                     cfg, in_dim, "model.discriminator=conv-bn")  # fmt: skip


def build_gaussian_vae(cfg: Config, x_dim: int) -> nn.Module:
    i = cfg.images
    return GaussianVAE(x_dim, _hidden(cfg), cfg.model.vae_latent, i.vae_activation, cfg.model.vae_x_var)

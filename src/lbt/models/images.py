"""Networks for square images: 28x28 (MNIST, Stacked MNIST) or any side divisible by 4 (``side``).

Images travel *flat*, shape ``(N, C * side * side)`` with values in [0, 1], like every other sample in
this package, so the core loop, the LBT unroll and MLP modules need no special case; the
convolutional modules reshape internally. The estimator follows the package convention
``forward(x) = per-sample ELBO`` and holds no batch-norm state (it is called functionally by the
unroll); the generator may use batch norm because it is always called as an ordinary module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lbt.models.toy import mlp

SIDE = 28


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
        """Importance-weighted bound log (1/k) sum_i p(x, z_i) / q(z_i | x) (Burda et al.), per example."""
        mu, logvar = self._encode(x)
        std = torch.exp(0.5 * logvar)
        terms = []
        for start in range(0, k, chunk):
            m = min(chunk, k - start)
            eps = torch.randn(m, *mu.shape, device=x.device, dtype=x.dtype)
            z = mu + std * eps  # (m, B, latent)
            logits = self.decoder(z)
            log_px = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(
                -1
            )
            log_pz = -0.5 * (z**2 + math.log(2 * math.pi)).sum(-1)
            log_qz = -0.5 * (eps**2 + logvar + math.log(2 * math.pi)).sum(-1)
            terms.append(log_px + log_pz - log_qz)
        return torch.logsumexp(torch.cat(terms), 0) - math.log(k)

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

"""FID, KID and the Inception Score: NVIDIA's TorchScript Inception-v3, read from a local file, and
torchmetrics' statistics fed its features.

The detector is ``eval.inception_weights`` (never downloaded), normally ``inception-2015-12-05.pt``
(:data:`WEIGHTS_URL`), the TorchScript conversion of the 2015-12-05 TensorFlow Inception graph that
StyleGAN2-ADA / StyleGAN3 and clean-fid use. No architecture is shipped here: the file carries its
own graph and weights and is only called (``return_features=True`` for the 2048-d pool features,
class probabilities otherwise); torchmetrics' FID, KID and IS get the features through a
pass-through module.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from lbt import rng
from lbt.errors import LBTError
from lbt.metrics.frechet import one_thread

# NVIDIA's TorchScript Inception-v3 (the 2015-12-05 TensorFlow graph), as StyleGAN2-ADA / StyleGAN3 use it
WEIGHTS_URL = (
    "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
)


# -- the Inception detector: NVIDIA's TorchScript file, loaded as is ----------------------------


def _detector_error(path: str | Path, problem: str) -> LBTError:
    return LBTError(
        f"eval.inception_weights={str(path)!r} {problem}; download {WEIGHTS_URL} (NVIDIA's TorchScript "
        "Inception-v3, about 92 MB) and point the key at it"
    )


def _short(exc: BaseException) -> str:
    """``Type: first 120 characters of the message``, on one line (of a TorchScript traceback, its
    last line: the error itself)."""
    text = str(exc).strip()
    if "TorchScript interpreter" in text:
        text = text.splitlines()[-1].removeprefix(f"{type(exc).__name__}: ")
    reason = " ".join(text.split())
    return f"{type(exc).__name__}: {reason[:120]}{'...' if len(reason) > 120 else ''}"


class InceptionDetector(nn.Module):
    """A TorchScript Inception detector, called as NVIDIA's ``inception-2015-12-05.pt`` is:
    ``detector(images, return_features=True)`` gives the ``(N, 2048)`` pool features and
    ``detector(images)`` the ``(N, 1008)`` class probabilities, for uint8 ``(N, 3, H, W)`` images
    of any size (the detector resizes them itself).

    ``forward`` returns ``(pool features, log-probabilities)``, float32 and float64 (``None`` for the
    second with ``probs=False``). The Inception Score uses the probabilities without the output
    layer's bias (``no_output_bias=True``, as StyleGAN2-ADA / StyleGAN3 compute it) when the
    detector takes that argument. Two detector calls per batch when both are wanted: it gives
    features or probabilities, not both.
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector.eval()
        for p in detector.parameters():  # (a ScriptModule has no requires_grad_)
            p.requires_grad_(False)
        forward = getattr(detector, "forward", None)
        schema = getattr(forward, "schema", None)
        self.arguments = {a.name for a in schema.arguments} if schema is not None else set()
        self.eval()

    def train(self, mode: bool = True) -> InceptionDetector:
        return super().train(False)  # a fixed feature extractor

    def forward(self, x: Tensor, probs: bool = True) -> tuple[Tensor, Tensor | None]:
        pool = self.detector(x, return_features=True)
        if not probs:
            return pool.float(), None
        if "no_output_bias" in self.arguments:
            p = self.detector(x, no_output_bias=True)
        else:
            p = self.detector(x, return_features=False)
        # log of the probabilities (0 clamped to float32's tiny: a zero would give 0 * -inf = nan)
        return pool.float(), p.double().clamp_min(torch.finfo(torch.float32).tiny).log()


def load_inception(path: str | Path) -> InceptionDetector:
    """The TorchScript Inception detector in the file at ``path``, on the CPU, checked on one small
    image; any problem is one LBTError line naming the key, the path and :data:`WEIGHTS_URL`."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise _detector_error(path, "is not a file" if p.exists() else "does not exist")
    try:
        with warnings.catch_warnings():  # torch >= 2.10 marks torch.jit deprecated; it still loads
            warnings.filterwarnings(
                "ignore", message=".*torch.jit.load.*is deprecated", category=DeprecationWarning
            )
            detector = torch.jit.load(str(p), map_location="cpu")
    except Exception as exc:  # unreadable, truncated, a torch.save checkpoint rather than TorchScript
        raise _detector_error(path, f"cannot be read as a TorchScript model ({_short(exc)})") from None
    net = InceptionDetector(detector)
    if "return_features" not in net.arguments:
        raise _detector_error(path, "is TorchScript but not an Inception detector (its forward takes no "
                              "return_features argument)")  # fmt: skip
    try:
        with torch.no_grad():
            pool, logp = net(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))
        shapes = (tuple(pool.shape), None if logp is None else tuple(logp.shape))
        if any(sh is None or len(sh) != 2 or sh[0] != 1 for sh in shapes):
            raise ValueError(f"outputs of shapes {shapes[0]} and {shapes[1]} for one image, not (1, d)")
    except Exception as exc:
        raise _detector_error(
            path, f"fails as an Inception detector on a test image ({_short(exc)})"
        ) from None
    return net


# -- FID / KID / IS through torchmetrics ---------------------------------------------------------


class _Given(nn.Module):
    """torchmetrics' custom ``feature`` hook, given features that were already extracted. With a
    custom module (and ``normalize=False``, the default) torchmetrics hands ``update``'s input to it
    unchanged (no uint8 conversion or rescaling), so the float64 features pass straight through."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features


def to_uint8_rgb(x: Tensor, channels: int, side: int) -> Tensor:
    """Flat images ``(N, C * side^2)`` in [0, 1] -> uint8 ``(N, 3, side, side)`` (grey repeated)."""
    img = x.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).reshape(-1, channels, side, side)
    return img.expand(-1, 3, -1, -1).contiguous() if channels == 1 else img


class InceptionMetrics:
    """FID, KID and IS of generated images against a fixed real reference set.

    ``extractor`` maps uint8 ``(N, 3, H, W)`` images to ``(pool features, class
    log-probabilities)`` (the latter may be skipped with ``probs=False``): an
    :class:`InceptionDetector` (from :func:`load_inception`) in real runs and tests. Reference
    features are extracted once and kept. KID: torchmetrics' defaults (cubic polynomial kernel),
    ``kid_subsets`` subsets of ``kid_subset_size`` (capped by the sample counts). IS:
    ``is_splits`` splits; torchmetrics' ``InceptionScore`` takes logits and applies ``softmax`` /
    ``log_softmax`` to them, and given log-probabilities those return the probabilities and
    log-probabilities themselves. KID and IS draw their subsets / split orders from a fixed seed.
    """

    def __init__(self, extractor: nn.Module, batch: int = 50, kid_subsets: int = 100,
                 kid_subset_size: int = 1000, is_splits: int = 10) -> None:  # fmt: skip
        self.extractor = extractor.eval()
        self.batch, self.kid_subsets, self.kid_subset_size, self.is_splits = (
            batch, kid_subsets, kid_subset_size, is_splits)  # fmt: skip
        self.reference: Tensor | None = None

    @torch.no_grad()
    def features(self, images: Tensor, probs: bool = True) -> tuple[Tensor, Tensor | None]:
        """Pool features and (``probs``) class log-probabilities, float64 on the CPU, of uint8
        ``(N, 3, H, W)`` images at their own size."""
        dev = next(self.extractor.parameters(), torch.empty(0)).device
        pools, logp = [], []
        for i in range(0, len(images), self.batch):
            p, lp = self.extractor(images[i : i + self.batch].to(dev), probs=probs)
            pools.append(p.double().cpu())
            if lp is not None:
                logp.append(lp.double().cpu())
        return torch.cat(pools), (torch.cat(logp) if probs else None)

    def set_reference(self, images: Tensor) -> None:
        self.reference = self.features(images, probs=False)[0]  # features only: IS is of the generated side

    def __call__(self, images: Tensor) -> dict[str, float]:
        """``fid``, ``kid`` (+ ``kid_std``), ``inception_score`` (+ ``_std``) of uint8 images."""
        if self.reference is None:
            raise RuntimeError("InceptionMetrics: call set_reference first")
        pool, logp = self.features(images)
        assert logp is not None
        return self.from_features(pool, logp)

    def from_features(self, pool: Tensor, logp: Tensor) -> dict[str, float]:
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.inception import InceptionScore
        from torchmetrics.image.kid import KernelInceptionDistance

        assert self.reference is not None
        ref, d = self.reference, self.reference.shape[1]
        subset = min(self.kid_subset_size, len(ref), len(pool))
        opts = {"sync_on_compute": False}  # each rank (torchrun) scores its own copy
        with warnings.catch_warnings(), rng.forked(0), one_thread():
            warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
            fid = FrechetInceptionDistance(feature=_Given(d), **opts)
            kid = KernelInceptionDistance(
                feature=_Given(d), subsets=self.kid_subsets, subset_size=subset, **opts
            )
            isc = InceptionScore(feature=_Given(logp.shape[1]), splits=self.is_splits, **opts)
            for metric in (fid, kid):
                metric.update(ref, real=True)
                metric.update(pool, real=False)
            isc.update(logp)
            kid_mean, kid_std = kid.compute()
            is_mean, is_std = isc.compute()
            out = {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std),
                   "inception_score": float(is_mean), "inception_score_std": float(is_std)}  # fmt: skip
        out.update({"inception_samples": len(pool), "inception_reference_samples": len(ref)})
        return {k: (v if math.isfinite(v) else math.nan) for k, v in out.items()}

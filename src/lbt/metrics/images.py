"""Image metrics: held-out likelihoods, Stacked-MNIST modes, Fréchet distances, KID and the Inception Score.

:class:`ImageMetrics` scores a generator on one image data set (what ``evaluate`` of the image
data sets in :mod:`lbt.datasets.images` returns): the teacher's held-out ELBO / IWAE where there
is a test split, the modes of Stacked MNIST, and the Fréchet distances below.

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
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from lbt import rng
from lbt.datasets.stacked import CHANNEL, MODES, mode_index
from lbt.errors import LBTError
from lbt.methods.base import Teaches
from lbt.models.teachers import ImportanceWeighted

if TYPE_CHECKING:
    from lbt.config import Config
    from lbt.methods.base import Method

# NVIDIA's TorchScript Inception-v3 (the 2015-12-05 TensorFlow graph), as StyleGAN2-ADA / StyleGAN3 use it
WEIGHTS_URL = (
    "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
)

# -- the Fréchet distance ----------------------------------------------------------------------


@contextmanager
def one_thread() -> Iterator[None]:
    """Run a block on one intra-op thread. The eigen-solvers on these small (<= 2048) matrices gain
    nothing from threads and, on a loaded machine, lose a lot: on a busy 2-core box a 2048 x 2048
    ``eigvals`` took 97 s on 2 threads against 4 s on one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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

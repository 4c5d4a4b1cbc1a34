"""Image metrics (lbt.metrics.images): the Fréchet distance, FID / KID / IS through torchmetrics with
a small TorchScript detector standing in for Inception, the detector file's errors, and the
classifier FD on real MNIST."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from conftest import MNIST_DIR as DATA
from conftest import needs_mnist
from torch import Tensor, nn

from lbt.errors import LBTError
from lbt.metrics.images import (
    WEIGHTS_URL,
    InceptionDetector,
    InceptionMetrics,
    fd_features,
    frechet_distance,
    load_inception,
    to_uint8_rgb,
)

# torch >= 2.10 marks torch.jit deprecated; the detector file is TorchScript all the same
pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.* is deprecated:DeprecationWarning")


# -- the Fréchet distance ----------------------------------------------------------------------


def test_frechet_distance_matches_closed_form_for_diagonal_gaussians() -> None:
    g = torch.Generator().manual_seed(0)
    mu1, mu2 = torch.randn(6, generator=g).double(), torch.randn(6, generator=g).double()
    v1, v2 = torch.rand(6, generator=g).double() + 0.1, torch.rand(6, generator=g).double() * 3 + 0.01
    expected = float((mu1 - mu2).square().sum() + (v1.sqrt() - v2.sqrt()).square().sum())
    got = frechet_distance(mu1, torch.diag(v1), mu2, torch.diag(v2))
    assert got == pytest.approx(expected, rel=1e-10, abs=1e-12)
    # rotating both Gaussians by the same orthogonal matrix leaves the distance unchanged
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    rot = frechet_distance(q @ mu1.double(), q @ torch.diag(v1).double() @ q.T,
                           q @ mu2.double(), q @ torch.diag(v2).double() @ q.T)  # fmt: skip
    assert rot == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu1, torch.diag(v1), mu1, torch.diag(v1)) == pytest.approx(0.0, abs=1e-12)


def test_frechet_distance_survives_a_singular_covariance() -> None:
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    low_rank = torch.cat([x, x[:, :1] + x[:, 1:2]], 1)  # 4-d features of rank 3
    d = fd_features(low_rank, low_rank)
    assert math.isfinite(d) and d == pytest.approx(0.0, abs=1e-9)


# -- FID / KID / IS: torchmetrics on an injected feature network --------------------------------


class TinyDetector(nn.Module):
    """Stands in for NVIDIA's TorchScript Inception, with its calling convention: uint8-valued
    (N, 3, H, W) images of any size -> ``features`` pool features (``return_features=True``) or
    class probabilities over ``classes``."""

    def __init__(self, features: int = 2048, classes: int = 1008) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc = nn.Linear(16 * 4 * 4, features)
        self.head = nn.Linear(features, classes)

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor:
        f = torch.relu(self.fc(torch.flatten(self.pool(torch.relu(self.conv(x.float() / 255))), 1)))
        if return_features:
            return f
        return torch.softmax(self.head(f), dim=1)


class TinyDetectorWithBias(TinyDetector):
    """NVIDIA's file also takes ``no_output_bias`` (used for the Inception Score, as StyleGAN does)."""

    def forward(self, x: Tensor, return_features: bool = False, no_output_bias: bool = False) -> Tensor:
        f = torch.relu(self.fc(torch.flatten(self.pool(torch.relu(self.conv(x.float() / 255))), 1)))
        if return_features:
            return f
        logits = f @ self.head.weight.T if no_output_bias else self.head(f)
        return torch.softmax(logits, dim=1)


def save_detector(module: nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.script(module), str(path))
    return path


@pytest.fixture(scope="module")
def small_detector(tmp_path_factory: pytest.TempPathFactory) -> InceptionDetector:
    """A 64-feature, 10-class TorchScript detector, loaded as the real file is."""
    path = tmp_path_factory.mktemp("detector") / "small.pt"
    return load_inception(save_detector(TinyDetector(features=64, classes=10), path))


def blobs(n: int, seed: int) -> torch.Tensor:
    """``n`` flat 1 x 16 x 16 images in [0, 1]: a Gaussian blob at a random place and width."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    c = torch.rand(n, 2, generator=g) * 10 + 3
    w = torch.rand(n, 1, 1, generator=g) * 3 + 1
    img = torch.exp(-((yy - c[:, 0, None, None]) ** 2 + (xx - c[:, 1, None, None]) ** 2) / (2 * w**2))
    return img.reshape(n, -1)


def test_fid_of_a_sample_with_itself_is_zero_and_grows_with_noise(small_detector: InceptionDetector) -> None:
    real = blobs(300, seed=0)
    m = InceptionMetrics(small_detector, kid_subsets=20, kid_subset_size=100, is_splits=3)
    m.set_reference(to_uint8_rgb(real, 1, 16))
    g = torch.Generator().manual_seed(2)
    scores = []
    for sigma in (0.0, 0.05, 0.1, 0.2, 0.4):
        noisy = real + sigma * torch.randn(real.shape, generator=g)
        scores.append(m(to_uint8_rgb(noisy, 1, 16)))
    fids = [s["fid"] for s in scores]
    kids = [s["kid"] for s in scores]
    assert abs(fids[0]) < 1e-6 * fids[1]  # the same images: ~0
    assert all(a < b for a, b in zip(fids[:-1], fids[1:], strict=True)), fids  # monotone in the noise level
    assert kids[-1] > 10 * max(abs(kids[0]), 1e-6) and kids[-1] > kids[1]
    for s in scores:
        assert s["inception_samples"] == 300 and s["inception_reference_samples"] == 300
        assert all(math.isfinite(s[k]) for k in ("kid_std", "inception_score", "inception_score_std"))
    # Inception Score on hand-made class probabilities with known answers: every image sure of its
    # class and the ten classes equally used -> ~10 (the number of classes); no image sure -> 1.
    pool = m.features(to_uint8_rgb(real, 1, 16), probs=False)[0]
    sure = torch.log_softmax(30.0 * torch.nn.functional.one_hot(torch.arange(300) % 10, 10).double(), 1)
    unsure = torch.full((300, 10), -math.log(10.0), dtype=torch.float64)
    assert m.from_features(pool, sure)["inception_score"] > 9.0
    assert m.from_features(pool, unsure)["inception_score"] == pytest.approx(1.0, abs=1e-6)
    # torchmetrics' FID and lbt's own frechet_distance agree on the same features
    noisy = to_uint8_rgb(real + 0.2 * torch.randn(real.shape, generator=g), 1, 16)
    pool, logp = m.features(noisy)
    assert logp is not None and m.from_features(pool, logp)["fid"] == pytest.approx(
        fd_features(m.reference, pool), rel=1e-6
    )


def test_kid_and_inception_score_are_reproducible(small_detector: InceptionDetector) -> None:
    m = InceptionMetrics(small_detector, kid_subsets=10, kid_subset_size=50, is_splits=2)
    m.set_reference(to_uint8_rgb(blobs(120, seed=3), 1, 16))
    fake = to_uint8_rgb(blobs(80, seed=4), 1, 16)
    before = torch.get_rng_state()
    assert m(fake) == m(fake)  # fixed subsets / split order
    assert torch.equal(torch.get_rng_state(), before)  # the caller's random stream is untouched


# -- the Inception detector file -----------------------------------------------------------------


def test_missing_weights_file_is_one_clear_line_from_the_cli(cli, tmp_path: Path) -> None:  # noqa: ANN001
    r = cli("train", "--preset", "mnist", "--set", "eval.inception_weights=/nonexistent/inception.pt",
            "--set", "train.iterations=1", "--out", str(tmp_path / "run"))  # fmt: skip
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "eval.inception_weights" in lines[0] and "/nonexistent/inception.pt" in lines[0]
    assert WEIGHTS_URL in lines[0] and "Traceback" not in r.stderr


def one_line_error(path: Path) -> str:
    with pytest.raises(LBTError) as err:
        load_inception(path)
    msg = str(err.value)
    assert "\n" not in msg and "eval.inception_weights" in msg and str(path) in msg and WEIGHTS_URL in msg
    return msg


def test_unreadable_or_non_torchscript_file_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "inception.pt"
    bad.write_bytes(b"not a checkpoint\n" * 10)
    assert "cannot be read as a TorchScript model" in one_line_error(bad)
    torch.save(TinyDetector(8, 3).state_dict(), bad)  # a PyTorch checkpoint, but not TorchScript
    assert "cannot be read as a TorchScript model" in one_line_error(bad)
    save_detector(nn.Linear(3, 3), bad)  # TorchScript, but forward takes no return_features
    assert "no return_features argument" in one_line_error(bad)
    assert "is not a file" in one_line_error(tmp_path)


def test_torchscript_detector_loads_and_scores_small_greyscale_images(tmp_path: Path) -> None:
    net = load_inception(save_detector(TinyDetector(), tmp_path / "tiny-inception.pt"))
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    x = to_uint8_rgb(blobs(4, seed=5), 1, 16)
    assert x.shape == (4, 3, 16, 16) and x.dtype == torch.uint8 and torch.equal(x[:, 0], x[:, 2])
    with torch.no_grad():
        pool, logp = net(x)
    assert (
        logp is not None
        and pool.shape == (4, 2048)
        and logp.shape == (4, 1008)
        and logp.dtype == torch.float64
    )
    assert torch.isfinite(pool).all() and torch.isfinite(logp).all()
    # log-probabilities: their softmax (what torchmetrics' InceptionScore applies) is the probabilities
    with torch.no_grad():
        probs = net.detector(x)
    assert torch.allclose(logp.softmax(1), probs.double(), atol=1e-7)
    scores = InceptionMetrics(net, kid_subsets=2, kid_subset_size=2, is_splits=2)
    scores.set_reference(x)
    out = scores(to_uint8_rgb(blobs(4, seed=6), 1, 16))
    assert all(math.isfinite(out[k]) for k in ("fid", "kid", "inception_score"))


def test_the_inception_score_uses_probabilities_without_the_output_bias(tmp_path: Path) -> None:
    module = TinyDetectorWithBias(features=8, classes=5)
    with torch.no_grad():
        module.head.bias.copy_(torch.tensor([0.0, 5.0, -3.0, 1.0, 2.0]))
    net = load_inception(save_detector(module, tmp_path / "with-bias.pt"))
    x = to_uint8_rgb(blobs(3, seed=7), 1, 16)
    with torch.no_grad():
        _, logp = net(x)
        assert logp is not None
        unbiased = net.detector(x, no_output_bias=True)
        biased = net.detector(x)
    assert torch.allclose(logp.exp(), unbiased.double(), atol=1e-7)
    assert not torch.allclose(unbiased, biased, atol=1e-3)


# -- the classifier feature space, on real MNIST -------------------------------------------------


@pytest.fixture(scope="module")
def digit_net() -> nn.Module:
    assert DATA is not None
    from lbt.metrics.classifier import load_or_train

    return load_or_train(DATA)[0]


@needs_mnist
def test_classifier_fd_separates_real_digits_from_noise(digit_net: nn.Module) -> None:
    from lbt.datasets.mnist import load_mnist
    from lbt.datasets.stacked import stack
    from lbt.metrics.images import ClassifierFD

    te, _ = load_mnist("test", DATA)
    tr, _ = load_mnist("train", DATA)
    test = torch.from_numpy(te[:3000].reshape(3000, -1).copy())
    train = torch.from_numpy(tr[:3000].reshape(3000, -1).copy())
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(3000, 784, generator=g)
    fd = ClassifierFD(digit_net, test.float() / 255)
    real, fake = fd(train.float() / 255), fd(noise)
    blurred = fd(
        torch.nn.functional.avg_pool2d(train.float().reshape(-1, 1, 28, 28) / 255, 3, 1, 1).reshape(3000, -1)
    )
    assert real < 0.05 * fake, (real, fake)
    assert real < blurred < fake, (real, blurred, fake)
    # Stacked MNIST: per-channel features, concatenated (384-d)
    fd3 = ClassifierFD(digit_net, stack(test, torch.randint(3000, (2000, 3), generator=g)), channels=3)
    real3 = fd3(stack(train, torch.randint(3000, (2000, 3), generator=g)))
    fake3 = fd3(torch.rand(2000, 3 * 784, generator=g))
    assert real3 < 0.05 * fake3, (real3, fake3)


@needs_mnist
def test_mnist_evaluate_reports_classifier_fd_and_inception_metrics_at_the_end(
    digit_net: nn.Module, small_detector: InceptionDetector
) -> None:
    from lbt import config
    from lbt.datasets.images import MNISTImages

    cfg = config.build("mnist", {"images.data_dir": str(DATA), "eval.samples": 600, "eval.fd_samples": 500,
                                 "eval.inception_samples": 200})  # fmt: skip
    data = MNISTImages(cfg)

    class Replay(nn.Module):  # a "generator" that replays real training digits
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def sample(self, n: int) -> torch.Tensor:
            return data.sample(n)

    during = data.evaluate(Replay(), 100)
    assert during["fd_samples"] == 100 and "fid" not in during
    data.metrics.inception = InceptionMetrics(small_detector, kid_subset_size=100)  # stands in for Inception
    as_many = data.evaluate(Replay(), 600)  # as many samples as eval.samples, but not the final one
    assert as_many["fd_samples"] == 500 and "fid" not in as_many
    final = data.evaluate(Replay(), 600, final=True)
    assert final["fd_samples"] == 500 and final["fd_classifier"] < during["fd_classifier"]
    assert final["inception_samples"] == 200 and math.isfinite(final["fid"])


def test_compare_shows_image_metric_columns_only_when_present() -> None:
    from lbt import compare as cmp

    base = {"iterations": 10, "train_seconds": 1.0}
    a = {**base, "fd_classifier": 3.0, "fid": 20.0, "kid": 0.01, "inception_score": 2.0}
    b = {**base, "fd_classifier": 5.0, "fid": 30.0, "kid": 0.03, "inception_score": 2.2}
    rows = cmp.summarize({"lbt": [a, b], "gan": [{**base, "fd_classifier": 9.0}]})
    md = cmp.table_markdown(rows, "t", "b")
    assert "| classifier FD | FID | KID | IS |" in md and "4.00 ± 1.41" in md and "25.00 ± 7.07" in md
    head = cmp.table_csv(rows, "b").splitlines()[0].split(",")
    assert {"fd_classifier_mean", "fid_std", "inception_score_mean"} <= set(head)
    # Stacked MNIST: KL to uniform takes the KL column and ranks the runs after modes and quality
    stacked = {**base, "modes_covered": 990, "high_quality_fraction": 0.05, "modes_total": 1000}
    rows = cmp.summarize(
        {"gan": [{**stacked, "kl_to_uniform": 0.6}], "lbt-gan": [{**stacked, "kl_to_uniform": 0.5}]}
    )
    md = cmp.table_markdown(rows, "t", "b")
    assert [r.method for r in rows] == ["lbt-gan", "gan"] and "| KL to uniform |" in md
    assert "inner-mode KL" not in md and "0.500 ± 0.000" in md
    plain = cmp.summarize({"lbt": [dict(base)]})
    assert "FID" not in cmp.table_markdown(plain, "t", "b") and "fid_mean" not in cmp.table_csv(plain, "b")


def test_the_loop_says_which_evaluation_is_final_not_the_sample_count() -> None:
    """Only the evaluation at the end of fit is final (the costly IWAE, FID/KID/IS), even when the
    training evaluations draw as many samples as eval.samples."""
    from lbt import Trainer, config
    from lbt.datasets import ring

    class Scored:  # 2-D data that scores itself, recording what the loop asks of it
        def __init__(self) -> None:
            self.points, self.dim, self.calls = ring(8, 1.0, 0.1), 2, []

        def sample(self, n: int) -> Tensor:
            return self.points.sample(n)

        def evaluate(self, method: nn.Module, n: int, final: bool = False) -> dict[str, float]:
            self.calls.append((n, final))
            return {}

    data = Scored()
    cfg = config.build("ring", {"train.iterations": 4, "eval.every": 2, "eval.samples": 300,
                                "eval.train_samples": 300, "train.batch_size": 32,
                                "train.gen_batch_size": 32})  # fmt: skip
    Trainer(cfg, data=data, progress=False).fit()
    assert data.calls == [(300, False), (300, False), (300, True)]

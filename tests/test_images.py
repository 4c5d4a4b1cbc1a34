"""Image networks and short end-to-end runs on real MNIST / Stacked MNIST (tiny networks)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from test_mnist import DATA, needs_mnist

from lbt.models.images import BernoulliVAE, ConvDiscriminator, DCGANGenerator
from lbt.unroll import functional_loss, params_of, unroll

TINY = {
    "images.gen_base": 16, "images.gen_hidden": 64, "images.vae_hidden": "64", "images.disc_width": 8,
    "model.vae_latent": 8, "model.z_dim": 16,
    "images.test_images": 300, "images.iw_images": 40, "images.iw_samples": 8, "images.grid": 4,
    "train.batch_size": 16, "train.gen_batch_size": 16, "train.time_limit": 0,
    "lbt.unroll_steps": 2, "lbt.est_steps": 1,
}  # fmt: skip


@torch.no_grad()
def test_shapes_and_ranges() -> None:
    for c in (1, 3):
        for kernel in (3, 4, 5):  # 5: the official Stacked-MNIST generator
            g = DCGANGenerator(z_dim=8, channels=c, base=8, hidden=32, kernel=kernel)
            x = g.sample(5)
            assert x.shape == (5, c * 784) and float(x.min()) >= 0 and float(x.max()) <= 1
        assert ConvDiscriminator(c, 8, 16)(x).shape == (5,)
        vae = BernoulliVAE(c * 784, (32, 16), latent=4)
        assert vae(x).shape == (5,) and vae.sample(3).shape == (3, c * 784)


@torch.no_grad()
def test_iwae_bound_is_tighter_than_elbo() -> None:
    torch.manual_seed(0)
    vae = BernoulliVAE(784, (32,), latent=4)
    x = (torch.rand(64, 784) < 0.2).float()
    elbo = torch.stack([vae(x) for _ in range(100)]).mean(0)  # Monte Carlo ELBO per image
    iw = vae.iwae(x, k=100)
    assert float((iw - elbo).mean()) > 0.0 and torch.isfinite(iw).all()


def test_hypergradient_reaches_the_dcgan_generator() -> None:
    """The teaching loss after an unrolled VAE update depends on G's (batch-normed) parameters."""
    torch.manual_seed(0)
    g = DCGANGenerator(z_dim=8, channels=1, base=8, hidden=32)
    vae = BernoulliVAE(784, (32,), latent=4)
    from lbt.optim import adam

    opt = adam(1e-2, 0.5)
    nll = functional_loss(vae, lambda lp: -lp.mean())
    phi, _, _ = unroll(nll, params_of(vae), opt.init(params_of(vae)), opt, lambda k: g.sample(16), 2)
    loss = nll(phi, torch.rand(16, 784))
    grads = torch.autograd.grad(loss, list(g.parameters()))
    assert all(torch.isfinite(gr).all() for gr in grads)
    assert sum(float(gr.abs().sum()) for gr in grads) > 0


def _train(preset: str, out: Path, method: str, iterations: int = 3, **extra: object) -> dict:
    from lbt.train import Trainer

    overrides = {**TINY, "images.data_dir": str(DATA), "train.method": method,
                 "train.iterations": iterations, "eval.every": iterations, **extra}  # fmt: skip
    tr = Trainer(preset=preset, overrides=overrides, out_dir=out, progress=False)
    metrics = tr.fit()
    assert json.loads((out / "metrics.json").read_text()) == pytest.approx(metrics, nan_ok=True)
    return metrics


@needs_mnist
@pytest.mark.parametrize(("preset", "method"), [("mnist", "lbt"), ("mnist-lbt-gan", "lbt-gan")])
def test_short_mnist_run_writes_grids_and_metrics(tmp_path: Path, preset: str, method: str) -> None:
    m = _train(preset, tmp_path, method, **{"eval.samples": 64, "eval.train_samples": 32})
    for name in ("samples_generator.png", "samples_estimator.png", "elbo_curves.png", "history.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    import matplotlib.pyplot as plt

    grid = plt.imread(tmp_path / "samples_generator.png")
    assert grid.shape[0] == grid.shape[1] == 4 * 32  # 4 x 4 images of 28 + 2 * 2 padding
    assert math.isfinite(m["elbo_test"]) and m["elbo_test"] < 0
    # the importance-weighted bound is at least the ELBO (up to Monte-Carlo noise on 40 images)
    assert m["iwae_test"] >= m["elbo_test"] - 5.0
    assert math.isfinite(m["elbo_gen"]) and math.isfinite(m["elbo_data"])
    if method == "lbt-gan":
        assert 0 < m["disc_real"] < 1


@needs_mnist
@pytest.mark.parametrize("teacher", [{}, {"model.estimator": "kde", "lbt.unroll_steps": 0}])
def test_short_stacked_mnist_run_counts_modes(tmp_path: Path, teacher: dict) -> None:
    short = {"eval.samples": 600, "eval.train_samples": 200, "gan.lbt_gan_warmup": 0}
    m = _train("stacked-mnist", tmp_path, "lbt-gan", iterations=2, **short, **teacher)
    assert math.isfinite(m["elbo_test"])  # the teacher's log-likelihood of held-out stacks
    assert m["modes_total"] == 1000 and 1 <= m["modes_covered"] <= 600
    assert 0 <= m["modes_covered_confident"] <= m["modes_covered"]
    assert 0 <= m["kl_to_uniform"] <= math.log(1000) + 1e-9
    assert m["classifier_test_accuracy"] >= 0.99 and m["mode_samples"] == 600
    assert (tmp_path / "samples_generator.png").exists()
    import matplotlib.pyplot as plt

    assert plt.imread(tmp_path / "samples_generator.png").shape[-1] in (3, 4)  # colour: 3 digits


# -- data.binarize ---------------------------------------------------------------------------


def _images(binarize: str, name: str = "mnist"):  # noqa: ANN202
    from lbt import config
    from lbt.datasets.images import MNISTImages, StackedMNIST

    cfg = config.build(name, {"images.data_dir": str(DATA), "data.binarize": binarize})
    return (StackedMNIST if name == "stacked-mnist" else MNISTImages)(cfg)


@needs_mnist
def test_binarize_dynamic_and_static() -> None:
    grey, dyn, static = (_images(b) for b in ("none", "dynamic", "static"))
    torch.manual_seed(0)
    g = grey.sample(2000)
    torch.manual_seed(0)
    d = dyn.sample(2000)  # the same digits as g (same seed), each pixel drawn Bernoulli(g)
    torch.manual_seed(0)
    assert torch.equal(d, dyn.sample(2000))  # same seed, same numbers
    s = static.sample(2000)
    for x in (d, s, dyn.test_set(), static.test_set(), static.real_reference(50)):
        assert set(x.unique().tolist()) == {0.0, 1.0}  # exactly 0 / 1
    assert g.unique().numel() > 2  # grey levels by default
    # the mean intensity is preserved (MNIST: 0.131)
    assert abs(float(d.mean() - g.mean())) < 1e-2
    assert abs(float(static.train_u8.float().mean() - grey.train_u8.float().mean()) / 255) < 1e-2
    assert abs(float(static.test_set().mean() - grey.test_set().mean())) < 1e-2
    # one digit drawn again and again: dynamic re-draws its pixels, static does not
    for data in (dyn, static):
        data.train_u8 = data.train_u8[:1]
    a, b = dyn.sample(2), static.sample(2)
    assert not torch.equal(a[0], a[1]) and torch.equal(b[0], b[1])
    # static draws are fixed for good: a second data object holds the very same bits
    again = _images("static").train_u8
    assert torch.equal(again[:1], static.train_u8) and set(again.unique().tolist()) == {0, 255}
    # held-out metrics use one fixed draw of the test set in both modes
    assert torch.equal(dyn.test_set(), static.test_set())
    stacked = _images("dynamic", "stacked-mnist")
    torch.manual_seed(1)
    assert set(stacked.sample(8).unique().tolist()) == {0.0, 1.0}
    assert set(stacked.test_set().unique().tolist()) == {0.0, 1.0}


def test_binarize_rejects_bad_values_and_other_data(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    from lbt import cli

    for sets, msg in (
        (["data.binarize=foo"], "lbt: error: data.binarize='foo' is not one of: none, dynamic, static"),
        (["data.name=cifar10", "data.binarize=static"],
         "lbt: error: data.binarize=static applies to data.name=mnist or stacked-mnist, not cifar10"),
    ):  # fmt: skip
        args = ["train", "--preset", "mnist", "--out", str(tmp_path / "run"), "--no-progress"]
        for s in sets:
            args += ["--set", s]
        assert cli.main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(msg), err
    assert not (tmp_path / "run").exists()

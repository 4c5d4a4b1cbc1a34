"""The natural-image presets (cifar10-lbt-gan, celeba-lbt-gan, folder-lbt-gan): the official
networks' layer sizes, the GAN baseline recipe, and short runs through ``lbt train`` on small
generated data (a folder of PNGs, an archive in CIFAR-10's python format)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_image_folders import make_cifar_archive

from lbt import cli, config
from lbt.datasets import cifar10
from lbt.errors import LBTError
from lbt.methods import make_discriminator, make_estimator, make_generator

# Narrow networks and one short unroll, so a run takes a few seconds; the presets' schedule,
# optimizers and network *types* are kept. One warm-up iteration, so both phases of LBT-GAN run.
TINY = {
    "images.gen_base": 16, "images.disc_width": 4, "images.vae_hidden": "32,16", "model.vae_latent": 4,
    "model.z_dim": 8, "train.batch_size": 8, "train.gen_batch_size": 8, "lbt.unroll_steps": 1,
    "lbt.n_est": 1, "lbt.est_steps": 1, "gan.lbt_gan_warmup": 1, "train.iterations": 3,
    "eval.every": 3, "eval.samples": 16, "eval.train_samples": 8, "images.test_images": 8,
    "images.iw_images": 4, "images.iw_samples": 3, "images.grid": 3, "device": "cpu",
}  # fmt: skip


def _train(preset: str, out: Path, *extra: str) -> dict:
    args = ["train", "--preset", preset, "--out", str(out), "--no-progress"]
    for k, v in TINY.items():
        args += ["--set", f"{k}={v}"]
    for s in extra:
        args += ["--set", s]
    assert cli.main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert numbers and all(math.isfinite(v) for v in numbers.values()), metrics
    import matplotlib.pyplot as plt

    side = config.load(out / "config.yaml").data.image_size
    grid = plt.imread(out / "samples_generator.png")
    assert grid.shape[:2] == (3 * (side + 4), 3 * (side + 4)) and grid.shape[-1] in (3, 4)  # RGB grid
    return metrics


def _pictures(root: Path, n: int = 40) -> Path:
    """``n`` small PNGs of coloured squares on a gradient, of a few sizes."""
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        h, w = (40, 48) if i % 2 else (36, 36)
        img = np.zeros((h, w, 3), np.uint8)
        img[..., 2] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
        y, x = rng.integers(0, h - 12), rng.integers(0, w - 12)
        img[y : y + 12, x : x + 12] = rng.integers(0, 256, 3, dtype=np.uint8)
        Image.fromarray(img, "RGB").save(root / f"img{i:02d}.png")
    return root


def test_folder_preset_runs_lbt_gan_and_its_gan_baseline(tmp_path: Path) -> None:
    root = _pictures(tmp_path / "pictures")
    m = _train("folder-lbt-gan", tmp_path / "lbt-gan", f"data.path={root}")
    assert m["method"] == "lbt-gan" and m["iterations"] == 3
    assert 0 < m["disc_real"] < 1 and "elbo_gen" in m and "elbo_data" in m
    assert (tmp_path / "lbt-gan" / "samples_estimator.png").exists()
    # the GAN baseline of the same preset: its own recipe, no estimator
    g = _train("folder-lbt-gan", tmp_path / "gan", f"data.path={root}", "train.method=gan")
    assert g["method"] == "gan" and "elbo_gen" not in g and 0 < g["disc_fake"] < 1
    cfg = config.load(tmp_path / "gan" / "config.yaml")
    assert cfg.gan.gen_lr == cfg.train.gen_lr == 1e-4 and cfg.data.image_size == 32


def test_cifar10_preset_runs_on_a_small_archive(tmp_path: Path) -> None:
    make_cifar_archive(tmp_path / cifar10.ARCHIVE, n=8)
    m = _train("cifar10-lbt-gan", tmp_path / "run", f"data.path={tmp_path}")
    assert m["method"] == "lbt-gan" and m["preset"] == "cifar10-lbt-gan"
    for key in ("elbo_test", "iwae_test", "elbo_gen", "elbo_data", "disc_real", "disc_fake"):
        assert key in m, key
    assert m["iwae_samples"] == 3


def test_cifar10_preset_builds_the_official_networks() -> None:
    """Layer sizes of LBT-GAN_cifar10.py: G dense 256 -> 4x4x512, 5x5 deconvs 256, 128, 3; D
    5x5/2 convs 64, 128, 256, dense 4*4*256 -> 1; VAE 3072-1000-400-256 (ReLU), Gaussian decoder."""
    cfg = config.build("cifar10-lbt-gan", {"data.path": "unused"})
    t, lb, gc = cfg.train, cfg.lbt, cfg.gan
    assert (t.batch_size, t.gen_batch_size, t.gen_lr, gc.disc_lr, t.clip_norm) == (512, 512, 1e-4, 1e-4, 0.0)
    assert (lb.unroll_steps, lb.n_est, lb.est_steps, lb.est_lr, lb.est_lr_mult) == (5, 3, 5, 1e-4, 3.0)
    assert (gc.lbt_gan_weight, gc.lbt_gan_warmup, gc.lbt_gan_warmup_fit) == (1.0, 3000, False)
    assert t.iterations == 300_000
    assert (cfg.model.z_dim, cfg.model.vae_latent, cfg.data.image_size, cfg.device) == (256, 256, 32, "auto")
    g, d, e = (make(cfg, 3072) for make in (make_generator, make_discriminator, make_estimator))
    gs = [tuple(p.shape) for n, p in g.named_parameters() if p.dim() > 1]
    assert gs == [(8192, 256), (512, 256, 5, 5), (256, 128, 5, 5), (128, 3, 5, 5)]
    ds = [tuple(p.shape) for n, p in d.named_parameters() if p.dim() > 1]
    assert ds == [(64, 3, 5, 5), (128, 64, 5, 5), (256, 128, 5, 5), (1, 4096)]
    es = [tuple(p.shape) for n, p in e.named_parameters() if p.dim() > 1]
    assert es == [(1000, 3072), (400, 1000), (512, 400), (400, 256), (1000, 400), (3072, 1000)]
    bn = [m for m in d.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert [m.num_features for m in bn] == [128, 256]
    assert d.net[1].conv.bias is not None and d.net[3].conv.bias is None  # bias on the first conv only
    assert math.isclose(e.x_var, math.exp(-1.0))
    with torch.no_grad():
        x = g.sample(2)
        assert x.shape == (2, 3072) and float(x.min()) >= 0 and float(x.max()) <= 1
        assert d(x).shape == (2,) and e(x).shape == (2,)
    # 64x64 (celeba): one more layer each, 512 -> 256 -> 128 -> 64 -> 3 and 64 -> ... -> 512
    c64 = config.build("celeba-lbt-gan", {"data.path": "unused"})
    assert c64.data.image_size == 64
    g64, d64 = make_generator(c64, 3 * 64 * 64), make_discriminator(c64, 3 * 64 * 64)
    assert [tuple(p.shape) for p in g64.parameters() if p.dim() == 4][-1] == (64, 3, 5, 5)
    assert [tuple(p.shape) for p in d64.parameters() if p.dim() == 2] == [(1, 8192)]


def test_same_padding_matches_tensorflow_sizes() -> None:
    from lbt.models.images import SameConv, SameDeconv

    h = torch.zeros(1, 2, 4, 4)
    h[0, :, 0, 0] = 1.0  # a corner impulse: TF 'same' keeps it one pixel from the border
    up = SameDeconv(2, 1, 5, bias=False)
    torch.nn.init.ones_(up.conv.weight)
    y = up(h)
    assert y.shape == (1, 1, 8, 8)
    # full transposed output covers rows 0..4 from the impulse; TF crops 1 at the start: rows 0..3
    assert y[0, 0, :4, :4].min() > 0 and y[0, 0, 4:, :].abs().max() == 0
    assert SameConv(2, 3, 5)(torch.zeros(1, 2, 8, 8)).shape == (1, 3, 4, 4)


def test_natural_presets_need_a_power_of_two_side_and_a_folder(tmp_path: Path) -> None:
    with pytest.raises(LBTError, match="data.name=folder needs data.path=DIR"):
        config.build("celeba-lbt-gan")
    cfg = config.build("folder-lbt-gan", {"data.path": "x", "data.image_size": 48})
    with pytest.raises(LBTError, match=r"dcgan-tanh: .*4 \* 2\^n.*got 48 \(data.image_size\)"):
        make_generator(cfg, 3 * 48 * 48)
    assert config.build("cifar10-lbt-gan", {"train.method": "gan"}).gan.gen_lr == 1e-4


def test_compare_pairs_lbt_gan_with_its_gan_baseline_on_one_budget(tmp_path: Path) -> None:
    from lbt.compare import budget_text, method_configs, plan

    for preset in ("cifar10-lbt-gan", "celeba-lbt-gan", "folder-lbt-gan"):
        jobs = plan(tmp_path, preset, ["lbt-gan", "gan"], seeds=1, overrides=[("data.path", "unused")])
        per = method_configs(jobs)
        lbt_gan, gan = per["lbt-gan"], per["gan"]
        assert (lbt_gan.train.method, gan.train.method) == ("lbt-gan", "gan")
        assert "the same for every method" in budget_text(per)
        for key in ("model", "images", "data"):  # same networks and data; the GAN's own G rate
            assert getattr(lbt_gan, key) == getattr(gan, key), (preset, key)
        assert gan.gan.gen_lr == lbt_gan.train.gen_lr and gan.device == "auto"

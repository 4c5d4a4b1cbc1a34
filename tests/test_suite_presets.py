"""The hard 2-D suite as presets: each builds the data it claims and trains end to end; recipes
select per-method settings; names come from the registries alone."""

import dataclasses
import itertools
import math

import pytest
import torch

from lbt import Trainer, config
from lbt.errors import LBTError
from lbt.train import make_data

TINY = {"train.iterations": 4, "eval.every": 2, "eval.samples": 2000, "eval.train_samples": 1000,
        "train.batch_size": 64, "train.gen_batch_size": 64}  # fmt: skip


def test_ring_narrow_has_eight_distinct_narrow_modes_on_the_unit_circle():
    data = make_data(config.build("ring-narrow"))
    assert data.std == 0.01 and data.n_modes == 8
    radii = data.means.norm(dim=1)
    assert torch.allclose(radii, torch.ones(8), atol=1e-6)
    angles = sorted(math.atan2(float(y), float(x)) % (2 * math.pi) for x, y in data.means)
    gaps = [b - a for a, b in itertools.pairwise(angles)]
    assert all(abs(g - math.pi / 4) < 1e-5 for g in gaps)  # 8 distinct, evenly spaced (not VEEGAN's 7)


def test_grid25_modes_sit_on_the_published_lattice():
    data = make_data(config.build("grid25"))
    assert data.std == 0.05
    want = sorted((float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4))
    got = sorted((round(float(x), 6), round(float(y), 6)) for x, y in data.means)
    assert got == want


def test_grid_is_the_papers_ten_by_ten_lattice():
    data = make_data(config.build("grid"))
    assert data.std == 0.01 and data.n_modes == 100
    xs = sorted({round(float(v), 6) for v in data.means[:, 0]})
    assert len(xs) == 10 and all(abs(b - a - 0.2) < 1e-6 for a, b in itertools.pairwise(xs))
    assert abs(sum(xs)) < 1e-6  # centred on the origin


def test_recipes_select_each_methods_settings():
    lbt = config.build("grid", {"train.method": "lbt"})
    gan = config.build("grid", {"train.method": "gan"})
    assert lbt.model.estimator == "kde" and lbt.lbt.n_est == 0
    assert gan.model.estimator == config.Config().model.estimator  # the recipe is LBT's alone
    assert lbt.data == gan.data and lbt.train.batch_size == gan.train.batch_size
    # an explicit override still wins over the recipe
    assert config.build("grid", {"model.kde_bandwidth": 0.2}).model.kde_bandwidth == 0.2
    with pytest.raises(LBTError, match="no recipe 'lbt@nonsense'"):
        config.build("grid", {"recipe": "nonsense"})


@pytest.mark.parametrize("preset", ["ring-narrow", "grid25", "grid"])
@pytest.mark.parametrize("method", ["lbt", "gan"])
def test_suite_presets_train_end_to_end(preset, method, tmp_path):
    out = tmp_path / "run"
    metrics = Trainer(preset=preset, overrides={**TINY, "train.method": method}, out_dir=out,
                      progress=False).fit()  # fmt: skip
    assert metrics["iterations"] == 4 and metrics["modes_total"] == make_data(config.build(preset)).n_modes
    for name in ("config.yaml", "metrics.json", "history.csv", "checkpoint.pt", "density.png"):
        assert (out / name).is_file(), name


def test_a_method_registered_outside_the_package_is_accepted(tmp_path):
    """Registering is enough: validation and the CLI read names from the registry."""
    from lbt.cli import main
    from lbt.methods import METHODS, build_lbt, register

    @register("my-lbt")
    def build_mine(cfg, x_dim, generator=None, estimator=None):
        return build_lbt(cfg, x_dim, generator, estimator)

    try:
        assert config.build("ring", {"train.method": "my-lbt"}).train.method == "my-lbt"
        args = ["train", "--iterations", "2", "--out", str(tmp_path / "r"), "--no-progress",
                "--set", "train.method=my-lbt", "--set", "eval.every=2", "--set", "eval.samples=1000",
                "--set", "eval.train_samples=1000"]  # fmt: skip
        assert main(args) == 0
        assert (tmp_path / "r" / "metrics.json").is_file()
    finally:
        METHODS.pop("my-lbt")
    with pytest.raises(LBTError, match="train.method='my-lbt' is not one of"):
        config.build("ring", {"train.method": "my-lbt"})


def test_ring_vae_is_the_paper_networks_and_teacher_with_a_faster_schedule():
    fast, paper = config.build("ring-vae"), config.build("paper-ring")
    assert fast.data == paper.data  # the paper's ring
    # the paper's VAE teacher and generator, with a wider fixed decoder variance
    assert dataclasses.replace(fast.model, vae_x_var=paper.model.vae_x_var) == paper.model
    assert fast.model.vae_x_var > paper.model.vae_x_var
    assert fast.lbt.unroll_steps == paper.lbt.unroll_steps and fast.lbt.hypergrad == "unrolled"
    assert fast.lbt.n_est < paper.lbt.n_est and fast.lbt.est_lr > paper.lbt.est_lr
    assert fast.train.gen_lr > paper.train.gen_lr and fast.train.iterations < paper.train.iterations


def test_ring_vae_trains_end_to_end(tmp_path):
    out = tmp_path / "run"
    metrics = Trainer(preset="ring-vae", overrides=TINY, out_dir=out, progress=False).fit()
    assert metrics["iterations"] == 4 and metrics["modes_total"] == 8
    assert (out / "metrics.json").is_file() and (out / "density.png").is_file()


@pytest.mark.parametrize("preset", ["ring-narrow", "grid25", "grid"])
def test_suite_bandwidth_is_relative_to_the_data_spread(preset):
    """The recipe's bandwidths are fractions of the data's std, so it carries across the family."""
    trainer = Trainer(preset=preset, overrides=TINY, progress=False)
    teacher = trainer.method.estimator
    x = trainer.data.sample(20_000)
    spread = float(x.var(0).mean().sqrt())
    teacher.calibrate(x)
    teacher.schedule(0)
    assert float(teacher.bandwidth) == pytest.approx(0.7 * spread, rel=0.05)
    teacher.schedule(10**6)
    assert float(teacher.bandwidth) == pytest.approx(0.08 * spread, rel=0.05)

"""PacGAN's own 2-D settings as the ``gan@pacgan`` / ``pacgan@pacgan`` recipes of the suite presets.

The published values come from fjxmlzn/PacGAN, synthetic_data_experiments/2D{Ring,Grid}_GAN&PacGAN
(config.py, pacgan_task.py); docs/methods.md lists each one with its source.
"""

from __future__ import annotations

import copy
import csv
from pathlib import Path

import pytest
import torch
from torch import nn

from lbt import Trainer, config
from lbt.errors import LBTError
from lbt.methods import build_method
from lbt.models.discriminators import Maxout
from lbt.models.generators import MLPGenerator

TINY = {"eval.samples": 2000, "eval.train_samples": 500}
PACKS = {"ring-narrow": 2, "grid25": 4}  # PacGAN2 on the ring, PacGAN4 on the grid


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def recipe(preset: str, method: str, **extra: object) -> config.Config:
    return config.build(preset=preset, overrides={"train.method": method, **extra}, recipe="pacgan")


def linears(net: nn.Module) -> list[tuple[int, int, bool]]:
    dense = [m for m in net.modules() if isinstance(m, nn.Linear)]
    return [(m.in_features, m.out_features, m.bias is not None) for m in dense]


@pytest.mark.parametrize("preset", ["ring-narrow", "grid25"])
@pytest.mark.parametrize("method", ["gan", "pacgan"])
def test_recipe_resolves_to_the_published_values(preset: str, method: str) -> None:
    cfg = recipe(preset, method)
    pack = PACKS[preset] if method == "pacgan" else 1
    m, g, t = cfg.model, cfg.gan, cfg.train
    assert (m.generator, m.z_dim, m.gen_hidden, m.gen_layers) == ("mlp-bn", 2, 400, 4)
    assert m.gen_activation == "relu"
    assert (m.discriminator, g.disc_hidden, g.disc_layers, g.maxout_pieces) == ("maxout", 200, 3, 5)
    assert (g.gen_lr, g.disc_lr, t.beta1, t.beta2, t.eps) == (1e-4, 1e-4, 0.8, 0.999, 1e-8)
    assert (g.disc_steps, g.simultaneous, g.init_std) == (1, True, 0.02)
    assert t.iterations == 400 * 100_000 // 100  # 400 epochs of 1000 batches
    assert t.batch_size == t.gen_batch_size == 100 * pack  # 100 discriminator inputs per batch
    assert t.clip_norm == 0.0 and t.gen_lr_final < 0  # plain Adam at a constant rate
    if method == "pacgan":
        assert g.pack == pack
    # the data stay the preset's (PacGAN's own ring / grid), and the recipe is opt-in
    assert cfg.data == config.build(preset).data
    plain = config.build(preset=preset, overrides={"train.method": method})
    assert (plain.model.generator, plain.model.discriminator, plain.gan.simultaneous) == ("mlp", "mlp", False)


def test_grid_packs_four_and_ring_packs_two() -> None:
    assert recipe("grid25", "pacgan").gan.pack == 4
    assert recipe("ring-narrow", "pacgan").gan.pack == 2


@pytest.mark.parametrize("preset", ["ring-narrow", "grid25"])
@pytest.mark.parametrize("method", ["gan", "pacgan"])
def test_built_networks_have_the_published_shapes(preset: str, method: str) -> None:
    torch.manual_seed(0)
    net = build_method(recipe(preset, method), 2)
    pack = PACKS[preset] if method == "pacgan" else 1
    # G: 2 -> 4 x (bias-free dense 400, batch norm, ReLU) -> dense 2 with bias
    assert linears(net.generator) == [(2, 400, False)] + [(400, 400, False)] * 3 + [(400, 2, True)]
    bns = [mod for mod in net.generator.modules() if isinstance(mod, nn.BatchNorm1d)]
    assert len(bns) == 4 and all((b.num_features, b.eps, b.momentum) == (400, 1e-4, 0.05) for b in bns)
    assert sum(isinstance(mod, nn.ReLU) for mod in net.generator.modules()) == 4
    # D: three maxout layers of 200 units x 5 pieces on pack * 2 inputs, then one logit
    assert linears(net.discriminator) == [(2 * pack, 1000, True)] + [(200, 1000, True)] * 2 + [(200, 1, True)]
    assert [mod.pieces for mod in net.discriminator.modules() if isinstance(mod, Maxout)] == [5, 5, 5]
    assert net.adv.packing == pack and net.simultaneous
    # N(0, 0.02) weights and zero biases everywhere (Glorot would give std 0.05 on 400 x 400)
    w = net.generator.net[3].weight.detach()
    assert abs(float(w.std()) - 0.02) < 1e-3
    assert abs(float(net.discriminator[2].weight.detach().std()) - 0.02) < 1e-3
    dense = [m for m in [*net.generator.modules(), *net.discriminator.modules()] if isinstance(m, nn.Linear)]
    assert all(not m.bias.detach().any() for m in dense if m.bias is not None)
    x = net.generator.sample(100 * pack)
    assert x.shape == (100 * pack, 2) and net.adv.logits(x).shape == (100,)


def test_maxout_takes_the_max_of_consecutive_pieces() -> None:
    x = torch.tensor([[1.0, 5.0, 2.0, -1.0, -3.0, -2.0]])
    assert Maxout(3)(x).tolist() == [[5.0, -1.0]]


def test_batchnorm_option_leaves_the_default_generator_unchanged() -> None:
    torch.manual_seed(0)
    a = MLPGenerator(4, 2, 8, 2, "tanh")
    torch.manual_seed(0)
    b = MLPGenerator(4, 2, 8, 2, "tanh", batchnorm=False)
    assert linears(a) == [(4, 8, True), (8, 8, True), (8, 2, True)]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not any(isinstance(mod, nn.BatchNorm1d) for mod in a.modules())


@pytest.mark.parametrize("simultaneous", [True, False])
def test_simultaneous_update_takes_gs_gradient_at_the_starting_discriminator(simultaneous: bool) -> None:
    """With ``gan.simultaneous`` G's step equals one computed at D before D's own step."""
    small = {"model.gen_hidden": 16, "gan.disc_hidden": 8, "train.batch_size": 16,
             "train.gen_batch_size": 16, "gan.disc_lr": 0.5, "gan.simultaneous": simultaneous}  # fmt: skip
    torch.manual_seed(0)
    method = build_method(recipe("ring-narrow", "pacgan", **small), 2)
    data = lambda n: torch.randn(n, 2)  # noqa: E731
    reference = copy.deepcopy(method)
    torch.manual_seed(1)
    reference.gen_opt.apply(reference.gen_opt.grads_of(reference.generator_loss(data)))
    torch.manual_seed(1)
    disc_before = [p.clone() for p in method.discriminator.parameters()]
    method.step(data)
    moved = zip(disc_before, method.discriminator.parameters(), strict=True)
    assert any(not torch.equal(a, b) for a, b in moved)  # D did step
    same = all(
        torch.allclose(a, b, atol=1e-7)
        for a, b in zip(method.generator.parameters(), reference.generator.parameters(), strict=True)
    )
    assert same == simultaneous


def test_simultaneous_is_refused_where_it_is_not_implemented() -> None:
    cfg = config.build("ring-narrow", {"train.method": "veegan", "gan.simultaneous": True})
    with pytest.raises(LBTError, match="gan.simultaneous"):
        build_method(cfg, 2)


def test_pacgan_recipe_trains_end_to_end(tmp_path: Path) -> None:
    cfg_over = {**TINY, "train.method": "pacgan", "recipe": "pacgan", "train.iterations": 3}
    trainer = Trainer(preset="grid25", overrides=cfg_over, out_dir=tmp_path / "r", progress=False)
    metrics = trainer.fit()
    assert metrics["iterations"] == 3 and metrics["modes_total"] == 25
    # batch-norm statistics move only in training: two generator passes per iteration (G's, D's)
    assert int(trainer.method.generator.net[1].num_batches_tracked) == 3 * 2


@pytest.mark.slow
def test_compare_runs_both_published_recipes(tmp_path: Path, cli) -> None:  # noqa: ANN001
    out = tmp_path / "study"
    args = ["compare", "--preset", "ring-narrow", "--methods", "gan@pacgan,pacgan@pacgan", "--seeds", "1",
            "--iterations", "3", "--jobs", "1", "--out", str(out)]  # fmt: skip
    for k, v in TINY.items():
        args += ["--set", f"{k}={v}"]
    r = cli(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    with open(out / "table.csv", newline="") as f:
        rows = {row["method"]: row for row in csv.DictReader(f)}
    assert sorted(rows) == ["gan@pacgan", "pacgan@pacgan"]
    assert all(float(row["iterations_mean"]) == 3 for row in rows.values())
    for name, pack in (("gan@pacgan", 1), ("pacgan@pacgan", 2)):
        saved = config.load(out / name / "seed0" / "config.yaml")
        assert saved.recipe == "pacgan" and saved.model.discriminator == "maxout"
        assert saved.train.batch_size == 100 * pack

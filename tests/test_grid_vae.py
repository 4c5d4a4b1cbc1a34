"""grid-vae: the paper's grid and generator taught through a VAE fitted by unrolled gradient steps."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lbt import Trainer, config
from lbt.models.teachers import CategoricalVAE

TINY = {"train.batch_size": 8, "train.gen_batch_size": 8, "eval.every": 2, "eval.train_samples": 500,
        "eval.samples": 1000}  # fmt: skip


def test_grid_vae_is_the_papers_grid_generator_and_an_unrolled_vae():
    ours, paper = config.build("grid-vae"), config.build("paper-grid")
    assert ours.data == paper.data  # the 10 x 10 grid, spacing 0.2, std 0.01
    for key in ("generator", "z_dim", "gen_hidden", "gen_layers", "gen_activation"):
        assert getattr(ours.model, key) == getattr(paper.model, key), key
    assert ours.model.estimator == "categorical-vae" and ours.lbt.hypergrad == "unrolled"
    assert ours.lbt.unroll_steps >= 1 and ours.lbt.n_est >= 1  # fitted by gradient steps, unrolled
    assert dataclasses.asdict(ours.lbt)["inner_optimizer"] == "adam"


def test_grid_vae_teacher_is_a_categorical_vae_with_floored_code_widths():
    trainer = Trainer(preset="grid-vae", overrides={**TINY, "train.compile": "none"}, progress=False)
    teacher, m = trainer.method.estimator, trainer.cfg.model
    assert isinstance(teacher, CategoricalVAE) and teacher.means.shape == (m.vae_latent, 2)
    with torch.no_grad():
        teacher.log_stds.fill_(-30.0)  # however narrow the parameters, the widths stay at the floor
    assert torch.allclose(teacher.decoder_log_stds().exp(), torch.full((m.vae_latent, 2), m.vae_min_std))


@pytest.mark.parametrize("preset", ["grid-vae", "grid-mixture"])
def test_hypergradient_flows_through_the_teachers_updates(preset):
    """d(teaching loss)/d(theta) by autograd equals central differences of the same seeded function,
    and it is not zero: with K unrolled steps the teacher depends on the generator. (Exact with
    Adam's second moment differentiated too; the preset, like the official code, stops its
    gradient, which is a different, approximate hypergradient.)"""
    overrides = {**TINY, "lbt.unroll_steps": 2, "lbt.adam_second_moment_grad": True}
    trainer = Trainer(preset=preset, overrides={**overrides, "train.compile": "none"}, progress=False)
    m = trainer.method.double()
    x_data = trainer.data_fn(8).double()
    weight = m.generator.net[4].weight  # the output layer

    def loss() -> torch.Tensor:
        torch.manual_seed(7)  # the same generator batches and VAE noise at every evaluation
        return m.teach(x_data)[0]

    (grad,) = torch.autograd.grad(loss(), [weight])
    assert float(grad.abs().max()) > 0
    h = 1e-6
    with torch.no_grad():
        for i, j in ((0, 0), (1, 5), (0, 77)):
            old = float(weight[i, j])
            weight[i, j] = old + h
            up = float(loss())
            weight[i, j] = old - h
            down = float(loss())
            weight[i, j] = old
            assert (up - down) / (2 * h) == pytest.approx(float(grad[i, j]), rel=1e-5, abs=1e-8)


def test_grid_mixture_is_the_papers_grid_and_generator_with_a_learned_mixture():
    ours, paper = config.build("grid-mixture"), config.build("paper-grid")
    assert ours.data == paper.data
    for key in ("generator", "z_dim", "gen_hidden", "gen_layers", "gen_activation"):
        assert getattr(ours.model, key) == getattr(paper.model, key), key
    assert ours.model.estimator == "mixture" and ours.model.mixture_init == "random"  # no closed-form refit
    assert ours.lbt.unroll_steps >= 1 and ours.lbt.hypergrad == "unrolled"


def test_grid_vae_runs_end_to_end_and_resumes_exactly(tmp_path):
    overrides = {**TINY, "train.iterations": 6, "train.compile": "none"}  # compiling: tests/test_compiled.py
    whole = Trainer(preset="grid-vae", overrides=overrides, out_dir=tmp_path / "whole", progress=False)
    metrics = whole.fit()
    assert metrics["iterations"] == 6 and metrics["modes_total"] == 100
    part = Trainer(preset="grid-vae", overrides=overrides, out_dir=tmp_path / "part", progress=False)
    part.fit(4)
    resumed = Trainer.resume(tmp_path / "part")
    resumed.fit()
    a, b = whole.method.state_dict(), resumed.method.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k

"""The compiled teacher (``train.compile=inductor``) against the eager reference.

Each case runs a few whole iterations twice from one seed, in float64 on the CPU, and asks for
the same generator, teacher, optimizer states and losses to round-off. Networks are shrunk so
that compiling stays within seconds; the graphs are the presets' own (teacher, optimizer, unroll).
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import needs_mnist

from lbt import Trainer
from lbt.errors import LBTError
from lbt.unroll import eager_step, functional_loss, params_of, unroll

SMALL = {"model.z_dim": 8, "model.gen_hidden": 16, "model.est_hidden": 16, "model.vae_latent": 4,
         "train.batch_size": 32, "train.gen_batch_size": 32, "lbt.unroll_steps": 2, "lbt.est_steps": 2,
         "lbt.n_est": 1}  # fmt: skip
CASES = {
    "ring-vae": ("ring-vae", SMALL),
    "ring-mixture": ("ring", {**SMALL, "model.mixture_components": 8}),
    "grid-kde": ("grid", {"train.batch_size": 64, "train.gen_batch_size": 64, "model.gen_hidden": 16}),
}


def _run(preset: str, overrides: dict, mode: str, iterations: int = 3) -> tuple[Trainer, list[dict]]:
    trainer = Trainer(preset=preset, overrides={**overrides, "train.compile": mode}, progress=False)
    trainer.method.double()
    data = lambda n: trainer.data_fn(n).double()  # noqa: E731
    torch.manual_seed(3)
    return trainer, [trainer.method.step(data) for _ in range(iterations)]


def _close(a: torch.Tensor, b: torch.Tensor, what: str, tol: float = 1e-8) -> None:
    """Equal to round-off on the tensor's own scale. (A bias just before batch norm has a zero
    gradient: Adam turns the round-off there into steps of ~1e-10, on weights of ~0.1.)"""
    scale = max(1.0, float(b.abs().max())) if b.numel() else 1.0
    assert float((a - b).abs().max()) <= tol * scale, (what, float((a - b).abs().max()), scale)


def _assert_same(eager: Trainer, fast: Trainer, logs_e: list[dict], logs_f: list[dict]) -> None:
    for a, b in zip(logs_e, logs_f, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            assert math.isclose(a[k], b[k], rel_tol=1e-9, abs_tol=1e-12), (k, a[k], b[k])
    se, sf = eager.method.state_dict(), fast.method.state_dict()
    assert se.keys() == sf.keys()
    for k in se:  # parameters, buffers (teacher, generator, BatchNorm statistics)
        if se[k].is_floating_point():
            _close(sf[k], se[k], k)
    oe, of = eager.method.optimizer_states(), fast.method.optimizer_states()
    for name in oe:  # the teacher's and the generator's Adam (moments, step counters)
        for k in oe[name]:
            _close(of[name][k], oe[name][k], f"{name}.{k}")


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_iterations_equal_eager_in_float64(case):
    preset, overrides = CASES[case]
    eager, logs_e = _run(preset, overrides, "none")
    fast, logs_f = _run(preset, overrides, "inductor")
    assert fast.method.compiled is not None and eager.method.compiled is None
    _assert_same(eager, fast, logs_e, logs_f)


@pytest.mark.slow
@needs_mnist
def test_compiled_image_preset_equals_eager_in_float64(monkeypatch):
    """LBT-GAN on MNIST: a Bernoulli VAE teacher beside a batch-norm DCGAN generator (kept eager)."""
    from conftest import MNIST_DIR

    monkeypatch.setenv("LBT_DATA_DIR", str(MNIST_DIR))
    overrides = {"train.batch_size": 8, "train.gen_batch_size": 8, "images.gen_base": 8,
                 "images.vae_hidden": "32", "model.vae_latent": 4, "model.z_dim": 8}  # fmt: skip
    eager, logs_e = _run("mnist-lbt-gan", overrides, "none", iterations=2)
    fast, logs_f = _run("mnist-lbt-gan", overrides, "inductor", iterations=2)
    _assert_same(eager, fast, logs_e, logs_f)


class _SyncCounter:
    """Counts the calls that copy a tensor's value to the host (each one waits on a GPU)."""

    NAMES = ("item", "tolist", "__float__", "__int__", "__bool__")

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        for name in self.NAMES:
            original = getattr(torch.Tensor, name)

            def counted(t, *a, _name=name, _original=original, **kw):
                self.calls.append(_name)
                return _original(t, *a, **kw)

            monkeypatch.setattr(torch.Tensor, name, counted)


def test_the_inner_steps_read_nothing_back_to_the_host(monkeypatch):
    """An unrolled (and a fitting) pass of the paper's VAE teacher with Adam: no item(), no float()."""
    trainer = Trainer(preset="paper-ring", overrides=SMALL, progress=False)
    m = trainer.method
    loss = functional_loss(m.estimator, lambda lp: -lp.mean())
    counter = _SyncCounter(monkeypatch)
    for create_graph in (True, False):
        phi, _, losses = unroll(loss, params_of(m.estimator), m.inner_state, m.inner, m._gen_batch, 3,
                                create_graph=create_graph)  # fmt: skip
    assert counter.calls == []
    assert len(losses) == 3 and all(isinstance(v, torch.Tensor) for v in losses)
    # and the counter does see a read-back
    float(losses[0])
    assert counter.calls == ["__float__"]


def test_eager_step_is_the_default_step():
    """``unroll`` without ``step`` is the autograd step (same phi from the same batch)."""
    trainer = Trainer(preset="ring", overrides=SMALL, progress=False)
    m = trainer.method
    loss = functional_loss(m.estimator, lambda lp: -lp.mean())
    x = trainer.data_fn(32)
    a, _, _ = unroll(loss, params_of(m.estimator), m.inner_state, m.inner, lambda k: x, 2)
    b, _, _ = unroll(loss, params_of(m.estimator), m.inner_state, m.inner, lambda k: x, 2,
                     step=eager_step(loss, m.inner, True))  # fmt: skip
    for k in a:
        assert torch.equal(a[k], b[k])


def test_compile_for_a_method_without_teacher_is_one_clear_error():
    with pytest.raises(LBTError, match="train.compile"):
        Trainer(preset="ring", overrides={"train.method": "gan", "train.compile": "inductor"}, progress=False)


@pytest.mark.slow
def test_resumed_compiled_run_continues_as_the_uninterrupted_one(tmp_path):
    overrides = {**SMALL, "train.compile": "inductor", "eval.every": 2, "eval.train_samples": 500,
                 "eval.samples": 1000, "train.iterations": 6}  # fmt: skip
    whole = Trainer(preset="ring-vae", overrides=overrides, out_dir=tmp_path / "whole", progress=False)
    whole.fit()
    part = Trainer(preset="ring-vae", overrides=overrides, out_dir=tmp_path / "part", progress=False)
    part.fit(4)  # stops at iteration 4 with its checkpoint, as a killed run leaves it
    resumed = Trainer.resume(tmp_path / "part")
    assert resumed.method.compiled is not None
    resumed.fit()
    a, b = whole.method.state_dict(), resumed.method.state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [r["loss_gen"] for r in whole.history] == [r["loss_gen"] for r in resumed.history]


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@needs_cuda
@pytest.mark.parametrize("mode", ["inductor", "cudagraphs"])
def test_compiled_iterations_equal_eager_on_the_gpu(mode):
    """The same comparison on a GPU, float64 (CUDA graphs replaying the compiled steps)."""

    def run(m: str) -> tuple[Trainer, list[dict]]:
        trainer = Trainer(preset="ring-vae", overrides={**SMALL, "train.compile": m}, progress=False,
                          device="cuda")  # fmt: skip
        trainer.method.double()
        torch.manual_seed(3)
        return trainer, [trainer.method.step(lambda n: trainer.data_fn(n).double()) for _ in range(4)]

    eager, logs_e = run("none")
    fast, logs_f = run(mode)
    _assert_same(eager, fast, logs_e, logs_f)


@needs_cuda
def test_the_inner_steps_never_wait_for_the_gpu():
    """``torch.cuda.set_sync_debug_mode('error')`` raises on any host synchronisation."""
    trainer = Trainer(preset="paper-ring", overrides=SMALL, progress=False, device="cuda")
    m = trainer.method
    loss = functional_loss(m.estimator, lambda lp: -lp.mean())
    torch.cuda.set_sync_debug_mode("error")
    try:
        for create_graph in (True, False):
            unroll(loss, params_of(m.estimator), m.inner_state, m.inner, m._gen_batch, 3,
                   create_graph=create_graph)  # fmt: skip
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_compile_with_the_implicit_hypergradient_is_one_clear_error():
    with pytest.raises(LBTError, match="lbt.hypergrad=unrolled"):
        Trainer(preset="ring-implicit", overrides={"train.compile": "inductor"}, progress=False)

"""State that must follow the device: optimizer states, RNG streams, rollback learning rates."""

import copy

import pytest
import torch

from lbt import Trainer, rng, rundir
from lbt import config as config_mod
from lbt.errors import LBTError
from lbt.methods import build_method

SMALL = {"train.batch_size": 32, "train.gen_batch_size": 32, "model.z_dim": 8, "model.gen_hidden": 16,
         "model.est_hidden": 16, "gan.disc_hidden": 16, "lbt.unroll_steps": 1, "lbt.est_steps": 1,
         "eval.samples": 2000, "eval.train_samples": 500, "train.compile": "none"}  # fmt: skip
METHODS = ["lbt", "lbt-gan", "gan", "unrolled-gan", "pacgan", "veegan", "mle"]
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")),
]


def _method(name: str):
    cfg = config_mod.build("paper-ring", {**SMALL, "train.method": name, "device": "cpu"})
    torch.manual_seed(0)
    method = build_method(cfg, 2)
    data = lambda n: torch.randn(n, 2)  # noqa: E731
    method.step(data)  # optimizer states now hold non-zero moments
    return method, data


def _state_tensors(method):
    return [t for s in method.optimizer_states().values() for t in s.values()]


@pytest.mark.parametrize("name", METHODS)
def test_optimizer_states_follow_to(name):
    method, data = _method(name)
    assert _state_tensors(method)
    method.double()
    assert all(t.dtype == torch.float64 for t in _state_tensors(method))
    method.step(lambda n: data(n).double())  # every update now runs in float64 without a dtype clash
    method.to("meta")
    assert all(t.device.type == "meta" for t in _state_tensors(method))
    assert all(p.device.type == "meta" for p in method.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
@pytest.mark.parametrize("name", METHODS)
def test_optimizer_states_move_to_cuda_and_train(name):
    method, data = _method(name)
    method.to("cuda")
    assert all(t.is_cuda for t in _state_tensors(method))
    method.step(lambda n: data(n).cuda())


@pytest.mark.parametrize("device", DEVICES)
def test_evaluation_cadence_does_not_change_training(device):
    def final_params(every: int):
        t = Trainer(preset="paper-ring", overrides={**SMALL, "train.iterations": 12, "eval.every": every,
                                                     "device": device}, progress=False)  # fmt: skip
        t.fit()
        return {k: v.cpu() for k, v in t.method.generator.state_dict().items()}

    often, once = final_params(3), final_params(12)
    assert all(torch.equal(often[k], once[k]) for k in often)


def test_forked_stream_leaves_the_outer_stream_alone():
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    with rng.forked(123, "cpu"):
        inner = torch.rand(3)
    assert torch.equal(torch.rand(3), expected) and not torch.equal(inner, expected)


def test_rng_state_round_trip():
    state = rng.get_state()
    a = torch.rand(4)
    rng.set_state(state)
    assert torch.equal(torch.rand(4), a)
    assert ("cuda" in state) == (torch.cuda.is_available() and torch.cuda.is_initialized())


@pytest.mark.parametrize("name", ["lbt", "lbt-gan", "gan", "veegan"])
def test_lr_factor_scales_estimator_and_discriminator_updates(name):
    """Adam's first step is linear in the learning rate: half the factor, half the move."""
    one_update = {"lbt.n_est": 1, "gan.disc_steps": 1}  # later updates start elsewhere: not linear
    cfg = config_mod.build("paper-ring", {**SMALL, **one_update, "train.method": name, "device": "cpu"})
    torch.manual_seed(0)
    base = build_method(cfg, 2)
    others = [m for n, m in base.named_modules() if n in ("estimator", "discriminator")]
    assert others
    moves = []
    for factor in (1.0, 0.5):
        method = copy.deepcopy(base)
        method.lr_factor = factor
        before = copy.deepcopy(method.state_dict())
        torch.manual_seed(1)
        method.step(lambda n: torch.randn(n, 2), lr_scale=0.0)  # the generator stays put
        after = method.state_dict()
        owned = [
            k
            for k in before
            if k.startswith(("estimator.", "discriminator.")) and after[k].is_floating_point()
        ]
        moves.append({k: (after[k] - before[k]).abs().sum() for k in owned})
    moved = [k for k in moves[0] if moves[0][k] > 0]
    assert moved
    for k in moved:
        assert moves[1][k] / moves[0][k] == pytest.approx(0.5, rel=1e-3), k


def test_resume_of_a_gpu_run_without_a_gpu_says_how_to_continue(tmp_path, monkeypatch):
    out = tmp_path / "run"
    overrides = {**SMALL, "train.iterations": 4, "eval.every": 2, "device": "auto"}
    t = Trainer(preset="paper-ring", overrides=overrides, out_dir=out, progress=False)
    t.fit()
    payload = rundir.load_checkpoint(out / rundir.CHECKPOINT)
    assert payload["device"] == t.device.type
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the resume sees no GPU
    payload["device"] = "cuda"
    rundir.save_checkpoint(out / rundir.CHECKPOINT, payload)
    with pytest.raises(LBTError, match="device=cpu"):
        Trainer.resume(out, [("train.iterations", "6")])
    resumed = Trainer.resume(out, [("train.iterations", "6"), ("device", "cpu")], progress=False)
    assert resumed.device.type == "cpu" and resumed.fit()["iterations"] == 6


@pytest.mark.parametrize("recorded", ["config", "checkpoint"])
def test_eval_of_a_gpu_run_without_a_gpu_runs_on_the_cpu(tmp_path, monkeypatch, capsys, recorded):
    """`lbt eval` continues nothing, so a run trained on a GPU (device=cuda in config.yaml, or
    device=auto that found one: the checkpoint's device) is evaluated on the CPU when none is visible."""
    import json

    import yaml

    from lbt.cli import main

    out = tmp_path / "run"
    overrides = {**SMALL, "train.iterations": 2, "eval.every": 2, "device": "auto"}
    Trainer(preset="paper-ring", overrides=overrides, out_dir=out, progress=False).fit()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if recorded == "config":
        doc = yaml.safe_load((out / "config.yaml").read_text())
        doc["device"] = "cuda"
        (out / "config.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    payload = rundir.load_checkpoint(out / rundir.CHECKPOINT)
    payload["device"] = "cuda"
    rundir.save_checkpoint(out / rundir.CHECKPOINT, payload)
    assert main(["eval", str(out), "--samples", "500"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["samples"] == 500
    assert "on the CPU" in captured.err and len(captured.err.strip().splitlines()) == 1

"""The generator's weight average (``train.gen_ema``): its arithmetic, that training never sees it,
and that it survives a checkpoint."""

import pytest
import torch
from torch import nn

from lbt import Trainer
from lbt.averaging import WeightAverage
from lbt.errors import LBTError

TINY = {"train.iterations": 30, "train.batch_size": 64, "train.gen_batch_size": 64,
        "eval.every": 10, "eval.samples": 2000, "eval.train_samples": 1000}  # fmt: skip


def _stopped_and_resumed(tmp_path, key: str) -> Trainer:
    """A TINY run with the average ``key`` at 0.9, stopped at 20 iterations, resumed to 30."""
    half = Trainer(preset="ring", overrides=TINY | {key: 0.9}, out_dir=tmp_path / "b", progress=False)
    half.fit(iterations=20)
    resumed = Trainer.resume(tmp_path / "b", progress=False)
    resumed.fit()
    return resumed


def test_average_follows_the_ramped_exponential_recurrence():
    layer = nn.Linear(1, 1, bias=False)
    avg = WeightAverage(layer, decay=0.5)
    want = layer.weight.detach().clone()
    for t, value in enumerate([1.0, 3.0, -2.0, 5.0], start=1):
        with torch.no_grad():
            layer.weight.fill_(value)
        avg.update()
        d = min(0.5, (1 + t) / (10 + t))
        want = d * want + (1 - d) * value
    assert torch.allclose(avg.shadow["weight"], want)
    with avg.swapped_in():
        assert torch.allclose(layer.weight, want)
        with avg.swapped_in():  # nested (sampling inside an evaluation): still the average
            assert torch.allclose(layer.weight, want)
        assert torch.allclose(layer.weight, want)
    assert float(layer.weight.detach()) == 5.0  # the module's own weights come back


def test_averaging_changes_evaluation_only_and_resumes(tmp_path):
    plain = Trainer(preset="ring", overrides=TINY, progress=False)
    plain.fit()
    averaged = Trainer(preset="ring", overrides=TINY | {"train.gen_ema": 0.9}, out_dir=tmp_path / "a",
                       progress=False)  # fmt: skip
    averaged.fit()
    for a, b in zip(plain.method.generator.parameters(), averaged.method.generator.parameters(), strict=True):
        assert torch.equal(a, b)  # the same training trajectory
    assert [r["loss_gen"] for r in plain.history] == [r["loss_gen"] for r in averaged.history]
    assert not torch.equal(plain.sample(500), averaged.sample(500))  # samples from the average

    resumed = _stopped_and_resumed(tmp_path, "train.gen_ema")
    assert resumed.average.updates == 30
    for k, v in averaged.average.shadow.items():
        assert torch.allclose(v, resumed.average.shadow[k])


@pytest.mark.parametrize("value", [-0.1, 1.0])
def test_decay_outside_the_unit_interval_is_refused(value):
    with pytest.raises(LBTError, match="train.gen_ema"):
        Trainer(preset="ring", overrides={"train.gen_ema": value}, progress=False)


def test_teacher_average_changes_evaluation_only_and_resumes(tmp_path):
    """``train.est_ema``: the teacher's training is untouched, its scores come from the average."""
    plain = Trainer(preset="ring", overrides=TINY, progress=False)
    plain.fit()
    averaged = Trainer(preset="ring", overrides=TINY | {"train.est_ema": 0.9}, progress=False)
    averaged.fit()
    for a, b in zip(plain.method.parameters(), averaged.method.parameters(), strict=True):
        assert torch.equal(a, b)  # generator and teacher: the same trajectory
    x = plain.data_fn(500)
    with torch.no_grad():
        own = averaged.method.estimator(x)
        with averaged.averaged():
            mean = averaged.method.estimator(x)
        assert torch.equal(averaged.method.estimator(x), own)  # its own weights come back
    assert not torch.allclose(mean, own)
    assert plain.history[-1]["elbo_data"] != averaged.history[-1]["elbo_data"]

    resumed = _stopped_and_resumed(tmp_path, "train.est_ema")
    assert resumed.est_average.updates == 30
    for k, v in averaged.est_average.shadow.items():
        assert torch.allclose(v, resumed.est_average.shadow[k])


def test_teacher_average_needs_a_teacher():
    with pytest.raises(LBTError, match="train.est_ema"):
        Trainer(preset="ring", overrides={"train.method": "gan", "train.est_ema": 0.9}, progress=False)

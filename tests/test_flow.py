"""The normalizing-flow teacher (zuko): ``model.estimator=flow`` and a user's own zuko flow.

zuko flows are lazy: ``flow()`` builds a Distribution that runs the flow's modules later, so the
teacher must evaluate ``log_prob`` *inside* the call that ``torch.func.functional_call`` wraps, or
the hypergradient would silently see the module's own parameters instead of ``phi``.
"""

import json

import pytest
import torch
import zuko
from torch import nn
from torch.func import functional_call

from lbt import Trainer, config
from lbt.methods import ESTIMATORS, build_method
from lbt.models import TeacherModule, as_estimator
from lbt.models.teachers.flow import FlowTeacher


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _perturbed(module, scale=0.3):
    return {k: v.detach() + scale * torch.randn_like(v) for k, v in module.named_parameters()}


@pytest.mark.parametrize("kind", ["nsf", "maf"])
def test_flow_log_prob_under_functional_call_equals_plain_call(kind):
    torch.manual_seed(0)
    teacher = FlowTeacher(2, kind, transforms=2, hidden=16)
    x = torch.randn(9, 2)
    phi = {k: v.requires_grad_(True) for k, v in _perturbed(teacher).items()}
    got = functional_call(teacher, phi, (x,))
    assert got.shape == (9,)
    assert not torch.allclose(got, teacher(x))  # phi really is another point
    grads = torch.autograd.grad(got.sum(), list(phi.values()), allow_unused=True)
    assert all(g is not None for g in grads)  # every parameter is differentiated, lazily built or not
    teacher.load_state_dict(phi, strict=False)
    assert torch.allclose(got, teacher(x), atol=1e-6)
    assert teacher.sample(5).shape == (5, 2)


def test_flow_is_an_estimator_choice():
    cfg = config.build("ring-flow", {"model.flow_kind": "maf", "model.flow_transforms": 2})
    est = ESTIMATORS["flow"](cfg, 2)
    assert isinstance(est, FlowTeacher) and isinstance(est.flow, zuko.flows.MAF)
    assert len(est.flow.transform.transforms) == 2
    assert config.choices("model.estimator") and "flow" in config.choices("model.estimator")


class DistributionModule(nn.Module):
    """A user's density model in zuko's style: ``forward()`` returns a Distribution."""

    def __init__(self):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(2))
        self.log_scale = nn.Parameter(torch.zeros(2))

    def forward(self):
        base = torch.distributions.Normal(self.loc, self.log_scale.exp())
        return torch.distributions.Independent(base, 1)


def test_distribution_module_is_adapted():
    user = DistributionModule()
    est = as_estimator(user)
    assert isinstance(est, TeacherModule)
    x = torch.randn(6, 2)
    assert torch.allclose(est(x), user().log_prob(x))
    phi = {"inner.loc": torch.tensor([1.0, -1.0]), "inner.log_scale": torch.tensor([0.5, 0.0])}
    want = torch.distributions.Independent(
        torch.distributions.Normal(phi["inner.loc"], phi["inner.log_scale"].exp()), 1
    )
    assert torch.allclose(functional_call(est, phi, (x,)), want.log_prob(x))
    assert est.sample(4).shape == (4, 2)


def test_users_zuko_flow_trains_through_python_api(one_thread):
    torch.manual_seed(0)
    flow = zuko.flows.NSF(2, transforms=2, hidden_features=(16, 16))
    before = {k: v.detach().clone() for k, v in flow.named_parameters()}
    fast = {"train.iterations": 5, "eval.every": 5, "eval.samples": 2000, "eval.train_samples": 500,
            "train.batch_size": 64, "train.gen_batch_size": 64, "lbt.est_lr": 3e-3}  # fmt: skip
    trainer = Trainer(preset="ring", overrides=fast, estimator=flow, progress=False)
    gen_before = [p.detach().clone() for p in trainer.method.generator.parameters()]
    metrics = trainer.fit()
    assert metrics["iterations"] == 5
    est = trainer.method.estimator
    assert isinstance(est, TeacherModule) and est.inner is flow  # adapted, not copied
    changed = [k for k, v in flow.named_parameters() if not torch.equal(v, before[k])]
    assert len(changed) == len(before)  # the teacher was fitted ...
    gen_after = list(trainer.method.generator.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(gen_before, gen_after, strict=True))  # ... and taught
    x = torch.randn(8, 2)
    assert torch.allclose(est(x), flow().log_prob(x))


@pytest.mark.parametrize("hypergrad", ["unrolled", "implicit"])
def test_hypergradient_reaches_generator_through_flow(hypergrad, one_thread):
    cfg = config.build("ring-flow", {"lbt.hypergrad": hypergrad, "model.flow_hidden": 16,
                                     "train.gen_batch_size": 64, "train.batch_size": 64})  # fmt: skip
    torch.manual_seed(0)
    m = build_method(cfg, 2)
    surrogate, loss = m.teach(torch.randn(64, 2))
    grads = torch.autograd.grad(surrogate, list(m.generator.parameters()))
    assert torch.isfinite(loss) and sum(float(g.norm()) for g in grads) > 0


def test_cli_ring_flow_writes_run_directory(cli, tmp_path):
    out = tmp_path / "flow"
    res = cli("train", "--preset", "ring-flow", "--iterations", "20", "--out", str(out),
              "--set", "eval.every=10", "--set", "eval.samples=2000", "--set", "eval.train_samples=500",
              "--no-progress")  # fmt: skip
    assert res.returncode == 0, res.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["iterations"] == 20 and metrics["modes_total"] == 8
    assert (out / "checkpoint.pt").is_file() and (out / "history.csv").is_file()
    assert "estimator: flow" in (out / "config.yaml").read_text()

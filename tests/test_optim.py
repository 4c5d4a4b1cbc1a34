"""The pure optimizers agree with torch.optim when no graph is kept."""

import pytest
import torch
from torch import Tensor

from lbt.errors import LBTError
from lbt.optim import adam, clip_by_global_norm, sgd


def _problem(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    params = {"w": torch.randn(5, 3, generator=g, dtype=torch.float64),
              "b": torch.randn(3, generator=g, dtype=torch.float64)}  # fmt: skip
    target = torch.randn(7, 3, generator=g, dtype=torch.float64)
    x = torch.randn(7, 5, generator=g, dtype=torch.float64)

    def loss(p):
        return ((x @ p["w"] + p["b"] - target) ** 2).mean() + (p["w"] ** 4).sum() * 0.01

    return params, loss


def _compare(pure, torch_opt_cls, steps: int = 25, **kw):
    params, loss = _problem()
    ref = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    opt = torch_opt_cls(list(ref.values()), **kw)
    mine = {k: v.clone() for k, v in params.items()}
    state = pure.init(mine)
    for _ in range(steps):
        opt.zero_grad()
        loss(ref).backward()
        opt.step()
        p = {k: v.clone().requires_grad_(True) for k, v in mine.items()}
        grads = dict(zip(p, torch.autograd.grad(loss(p), list(p.values())), strict=True))
        mine, state = pure.update(grads, state, {k: v.detach() for k, v in p.items()}, 1.0)
    for k in params:
        torch.testing.assert_close(mine[k], ref[k].detach(), rtol=1e-10, atol=1e-12)


def test_sgd_matches_torch():
    _compare(sgd(0.05), torch.optim.SGD, lr=0.05)


@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.5, 0.999)])
def test_adam_torch_form_matches_torch(betas):
    _compare(
        adam(0.01, *betas, 1e-8, eps_inside_sqrt=False), torch.optim.Adam, lr=0.01, betas=betas, eps=1e-8
    )


def test_adam_official_form_equals_torch_form_without_eps():
    # With eps = 0 the official form m_t * sqrt(1-b2^t)/(1-b1^t) / sqrt(v) is algebraically torch's.
    _compare(
        adam(0.01, 0.5, 0.999, 0.0, eps_inside_sqrt=True),
        torch.optim.Adam,
        lr=0.01,
        betas=(0.5, 0.999),
        eps=0.0,
    )


def test_adam_official_form_differs_with_eps_inside_sqrt():
    # Guard against the option being ignored: with a large eps the two placements must differ.
    params, loss = _problem()
    outs = []
    for inside in (True, False):
        opt = adam(0.1, 0.5, 0.999, 1.0, eps_inside_sqrt=inside)
        p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        grads = dict(zip(p, torch.autograd.grad(loss(p), list(p.values())), strict=True))
        outs.append(opt.update(grads, opt.init(params), params, 1.0)[0]["w"])
    assert not torch.allclose(outs[0], outs[1])


def test_update_is_pure():
    params, loss = _problem()
    before = {k: v.clone() for k, v in params.items()}
    opt = adam(0.1)
    state = opt.init(params)
    state_before = {k: v.clone() for k, v in state.items()}
    p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    grads = dict(zip(p, torch.autograd.grad(loss(p), list(p.values())), strict=True))
    opt.update(grads, state, params, 1.0)
    for k in params:
        assert torch.equal(params[k], before[k])
    for k in state:
        assert torch.equal(state[k], state_before[k])


def test_clip_by_global_norm():
    g = {"a": torch.tensor([3.0, 0.0]), "b": torch.tensor([4.0])}
    clipped, norm = clip_by_global_norm(g, 1.0)
    assert float(norm) == pytest.approx(5.0)
    total = torch.sqrt(sum((v**2).sum() for v in clipped.values()))
    assert float(total) == pytest.approx(1.0)
    unclipped, _ = clip_by_global_norm(g, 10.0)
    assert torch.equal(unclipped["a"], g["a"])


@pytest.mark.parametrize("method", ["lbt", "lbt-gan"])
def test_lbt_adam_eps_reaches_the_inner_optimizer(method: str) -> None:
    """``lbt.adam_eps`` (not ``train.eps``) sets the unrolled Adam's eps, inside the square root."""
    from lbt import config
    from lbt.methods import build_method

    lr, eps = 1e-3, 0.25
    cfg = config.build("ring", {"train.method": method, "lbt.est_lr": lr, "lbt.adam_eps": eps})
    inner = build_method(cfg, 2).inner
    p, g = {"w": torch.zeros(3)}, {"w": torch.tensor([1.0, 1e-3, 0.0])}
    new, _ = inner.update(g, inner.init(p), p)
    b1, b2 = cfg.train.beta1, cfg.train.beta2
    m, v = (1 - b1) * g["w"], (1 - b2) * g["w"] ** 2
    expected = -lr * (1 - b2) ** 0.5 / (1 - b1) * m / torch.sqrt(v + eps)
    torch.testing.assert_close(new["w"], expected)
    # with the default (official) eps a unit gradient gets a step of about lr, not lr / 16
    dcfg = config.build("ring", {"train.method": method})
    default = build_method(dcfg, 2).inner
    step = default.update({"w": torch.ones(1)}, default.init({"w": torch.zeros(1)}), {"w": torch.zeros(1)})[0]
    assert float(step["w"]) == pytest.approx(-dcfg.lbt.est_lr, rel=1e-3)


@pytest.mark.parametrize("method", ["lbt", "lbt-gan"])
def test_fit_adam_eps_changes_the_fit_and_not_the_unroll(method: str) -> None:
    """``lbt.fit_adam_eps`` sets the epsilon of the teacher's ordinary updates only: the unrolled
    steps keep ``lbt.adam_eps``, and 0 (the default) means the same as ``adam_eps``."""
    from lbt import config
    from lbt.methods import build_method

    base = {"train.method": method, "lbt.adam_eps": 0.25}
    g, p = {"w": torch.tensor([1.0, 1e-3, 0.0])}, {"w": torch.zeros(3)}

    def steps(m) -> tuple[Tensor, Tensor]:
        return tuple(opt.update(g, opt.init(p), p)[0]["w"] for opt in (m.inner, m.fit_opt))

    unroll, fit = steps(build_method(config.build("ring", {**base, "lbt.fit_adam_eps": 1e-8}), 2))
    same_unroll, same_fit = steps(build_method(config.build("ring", base), 2))
    assert torch.equal(unroll, same_unroll) and torch.equal(same_fit, same_unroll)
    assert abs(float(fit[1])) > 10 * abs(float(unroll[1]))  # a small gradient's step is no longer capped
    with pytest.raises(LBTError, match="lbt.fit_adam_eps"):
        config.build("ring", {**base, "lbt.fit_adam_eps": -1.0})

    def run(extra: dict) -> tuple[float, list[Tensor]]:  # the teaching loss, then E after one fit
        torch.manual_seed(0)
        m = build_method(config.build("ring", {**base, **extra}), 2)
        x = torch.randn(64, 2)
        torch.manual_seed(1)
        loss = float(m.teach(x)[1])
        torch.manual_seed(2)
        m.update_estimator()
        return loss, [q.detach().clone() for q in m.estimator.parameters()]

    (loss_a, est_a), (loss_b, est_b) = run({}), run({"lbt.fit_adam_eps": 1e-8})
    assert loss_a == loss_b and not all(torch.equal(a, b) for a, b in zip(est_a, est_b, strict=True))


@pytest.mark.parametrize("inside", [True, False])
def test_adam_without_a_graph_is_bitwise_the_graph_formula(inside):
    # Ordinary steps (no_grad) take a buffer-reusing path; it must not change a single bit, nor
    # touch its inputs (optimizer states are pure values: rollbacks keep references to them).
    gen = torch.Generator().manual_seed(3)
    params = {"w": torch.randn(64, 33, generator=gen), "b": torch.randn(33, generator=gen)}
    opt = adam(1e-3, 0.5, 0.999, 1e-3 if inside else 1e-8, eps_inside_sqrt=inside)
    graph, lean = (dict(params), opt.init(params)), (dict(params), opt.init(params))
    for _ in range(5):
        grads = {k: torch.randn(v.shape, generator=gen) * 1e-2 for k, v in params.items()}
        graph = opt.update(grads, graph[1], graph[0], 0.7)
        before = {k: v.clone() for k, v in {**lean[0], **lean[1]}.items()}
        with torch.no_grad():
            new = opt.update(grads, lean[1], lean[0], 0.7)
        assert all(torch.equal(v, before[k]) for k, v in {**lean[0], **lean[1]}.items())
        lean = new
    for a, b in zip(graph, lean, strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

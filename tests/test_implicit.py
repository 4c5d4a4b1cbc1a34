"""The implicit (influence-function) hypergradient, ``lbt.hypergrad=implicit``.

On a strongly convex lower level whose optimum is known in closed form (a Gaussian teacher fitted
to a linear generator's samples: the sample mean and standard deviation) it must equal the exact
hypergradient, and the unrolled one must approach it as K grows. On the VAE it must point the same
way as the unrolled one; its graph must not grow with K; and the CLI must run it end to end.
"""

import json

import pytest
import torch
from torch import nn
from torch.func import functional_call

from lbt import config
from lbt.errors import LBTError
from lbt.hypergrad import HYPERGRADIENTS, TeachingProblem, hypergrad_options, implicit, unrolled
from lbt.hypergrad.implicit import conjugate_gradient, neumann
from lbt.methods import build_method
from lbt.models import VAE, GaussianEstimator, KDETeacher
from lbt.optim import adam, sgd
from lbt.unroll import functional_loss, params_of

D = torch.float64


def _gaussian_setup(seed=0):
    torch.manual_seed(seed)
    gen = nn.Linear(3, 2).double()
    est = GaussianEstimator(2).double()
    z = torch.randn(64, 3, dtype=D)
    x_data = torch.randn(128, 2, dtype=D) * 0.7 + torch.tensor([1.0, -0.5], dtype=D)
    theta = {n: p.detach().clone().requires_grad_(True) for n, p in gen.named_parameters()}
    return gen, est, z, x_data, theta


def _exact(gen, est, z, x_data, theta):
    """d/dtheta of -mean log N(x_data; phi*(theta)) with phi* the Gaussian MLE of G(z; theta)."""
    x = functional_call(gen, theta, (z,))
    phi = {"mean": x.mean(0), "log_std": 0.5 * torch.log(x.var(0, unbiased=False))}
    value = -functional_call(est, phi, (x_data,)).mean()
    return torch.autograd.grad(value, list(theta.values()))


def _strategy_grad(strategy, gen, est, z, x_data, theta, steps, options=None, inner=None):
    inner = inner or sgd(0.3)
    phi0 = params_of(est)  # mean 0, log_std 0: far from the optimum, K steps must get there
    problem = TeachingProblem(
        functional_loss(est, lambda lp: -lp.mean()), phi0, inner.init(phi0), inner,
        lambda k: functional_call(gen, theta, (z,)), steps, options or {},
    )  # fmt: skip
    surrogate, loss = strategy(problem, x_data)
    return torch.autograd.grad(surrogate, list(theta.values())), loss


def _err(a, b):
    num = sum(float((x - y).norm() ** 2) for x, y in zip(a, b, strict=True)) ** 0.5
    return num / sum(float(y.norm() ** 2) for y in b) ** 0.5


@pytest.mark.parametrize(
    "options",
    [
        {"implicit_solver": "cg", "implicit_iters": 10},
        {"implicit_solver": "neumann", "implicit_iters": 300, "implicit_alpha": 0.2},
    ],
    ids=["cg", "neumann"],
)
def test_implicit_matches_exact_on_strongly_convex_teacher(options):
    gen, est, z, x_data, theta = _gaussian_setup()
    exact = _exact(gen, est, z, x_data, theta)
    got, loss = _strategy_grad(implicit, gen, est, z, x_data, theta, steps=200, options=options)
    assert _err(got, exact) < 1e-6
    x = functional_call(gen, theta, (z,)).detach()
    phi = {"mean": x.mean(0), "log_std": 0.5 * torch.log(x.var(0, unbiased=False))}
    assert float(loss) == pytest.approx(float(-functional_call(est, phi, (x_data,)).mean()), rel=1e-9)


def test_unrolled_approaches_implicit_as_k_grows():
    gen, est, z, x_data, theta = _gaussian_setup(1)
    exact = _exact(gen, est, z, x_data, theta)
    errors = [
        _err(_strategy_grad(unrolled, gen, est, z, x_data, theta, k)[0], exact) for k in (2, 5, 10, 20, 60)
    ]
    assert errors[0] > 0.1  # a short unroll is a different (biased) gradient ...
    assert all(b < a for a, b in zip(errors, errors[1:], strict=False))  # ... that converges
    assert errors[-1] < 1e-9
    # and implicit differentiation is only right once phi_K is (near) the optimum
    early = _err(_strategy_grad(implicit, gen, est, z, x_data, theta, 2)[0], exact)
    late = _err(_strategy_grad(implicit, gen, est, z, x_data, theta, 60)[0], exact)
    assert early > 1e-3 and late < 1e-6


def test_solvers_solve_spd_systems_and_stop_at_negative_curvature():
    torch.manual_seed(0)
    a = torch.randn(6, 6, dtype=D)
    spd = a @ a.T + 0.5 * torch.eye(6, dtype=D)
    v = {"w": torch.randn(6, dtype=D)}
    want = torch.linalg.solve(spd, v["w"])
    hvp = lambda p: {"w": spd @ p["w"]}  # noqa: E731
    assert torch.allclose(conjugate_gradient(hvp, v, 6)["w"], want, atol=1e-8)
    alpha = 1.0 / float(torch.linalg.eigvalsh(spd).max())
    assert torch.allclose(neumann(hvp, v, 3000, alpha)["w"], want, atol=1e-6)
    neg = {"w": -v["w"]}  # H = -I: no minimum along v, the first step is the fallback
    out = conjugate_gradient(lambda p: {"w": -p["w"]}, neg, 5, fallback_step=0.01)
    assert torch.allclose(out["w"], 0.01 * neg["w"])


def test_warm_started_cg_refines_the_previous_solution():
    torch.manual_seed(1)
    a = torch.randn(8, 8, dtype=D)
    spd = a @ a.T / 8 + torch.eye(8, dtype=D)  # well conditioned: restarts converge fast
    v = {"w": torch.randn(8, dtype=D)}
    want = torch.linalg.solve(spd, v["w"])
    calls = []

    def hvp(p):
        calls.append(1)
        return {"w": spd @ p["w"]}

    # From the answer: one product (its residual) and nothing else to do.
    assert torch.allclose(conjugate_gradient(hvp, v, 5, u0={"w": want})["w"], want, atol=1e-10)
    assert len(calls) == 1
    # Two products at a time, each solve starting from the last: it converges where two
    # products from zero stay far off.
    cold = conjugate_gradient(hvp, v, 2)["w"]
    u = None
    for _ in range(12):
        u = conjugate_gradient(hvp, v, 2, u0=u)
    assert float((u["w"] - want).norm()) < 1e-6 * float(want.norm())
    assert float((cold - want).norm()) > 1e-2 * float(want.norm())
    # Negative curvature at the first direction: the warm start is kept, not the fallback.
    u0 = {"w": torch.ones(8, dtype=D)}
    out = conjugate_gradient(lambda p: {"w": -p["w"]}, v, 5, u0=u0)
    assert torch.equal(out["w"], u0["w"])


def test_implicit_warm_start_converges_across_updates_with_one_product():
    gen, est, z, x_data, theta = _gaussian_setup()
    exact = _exact(gen, est, z, x_data, theta)
    inner = sgd(0.3)
    options = {"implicit_solver": "cg", "implicit_iters": 1, "implicit_warm_start": True}
    problem = TeachingProblem(
        functional_loss(est, lambda lp: -lp.mean()), params_of(est), inner.init(params_of(est)),
        inner, lambda k: functional_call(gen, theta, (z,)), 200, options,
    )  # fmt: skip
    errors = []
    for _ in range(12):
        grads = torch.autograd.grad(implicit(problem, x_data).surrogate, list(theta.values()))
        errors.append(_err(grads, exact))
    assert set(problem.carry) == {"mean", "log_std"}  # the solution is carried in place
    assert errors[0] > 0.1  # one product from zero is far off ...
    assert all(b < a for a, b in zip(errors, errors[1:], strict=False))
    assert errors[-1] < 1e-5  # ... one product per update from the last solution is not
    with pytest.raises(LBTError, match="implicit_solver=cg"):
        implicit(TeachingProblem(problem.loss, problem.phi0, problem.state, inner, problem.gen_batch,
                                 2, {**options, "implicit_solver": "neumann"}), x_data)  # fmt: skip


def test_warm_start_is_dropped_where_the_teacher_is_not_convex():
    # A fixed indefinite "Hessian" (one negative eigenvalue), as a VAE teacher's can be: a solve
    # that ends on the non-convex side is not carried, so the next one starts from zero.
    h = torch.diag(torch.tensor([2.0, 1.0, -0.5], dtype=D))
    phi = {"w": torch.zeros(3, dtype=D, requires_grad=True)}
    target = torch.tensor([-0.1, -0.1, 1.0], dtype=D)  # v = -target: mostly the negative direction

    def loss(p, x):  # f_G and f_E alike: a quadratic in phi (f_E depends on x, i.e. on theta)
        w = p["w"]
        return 0.5 * w @ h @ w - (x.mean(0) if x.dim() > 1 else x) @ w

    theta = target.clone().requires_grad_(True)
    inner = sgd(0.0)  # phi_K = phi_0: the point where the system is solved
    options = {"implicit_solver": "cg", "implicit_iters": 3, "implicit_warm_start": True}
    problem = TeachingProblem(loss, phi, inner.init(phi), inner, lambda k: theta.unsqueeze(0), 1, options)
    implicit(problem, target)
    assert problem.carry == {}  # CG met the negative direction: nothing worth carrying
    h = torch.diag(torch.tensor([2.0, 1.0, 0.5], dtype=D))  # convex: the solution is carried
    implicit(problem, target)
    assert set(problem.carry) == {"w"}


def test_method_keeps_and_checkpoints_the_warm_start():
    cfg = config.build("ring-implicit", {"lbt.implicit_warm_start": True, "lbt.implicit_iters": 2})
    torch.manual_seed(0)
    m = build_method(cfg, 2)
    data = lambda n: torch.randn(n, 2)  # noqa: E731
    m.step(data)
    carry = m.optimizer_states()["hypergrad_carry"]
    assert carry and set(carry) == set(dict(m.estimator.named_parameters()))
    torch.manual_seed(1)
    fresh = build_method(cfg, 2)
    assert fresh.optimizer_states()["hypergrad_carry"] == {}
    fresh.load_state_dict(m.state_dict())
    fresh.load_optimizer_states({k: {n: t.clone() for n, t in s.items()}
                                 for k, s in m.optimizer_states().items()})  # fmt: skip
    assert all(torch.equal(fresh.hypergrad_carry[k], carry[k]) for k in carry)
    # A resumed run continues exactly: the next update starts from the same carried solution.
    logs = []
    for method in (m, fresh):
        torch.manual_seed(2)
        logs.append(method.step(data))
    assert logs[0] == logs[1]


def _vae_method(hypergrad):
    # A small VAE with a wider decoder variance than the paper's 1e-3: its one-sample ELBO is then
    # far less noisy, so one fixed-seed comparison says something about the two estimators.
    cfg = config.build("ring", {"model.estimator": "vae", "model.est_hidden": 32, "model.vae_latent": 4,
                                "model.vae_x_var": 0.05, "lbt.hypergrad": hypergrad,
                                "lbt.implicit_damping": 1.0, "train.gen_batch_size": 512,
                                "train.batch_size": 512, "lbt.est_lr": 1e-3})  # fmt: skip
    torch.manual_seed(0)
    return build_method(cfg, 2)


@pytest.fixture
def one_thread():
    """Tiny ops: one thread is fastest, and immune to a loaded 2-core machine (10x otherwise)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_vae_unrolled_and_implicit_directions_agree(one_thread):
    torch.manual_seed(0)
    x_data = torch.randn(512, 2) * 0.1 + torch.tensor([1.0, 0.0])
    un, im = _vae_method("unrolled"), _vae_method("implicit")
    torch.manual_seed(1)
    for _ in range(20):  # fit the teacher a little, so phi_K is nearer a (local) fit
        un.update_estimator()
    im.load_state_dict(un.state_dict())
    im.inner_state = {k: v.clone() for k, v in un.inner_state.items()}
    grads = []
    for m in (un, im):
        torch.manual_seed(2)
        surrogate, _ = m.teach(x_data)
        grads.append(torch.autograd.grad(surrogate, list(m.generator.parameters())))
    dot = sum(float((a * b).sum()) for a, b in zip(*grads, strict=True))
    norms = [sum(float(g.norm() ** 2) for g in gs) ** 0.5 for gs in grads]
    assert min(norms) > 0
    assert dot / (norms[0] * norms[1]) > 0.2  # 0.38 here; unrolled vs itself on another seed: 0.76


def _graph_size(t):
    seen, stack = set(), [t.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        stack.extend(f for f, _ in fn.next_functions)
    return len(seen)


def test_implicit_graph_does_not_grow_with_k():
    gen, est, z, x_data, theta = _gaussian_setup()
    sizes = {}
    for name, strategy in (("implicit", implicit), ("unrolled", unrolled)):
        for k in (1, 8):
            phi0 = params_of(est)
            inner = adam(0.05)
            problem = TeachingProblem(
                functional_loss(est, lambda lp: -lp.mean()), phi0, inner.init(phi0), inner,
                lambda _k: functional_call(gen, theta, (z,)), k,
            )  # fmt: skip
            sizes[name, k] = _graph_size(strategy(problem, x_data).surrogate)
    assert sizes["implicit", 1] == sizes["implicit", 8]
    assert sizes["unrolled", 8] > 3 * sizes["unrolled", 1]  # the contrast this guards


def test_options_reach_the_problem_and_closed_form_teachers():
    cfg = config.build("ring-implicit", {"lbt.implicit_iters": 7, "lbt.implicit_solver": "neumann"})
    for method in ("lbt", "lbt-gan"):
        cfg.train.method = method
        m = build_method(cfg, 2)
        assert m.hypergrad is HYPERGRADIENTS["implicit"] is implicit
        assert m.hypergrad_options == hypergrad_options(cfg)
        assert m.hypergrad_options["implicit_iters"] == 7
        assert m.hypergrad_options["implicit_solver"] == "neumann"
    # A kernel density is fitted in closed form: implicit is the exact backprop through the fit.
    torch.manual_seed(0)
    gen = nn.Linear(3, 2)
    z, x_data = torch.randn(32, 3), torch.randn(16, 2)
    kde = KDETeacher(2, 0.3)
    nll = functional_loss(kde, lambda lp: -lp.mean())
    out = []
    for strategy in (implicit, unrolled):
        bound = lambda p, x: nll({"centres": gen(z), **p}, x)  # noqa: E731
        problem = TeachingProblem(bound, {}, {}, sgd(0.1), lambda k: gen(z), 0)
        out.append(torch.autograd.grad(strategy(problem, x_data).surrogate, list(gen.parameters())))
    assert _err(out[0], out[1]) < 1e-12
    # Parameters fitted by K = 0 steps have no stationarity to differentiate: a clear error.
    est = VAE(2, 4, 8)
    phi0 = params_of(est)
    problem = TeachingProblem(functional_loss(est, lambda lp: -lp.mean()), phi0, {}, sgd(0.1),
                              lambda k: gen(z), 0)  # fmt: skip
    with pytest.raises(LBTError, match="unroll_steps >= 1"):
        implicit(problem, x_data)


def test_cli_ring_implicit_writes_run_directory(cli, tmp_path):
    out = tmp_path / "imp"
    res = cli("train", "--preset", "ring-implicit", "--iterations", "20", "--out", str(out),
              "--set", "eval.every=10", "--set", "eval.samples=2000", "--set", "eval.train_samples=500",
              "--no-progress")  # fmt: skip
    assert res.returncode == 0, res.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["iterations"] == 20
    assert (out / "checkpoint.pt").is_file() and (out / "history.csv").is_file()
    assert "hypergrad: implicit" in (out / "config.yaml").read_text()

"""The unrolled hypergradient d/dtheta [-mean log p_E(x; phi_K(theta))] equals finite differences.

Everything is float64 and deterministic (fixed latent batches, an exact mixture estimator), so
autograd through K differentiable optimizer steps must agree with central differences of the
same function to many digits.
"""

import pytest
import torch
from torch import nn
from torch.func import functional_call

from lbt.models import VAE, MixtureEstimator
from lbt.optim import adam, sgd
from lbt.unroll import functional_loss, params_of, unroll

D = torch.float64


def _setup(seed=0):
    torch.manual_seed(seed)
    gen = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    est = MixtureEstimator(2, components=3).double()
    zs = [torch.randn(16, 3, dtype=D) for _ in range(5)]
    x_data = torch.randn(32, 2, dtype=D) * 0.5 + 1.0
    return gen, est, zs, x_data


def _objective(gen, est, zs, x_data, optimizer, k, theta):
    nll = functional_loss(est, lambda lp: -lp.mean())
    phi0 = params_of(est)

    def sample(i):
        return functional_call(gen, theta, (zs[i],))

    phi_k, _, _ = unroll(nll, phi0, optimizer.init(phi0), optimizer, sample, k, create_graph=True)
    return nll(phi_k, x_data)


OPTIMIZERS = {
    "sgd": lambda: sgd(0.2),
    "adam-official-full": lambda: adam(0.05, 0.5, 0.999, 1e-8, differentiate_second_moment=True),
    "adam-torch-full": lambda: adam(
        0.05, 0.9, 0.999, 1e-8, eps_inside_sqrt=False, differentiate_second_moment=True
    ),
}


@pytest.mark.parametrize("k", [1, 5])
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_hypergradient_matches_central_differences(opt_name, k):
    gen, est, zs, x_data = _setup()
    opt = OPTIMIZERS[opt_name]()
    theta = {n: p.detach().clone().requires_grad_(True) for n, p in gen.named_parameters()}
    value = _objective(gen, est, zs, x_data, opt, k, theta)
    grads = torch.autograd.grad(value, list(theta.values()))
    h = 1e-6
    for (name, p), g in zip(theta.items(), grads, strict=True):
        flat = p.detach().flatten()
        for i in range(flat.numel()):
            plus = {n: v.detach().clone() for n, v in theta.items()}
            minus = {n: v.detach().clone() for n, v in theta.items()}
            plus[name].view(-1)[i] += h
            minus[name].view(-1)[i] -= h
            with torch.no_grad():
                fd = (
                    _objective(gen, est, zs, x_data, opt, k, plus)
                    - _objective(gen, est, zs, x_data, opt, k, minus)
                ) / (2 * h)
            assert float(g.flatten()[i]) == pytest.approx(float(fd), rel=1e-5, abs=1e-8), (name, i)


def test_hypergradient_is_nonzero_and_depends_on_k():
    gen, est, zs, x_data = _setup()
    theta = {n: p.detach().clone().requires_grad_(True) for n, p in gen.named_parameters()}
    g1 = torch.autograd.grad(_objective(gen, est, zs, x_data, sgd(0.2), 1, theta), list(theta.values()))
    g5 = torch.autograd.grad(_objective(gen, est, zs, x_data, sgd(0.2), 5, theta), list(theta.values()))
    n1 = torch.sqrt(sum((g**2).sum() for g in g1))
    assert n1 > 1e-4
    assert not all(torch.allclose(a, b) for a, b in zip(g1, g5, strict=True))


def test_stop_gradient_second_moment_changes_hypergradient_not_value():
    # The official Adam stops the gradient through v: same phi_K, different (cheaper) hypergradient.
    gen, est, zs, x_data = _setup()
    theta = {n: p.detach().clone().requires_grad_(True) for n, p in gen.named_parameters()}
    full = adam(0.05, 0.5, 0.999, 1e-8, differentiate_second_moment=True)
    stop = adam(0.05, 0.5, 0.999, 1e-8, differentiate_second_moment=False)
    v_full = _objective(gen, est, zs, x_data, full, 3, theta)
    v_stop = _objective(gen, est, zs, x_data, stop, 3, theta)
    assert v_full.item() == pytest.approx(v_stop.item(), rel=1e-12)
    g_full = torch.autograd.grad(v_full, list(theta.values()))
    g_stop = torch.autograd.grad(v_stop, list(theta.values()))
    assert not all(torch.allclose(a, b) for a, b in zip(g_full, g_stop, strict=True))


def test_unroll_without_graph_cuts_generator_gradient():
    gen, est, zs, _ = _setup()
    nll = functional_loss(est, lambda lp: -lp.mean())
    phi0 = params_of(est)
    opt = sgd(0.1)
    phi, _, _ = unroll(nll, phi0, opt.init(phi0), opt, lambda i: gen(zs[i]), 2, create_graph=False)
    assert all(v.grad_fn is None for v in phi.values())


def test_vae_unroll_reaches_generator():
    torch.manual_seed(1)
    gen = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    vae = VAE(2, latent=2, hidden=8).double()
    nll = functional_loss(vae, lambda lp: -lp.mean())
    phi0 = params_of(vae)
    opt = adam(1e-3, 0.5)
    phi, _, _ = unroll(nll, phi0, opt.init(phi0), opt, lambda i: gen(torch.randn(8, 3, dtype=D)), 3)
    loss = nll(phi, torch.randn(8, 2, dtype=D))
    grads = torch.autograd.grad(loss, list(gen.parameters()))
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0

"""Learning by Teaching (paper Algorithm 1).

Per iteration: ``n_est`` ordinary estimator updates on generator samples (no graph kept), then
one generator update on ``-E_data log p_E(x; phi_K(theta))`` where ``phi_K`` is the estimator
after K unrolled, differentiable optimizer steps on fresh generator batches.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lbt.config import Config
from lbt.methods.base import DataFn, Method, outer_adam
from lbt.optim import Optimizer, Params, State, adam, sgd
from lbt.unroll import functional_loss, params_of, unroll


def _neg_mean(log_p: Tensor) -> Tensor:
    return -log_p.mean()


def inner_optimizer(kind: str, lr: float, b1: float, b2: float, eps: float, *,
                    eps_inside_sqrt: bool = True, second_moment_grad: bool = False) -> Optimizer:  # fmt: skip
    if kind == "sgd":
        return sgd(lr)
    return adam(lr, b1, b2, eps, eps_inside_sqrt=eps_inside_sqrt,
                differentiate_second_moment=second_moment_grad)  # fmt: skip


def inner_from_config(cfg: Config) -> Optimizer:
    """The estimator's (unrolled) optimizer as ``cfg.lbt`` describes it."""
    lb, t = cfg.lbt, cfg.train
    return inner_optimizer(lb.inner_optimizer, lb.est_lr, t.beta1, t.beta2, lb.adam_eps,
                           eps_inside_sqrt=lb.adam_eps_inside_sqrt,
                           second_moment_grad=lb.adam_second_moment_grad)  # fmt: skip


class LBT(Method):
    """The generator teaches ``estimator`` (any module whose forward is a per-sample log-density)."""

    name = "lbt"

    def __init__(
        self,
        generator: nn.Module,
        estimator: nn.Module,
        *,
        unroll_steps: int = 5,
        n_est: int = 2,
        est_steps: int = 5,
        est_lr_mult: float = 3.0,
        inner: Optimizer | None = None,
        gen_lr: float = 1e-3,
        beta1: float = 0.5,
        beta2: float = 0.999,
        eps: float = 1e-8,
        clip_norm: float = 5.0,
        gen_batch_size: int = 512,
        batch_size: int = 512,
    ) -> None:
        super().__init__()
        self.generator = generator
        self.estimator = estimator
        self.unroll_steps = unroll_steps
        self.n_est = n_est
        self.est_steps = est_steps
        self.est_lr_mult = est_lr_mult
        self.gen_batch_size = gen_batch_size
        self.batch_size = batch_size
        self.inner = inner or adam(1e-4, beta1, beta2, eps)
        self.nll = functional_loss(estimator, _neg_mean)
        self.inner_state: State = self.inner.init(params_of(estimator))
        self.gen_opt = outer_adam(generator, gen_lr, beta1, beta2, eps, clip_norm)

    # -- the two halves of Algorithm 1 -------------------------------------------------------
    def _gen_batch(self, _k: int = 0) -> Tensor:
        return self.generator.sample(self.gen_batch_size)

    @torch.no_grad()
    def _write_estimator(self, phi: Params) -> None:
        for k, p in self.estimator.named_parameters():
            if k in phi:
                p.copy_(phi[k])

    def _phi0(self, differentiable: bool) -> Params:
        """E's starting point: its current parameters, or a re-fit from fresh generator samples
        for estimators that ask for it (``init_from_samples``)."""
        phi = params_of(self.estimator)
        if getattr(self.estimator, "init_from_samples", False):
            with torch.set_grad_enabled(differentiable):
                phi.update(self.estimator.initial_params(self._gen_batch()))
        return phi

    def update_estimator(self) -> float:
        """``n_est`` ordinary updates of E on generator samples; nothing is differentiated through."""
        loss = float("nan")
        for _ in range(self.n_est):
            phi, self.inner_state, losses = unroll(
                self.nll, self._phi0(False), self.inner_state, self.inner,
                self._detached_gen_batch, self.est_steps, create_graph=False,
                lr_scale=self.est_lr_mult,
            )  # fmt: skip
            self._write_estimator(phi)
            loss = losses[-1]
        return loss

    @torch.no_grad()
    def _detached_gen_batch(self, k: int) -> Tensor:
        return self._gen_batch(k)

    def teaching_loss(self, x_data: Tensor) -> Tensor:
        """``-mean log p_E(x_data; phi_K(theta))``, differentiable in the generator's parameters."""
        phi_k, _, _ = unroll(
            self.nll, self._phi0(True), self.inner_state, self.inner,
            self._gen_batch, self.unroll_steps, create_graph=True,
        )  # fmt: skip
        return self.nll(phi_k, x_data)

    def step(self, data: DataFn, lr_scale: float = 1.0) -> dict[str, float]:
        est_loss = self.update_estimator()
        loss = self.teaching_loss(data(self.batch_size))
        grad_norm = self.gen_opt.apply(self.gen_opt.grads_of(loss), lr_scale)
        return {"loss_est": est_loss, "loss_gen": float(loss.detach()), "grad_norm_gen": grad_norm}

    @torch.no_grad()
    def diagnostics(self, data: DataFn, n: int) -> dict[str, float]:
        """The estimator's mean log-likelihood (ELBO for a VAE) on generated and on real data."""
        return {
            "elbo_gen": float(self.estimator(self.generator.sample(n)).mean()),
            "elbo_data": float(self.estimator(data(n)).mean()),
        }

    def optimizer_states(self) -> dict[str, State]:
        return {"inner_state": self.inner_state, "gen_opt.state": self.gen_opt.state}

    def load_optimizer_states(self, states: dict[str, State]) -> None:
        self.inner_state = states["inner_state"]
        self.gen_opt.state = states["gen_opt.state"]

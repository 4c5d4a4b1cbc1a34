"""Learning by Teaching (paper Algorithm 1).

Per iteration: ``n_est`` ordinary teacher updates on generator samples (no graph kept), then one
generator update on ``-E_data log p_E(x; phi*(theta))`` where ``phi*`` is the teacher fitted to
fresh generator batches: K unrolled optimizer steps, a closed-form refit, or both. How the
gradient through ``phi*`` is taken is the hypergradient strategy (:mod:`lbt.hypergrad`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from lbt import distributed
from lbt.compiled import CompiledTeacher
from lbt.errors import LBTError
from lbt.hypergrad import HYPERGRADIENTS, TeachingProblem, hypergrad_options
from lbt.methods.base import DataFn, Method, OuterSettings, Submodule
from lbt.models import as_estimator, make_estimator, make_generator
from lbt.models.teachers import Calibrates, Refits, Scheduled, ViewsData
from lbt.optim import Optimizer, Params, State, adam, sgd
from lbt.unroll import InnerStep, Loss, functional_loss, params_of, unroll

if TYPE_CHECKING:
    from lbt.config import Config


@dataclasses.dataclass
class LBTConfig:
    """The ``lbt`` section: the teacher's inner steps, its fit, and the hypergradient."""

    unroll_steps: int = 5  # K
    n_est: int = 2  # estimator updates per iteration
    est_steps: int = 5  # optimizer steps per estimator update (official code: K)
    est_lr: float = 1e-4  # inner (unrolled) learning rate
    est_lr_mult: float = 3.0  # estimator-update lr = est_lr * this (official code: 3)
    inner_optimizer: str = "adam"  # adam | sgd
    # Inner Adam's epsilon (official code: 1e-8). Larger values cap the 1/sqrt(v) gain that the
    # hypergradient picks up on parameters with tiny gradients (docs/images.md, MNIST).
    adam_eps: float = 1e-8
    # The teacher's ordinary (fitting) updates' epsilon; 0: adam_eps. The cap adam_eps puts on
    # the hypergradient also slows the fit, which nothing differentiates through (docs/images.md).
    fit_adam_eps: float = 0.0
    adam_eps_inside_sqrt: bool = True
    adam_second_moment_grad: bool = False
    hypergrad: str = "unrolled"  # unrolled | implicit (lbt.hypergrad)
    implicit_solver: str = "cg"  # implicit hypergradient: cg | neumann solve of H u = v
    implicit_iters: int = 10  # Hessian-vector products per solve
    implicit_damping: float = 0.0  # solve (H + damping I) u = v
    implicit_alpha: float = 0.01  # Neumann series step size
    implicit_warm_start: bool = False  # cg: start each solve from the previous update's solution


def _neg_mean(log_p: Tensor) -> Tensor:
    return -log_p.mean()


def _default_steps_done(state: dict, prefix: str, *_: object) -> None:
    """Checkpoints written before the counter existed load with it at zero."""
    state.setdefault(prefix + "steps_done", torch.zeros((), dtype=torch.long))


@torch.no_grad()
def write_fit(estimator: nn.Module, fit: Params) -> None:
    """Store a fit in the teacher (parameters and refitted buffers alike)."""
    own = dict(estimator.named_parameters()) | dict(estimator.named_buffers())
    for k, v in fit.items():
        if k in own:
            if own[k].shape != v.shape:
                own[k].resize_(v.shape)  # kernel centres follow the generator batch size
            own[k].copy_(v)


def inner_optimizer(settings: LBTConfig, beta1: float, beta2: float, fit: bool = False) -> Optimizer:
    """The teacher's (unrolled) optimizer as ``lbt`` describes it; Adam takes ``train``'s betas.
    ``fit``: the one for its ordinary updates, whose epsilon may differ (``lbt.fit_adam_eps``)."""
    s = settings
    if s.inner_optimizer == "sgd":
        return sgd(s.est_lr)
    eps = s.fit_adam_eps if fit and s.fit_adam_eps > 0 else s.adam_eps
    return adam(s.est_lr, beta1, beta2, eps, eps_inside_sqrt=s.adam_eps_inside_sqrt,
                differentiate_second_moment=s.adam_second_moment_grad)  # fmt: skip


class LBT(Method):
    """The generator teaches ``estimator`` (any module whose forward is a per-sample log-density).

    ``settings`` is the ``lbt`` config section (unroll, teacher updates, inner optimizer,
    hypergradient strategy by name); ``outer`` the generator's Adam and the batch sizes.
    """

    name = "lbt"
    estimator = Submodule()  # the teacher: declared so that Teaches holds on every Python

    def __init__(
        self,
        generator: nn.Module,
        estimator: nn.Module,
        settings: LBTConfig | None = None,
        outer: OuterSettings | None = None,
    ) -> None:
        super().__init__()
        s = settings if settings is not None else LBTConfig()
        o = outer if outer is not None else OuterSettings()
        self.generator = generator
        self.estimator = estimator
        self.unroll_steps = s.unroll_steps
        self.n_est = s.n_est
        self.est_steps = s.est_steps
        self.est_lr_mult = s.est_lr_mult
        self.settings = dataclasses.replace(s)  # a copy: the teacher's rate schedule reads it
        self.gen_batch_size = o.gen_batch_size
        self.batch_size = o.batch_size
        self.inner = inner_optimizer(s, o.beta1, o.beta2)
        self.fit_opt = inner_optimizer(s, o.beta1, o.beta2, fit=True)  # same state as self.inner
        self.hypergrad = HYPERGRADIENTS[s.hypergrad]
        self.hypergrad_name = s.hypergrad
        self.hypergrad_options = hypergrad_options(s)  # TeachingProblem.options
        self.nll = functional_loss(estimator, _neg_mean)
        self.compiled: CompiledTeacher | None = None  # train.compile: see compile_teacher
        self.inner_state: State = self.inner.init(params_of(estimator))
        self.hypergrad_carry: State = {}  # TeachingProblem.carry, kept across generator updates
        self.gen_opt = o.adam(generator)
        # Checkpointed, so a resumed run continues the teacher's schedule where it stood.
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        self._register_load_state_dict_pre_hook(_default_steps_done)

    # -- the two halves of Algorithm 1 -------------------------------------------------------
    def _gen_batch(self, _k: int = 0) -> Tensor:
        return self.generator.sample(self.gen_batch_size)

    def _write_estimator(self, phi: Params) -> None:
        write_fit(self.estimator, phi)

    def compile_teacher(self, mode: str) -> None:
        """Run the teacher's steps and loss compiled (``train.compile``, :mod:`lbt.compiled`);
        ``none`` keeps the eager reference."""
        if mode == "none":
            self.compiled = None
            return
        if distributed.world() > 1:
            raise LBTError("train.compile runs in one process; under torchrun use train.compile=none")
        if self.hypergrad_name != "unrolled":  # the implicit solve differentiates the loss twice
            raise LBTError(f"train.compile needs lbt.hypergrad=unrolled (not {self.hypergrad_name}); "
                           "use train.compile=none")  # fmt: skip
        self.compiled = CompiledTeacher(self.nll, self.inner, self.fit_opt, mode)

    def _start(self, differentiable: bool) -> tuple[Params, Params]:
        """The teacher's starting point and any closed-form context (see :meth:`_loss`).

        A teacher that :class:`Refits` is refitted on a fresh generator batch: refitted entries
        that are trainable parameters override the starting point (a mixture's means), the others
        (kernel centres, a bandwidth) are held fixed while the K steps run. With
        ``differentiable`` the refit stays in the graph, so the hypergradient flows through it.
        """
        phi = params_of(self.estimator)
        context: Params = {}
        if isinstance(self.estimator, Refits):
            with torch.set_grad_enabled(differentiable):
                batch = self._gen_batch() if differentiable else self._detached_gen_batch(0)
                fit = self.estimator.refit(distributed.gather_cat(batch, differentiable))  # every rank's
            for k, v in fit.items():
                (phi if k in phi else context)[k] = v if differentiable else v.detach()
        return phi, context

    def _loss(self, context: Params) -> Loss:
        """The teacher's loss at explicit parameters, ``context`` bound (compiled or eager)."""
        if self.compiled is not None:
            return self.compiled.loss(context)
        if not context:
            return self.nll
        nll = self.nll
        return lambda p, x: nll({**context, **p}, x)

    def _step(self, context: Params, *, fit: bool) -> InnerStep | None:
        """The compiled inner step where ``train.compile`` asks for one (None: autograd's)."""
        return self.compiled.step(context, fit=fit) if self.compiled is not None else None

    def _calibrate(self, data: DataFn) -> None:
        if int(self.steps_done) == 0 and isinstance(self.estimator, Calibrates):
            self.estimator.calibrate(data(max(self.batch_size, 4096)))
            distributed.broadcast_params(self.estimator)  # data-parallel: rank 0's units everywhere

    def _tick(self) -> None:
        """Start an iteration: the teacher's schedule, the compiled graphs' step mark, the counter."""
        if isinstance(self.estimator, Scheduled):
            self.estimator.schedule(int(self.steps_done))
        if self.compiled is not None:
            self.compiled.begin_iteration()
        self.steps_done.add_(1)

    def update_estimator(self) -> float:
        """``n_est`` ordinary updates of E on generator samples; nothing is differentiated through."""
        loss: Tensor | float = float("nan")
        for _ in range(self.n_est):
            phi, context = self._start(False)
            nll = self._loss(context)
            phi, self.inner_state, losses = unroll(
                nll, phi, self.inner_state, self.fit_opt,
                self._detached_gen_batch, self.est_steps if phi else 0, create_graph=False,
                lr_scale=self.est_lr_mult * self.lr_factor,
                step=self._step(context, fit=True),
            )  # fmt: skip
            self._write_estimator(phi)
            if isinstance(self.estimator, Refits):  # keep the stored fit (centres) current too
                batch = distributed.gather_cat(self._detached_gen_batch(0))
                self._write_estimator(self.estimator.refit(batch))
            loss = losses[-1] if losses else nll(phi, self._detached_gen_batch(0))
        return float(loss)

    @torch.no_grad()
    def _detached_gen_batch(self, k: int) -> Tensor:
        return self._gen_batch(k)

    def teaching_loss(self, x_data: Tensor) -> Tensor:
        """A scalar whose gradient in theta is the hypergradient of ``-mean log p_E(x_data; phi*)``.

        Its value is the teaching loss itself for the unrolled strategy; :meth:`teach` also returns
        the loss value for strategies whose surrogate differs from it.
        """
        return self.teach(x_data)[0]

    def teach(self, x_data: Tensor) -> tuple[Tensor, Tensor]:
        """(surrogate, detached teaching loss) from the configured hypergradient strategy."""
        if isinstance(self.estimator, ViewsData):
            x_data = self.estimator.view_data(x_data)
        phi0, context = self._start(True)
        steps = self.unroll_steps if phi0 else 0
        problem = TeachingProblem(self._loss(context), phi0, self.inner_state, self.inner, self._gen_batch,
                                  steps, self.hypergrad_options, self.hypergrad_carry,
                                  step=self._step(context, fit=False))  # fmt: skip
        return self.hypergrad(problem, x_data)

    def step(self, data: DataFn, lr_scale: float = 1.0) -> dict[str, float]:
        self._calibrate(data)
        self._tick()
        logs = {"loss_est": self.update_estimator()} if self.n_est > 0 else {}
        surrogate, loss = self.teach(data(self.batch_size))
        grad_norm = self.gen_opt.apply(self.gen_opt.grads_of(surrogate), lr_scale)
        return {**logs, "loss_gen": float(loss), "grad_norm_gen": grad_norm}

    @torch.no_grad()
    def diagnostics(self, data: DataFn, n: int) -> dict[str, float]:
        """The estimator's mean log-likelihood (ELBO for a VAE) on generated and on real data."""
        if isinstance(self.estimator, Refits):  # a closed-form teacher is fitted on demand
            whole = self.gen_batch_size * distributed.world()  # evaluation runs on every rank
            self._write_estimator(self.estimator.refit(self.generator.sample(whole)))
        return {
            "elbo_gen": float(self.estimator(self.generator.sample(n)).mean()),
            "elbo_data": float(self.estimator(data(n)).mean()),
        }

    def optimizer_states(self) -> dict[str, State]:
        return {"inner_state": self.inner_state, "gen_opt.state": self.gen_opt.state,
                "hypergrad_carry": self.hypergrad_carry}  # fmt: skip

    def load_optimizer_states(self, states: dict[str, State]) -> None:
        self.inner_state = states["inner_state"]
        self.gen_opt.state = states["gen_opt.state"]
        self.hypergrad_carry = states.get("hypergrad_carry", {})  # older checkpoints: none


def build_lbt(
    cfg: Config, x_dim: int, generator: nn.Module | None = None, estimator: nn.Module | None = None
) -> LBT:
    """``train.method=lbt``: the configured (or given) generator teaching the configured estimator."""
    return LBT(
        generator or make_generator(cfg, x_dim),
        as_estimator(estimator or make_estimator(cfg, x_dim)),
        cfg.lbt,
        OuterSettings.from_config(cfg.train),
    )

"""Maximum likelihood: the teacher fitted to the data directly, and sampled (``train.method=mle``).

The baseline LBT must beat to be worth its unroll: the same explicit density (``model.estimator``,
built as LBT builds it) fitted to *real* batches instead of generator samples, with the budget and
the rate of LBT's own teacher fit, and its samples taken as the generated ones. There is no
generator: :class:`TeacherSampler` stands in for one, so evaluation, figures, checkpoints and
``lbt compare`` treat the teacher's samples as any method's.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from lbt import distributed
from lbt.errors import LBTError
from lbt.methods.base import DataFn, Method, OuterSettings, Submodule
from lbt.methods.lbt import LBTConfig, inner_optimizer, write_fit
from lbt.models import as_estimator, make_estimator
from lbt.models.teachers import Calibrates, Refits, Samples, Scheduled
from lbt.optim import Params, State
from lbt.unroll import Loss, functional_loss, params_of, unroll

if TYPE_CHECKING:
    from lbt.config import Config


def _neg_mean(log_p: Tensor) -> Tensor:
    return -log_p.mean()


class TeacherSampler(nn.Module):
    """The generator of ``train.method=mle``: ``sample(n)`` draws from the teacher.

    It holds the teacher outside its own modules, so it has no parameters or state of its own and
    the method's state dict (a checkpoint) holds the teacher once, as ``estimator``.
    """

    teacher: Samples

    def __init__(self, teacher: Samples) -> None:
        super().__init__()
        object.__setattr__(self, "teacher", teacher)  # not a submodule: see the class docstring

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        return self.teacher.sample(n)


class MLE(Method):
    """Fit ``estimator`` to the data by maximum likelihood; its samples are the method's.

    Per iteration, like LBT's teacher update but on real data: ``lbt.n_est`` fits of
    ``lbt.est_steps`` steps each of LBT's fitting optimizer (Adam at ``lbt.est_lr *
    lbt.est_lr_mult``, epsilon ``lbt.fit_adam_eps``, annealed to ``lbt.est_lr_final`` where set)
    on fresh batches of ``train.batch_size``. A teacher that :class:`Refits` is first refitted in
    closed form on ``train.gen_batch_size`` real points (as many as LBT refits it on generator
    samples, so it is the same model): a kernel density's fit *is* that refit, a mixture with
    ``model.mixture_init=samples`` starts its steps from it.
    """

    name = "mle"
    estimator = Submodule()  # the teacher, and the source of the samples

    def __init__(
        self, estimator: nn.Module, settings: LBTConfig | None = None, outer: OuterSettings | None = None
    ) -> None:
        super().__init__()
        s = settings if settings is not None else LBTConfig()
        o = outer if outer is not None else OuterSettings()
        if not isinstance(estimator, Samples):
            raise LBTError("train.method=mle draws its samples from the teacher; this one has no sample(n)")
        refits, learns = isinstance(estimator, Refits), bool(params_of(estimator))
        if not (refits or learns):
            raise LBTError("train.method=mle cannot fit this teacher: it has neither parameters nor a refit")
        if learns and s.n_est * s.est_steps == 0:
            raise LBTError(f"train.method=mle fits the teacher by lbt.n_est * lbt.est_steps gradient steps "
                           f"an iteration, now {s.n_est} * {s.est_steps}: set both > 0")  # fmt: skip
        self.estimator = estimator
        self.generator = TeacherSampler(estimator)
        self.settings = dataclasses.replace(s)  # a copy: the rate schedule reads it
        # A teacher without parameters (a kernel density) is its closed-form refit: one an
        # iteration, whatever lbt.n_est says (the suite's recipe has 0), as LBT refits it per step.
        self.fits = s.n_est if learns else 1
        self.est_steps = s.est_steps
        self.est_lr_mult = s.est_lr_mult
        self.batch_size = o.batch_size
        # The closed-form refit's real points: LBT's teacher is refitted on this many samples.
        self.gen_batch_size = o.gen_batch_size if refits else None
        self.fit_opt = inner_optimizer(s, o.beta1, o.beta2, fit=True)
        self.nll = functional_loss(estimator, _neg_mean)
        self.fit_state: State = self.fit_opt.init(params_of(estimator))
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))  # the schedules' clock

    def generator_lr(self) -> float | None:
        """None: there is no generator rate, and ``step`` ignores the loop's schedule factor
        (the teacher keeps LBT's fitting rate, scaled by ``lr_factor``)."""
        return None

    def _start(self, data: DataFn) -> tuple[Params, Params]:
        """The fit's starting point and its fixed context: a :class:`Refits` teacher's closed-form
        fit on real data (its trainable entries start the steps, the others stay fixed)."""
        phi = params_of(self.estimator)
        context: Params = {}
        if isinstance(self.estimator, Refits):
            with torch.no_grad():
                fit = self.estimator.refit(distributed.gather_cat(data(self.gen_batch_size)))
            for k, v in fit.items():
                (phi if k in phi else context)[k] = v.detach()
        return phi, context

    def _loss(self, context: Params) -> Loss:
        if not context:
            return self.nll
        nll = self.nll
        return lambda p, x: nll({**context, **p}, x)

    def step(self, data: DataFn, lr_scale: float = 1.0) -> dict[str, float]:
        """One iteration of fitting; ``lr_scale`` (the generator's schedule) does not apply."""
        if int(self.steps_done) == 0 and isinstance(self.estimator, Calibrates):
            self.estimator.calibrate(data(max(self.batch_size, 4096)))
            distributed.broadcast_params(self.estimator)
        if isinstance(self.estimator, Scheduled):
            self.estimator.schedule(int(self.steps_done))
        self.steps_done.add_(1)
        scale = self.est_lr_mult * self.lr_factor
        loss: Tensor | float = float("nan")
        for _ in range(self.fits):
            phi, context = self._start(data)
            nll = self._loss(context)
            phi, self.fit_state, losses = unroll(
                nll, phi, self.fit_state, self.fit_opt, lambda _k: data(self.batch_size),
                self.est_steps if phi else 0, create_graph=False, lr_scale=scale,
            )  # fmt: skip
            write_fit(self.estimator, {**context, **phi})
            if losses:
                loss = losses[-1]
            else:
                with torch.no_grad():
                    loss = nll(phi, data(self.batch_size))
        return {"loss_est": float(loss)}

    @torch.no_grad()
    def diagnostics(self, data: DataFn, n: int) -> dict[str, float]:
        """The teacher's mean log-likelihood (ELBO for a VAE) on real data and on its own samples."""
        return {
            "elbo_gen": float(self.estimator(self.generator.sample(n)).mean()),
            "elbo_data": float(self.estimator(data(n)).mean()),
        }

    def optimizer_states(self) -> dict[str, State]:
        return {"fit_state": self.fit_state}

    def load_optimizer_states(self, states: dict[str, State]) -> None:
        self.fit_state = states["fit_state"]


def build_mle(
    cfg: Config, x_dim: int, generator: nn.Module | None = None, estimator: nn.Module | None = None
) -> MLE:
    """``train.method=mle``: the configured (or given) teacher, fitted as LBT's is but to the data."""
    if generator is not None:
        raise LBTError("train.method=mle samples from its teacher and trains no generator; pass estimator=")
    if cfg.train.gen_ema > 0:
        raise LBTError("train.gen_ema averages a generator; train.method=mle has none "
                       "(train.est_ema averages the teacher it samples from)")  # fmt: skip
    teacher = as_estimator(estimator or make_estimator(cfg, x_dim))
    return MLE(teacher, cfg.lbt, OuterSettings.from_config(cfg.train))

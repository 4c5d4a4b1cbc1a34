"""What the shared training loop needs from a method (LBT, GAN baselines, ...).

A method owns its networks and optimizer states. The loop calls ``step`` once per iteration
and ``diagnostics`` at evaluation time; everything else (data, schedules, evaluation, history,
checkpoints, figures) lives in the loop so that every method gets it identically.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from lbt import distributed
from lbt.optim import Optimizer, Params, State, adam, clip_by_global_norm

if TYPE_CHECKING:
    from lbt.config import TrainConfig

DataFn = Callable[[int], Tensor]


@dataclass(frozen=True)
class OuterSettings:
    """The generator's (outer) Adam and the batch sizes: the ``train`` keys every method shares.

    A method takes these and its own section (``lbt``, ``gan``) rather than a list of loose
    keywords, so a builder is a few lines and a direct construction names what it changes. The
    other ``train`` keys (budget, schedule, failure policy) belong to the loop, not to a method.
    """

    gen_lr: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    eps: float = 1e-8
    clip_norm: float = 5.0  # global-norm clip of the generator gradient; <= 0 disables
    batch_size: int = 512  # real-data batch
    gen_batch_size: int = 512  # generator samples per step (per inner step for LBT)

    @classmethod
    def from_config(cls, train: TrainConfig, **changes: Any) -> OuterSettings:
        """The fields of the same names in ``train``, then ``changes`` (the GAN baselines' ``gen_lr``)."""
        return cls(**{f.name: getattr(train, f.name) for f in fields(cls)} | changes)

    def adam(self, module: nn.Module) -> PureAdamStep:
        """The generator's Adam on ``module`` (VEEGAN's reconstructor shares it)."""
        return outer_adam(module, self.gen_lr, self.beta1, self.beta2, self.eps, self.clip_norm)


class Method(nn.Module):
    """Base class: subclasses set ``self.generator`` and implement :meth:`step`.

    ``lr_factor`` scales every learning rate the method owns besides the generator's (which the
    loop scales through ``step``'s ``lr_scale``): the estimator's and discriminator's updates. NaN
    rollbacks lower it. The unrolled look-ahead steps are part of the objective and keep theirs.
    """

    name = "method"
    generator: nn.Module
    gen_opt: PureAdamStep | None = None  # the generator's optimizer, where the method has one
    lr_factor: float = 1.0
    # Real and generated samples per step; under torchrun the loop gives each rank its share.
    # None: the method draws no batches of its own that the loop could split.
    batch_size: int | None = None
    gen_batch_size: int | None = None

    def step(self, data: DataFn, lr_scale: float = 1.0) -> dict[str, float]:
        """One training iteration; returns scalar logs (losses, gradient norms)."""
        raise NotImplementedError

    def generator_lr(self) -> float | None:
        """The generator's base learning rate, which ``step``'s ``lr_scale`` multiplies.

        The loop's schedule needs it to end on ``train.gen_lr_final`` whichever rate a method runs
        at (the GAN baselines: ``gan.gen_lr``). None: not known, and the loop assumes ``train.gen_lr``.
        """
        return self.gen_opt.lr if self.gen_opt is not None else None

    @torch.no_grad()
    def diagnostics(self, data: DataFn, n: int) -> dict[str, float]:
        """Extra scalars for the history (e.g. the estimator's ELBO on real and generated data)."""
        return {}

    @torch.no_grad()
    def sample(self, n: int, batch: int = 65_536) -> Tensor:
        was_training = self.generator.training
        self.generator.eval()
        out = torch.cat([self.generator.sample(min(batch, n - i)) for i in range(0, n, batch)])
        self.generator.train(was_training)
        return out

    # Optimizer states are plain dicts of tensors; they travel with the module's state_dict.
    def optimizer_states(self) -> dict[str, State]:
        return {}

    def load_optimizer_states(self, states: dict[str, State]) -> None:
        for k, v in states.items():
            setattr(self, k, v)

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Method:
        """``.to()``, ``.cuda()``, ``.double()`` move the optimizer states with the parameters."""
        super()._apply(fn, recurse)
        states = self.optimizer_states()
        if states:
            self.load_optimizer_states({k: {n: fn(t) for n, t in s.items()} for k, s in states.items()})
        return self


class Submodule:
    """Declares a submodule in the class body, so that static lookups find it.

    Python >= 3.12 checks runtime protocols with ``inspect.getattr_static``, which does not see
    the submodules ``nn.Module`` keeps in ``_modules``: without this, a method that sets
    ``self.estimator = net`` is not ``Teaches`` there. Assignment stays ``nn.Module``'s own.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: nn.Module | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        try:
            return obj._modules[self.name]
        except KeyError:
            raise AttributeError(self.name) from None  # then nn.Module.__getattr__ says which


@runtime_checkable
class Teaches(Protocol):
    """A method that fits a teacher (an explicit density) beside its generator: LBT, LBT-GAN.
    Evaluation scores the teacher too (held-out likelihood, its samples). A method declares it
    with ``estimator = Submodule()`` in its class body (Python >= 3.12 needs the declaration)."""

    estimator: nn.Module


@runtime_checkable
class CompilesTeacher(Protocol):
    """A method whose teacher's steps can run compiled (``train.compile``, :mod:`lbt.compiled`)."""

    def compile_teacher(self, mode: str) -> None: ...


@runtime_checkable
class Adversarial(Protocol):
    """A method with a discriminator (the GAN family, LBT-GAN); ``adv.packing`` samples make one
    decision, so every batch the loop splits must stay a multiple of it."""

    adv: Any


class PureAdamStep:
    """Apply a pure optimizer to an ``nn.Module``'s parameters in place (the outer updates).

    The state stays a plain dict (checkpointable, inspectable); only the final write into the
    module's parameters is in place.
    """

    def __init__(self, module: nn.Module, opt: Optimizer, clip_norm: float = 0.0, lr: float | None = None):
        self.module = module
        self.opt = opt
        self.clip_norm = clip_norm
        self.lr = lr  # the rate ``opt`` was made with, which ``apply``'s lr_scale multiplies (None: unknown)
        self.state: State = opt.init(self.params())

    def params(self) -> Params:
        return {k: p for k, p in self.module.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def apply(self, grads: Params, lr_scale: float = 1.0) -> float:
        grads = distributed.mean(grads)  # data-parallel: every rank takes the whole batch's step
        grads, norm = clip_by_global_norm(grads, self.clip_norm)
        params = self.params()
        new, self.state = self.opt.update(
            grads, self.state, {k: p.detach() for k, p in params.items()}, lr_scale
        )
        for k, p in params.items():
            p.copy_(new[k])
        return float(norm)

    def grads_of(self, loss: Tensor) -> Params:
        params = self.params()
        g = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        return {
            k: torch.zeros_like(p) if gi is None else gi for (k, p), gi in zip(params.items(), g, strict=True)
        }


def outer_adam(module: nn.Module, lr: float, b1: float, b2: float, eps: float, clip: float) -> PureAdamStep:
    """The outer optimizer: Adam in the form of TF's ``AdamOptimizer`` (epsilon outside the root)."""
    return PureAdamStep(module, adam(lr, b1, b2, eps, eps_inside_sqrt=False), clip, lr)

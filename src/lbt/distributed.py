"""Data-parallel training under ``torchrun``, on PyTorch's own :mod:`torch.distributed`.

Every rank holds the same networks and draws its own share of each batch (per-rank RNG
streams). Gradients are averaged where they are formed -- the inner (unrolled) estimator and
discriminator steps in :func:`lbt.unroll.unroll`, with a *differentiable* all-reduce when the
step is part of the hypergradient's graph, and the outer updates in
:class:`lbt.methods.base.PureAdamStep` -- so every rank takes the same steps as one process with
the whole batch would (docs/distributed.md). ``torch.autograd.grad`` bypasses DDP's hooks, which
is why nothing here wraps a module in DDP.

Every function is a cheap no-op in a single process (``WORLD_SIZE`` unset or 1).
"""

from __future__ import annotations

import os
import signal
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from lbt.errors import LBTError

T = TypeVar("T")
M = TypeVar("M", bound=nn.Module)
_TIMEOUT = [300.0]


class DistributedError(LBTError):
    """A collective failed or timed out: another rank died, hung or could not be reached."""


def world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if world() > 1 else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if world() > 1 else 0


def is_main() -> bool:
    return rank() == 0


def requested() -> int:
    """The world size torchrun asks for (``WORLD_SIZE``), whether or not :func:`init` ran yet."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def init(timeout: float = 300.0, device_type: str = "cpu") -> bool:
    """Join the torchrun job described by the environment; False (nothing done) in one process.

    The backend follows the device: NCCL for CUDA, Gloo for the CPU. ``timeout`` (seconds,
    ``train.dist_timeout``) bounds every collective, so a rank that died or hung ends the job.
    """
    _TIMEOUT[0] = float(timeout)
    if requested() <= 1 or not dist.is_available():
        return False
    if dist.is_initialized():
        return True
    backend = "nccl" if device_type == "cuda" else "gloo"
    # The differentiable collectives the hypergradient needs live (deprecated, but supported) in
    # torch.distributed.nn.functional; their replacements have no autograd for all-reduce.
    warnings.filterwarnings("ignore", "torch.distributed.nn.functional", FutureWarning)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    try:
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout))
    except (RuntimeError, ValueError) as exc:
        raise DistributedError(f"could not join the torchrun job ({backend}): {_first_line(exc)}") from None
    return True


def shutdown() -> None:
    """Leave the job together: rank 0 may still be drawing figures when the others are done."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _device() -> torch.device:
    """Where small collective tensors live: the current GPU under NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_MARKERS = ("gloo", "nccl", "timed out", "timeout", "connection", "peer", "processgroup", "socket")


@contextmanager
def guard() -> Iterator[None]:
    """Turn a failed or timed-out collective into one :class:`DistributedError` line."""
    try:
        yield
    except DistributedError:
        raise
    except (RuntimeError, dist.DistError) as exc:
        msg = str(exc).lower()
        if world() <= 1 or not (isinstance(exc, dist.DistError) or any(m in msg for m in _MARKERS)):
            raise
        raise DistributedError(
            f"rank {rank()} of {world()}: a collective failed or timed out (train.dist_timeout="
            f"{_TIMEOUT[0]:g} s), another rank died or hung: {_first_line(exc)}"
        ) from None


def mean(x: T, differentiable: bool = False) -> T:
    """The average over ranks of a tensor, a dict of tensors, or a dict of floats (logs).

    A dict travels as one flat buffer per dtype (one all-reduce). ``differentiable`` uses
    :func:`torch.distributed.nn.functional.all_reduce`, whose backward all-reduces the incoming
    gradient, so a graph built on the mean reaches every rank's inputs.
    """
    w = world()
    if w == 1:
        return x
    if isinstance(x, Tensor):
        return mean({"": x}, differentiable)[""]  # type: ignore[return-value,index]
    if not isinstance(x, dict):
        raise TypeError(f"distributed.mean takes a tensor or a dict, not {type(x).__name__}")
    if all(not isinstance(v, Tensor) for v in x.values()):  # logs: plain numbers
        t = torch.tensor([float(v) for v in x.values()], dtype=torch.float64, device=_device())
        dist.all_reduce(t)
        return dict(zip(x, (t / w).tolist(), strict=True))  # type: ignore[return-value]
    out: dict[str, Tensor] = {}
    groups: dict[tuple[torch.dtype, torch.device], list[str]] = {}
    for k, v in x.items():
        groups.setdefault((v.dtype, v.device), []).append(k)
    for keys in groups.values():
        flat = torch.cat([x[k].reshape(-1) for k in keys])
        if differentiable:
            import torch.distributed.nn.functional as dnn

            flat = dnn.all_reduce(flat) / w
        else:
            flat = flat.detach().clone()
            dist.all_reduce(flat)
            flat.div_(w)
        for k, part in zip(keys, flat.split([x[k].numel() for k in keys]), strict=True):
            out[k] = part.view_as(x[k])
    return {k: out[k] for k in x}  # type: ignore[return-value]


def gather_cat(x: Tensor, differentiable: bool = False) -> Tensor:
    """Every rank's ``x`` concatenated along the first axis, in rank order (all samples).

    For closed-form refits of a teacher from generator samples: each rank fits the same teacher
    on the whole batch. ``differentiable`` keeps the gathered batch in the graph (its backward
    sums every rank's gradient into each rank's own rows).
    """
    w = world()
    if w == 1:
        return x
    if differentiable and x.requires_grad:
        import torch.distributed.nn.functional as dnn

        return torch.cat(dnn.all_gather(x.contiguous()))
    parts = [torch.empty_like(x) for _ in range(w)]
    dist.all_gather(parts, x.detach().contiguous())
    return torch.cat(parts)


@torch.no_grad()
def broadcast_params(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank (after rank-dependent set-up)."""
    if world() == 1:
        return
    for t in [*module.parameters(), *module.buffers()]:
        dist.broadcast(t.data, src=0)


def sync_batch_norm(module: M, device_type: str, options: dict[str, str]) -> M:
    """``module`` with every batch-norm layer turned into :class:`torch.nn.SyncBatchNorm`, so that
    under torchrun each layer normalises with the statistics of the whole batch, as one process
    would, instead of each rank's share (and all ranks keep the same running statistics).

    SyncBatchNorm runs on CUDA only (not on Gloo's CPU tensors), so on the CPU such a module is
    refused in one line naming the option that brought the layer (``options``: a child's name ->
    e.g. ``model.generator=mlp-bn``). Parameters and buffers are the same objects under the same
    names, so optimizer states and checkpoints are unchanged. A no-op in one process.
    """
    norm = nn.modules.batchnorm._BatchNorm  # what convert_sync_batchnorm converts
    parts = [name for name, net in module.named_children() if any(isinstance(m, norm) for m in net.modules())]
    if world() == 1 or not parts:
        return module
    if device_type != "cuda":
        what = " and ".join(options.get(name, f"the {name} network") for name in parts)
        have = "has" if len(parts) == 1 else "have"
        raise LBTError(f"{what} {have} batch norm, whose statistics ranks can share only on CUDA GPUs "
                       "(torch.nn.SyncBatchNorm; not with Gloo on the CPU): train with device=cuda, in "
                       "one process, or with a network without batch norm")  # fmt: skip
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)


def broadcast_object(obj: T) -> T:
    """Rank 0's picklable ``obj`` on every rank (a run directory's name, say)."""
    if world() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_object(obj: T) -> list[T]:
    """Every rank's picklable ``obj``, in rank order (``[obj]`` in one process)."""
    if world() == 1:
        return [obj]
    out: list[Any] = [None] * world()
    dist.all_gather_object(out, obj)
    return out


def agree(*flags: bool) -> Any:
    """Whether *any* rank raised each flag: one all-reduce (MAX) of a small tensor.

    With one flag returns a bool, with several a tuple; used once per iteration for the
    signal / stop flags, so that every rank takes the same branch (and the same collectives).
    """
    if world() > 1:
        t = torch.tensor([float(bool(f)) for f in flags], device=_device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        flags = tuple(bool(v) for v in t.tolist())
    else:
        flags = tuple(bool(f) for f in flags)
    return flags[0] if len(flags) == 1 else flags


def barrier() -> None:
    if world() > 1:
        dist.barrier()


def seed_rank(seed: int, salt: int = 0) -> None:
    """Give this rank its own random streams, derived from ``seed`` (only when world > 1, so a
    single process keeps its numbers); ``salt`` derives fresh ones (e.g. the iteration of a resume
    whose checkpoint lacks the per-rank states)."""
    if world() == 1:
        return
    from lbt import rng

    state = np.random.SeedSequence([seed, salt, rank()]).generate_state(2, dtype=np.uint32)
    rng.seed_everything(int(state[0]) << 31 | int(state[1]) >> 1)


def shard(n: int, what: str) -> int:
    """This rank's share of a global batch of ``n`` (an error unless the world size divides it)."""
    w = world()
    if n % w:
        raise LBTError(f"{what}={n} is not divisible by the world size {w} (torchrun --nproc-per-node "
                       "times nodes): each rank draws an equal share of every batch")  # fmt: skip
    return n // w


def fault(iteration: int) -> None:
    """Test hook: ``LBT_TEST_FAULT=RANK:ITERATION:exit|hang`` kills or hangs that rank there."""
    spec = os.environ.get("LBT_TEST_FAULT")
    if not spec or world() == 1:
        return
    who, when, how = spec.split(":")
    if int(who) != rank() or int(when) != iteration:
        return
    if how == "exit":
        os._exit(17)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a hung process does not finish its iteration
    while True:
        time.sleep(1.0)

"""Data-parallel training under torchrun (lbt.distributed): equivalence, a real run, failures."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import Tensor, nn

from lbt import distributed
from lbt.models import MLPGenerator

PER_RANK = 32  # batch per rank; one process gets 2 * PER_RANK
STEPS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Stream:
    """The k-th call draws the k-th global batch of ``n * world`` and returns this rank's rows, so
    two ranks with ``n`` see together exactly what one process with ``2n`` sees."""

    def __init__(self, draw) -> None:  # noqa: ANN001
        self.draw, self.calls = draw, 0

    def __call__(self, n: int) -> Tensor:
        w, r = distributed.world(), distributed.rank()
        g = torch.Generator().manual_seed(1000 + self.calls)
        self.calls += 1
        return self.draw(n * w, g)[r * n : (r + 1) * n]


class _NoiseGen(nn.Module):
    """A generator whose noise comes from a :class:`_Stream` (the test controls the samples)."""

    def __init__(self) -> None:
        super().__init__()
        self.g = MLPGenerator(z_dim=8, x_dim=2, hidden=16, layers=2)
        self.z_dim = 8
        self.noise = _Stream(lambda m, g: torch.randn(m, 8, generator=g, dtype=torch.float64))

    def forward(self, z: Tensor) -> Tensor:
        return self.g(z)

    def sample(self, n: int) -> Tensor:
        return self(self.noise(n).to(self.g.net[0].weight.dtype))


def _train_steps(method: str) -> tuple[dict[str, Tensor], dict[str, float]]:
    from lbt.train import Trainer

    method, _, hypergrad = method.partition("+")  # "lbt+implicit": LBT, implicit hypergradient
    torch.manual_seed(0)
    overrides = {
        "train.method": method,
        "train.batch_size": 2 * PER_RANK,
        "train.gen_batch_size": 2 * PER_RANK,
        "model.mixture_components": 16,
        "model.mixture_init": "samples",  # a differentiable refit from the (gathered) generator batch
        "lbt.unroll_steps": 3,
        "lbt.est_steps": 2,
        "gan.lbt_gan_warmup": 0,
        "gan.disc_hidden": 16,
        "lbt.hypergrad": hypergrad or "unrolled",
        "lbt.implicit_iters": 4,
        "lbt.implicit_damping": 1.0,
    }
    trainer = Trainer(preset="ring", overrides=overrides, generator=_NoiseGen(), progress=False)
    m = trainer.method.double()
    data = _Stream(lambda k, g: 0.5 * torch.randn(k, 2, generator=g, dtype=torch.float64) + 1.0)
    before = m.generator.g.net[0].weight.detach().clone()
    for _ in range(STEPS):
        logs = distributed.mean(m.step(data))
    logs["moved"] = float((m.generator.g.net[0].weight.detach() - before).norm())
    return {k: v.detach().clone() for k, v in m.state_dict().items()}, logs


def _worker(rank: int, world: int, port: int, method: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank))  # fmt: skip
    torch.set_num_threads(1)
    distributed.init(timeout=60)
    try:
        assert distributed.world() == world and distributed.rank() == rank
        torch.save(_train_steps(method), Path(out) / f"rank{rank}.pt")
    finally:
        distributed.shutdown()
    # The results are on disk: leave without interpreter teardown, where Gloo's background
    # threads now and then abort the process ("terminate called without an active exception").
    os._exit(0)


@pytest.mark.parametrize("method", ["lbt", "lbt-gan", "lbt+implicit"])
def test_two_ranks_match_one_process_with_the_whole_batch(method: str, tmp_path: Path) -> None:
    """Two ranks with batch B end where one process with batch 2B fed the same samples ends:
    the inner unrolled gradients are averaged differentiably, the outer ones plainly, and the
    refit sees every rank's samples, so the hypergradient is the full batch's. The implicit
    hypergradient averages its right-hand side and Hessian-vector products the same way."""
    assert distributed.world() == 1
    single, single_logs = _train_steps(method)
    mp.spawn(_worker, args=(2, _free_port(), method, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    for state, logs in ranks:
        assert state.keys() == single.keys()
        for k, v in single.items():
            if v.is_floating_point():
                torch.testing.assert_close(state[k], v, rtol=1e-8, atol=1e-10, msg=f"{method}: {k}")
        for k, v in single_logs.items():
            assert logs[k] == pytest.approx(v, rel=1e-8, abs=1e-10), k
    assert single_logs["moved"] > 1e-4  # the generator did train


def test_single_process_helpers_are_no_ops() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    grads = {"a": x}
    assert distributed.world() == 1 and distributed.rank() == 0 and distributed.is_main()
    assert distributed.mean(grads, differentiable=True) is grads and distributed.gather_cat(x) is x
    assert distributed.agree(True) is True and distributed.agree(False, True) == (False, True)
    assert distributed.shard(64, "train.batch_size") == 64
    assert distributed.broadcast_object("x") == "x" and distributed.all_gather_object(3) == [3]


def _torchrun(*args: str, env: dict | None = None, cwd: Path, timeout: float = 240):
    lbt = Path(sys.executable).parent / "lbt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += ["--no-python", str(lbt)] if lbt.exists() else ["-m", "lbt.cli"]
    full_env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run([*cmd, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


SMALL = ("train", "--preset", "ring", "--iterations", "6", "--no-progress", "--set", "eval.every=3",
         "--set", "eval.samples=1000", "--set", "eval.train_samples=500")  # fmt: skip


def test_torchrun_train_writes_one_run(tmp_path: Path) -> None:
    """`lbt train` under torchrun with 2 ranks: one run directory, written by rank 0 alone, with
    world_size recorded, one TensorBoard event file; --resume continues it under torchrun."""
    res = _torchrun(*SMALL, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1, runs
    run = runs[0]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["iterations"] == 6 and metrics["modes_total"] == 8
    assert 0 <= metrics["modes_covered"] <= 8 and metrics["samples"] == 1000
    assert "world_size: 2" in (run / "config.yaml").read_text()
    assert len(list((run / "tensorboard").iterdir())) == 1
    assert res.stdout.count("run directory:") == 1
    history = (run / "history.csv").read_text().splitlines()
    assert len(history) == 3  # header, iterations 3 and 6

    res = _torchrun("train", "--resume", str(run), "--iterations", "9", "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((run / "metrics.json").read_text())["iterations"] == 9
    assert len(list((tmp_path / "runs").iterdir())) == 1


@pytest.mark.parametrize("how", ["exit", "hang"])
def test_a_dead_or_hung_rank_ends_the_job(how: str, tmp_path: Path) -> None:
    """Rank 1 dies (or hangs) at iteration 2: the job exits non-zero within train.dist_timeout
    (plus start-up), a hang with one clear line from rank 0, and no torn checkpoint."""
    t0 = time.monotonic()
    res = _torchrun(*SMALL, "--set", "train.dist_timeout=4", "--out", "run", cwd=tmp_path,
                    env={"LBT_TEST_FAULT": f"1:2:{how}"}, timeout=120)  # fmt: skip
    elapsed = time.monotonic() - t0
    assert res.returncode != 0
    assert elapsed < 90, elapsed
    if how == "hang":
        lines = [ln for ln in res.stderr.splitlines() if ln.startswith("lbt: error:")]
        assert len(lines) == 1 and "rank 0 of 2" in lines[0] and "dist_timeout=4" in lines[0], res.stderr
        assert "exitcode: 4" in res.stderr.replace("exitcode  : 4", "exitcode: 4")
    assert not list((tmp_path / "run").glob("*.tmp"))


def _batch_norm_worker(rank: int, world: int, port: int, out: str) -> None:
    """Under a 2-rank job on the CPU: a batch-norm generator is refused in one line, and the layers
    a GPU job would use are SyncBatchNorm, with the same names and parameters."""
    from lbt import config
    from lbt.errors import LBTError
    from lbt.models import make_generator
    from lbt.train import Trainer

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank))  # fmt: skip
    torch.set_num_threads(1)
    distributed.init(timeout=60)
    result: dict = {}
    try:
        overrides = {"model.generator": "mlp-bn", "train.method": "gan", "train.batch_size": 64,
                     "train.gen_batch_size": 64}  # fmt: skip
        try:
            Trainer(preset="ring", overrides=overrides, progress=False)
        except LBTError as exc:
            result["error"] = str(exc)
        Trainer(preset="ring", overrides={**overrides, "model.generator": "mlp"}, progress=False)  # no BN
        plain = nn.ModuleDict({"generator": make_generator(config.build("ring"), 2)})
        result["plain_unchanged"] = distributed.sync_batch_norm(plain, "cpu", {}) is plain
        bn = make_generator(config.build("ring", {"model.generator": "mlp-bn"}), 2)
        params = dict(bn.named_parameters())
        synced = distributed.sync_batch_norm(nn.ModuleDict({"generator": bn}), "cuda", {})
        result["kinds"] = sorted({type(m).__name__ for m in synced.modules() if "Norm" in type(m).__name__})
        result["same_params"] = all(p is params[k.removeprefix("generator.")]
                                    for k, p in synced.named_parameters())  # fmt: skip
    finally:
        torch.save(result, Path(out) / f"rank{rank}.pt")
        distributed.shutdown()
    os._exit(0)


def test_batch_norm_is_synchronised_on_gpus_and_refused_on_the_cpu(tmp_path: Path) -> None:
    """Per-rank batch statistics would make two ranks differ from one process with the whole batch:
    the method's batch norm becomes torch.nn.SyncBatchNorm, which needs CUDA, so a CPU job is refused
    with one line naming the option."""
    mp.spawn(_batch_norm_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    for r in range(2):
        result = torch.load(tmp_path / f"rank{r}.pt", weights_only=False)
        assert "model.generator=mlp-bn" in result["error"] and "device=cuda" in result["error"], result
        assert "\n" not in result["error"]
        assert result["plain_unchanged"] and result["kinds"] == ["SyncBatchNorm"] and result["same_params"]

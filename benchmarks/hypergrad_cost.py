"""Cost of the hypergradient against the unroll length K: ``unrolled`` against ``implicit``.

    python benchmarks/hypergrad_cost.py [--ks 1,5,10,20] [--device cpu|cuda] [--iterations 5] [--threads 1]

The ``paper-ring`` method (VAE teacher, 2 estimator updates of 5 steps per iteration) at batch 2048
(``train.batch_size`` and ``train.gen_batch_size``), with ``lbt.unroll_steps=K`` and
``lbt.hypergrad=unrolled|implicit`` (the implicit solve at its defaults: 10 conjugate-gradient
Hessian-vector products). Every (strategy, K) case runs in a fresh subprocess of this script,
twice: once for the time, once for the memory. Columns:

* ``ms / it``: median wall time of ``--iterations`` full training iterations
  (``trainer.method.step(trainer.data_fn)``: the estimator updates *and* the generator update),
  after ``--warmup`` iterations.
* ``graph MiB``: the peak, over one iteration, of the bytes held by the autograd graph: every
  tensor saved for backward is seen by ``torch.autograd.graph.saved_tensors_hooks``, counted once
  per storage while a graph node holds it, and dropped when the graph releases it. Deterministic
  (it does not depend on the allocator or on other processes) and the same on CPU and GPU.
* ``peak MiB``: how far memory rises above its level before the iteration. On CPU this is resident
  memory: after the warm-up the child resets the kernel's high-water mark (``echo 5 >
  /proc/self/clear_refs``), runs one iteration and reads ``VmHWM`` minus the ``VmRSS`` before it.
  The child runs with ``MALLOC_MMAP_THRESHOLD_=65536`` so that glibc serves every tensor of 64 KiB
  or more by ``mmap`` and returns it on free (its default, a threshold that grows after frees,
  keeps freed tensors resident in the heap and would hide the growth). Where the high-water mark
  cannot be reset, the column is the ``ru_maxrss`` growth over the child's *first* iteration
  instead (marked ``*``; it includes one-time allocations). ``ru_maxrss`` before/after an iteration
  that follows a warm-up is not used: the warm-up has already set the maximum, so it reads ~0.
  With ``--device cuda``: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``,
  minus ``memory_allocated`` before the iteration.
* ``process MiB``: the child's whole peak resident set (``ru_maxrss``; the interpreter and torch
  included), the number a job scheduler sees.

Prints a table; record it in docs/benchmarks.md with the machine and date.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch

MiB = 2**20


def build(strategy: str, k: int, batch: int, device: str, extra: dict):
    from lbt.train import Trainer

    overrides = {
        "train.batch_size": batch,
        "train.gen_batch_size": batch,
        "lbt.unroll_steps": k,
        "lbt.hypergrad": strategy,
        **extra,
    }
    return Trainer(preset="paper-ring", overrides=overrides, progress=False, device=device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class GraphBytes:
    """Live and peak bytes of the tensors the autograd graph holds (one count per storage)."""

    def __init__(self) -> None:
        self.live: dict[tuple, list[int]] = {}  # storage -> [holders, bytes]
        self.bytes = 0
        self.peak = 0
        self.hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)

    def _pack(self, t: torch.Tensor) -> _Held:
        return _Held(self, t)

    @staticmethod
    def _unpack(held: _Held) -> torch.Tensor:
        return held.tensor

    def add(self, key: tuple, nbytes: int) -> None:
        entry = self.live.get(key)
        if entry is None:
            self.live[key] = [1, nbytes]
            self.bytes += nbytes
            self.peak = max(self.peak, self.bytes)
        else:
            entry[0] += 1

    def drop(self, key: tuple) -> None:
        entry = self.live[key]
        entry[0] -= 1
        if entry[0] == 0:
            self.bytes -= entry[1]
            del self.live[key]


class _Held:
    """What the graph stores instead of a saved tensor; its release is the graph's release."""

    __slots__ = ("key", "owner", "tensor")

    def __init__(self, owner: GraphBytes, t: torch.Tensor) -> None:
        # A detached alias (same storage, no grad_fn): no reference cycle through saved outputs.
        self.owner, self.tensor = owner, t.detach()
        s = t.untyped_storage()
        self.key = (str(t.device), s.data_ptr())
        owner.add(self.key, s.nbytes())

    def __del__(self) -> None:
        self.owner.drop(self.key)


def _proc_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _proc_kib("VmHWM") is not None


def run_case(strategy: str, k: int, args: argparse.Namespace, extra: dict, what: str) -> dict:
    """One (strategy, K) case in this process: ``what`` is ``time`` or ``memory``."""
    torch.set_num_threads(args.threads)
    first_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    trainer = build(strategy, k, args.batch, args.device, extra)
    m, dev = trainer.method, trainer.device

    def step() -> None:
        m.step(trainer.data_fn)

    out: dict = {}
    if what == "time":
        for _ in range(args.warmup):
            step()
        times = []
        for _ in range(args.iterations):
            _sync(dev)
            t0 = time.perf_counter()
            step()
            _sync(dev)
            times.append(time.perf_counter() - t0)
        out["ms"] = 1000 * statistics.median(times)
        return out

    if dev.type == "cpu" and not _reset_hwm():  # fallback: ru_maxrss growth over the first iteration
        gc.collect()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        step()
        out["peak_mib"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        out["peak_how"] = "ru_maxrss, first iteration"
    for _ in range(args.warmup):
        step()
    if "peak_mib" not in out:
        gc.collect()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
            torch.cuda.reset_peak_memory_stats(dev)
            base = torch.cuda.memory_allocated(dev)
            step()
            torch.cuda.synchronize(dev)
            out["peak_mib"] = (torch.cuda.max_memory_allocated(dev) - base) / MiB
            out["peak_how"] = "cuda max_memory_allocated"
        else:
            _reset_hwm()
            base = _proc_kib("VmRSS")
            step()
            out["peak_mib"] = (_proc_kib("VmHWM") - base) / 1024
            out["peak_how"] = "VmHWM - VmRSS"
    graph = GraphBytes()
    with graph.hooks:
        step()
    gc.collect()
    out["graph_mib"] = graph.peak / MiB
    out["graph_left_mib"] = graph.bytes / MiB  # should be 0: the graph is gone after the step
    out["process_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["import_mib"] = first_maxrss / 1024
    return out


def spawn(strategy: str, k: int, args: argparse.Namespace, what: str) -> dict:
    env = dict(os.environ)
    if what == "memory" and args.device == "cpu":
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    cmd = [sys.executable, os.path.abspath(__file__), "--case", f"{strategy}:{k}:{what}"]
    cmd += ["--device", args.device, "--batch", str(args.batch), "--threads", str(args.threads)]
    cmd += ["--iterations", str(args.iterations), "--warmup", str(args.warmup)]
    for item in args.set:
        cmd += ["--set", item]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"case {strategy} K={k} ({what}) failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ks", default="1,5,10,20", help="comma-separated unroll lengths K")
    ap.add_argument("--strategies", default="unrolled,implicit")
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every case")
    ap.add_argument("--case", help=argparse.SUPPRESS)  # internal: STRATEGY:K:time|memory in this process
    args = ap.parse_args()
    extra = dict(item.split("=", 1) for item in args.set)
    if args.case:
        strategy, k, what = args.case.split(":")
        print(json.dumps(run_case(strategy, int(k), args, extra, what)))
        return

    ks = [int(k) for k in args.ks.split(",")]
    strategies = args.strategies.split(",")
    where = (
        torch.cuda.get_device_name()
        if args.device == "cuda"
        else f"{platform.machine()} CPU, {os.cpu_count()} cores"
    )
    print(f"# {where}, {args.threads} thread(s), torch {torch.__version__}, device {args.device}, "
          f"batch {args.batch}, median of {args.iterations} after {args.warmup} warm-up")  # fmt: skip
    print("| strategy | K | ms / it | graph MiB | peak MiB | process MiB |")
    print("|---|---|---|---|---|---|")
    res: dict[tuple[str, int], dict] = {}
    for k in ks:
        for s in strategies:
            r = {**spawn(s, k, args, "time"), **spawn(s, k, args, "memory")}
            res[s, k] = r
            mark = "*" if r["peak_how"].startswith("ru_maxrss") else ""
            print(
                f"| {s} | {k} | {r['ms']:.0f} | {r['graph_mib']:.1f} | {r['peak_mib']:.1f}{mark} "
                f"| {r['process_mib']:.0f} |",
                flush=True,
            )
            if r["graph_left_mib"] > 0:
                print(f"#   note: {r['graph_left_mib']:.1f} MiB of saved tensors still held after the step")
    if {"unrolled", "implicit"} <= set(strategies):
        print()
        print("| K | time implicit / unrolled | graph implicit / unrolled | peak implicit / unrolled |")
        print("|---|---|---|---|")
        for k in ks:
            u, i = res["unrolled", k], res["implicit", k]
            print(
                f"| {k} | {i['ms'] / u['ms']:.2f} | {i['graph_mib'] / u['graph_mib']:.2f} "
                f"| {i['peak_mib'] / u['peak_mib']:.2f} |"
            )
    print(f"# peak MiB measured as: {sorted({r['peak_how'] for r in res.values()})}")


if __name__ == "__main__":
    main()

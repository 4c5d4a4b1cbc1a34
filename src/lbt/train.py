"""The one training loop every method shares, and the notebook-friendly :class:`Trainer`.

Read :meth:`Trainer.fit` top to bottom: step, evaluate every ``eval.every`` iterations (into
the history, TensorBoard and the progress bar), checkpoint, and finally write the metrics and
figures. Evaluation runs under a forked RNG seeded by the iteration, so how often you evaluate
never changes the training trajectory.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import signal
import sys
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from lbt import config as config_mod
from lbt import distributed, evaluation, rng, rundir
from lbt.averaging import WeightAverage
from lbt.config import Config
from lbt.datasets import DATASETS, HasUnits, Mixture, PointCloud, make_data
from lbt.errors import LBTError
from lbt.extensions import load_extensions
from lbt.methods import Adversarial, CompilesTeacher, Method, Teaches, build_method
from lbt.metrics import describe
from lbt.optim import cosine_hold
from lbt.resume import reopen
from lbt.signals import Interrupted, NonFiniteError, StopSignals
from lbt.threads import intra_op_threads

DATA_BUILDERS = DATASETS  # the registry's name before it moved to lbt.datasets


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise LBTError("device=cuda but no CUDA GPU is visible; use device=cpu or device=auto")
    return torch.device(name)


def training_threads(threads: int, data: object) -> int | None:
    """torch's CPU threads while training: ``train.threads``, or (0) one for point data unless
    ``OMP_NUM_THREADS`` is set, else None (as they are). The point presets' networks are
    launch-bound: a second thread gains at most 1.4x on idle cores and costs 20-30x when another job
    shares them (docs/benchmarks.md)."""
    if threads > 0:
        return threads
    if isinstance(data, (Mixture, PointCloud)) and "OMP_NUM_THREADS" not in os.environ:
        return 1
    return None


def lr_scale(cfg: Config, it: int, gen_lr: float | None = None) -> float:
    """The generator's learning-rate factor: held at 1 for the first ``train.gen_lr_hold`` of the
    run, then a cosine decay to ``train.gen_lr_final`` (if >= 0) at the last iteration.

    ``gen_lr`` is the base rate the factor multiplies (:meth:`Method.generator_lr`: the GAN
    baselines run at ``gan.gen_lr``), default ``train.gen_lr``: every method's rate ends at
    ``train.gen_lr_final`` itself, not at the same fraction of different base rates.

    The hold lets a teacher-driven generator leave its early flat phase at the full rate and
    still end on the small rate that keeps its modes sharp and stable.
    """
    t = cfg.train
    return cosine_hold(it, t.iterations, t.gen_lr_hold, t.gen_lr_final / (gen_lr or t.gen_lr))


class Trainer:
    """Build a run from a config (or your own modules), then ``fit()``, ``sample(n)``, ``evaluate()``.

    ``out_dir=None`` keeps everything in memory (handy in a notebook); with a directory the
    trainer writes config.yaml, history.csv, TensorBoard events, checkpoint.pt, metrics.json,
    density.png and curves.png there. The installed extensions are loaded first
    (:func:`lbt.extensions.load_extensions`), so their presets, sections and builders are there.
    """

    def __init__(
        self,
        cfg: Config | None = None,
        *,
        preset: str | None = None,
        overrides: dict[str, Any] | None = None,
        generator: nn.Module | None = None,
        estimator: nn.Module | None = None,
        data: Any = None,
        out_dir: str | Path | None = None,
        progress: bool | None = True,
        device: str | None = None,
    ) -> None:
        load_extensions()
        self.cfg = cfg if cfg is not None else config_mod.build(preset, overrides)
        self.out = Path(out_dir) if out_dir is not None else None
        # None: a live bar on a terminal, one line per evaluation otherwise (logs, CI).
        self.progress = sys.stderr.isatty() if progress is None else progress
        self._log_lines = progress is None and not self.progress
        self.device = resolve_device(device or self.cfg.device)
        if distributed.init(self.cfg.train.dist_timeout, self.device.type) and self.device.type == "cuda":
            self.device = torch.device("cuda", distributed.local_rank())
        if not distributed.is_main():  # rank 0 alone reports and writes
            self.progress = self._log_lines = False
        rng.seed_everything(self.cfg.seed)
        self.data = data if data is not None else make_data(self.cfg)
        self.method: Method = build_method(self.cfg, self.data.dim, generator, estimator).to(self.device)
        passed = {"generator": generator, "estimator": estimator}  # the caller's own networks, if any
        self._data_parallel({name for name, net in passed.items() if net is not None})
        if self.cfg.train.compile != "none":
            if not isinstance(self.method, CompilesTeacher):
                raise LBTError(f"train.compile compiles a teacher's steps; train.method="
                               f"{self.cfg.train.method} has none (use train.compile=none)")  # fmt: skip
            self.method.compile_teacher(self.cfg.train.compile)
        g, e = self.cfg.train.gen_ema, self.cfg.train.est_ema
        self.average = WeightAverage(self.method.generator, g) if g > 0 else None
        if e > 0 and not isinstance(self.method, Teaches):
            raise LBTError(f"train.est_ema averages a teacher; train.method={self.cfg.train.method} has none")
        self.est_average = WeightAverage(self.method.estimator, e) if e > 0 else None
        kept = {"gen_average": self.average, "est_average": self.est_average}  # checkpoint keys
        self.averages: dict[str, WeightAverage] = {k: a for k, a in kept.items() if a is not None}
        self.iteration = 0
        self.train_seconds = 0.0
        self.history: list[dict[str, float]] = []
        self.metrics: dict[str, Any] = {}
        self.wall_seconds = 0.0
        self.lr_factor = 1.0  # lowered by NaN rollbacks
        self.rollbacks = 0
        self.events: list[dict[str, Any]] = []
        self._run_dir: rundir.RunDirectory | None = None
        self._good: dict[str, Any] = {}

    def _data_parallel(self, passed: Collection[str] = ()) -> None:
        """Under torchrun: the same networks on every rank, each rank drawing its share of every
        batch from its own random streams, batch norm on the whole batch's statistics
        (docs/distributed.md); nothing in one process. ``passed``: the networks the caller made
        (not from the config's ``model.*`` keys), for the error that names a network."""
        if distributed.world() == 1:
            return
        options = {name: f"model.{name}={getattr(self.cfg.model, name)}"
                   for name in ("generator", "discriminator", "estimator") if name not in passed}  # fmt: skip
        self.method = distributed.sync_batch_norm(self.method, self.device.type, options)
        with distributed.guard():
            distributed.broadcast_params(self.method)
        m = self.method
        packing = m.adv.packing if isinstance(m, Adversarial) else 1
        for name, n in (("batch_size", m.batch_size), ("gen_batch_size", m.gen_batch_size)):
            if n is not None:
                share = distributed.shard(n, f"train.{name}")
                if share % packing:
                    raise LBTError(f"gan.pack={packing} must divide each rank's train.{name} ({share})")
                setattr(m, name, share)
        distributed.seed_rank(self.cfg.seed)

    def _writes(self) -> bool:
        return self.out is not None and distributed.is_main()

    # -- data and sampling ---------------------------------------------------------------
    def data_fn(self, n: int) -> Tensor:
        return self.data.sample(n).to(self.device)

    def sample(self, n: int) -> Tensor:
        """``n`` generator samples on the CPU (from the averaged weights under ``train.gen_ema``), in
        the data's own units (a standardised point cloud's generator learns standardised rows)."""
        with self.averaged():
            x = self.method.sample(n).cpu()
        return self.data.to_data_units(x) if isinstance(self.data, HasUnits) else x

    @contextlib.contextmanager
    def averaged(self) -> Iterator[None]:
        """Inside the block the generator and the teacher hold their weight averages
        (``train.gen_ema``, ``train.est_ema``) where they are kept, else their own weights."""
        with contextlib.ExitStack() as stack:
            for average in self.averages.values():
                stack.enter_context(average.swapped_in())
            yield

    # -- evaluation ----------------------------------------------------------------------
    def evaluate(self, n: int | None = None, seed_offset: int = 0, final: bool = False) -> dict[str, float]:
        """Metrics on ``n`` fresh samples (default ``eval.samples``), reproducible for a given run.

        ``final``: the evaluation at the end of training (or ``lbt eval``), where a data set that
        scores itself adds its costly metrics (IWAE, FID / KID / IS); the sample count does not
        decide that, so a training evaluation as large as ``eval.samples`` stays a cheap one.
        """
        n = n or self.cfg.eval.samples
        stream = self.cfg.seed * 1_000_003 + self.iteration + seed_offset
        with rng.forked(stream, self.device), self.averaged():
            return evaluation.metrics(self.method, self.data, self.cfg, n, self.sample, self.data_fn, final)

    def reached_quality(self, row: dict[str, float]) -> bool:
        return evaluation.reached_quality(row, self.cfg.eval.target_quality)

    # -- the loop ------------------------------------------------------------------------
    def fit(self, iterations: int | None = None) -> dict[str, Any]:
        """Train up to ``iterations`` (default ``train.iterations``) and return the final metrics.

        SIGINT/SIGTERM finish the current iteration, write a checkpoint and raise
        :class:`Interrupted`; a non-finite loss or gradient raises :class:`NonFiniteError`
        (``train.on_nan=stop``) or rolls back to the last good checkpoint with lower learning
        rates (``train.on_nan=rollback``).
        """
        with intra_op_threads(training_threads(self.cfg.train.threads, self.data)):
            return self._fit(iterations)

    def _fit(self, iterations: int | None) -> dict[str, Any]:
        cfg = self.cfg
        total = iterations if iterations is not None else cfg.train.iterations
        self._open_run_dir()
        self._good = self._snapshot()
        bar = self._progress_bar(total)
        self.method.train()
        t_start = time.perf_counter() - self.wall_seconds
        stop_early = False
        with StopSignals() as signals, distributed.guard(), self._discarded_if_it_crashes_unstarted():
            try:
                while self.iteration < total and not stop_early:
                    distributed.fault(self.iteration)
                    t0 = time.perf_counter()
                    scale = lr_scale(cfg, self.iteration, self.method.generator_lr()) * self.lr_factor
                    logs = self.method.step(self.data_fn, scale)
                    logs = distributed.mean(logs)  # every rank sees the same numbers (NaN anywhere: all)
                    for average in self.averages.values():
                        average.update()
                    self.train_seconds += time.perf_counter() - t0
                    self.iteration += 1
                    bar.update(1)
                    bad = [k for k, v in logs.items() if not math.isfinite(v)]
                    if bad:
                        self._non_finite(bad, logs, bar)
                        continue
                    row = None
                    if self.iteration % cfg.eval.every == 0 or self.iteration == total:
                        row = self._record(logs)
                        stop_early = cfg.eval.stop_at_quality and self.reached_quality(row)
                    # Ranks decide together (one all-reduce), so they run the same collectives.
                    interrupted, stop_early, over_time = distributed.agree(
                        signals.received, stop_early, 0 < cfg.train.time_limit <= self.train_seconds
                    )
                    if over_time and not stop_early:
                        if not self.history or self.history[-1]["iteration"] != self.iteration:
                            self._record(logs)
                        stop_early = True
                    every = cfg.train.checkpoint_every
                    if every > 0 and self.iteration % every == 0:
                        self._commit_good()
                    if row is not None:  # after the checkpoint: a printed iteration is a resumable one
                        self._show(bar, row)
                    if interrupted:
                        self.wall_seconds = time.perf_counter() - t_start
                        self._commit_good()
                        raise Interrupted(signals.received or signal.SIGTERM, self.iteration, self.out)
            finally:
                bar.close()
        self.wall_seconds = time.perf_counter() - t_start
        self.metrics = self._finish()
        return self.metrics

    # -- failure handling ----------------------------------------------------------------
    def _snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self.checkpoint_payload())

    def _commit_good(self) -> None:
        """This state is good: keep it in memory and on disk (the rollback/resume point)."""
        self._good = self._snapshot()
        if self._writes():
            self.run_dir.save_checkpoint(self._good)

    def _non_finite(self, bad: list[str], logs: dict[str, float], bar: Any) -> None:
        cfg = self.cfg.train
        what = ", ".join(f"{k}={logs[k]}" for k in bad)
        if cfg.on_nan != "rollback" or self.rollbacks >= cfg.max_rollbacks:
            extra = f" after {self.rollbacks} rollbacks" if self.rollbacks else ""
            raise NonFiniteError(
                f"non-finite value at iteration {self.iteration}: {what}{extra}; "
                + (f"the last good checkpoint (iteration {self._good['iteration']}) in {self.out} is intact"
                   if self.out is not None else "no checkpoint was written")
            )  # fmt: skip
        count, factor, failed_at = self.rollbacks + 1, self.lr_factor * cfg.rollback_lr_factor, self.iteration
        self.load_state(self._good)
        self.rollbacks, self.lr_factor = count, factor
        self.method.lr_factor = factor
        self.events.append({"iteration": failed_at, "event": "rollback", "to": self.iteration,
                            "lr_factor": self.lr_factor, "quantities": bad})  # fmt: skip
        bar.n = self.iteration
        msg = (f"non-finite {', '.join(bad)} at iteration {failed_at}: rolled back to iteration "
               f"{self.iteration}, learning-rate factor now {self.lr_factor:g}")  # fmt: skip
        if distributed.is_main():
            print(f"lbt: warning: {msg}", file=sys.stderr)
        self._commit_good()

    def _record(self, logs: dict[str, float]) -> dict[str, float]:
        row: dict[str, float] = {"iteration": self.iteration, "train_seconds": self.train_seconds}
        row.update(logs)
        row.update(self.evaluate(self.cfg.eval.train_samples))
        self.history.append(row)
        if self._writes():
            self.run_dir.log(self.history, self.iteration)
        if self.cfg.train.checkpoint_every == 0:
            self._commit_good()
        return row

    def _finish(self) -> dict[str, Any]:
        final = self.evaluate(self.cfg.eval.samples, seed_offset=7, final=True)
        metrics: dict[str, Any] = {
            **final,
            "iterations": self.iteration,
            "wall_seconds": self.wall_seconds,
            "train_seconds": self.train_seconds,
            "seed": self.cfg.seed,
            "preset": self.cfg.preset,
            "method": self.cfg.train.method,
            "rollbacks": self.rollbacks,
            "world_size": distributed.world(),
        }
        if self.out is not None:
            self._commit_good()
        if self._writes():
            self.run_dir.write_metrics(metrics, self.events)
            self.figures()
            self.run_dir.close()
        return metrics

    # -- run directory -------------------------------------------------------------------
    @property
    def run_dir(self) -> rundir.RunDirectory:
        """The run directory's writer for ``self.out`` (made again when ``out`` changes)."""
        if self._run_dir is None or self._run_dir.path != self.out:
            self._run_dir = rundir.RunDirectory(self.out)
        return self._run_dir

    def _open_run_dir(self) -> None:
        if self._writes():
            self.run_dir.open(self._write_run_files)

    def _write_run_files(self, out: Path) -> None:
        """config.yaml with provenance, and a point cloud's standardisation."""
        meta = rundir.provenance()
        meta["seed"] = self.cfg.seed
        meta["world_size"] = distributed.world()
        config_mod.save(self.cfg, out / "config.yaml", meta)
        if isinstance(self.data, HasUnits):  # the mean / std the generator's samples are mapped back by
            rundir.write_json(out / "standardization.json", self.data.units())

    def _discarded_if_it_crashes_unstarted(self) -> contextlib.AbstractContextManager[None]:
        if not self._writes():
            return contextlib.nullcontext()
        return self.run_dir.discarded_if_it_crashes_unstarted()

    def checkpoint_payload(self) -> dict[str, Any]:
        """Everything a resume needs; under torchrun a collective (every rank's random streams)."""
        rank_rng = distributed.all_gather_object(rng.get_state()) if distributed.world() > 1 else None
        extra = {} if rank_rng is None else {"rank_rng": rank_rng}
        return {
            **extra,
            "world_size": distributed.world(),
            "format": 1,
            "config": self.cfg.to_dict(),
            "iteration": self.iteration,
            "train_seconds": self.train_seconds,
            "method": self.method.state_dict(),
            "optimizers": self.method.optimizer_states(),
            "history": self.history,
            "rng": rng.get_state(),
            "device": self.device.type,
            "wall_seconds": self.wall_seconds,
            "lr_factor": self.lr_factor,
            "rollbacks": self.rollbacks,
            "events": self.events,
            **{key: average.state_dict() for key, average in self.averages.items()},
        }

    def save_checkpoint(self) -> None:
        if self.out is not None:
            payload = self.checkpoint_payload()
            if self._writes():
                self.run_dir.save_checkpoint(payload)

    @classmethod
    def resume(cls, run: str | Path, overrides: list[tuple[str, Any]] | None = None,
               progress: bool | None = None, checkpoint: str | Path | None = None,
               cpu_fallback: bool = False) -> Trainer:  # fmt: skip
        """Reopen a run directory at its last checkpoint (or ``checkpoint``), every state restored.

        ``overrides`` may change budgets, evaluation and learning rates, but not anything that
        shapes the networks or the data (that checkpoint could not be loaded faithfully).
        ``cpu_fallback``: to evaluate, not to train on, a GPU run opens on the CPU when no GPU is
        visible (``lbt eval``).
        """
        load_extensions()  # before the config: it may hold an extension's section
        cfg, payload, device = reopen(run, overrides, checkpoint, cpu_fallback)
        trainer = cls(cfg, out_dir=None, progress=progress, device=device)
        trainer.load_state(payload)
        trainer.out = Path(run)
        return trainer

    def load_state(self, payload: dict[str, Any]) -> None:
        """Restore everything a checkpoint holds (networks, optimizer states, RNGs, history)."""
        try:
            self.method.load_state_dict(payload["method"])
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise LBTError(f"checkpoint does not fit this config's networks: {first}") from None
        self.method.load_optimizer_states(payload["optimizers"])
        self.iteration = int(payload["iteration"])
        self.train_seconds = float(payload.get("train_seconds", 0.0))
        self.history = copy.deepcopy(list(payload.get("history", [])))
        self.wall_seconds = float(payload.get("wall_seconds", 0.0))
        self.lr_factor = float(payload.get("lr_factor", 1.0))
        self.method.lr_factor = self.lr_factor
        self.method.to(self.device)  # optimizer states come off the checkpoint on the CPU
        self.rollbacks = int(payload.get("rollbacks", 0))
        self.events = copy.deepcopy(list(payload.get("events", [])))
        for key, average in self.averages.items():
            if key in payload:  # absent: a checkpoint from before the average was switched on
                average.load_state_dict(payload[key])
        rng.set_state(payload["rng"])
        if distributed.world() > 1:  # each rank its own streams; fresh ones after a world-size change
            states = payload.get("rank_rng")
            if states is not None and len(states) == distributed.world():
                rng.set_state(states[distributed.rank()])
            else:
                distributed.seed_rank(self.cfg.seed, self.iteration)

    def figures(self) -> None:
        """The data set's figures (2-D: density.png, the paper's Fig. 1, and curves.png, Fig. 2)."""
        if not self._writes():
            return
        with rng.forked(self.cfg.seed, self.device), self.averaged():
            evaluation.figures(self.method, self.data, self.cfg.train.method, self.iteration, self.out,
                               self.history, self.sample)  # fmt: skip

    def _progress_bar(self, total: int) -> Any:
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=self.iteration, disable=not self.progress, mininterval=0.5,
                    desc=f"{self.cfg.train.method} {self.cfg.preset}", dynamic_ncols=True)  # fmt: skip

    def _show(self, bar: Any, row: dict[str, float]) -> None:
        post = self._postfix(row)
        bar.set_postfix(post, refresh=False)
        if self._log_lines:
            text = " ".join(f"{k}={v}" for k, v in post.items())
            print(f"iteration {self.iteration}: {text}", flush=True)

    @staticmethod
    def _postfix(row: dict[str, float]) -> dict[str, str]:
        keys = (
            "high_quality_fraction",
            "inner_mode_kl",
            "elbo_data",
            "precision",
            "recall",
            "energy_distance",
        )
        return dict(describe(row, short=True, keys=keys))

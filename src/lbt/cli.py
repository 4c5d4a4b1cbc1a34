"""``lbt`` command line: train, eval, compare, data, presets, keys.

User mistakes (bad keys, values, files) print one ``lbt: error: ...`` line and exit with code 2,
as do file-system refusals (an ``--out`` that cannot be a directory, a full disk), a batch too
large for the machine's memory and an extension that fails to load; ``--debug`` shows the
traceback instead. The built-in commands are registered in :data:`lbt.commands.COMMANDS` here;
:func:`main` loads the installed extensions (:mod:`lbt.extensions`), which may add theirs, first.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from lbt.commands import COMMANDS, Command
from lbt.errors import LBTError
from lbt.extensions import load_extensions

EXIT_USAGE = 2  # bad input: config, data, checkpoint
EXIT_NUMERIC = 3  # training diverged (NaN/inf) and was stopped
EXIT_DISTRIBUTED = 4  # torchrun: another rank died or hung (a collective failed or timed out)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--debug", action="store_true", help="show full tracebacks")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lbt", description="Learning by Teaching for implicit generators")
    sub = ap.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help)
        command.arguments(p)
        _add_common(p)
    return ap


def train_arguments(t: argparse.ArgumentParser) -> None:
    from lbt.config import CHOICES

    t.add_argument("--preset", default=None, help="named recipe (see `lbt presets`); default ring")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.gen_lr=1e-3 (repeatable)")  # fmt: skip
    t.add_argument("--iterations", type=int, default=None, help="number of training iterations")
    t.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    t.add_argument("--out", default=None, help="run directory (default runs/PRESET-TIMESTAMP)")
    t.add_argument("--data-dir", default=None, help="where data files live (also LBT_DATA_DIR)")
    t.add_argument("--resume", default=None, metavar="RUN",
                   help="continue RUN (a run directory, or one of its checkpoint files)")  # fmt: skip
    t.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                   help="checkpoint every N iterations (default: at every evaluation)")  # fmt: skip
    t.add_argument("--on-nan", choices=CHOICES["train.on_nan"], default=None,
                   help="on a NaN/inf loss or gradient: stop (default) or roll back")  # fmt: skip


def cmd_train(args: argparse.Namespace) -> int:
    from lbt import distributed

    with distributed.guard():
        code = _train(args)
    distributed.shutdown()
    return code


def _train(args: argparse.Namespace) -> int:
    from lbt import config, distributed, rundir
    from lbt.train import Trainer

    if args.data_dir:
        os.environ["LBT_DATA_DIR"] = str(args.data_dir)
    progress = False if args.no_progress else None
    top = {"train.iterations": args.iterations, "seed": args.seed,
           "train.checkpoint_every": args.checkpoint_every, "train.on_nan": args.on_nan}  # fmt: skip
    overrides = config.parse_overrides(args.overrides)
    if args.resume:
        if args.preset or args.out or args.seed is not None:
            raise LBTError("--resume continues a run with its own config; drop --preset/--out/--seed")
        run, ckpt = Path(args.resume), None
        if run.is_file():
            run, ckpt = run.parent, run
        if not (run / "config.yaml").is_file():
            raise LBTError(f"cannot resume {run}: no config.yaml there (is it a run directory?)")
        extra = [(k, v) for k, v in top.items() if v is not None]
        trainer = Trainer.resume(run, overrides + extra, progress=progress, checkpoint=ckpt)
        out = run
        if distributed.is_main():
            print(f"resuming {run} at iteration {trainer.iteration}", file=sys.stderr)
    else:
        cfg = config.build(args.preset, overrides, **top)
        if args.out:
            out = Path(args.out)
            if (out / "config.yaml").exists() or (out / "checkpoint.pt").exists():
                raise LBTError(f"{out} already holds a run; continue it with --resume {out} "
                               "or choose another --out (nothing was changed)")  # fmt: skip
        else:
            out = Path("runs") / f"{cfg.preset}-{datetime.now():%Y%m%d-%H%M%S}"
        rundir.check_can_be_made(out)
        trainer = Trainer(cfg, out_dir=out, progress=progress)
        trainer.out = out = Path(distributed.broadcast_object(str(out)))  # torchrun: rank 0's name
    metrics = trainer.fit()
    if distributed.is_main():
        print(_summary(metrics))
        print(f"run directory: {out}")
    return 0


def eval_arguments(e: argparse.ArgumentParser) -> None:
    e.add_argument("run_dir", help="a run directory written by `lbt train`")
    e.add_argument("--samples", type=int, default=None, help="samples to evaluate (default: the run's)")


def cmd_eval(args: argparse.Namespace) -> int:
    from lbt.train import Trainer

    run = Path(args.run_dir)
    if not run.is_dir():
        raise LBTError(f"{run} is not a directory")
    # Reopened as a resume would (on the device it can load on), but a GPU run without a GPU here
    # is simply evaluated on the CPU: nothing continues, so nothing needs the same device.
    trainer = Trainer.resume(run, progress=False, cpu_fallback=True)
    metrics = trainer.evaluate(args.samples or trainer.cfg.eval.samples, seed_offset=7, final=True)
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return 0


def compare_arguments(c: argparse.ArgumentParser) -> None:
    from lbt.compare import add_arguments

    add_arguments(c)


def cmd_compare(args: argparse.Namespace) -> int:
    from lbt.compare import run_from_args

    return run_from_args(args)


def data_arguments(d: argparse.ArgumentParser) -> None:
    d.add_argument("dataset", choices=["mnist", "cifar10"], help="which data set")
    d.add_argument("--data-dir", default=None,
                   help="where to put the files (default: $LBT_DATA_DIR, else ./data/DATASET)")  # fmt: skip


def cmd_data(args: argparse.Namespace) -> int:
    from lbt.datasets import cifar10, mnist

    if args.dataset == "cifar10":
        directory = cifar10.data_dir(args.data_dir)
        print(f"ok  {cifar10.download(directory)}")
        print(f"CIFAR-10 is ready in {directory}; train with --set data.name=cifar10 --data-dir {directory}")
        return 0
    directory = mnist.data_dir(args.data_dir)
    for p in mnist.download(directory):
        print(f"ok  {p}")
    print(f"MNIST is ready in {directory}; train with --data-dir {directory} (or LBT_DATA_DIR)")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from lbt import config

    for name in sorted(config.PRESETS):  # resolved: defaults and the method's recipe applied
        c = config.presets.resolve(name)
        print(f"{name:22s} data={c.data.name:14s} method={c.train.method:10s} "
              f"estimator={c.model.estimator:16s} iterations={c.train.iterations}")  # fmt: skip
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from lbt import config

    cfg = config.Config()
    for key in config.keys(cfg):
        obj = cfg
        for part in key.split("."):
            obj = getattr(obj, part)
        print(f"{key} = {obj!r}")
    return 0


def _summary(m: dict) -> str:
    from lbt.metrics import describe

    parts = [
        f"{label} {value}" for label, value in describe(m) if label != "estimator log-likelihood of data"
    ]
    parts.append(f"{m['iterations']} iterations in {m['wall_seconds']:.0f} s")
    return "; ".join(parts)


COMMANDS.update({
    "train": Command("train a generator (default preset: ring, a few minutes on a CPU)", cmd_train,
                     train_arguments),
    "eval": Command("recompute a run's metrics from its checkpoint", cmd_eval, eval_arguments),
    "compare": Command("train several methods x seeds and tabulate/plot them", cmd_compare,
                       compare_arguments),
    "data": Command("download and verify a data set (mnist, cifar10)", cmd_data, data_arguments),
    "presets": Command("list the presets", cmd_presets),
    "keys": Command("list every config key with its default", cmd_keys),
})  # fmt: skip


def _out_of_memory(exc: BaseException) -> str | None:
    """The one line for a failed allocation (CPU or GPU), or None if ``exc`` is something else."""
    text = str(exc)
    if not (isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"
            or "can't allocate memory" in text or "out of memory" in text.lower()):  # fmt: skip
        return None
    size = ""
    if m := re.search(r"allocate (\d+) bytes", text):  # the CPU allocator
        size = f" (could not allocate {int(m.group(1)) / 2**30:.1f} GiB)"
    elif m := re.search(r"[Tt]ried to allocate ([\d.]+ [KMGT]i?B)", text):  # CUDA
        size = f" (could not allocate {m.group(1)})"
    return (f"out of memory{size}: lower train.batch_size, train.gen_batch_size or eval.samples, "
            "or use a machine with more memory")  # fmt: skip


def _os_error(exc: OSError) -> str:
    """``FILE: reason`` for a file-system refusal (permissions, a full disk), without a traceback."""
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    try:
        load_extensions()  # before the parser: an extension may add commands, presets, keys
        args = parser().parse_args(argv)
    except LBTError as exc:  # an extension failed to load
        print(f"lbt: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return COMMANDS[args.command].run(args)
    except LBTError as exc:
        from lbt.distributed import DistributedError
        from lbt.train import Interrupted, NonFiniteError

        if args.debug:
            raise
        print(f"lbt: error: {exc}", file=sys.stderr)
        if isinstance(exc, Interrupted):
            return 128 + exc.signum
        if isinstance(exc, DistributedError):  # skip the broken process group's teardown (it aborts)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_DISTRIBUTED)
        return EXIT_NUMERIC if isinstance(exc, NonFiniteError) else EXIT_USAGE
    except KeyboardInterrupt:
        print("lbt: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`lbt presets | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if args.debug:
            raise
        print(f"lbt: error: {_os_error(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except (MemoryError, RuntimeError) as exc:  # a batch too large for the machine: say so in one line
        line = _out_of_memory(exc)
        if line is None or args.debug:
            raise
        print(f"lbt: error: {line}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    from lbt.cli import main as package_main  # python -m lbt.cli: the one lbt.cli, as imported elsewhere

    sys.exit(package_main())

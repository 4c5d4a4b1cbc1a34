"""Milliseconds per LBT iteration: the authors' official TensorFlow 1 code against ours, same settings.

    python benchmarks/official_anchor.py --official /path/to/Learning-By-Teaching \\
        --tf-python /path/to/tf-venv/bin/python --preset paper-ring --rounds 3 --iterations 30

What it measures. One LBT iteration of the official toy script (``LBT_toy.py`` of
taufikxu/Learning-By-Teaching), exactly as its training loop runs it: ``n_est`` runs of
``e_train_op`` (fetching ``elbo_genx_at_steps[-1]``, learning rate fed ``3 * est_lr``), then one run
of ``[unrolled_elbo_data, g_grads_norm_, g_train_op]`` (learning rate ``est_lr``); and one iteration
of ours, ``trainer.method.step(trainer.data_fn)`` of ``lbt.Trainer(preset=...)``, with
``train.compile`` each of ``--compile`` (``none``: eager autograd, the reference; ``inductor``:
the teacher's steps through ``torch.compile``). The official command-line flags are derived from
the preset's resolved config, and every setting the official code hard-codes (decoder variance,
Adam constants, clipping, layer sizes, ...) is checked against it first, so a preset the official
code cannot express is refused with the list of differences (``--show-settings`` prints the
side-by-side table and stops).

How. Every run is a fresh subprocess on ``--threads`` threads (default one: ``OMP_NUM_THREADS``,
``TF_NUM_INTRAOP_THREADS`` ... in the environment, ``tf.ConfigProto(intra_op_parallelism_threads,
inter_op_parallelism_threads)`` for the session, ``torch.set_num_threads``). The cases alternate,
official, ours per compile mode, official, ..., for ``--rounds`` rounds, so a change in the
machine's load hits them alike. In each run ``--warmup`` iterations are run and discarded (they
hold TensorFlow's first-run graph optimisations and inductor's compilation, reported as "warm-up
s"), then ``--iterations`` are timed one by one. Prints the settings table and a Markdown table:
median ms / iteration per round and overall (all rounds' iterations pooled), and the ratio ours /
official; then the machine, threads, versions and date.

The official code carries no licence, so nothing of it is in this project: you pass the path of
your own checkout (``git clone https://github.com/taufikxu/Learning-By-Teaching``). The script
copies it into a temporary directory and makes it run under Python 3 and TensorFlow 2's
``compat.v1`` there, by exact string replacements (each must match, or the script stops and says
which) and two small stand-in modules it writes (``_anchor_compat.py``: contrib's ``arg_scope`` /
``add_arg_scope`` and the timing hooks; ``coloredlogs.py``: a no-op ``install``). The changes are
listed in ``PATCHES`` below and in docs/benchmarks.md. ``--tf-python`` is an interpreter with
TensorFlow 2 (``tensorflow.compat.v1``), ``tf-keras`` (``tf.layers`` under
``TF_USE_LEGACY_KERAS=1``) and ``tensorflow-probability``; default ``$LBT_TF_PYTHON``, else
``python`` on ``PATH``. Ours runs under this script's own interpreter (the project's).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MARKER = "ANCHOR_RESULT "  # the line a worker prints its JSON result on
OFFICIAL = "official"
NEEDED_FILES = ("LBT_toy.py", "nn.py", "utils.py", "Config/toy_data.py", "Config/__init__.py")
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
               "TF_NUM_INTEROP_THREADS", "TORCHINDUCTOR_COMPILE_THREADS")  # fmt: skip


# -- the compatibility changes, applied to the temporary copy -------------------------------------
@dataclass(frozen=True)
class Patch:
    """Replace ``old`` by ``new`` in ``path``; ``count`` occurrences must be there (None: at least one)."""

    path: str
    why: str
    old: str
    new: str
    count: int | None = 1


PATCHES: tuple[Patch, ...] = (
    # TensorFlow 1 -> tensorflow.compat.v1 with graph mode
    Patch("LBT_toy.py", "TF 1 API: tensorflow.compat.v1 in graph mode",
          "    import tensorflow as tf\n",
          "    import tensorflow.compat.v1 as tf\n    tf.disable_v2_behavior()\n"),
    Patch("nn.py", "TF 1 API: tensorflow.compat.v1", "import tensorflow as tf\n",
          "import tensorflow.compat.v1 as tf\n"),
    Patch("Config/toy_data.py", "TF 1 API: tensorflow.compat.v1; tfp.distributions for contrib's",
          "import tensorflow as tf\nimport tensorflow.contrib.distributions as ds\n",
          "import tensorflow.compat.v1 as tf\nimport tensorflow_probability as tfp\n\n"
          "ds = tfp.distributions\n"),
    # tf.contrib is gone: arg_scope / add_arg_scope from the stand-in module
    Patch("LBT_toy.py", "contrib's arg_scope -> stand-in (and the timing hooks)",
          "    from tensorflow.contrib.framework.python.ops import arg_scope\n",
          "    import _anchor_compat\n    from _anchor_compat import arg_scope\n"),
    Patch("nn.py", "contrib's add_arg_scope -> stand-in",
          "from tensorflow.contrib.framework.python.ops import add_arg_scope\n",
          "from _anchor_compat import add_arg_scope\n"),
    # Python 3
    Patch("LBT_toy.py", "Python 3: xrange -> range", "xrange(", "range(", None),
    Patch("LBT_toy.py", "Python 3: tf.gradients needs a list, not a dict view",
          "tf.gradients(elbo, params.values())", "tf.gradients(elbo, list(params.values()))", 2),
    Patch("LBT_toy.py", "Python 3.9+: the script's frame file is absolute; copy it by base name",
          "script_dst = os.path.abspath(os.path.join(dirname, script_fn))",
          "script_dst = os.path.abspath(os.path.join(dirname, os.path.basename(script_fn)))"),
    Patch("LBT_toy.py", "Python 3: zip is an iterator",
          "g_grads_clipped = zip(g_grads_clipped_, g_vars_)",
          "g_grads_clipped = list(zip(g_grads_clipped_, g_vars_))"),
    # side effects that are not part of an iteration
    Patch("LBT_toy.py", "plotting dropped: no matplotlib / seaborn imports",
          "    import matplotlib.pyplot as plt\n    plt.switch_backend('Agg')\n"
          "    import seaborn as sns\n", ""),
    Patch("LBT_toy.py", "plotting dropped: the visualisation block (it runs at i = 0 whatever viz_every)",
          "        # visualization\n        if i % viz_every == 0:\n",
          "        # visualization: dropped by benchmarks/official_anchor.py\n        if False:\n"),
    # one thread, and the timing
    Patch("LBT_toy.py", "the session on --threads threads (intra- and inter-op)",
          "    sess = tf.InteractiveSession()\n",
          "    sess = tf.InteractiveSession(config=_anchor_compat.session_config())\n"),
    Patch("LBT_toy.py", "timing: clock started before the n_est estimator updates",
          "        # train estimator and generator\n",
          "        # train estimator and generator\n        _anchor_t0 = _anchor_compat.clock()\n"),
    Patch("LBT_toy.py", "timing: clock stopped after the generator update; stop after the last timed one",
          "        elbo_vals.append([elbo_genx_val, elbo_data_val])\n",
          "        elbo_vals.append([elbo_genx_val, elbo_data_val])\n"
          "        if _anchor_compat.record(_anchor_compat.clock() - _anchor_t0):\n            break\n"),
    Patch("LBT_toy.py", "timing: report (and time the data batch alone) after the loop",
          "            saver.save(sess, os.path.join(dirname, 'model_' + str(i)))\n",
          "            saver.save(sess, os.path.join(dirname, 'model_' + str(i)))\n"
          "    _anchor_compat.report(sess, data, elbo_vals)\n"),
)  # fmt: skip

# Written into the temporary copy (ours, not the authors').
COMPAT_MODULE = '''\
"""Stand-ins and timing hooks written by benchmarks/official_anchor.py (not the authors' code)."""

import contextlib
import functools
import json
import os
import statistics
import time

import tensorflow.compat.v1 as tf

# contrib's arg_scope / add_arg_scope: keyword defaults for the decorated functions inside a scope
_SCOPES = [{}]


def add_arg_scope(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **{**_SCOPES[-1].get(wrapper, {}), **kwargs})

    return wrapper


@contextlib.contextmanager
def arg_scope(fns, **kwargs):
    top = dict(_SCOPES[-1])
    for fn in fns:
        top[fn] = {**top.get(fn, {}), **kwargs}
    _SCOPES.append(top)
    try:
        yield
    finally:
        _SCOPES.pop()


# timing
THREADS = int(os.environ["ANCHOR_THREADS"])
WARMUP = int(os.environ["ANCHOR_WARMUP"])
ITERATIONS = int(os.environ["ANCHOR_ITERATIONS"])
clock = time.perf_counter
_times = []


def session_config():
    return tf.ConfigProto(intra_op_parallelism_threads=THREADS, inter_op_parallelism_threads=THREADS)


def record(seconds):
    """Keep one iteration's seconds; True once the warm-up and the timed iterations are done."""
    _times.append(seconds)
    return len(_times) >= WARMUP + ITERATIONS


def report(sess, data, elbo_vals):  # elbo_vals: the loop's, kept alive to the end
    # the stand-in arg_scope must have handed params= to nn.dense: else no estimator variables
    # reach the unrolled Adam and e_train_op does nothing
    adam = tf.global_variables("adam")
    if len(adam) < 3:
        raise SystemExit("arg_scope stand-in failed: %d variables in the adam scope" % len(adam))
    data_s = []
    for _ in range(10):
        t0 = clock()
        sess.run(data)
        data_s.append(clock() - t0)
    import tensorflow_probability as tfp

    print("ANCHOR_RESULT " + json.dumps({
        "times": _times[WARMUP:], "warmup_s": sum(_times[:WARMUP]),
        "data_ms": 1000 * statistics.median(data_s), "adam_variables": len(adam),
        "versions": {"tensorflow": tf.__version__, "tensorflow-probability": tfp.__version__},
    }), flush=True)
'''

COLOREDLOGS_STUB = '''\
"""No-op stand-in for coloredlogs (written by benchmarks/official_anchor.py): sets the level only."""

import logging


def install(level="INFO", logger=None, **kwargs):
    (logger or logging.getLogger()).setLevel(str(level).upper())
'''


def check_checkout(checkout: Path) -> None:
    missing = [name for name in NEEDED_FILES if not (checkout / name).is_file()]
    if missing:
        raise SystemExit(f"official_anchor: {checkout} is not a checkout of taufikxu/Learning-By-Teaching "
                         f"(missing: {', '.join(missing)})")  # fmt: skip


def prepare_official(checkout: Path, into: Path) -> Path:
    """Copy the official checkout to ``into/official`` and apply :data:`PATCHES` there."""
    check_checkout(checkout)
    dest = into / "official"
    shutil.copytree(checkout, dest, ignore=shutil.ignore_patterns(".git", "output", "__pycache__"))
    for patch in PATCHES:
        path = dest / patch.path
        text = path.read_text()
        found = text.count(patch.old)
        if found == 0 or (patch.count is not None and found != patch.count):
            want = "at least 1" if patch.count is None else str(patch.count)
            raise SystemExit(f"official_anchor: patch '{patch.why}' expected {want} match(es) in "
                             f"{patch.path}, found {found}: a different version of the code?")  # fmt: skip
        path.write_text(text.replace(patch.old, patch.new))
    (dest / "_anchor_compat.py").write_text(COMPAT_MODULE)
    (dest / "coloredlogs.py").write_text(COLOREDLOGS_STUB)
    return dest


# -- settings: our resolved preset -> the official flags, and what the official code hard-codes ---
@dataclass
class Settings:
    flags: list[str]
    rows: list[tuple[str, str, str]]  # (setting, ours, official)
    problems: list[str] = field(default_factory=list)


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def official_settings(preset: str) -> Settings:
    """The official flags for ``preset`` and the side-by-side table; ``problems`` lists what differs."""
    from lbt.config import build

    cfg = build(preset, None)
    d, m, t, lb = cfg.data, cfg.model, cfg.train, cfg.lbt
    s = Settings([], [])

    def flag(setting: str, ours_key: str, ours: Any, name: str, value: Any | None = None) -> None:
        value = ours if value is None else value
        s.flags += [f"-{name}", _fmt(value)]
        s.rows.append((setting, f"`{ours_key}` = {_fmt(ours)}", f"`-{name} {_fmt(value)}`"))

    def fixed(setting: str, ours_key: str, ours: Any, official: str, ok: bool) -> None:
        s.rows.append((setting, f"`{ours_key}` = {_fmt(ours)}", official))
        if not ok:
            s.problems.append(f"{setting}: ours {ours_key}={_fmt(ours)}, official {official}")

    fixed("method", "train.method", t.method, "LBT (`LBT_toy.py`)", t.method == "lbt")
    if d.name == "ring":
        flag("data", "data.name", d.name, "dataset")
        fixed("modes", "data.modes", d.modes, "8 (fixed in `ring_mog`)", d.modes == 8)
        flag("ring radius", "data.radius", d.radius, "mog_scale")
    elif d.name == "grid":
        flag("data", "data.name", d.name, "dataset")
        flag("modes", "data.modes", d.modes, "n_mixture")
        side = math.isqrt(d.modes)
        if side * side != d.modes:
            s.problems.append(f"data.modes={d.modes}: the official grid is n x n")
        flag("grid spacing", "data.spacing", d.spacing, "mog_scale")
    else:
        s.problems.append(f"data.name={d.name}: the official toy script has ring and grid only")
    flag("mode std", "data.std", d.std, "mog_std")
    flag("data batch", "train.batch_size", t.batch_size, "batch_size")
    flag("generator batch (per unrolled step)", "train.gen_batch_size", t.gen_batch_size, "batch_size_est")
    s.flags += ["-z_dims", f"{m.z_dim},{m.vae_latent}"]
    s.rows.append(("generator noise, VAE latent", f"`model.z_dim`, `model.vae_latent` = {m.z_dim}, "
                   f"{m.vae_latent}", f"`-z_dims {m.z_dim},{m.vae_latent}`"))  # fmt: skip
    flag("generator lr", "train.gen_lr", t.gen_lr, "gen_lr")
    flag("inner (unrolled) lr", "lbt.est_lr", lb.est_lr, "est_lr")
    flag("estimator updates / iteration", "lbt.n_est", lb.n_est, "n_est")
    flag("unrolled steps K", "lbt.unroll_steps", lb.unroll_steps, "unrolling_steps")
    fixed("steps per estimator update", "lbt.est_steps", lb.est_steps,
          "K (`e_train_op` assigns the unrolled result)", lb.est_steps == lb.unroll_steps)  # fmt: skip
    fixed("estimator-update lr factor", "lbt.est_lr_mult", lb.est_lr_mult, "3 (`3. * est_lr`)",
          lb.est_lr_mult == 3.0)  # fmt: skip
    fixed("generator", "model.generator / gen_layers / gen_hidden / gen_activation",
          f"{m.generator}, {m.gen_layers} x {m.gen_hidden}, {m.gen_activation}",
          "dense 128 tanh x 2, dense 2",
          (m.generator, m.gen_layers, m.gen_hidden, m.gen_activation) == ("mlp", 2, 128, "tanh"))  # fmt: skip
    fixed("estimator", "model.estimator / est_hidden", f"{m.estimator}, {m.est_hidden}",
          "VAE, 128-128 tanh", (m.estimator, m.est_hidden) == ("vae", 128))  # fmt: skip
    fixed("decoder variance", "model.vae_x_var", m.vae_x_var, "0.001 (`vae_x_var`)",
          m.vae_x_var == 1e-3)  # fmt: skip
    fixed("inner optimizer", "lbt.inner_optimizer / adam_eps", f"{lb.inner_optimizer}, {lb.adam_eps:g}",
          "hand-written Adam, b1 0.5, b2 0.999, eps 1e-8 inside the sqrt, v stop-gradient",
          (lb.inner_optimizer, lb.adam_eps, lb.adam_eps_inside_sqrt, lb.adam_second_moment_grad)
          == ("adam", 1e-8, True, False) and lb.fit_adam_eps in (0.0, 1e-8) and t.beta1 == 0.5
          and t.beta2 == 0.999)  # fmt: skip
    fixed("hypergradient", "lbt.hypergrad", lb.hypergrad, "unrolled (`tf.gradients` through K steps)",
          lb.hypergrad == "unrolled")  # fmt: skip
    fixed(
        "generator optimizer",
        "train.beta1 / beta2 / eps",
        f"{t.beta1:g}, {t.beta2:g}, {t.eps:g}",
        "`tf.train.AdamOptimizer(beta1=0.5, epsilon=1e-8)`",
        (t.beta1, t.beta2, t.eps) == (0.5, 0.999, 1e-8),
    )
    fixed("generator lr schedule", "train.gen_lr_final", t.gen_lr_final, "constant", t.gen_lr_final < 0)
    if t.clip_norm <= 0:
        s.flags.append("-no_clip_grad")
        s.rows.append(("gradient clip", f"`train.clip_norm` = {_fmt(t.clip_norm)}", "`-no_clip_grad`"))
    else:
        fixed("gradient clip", "train.clip_norm", t.clip_norm, "global norm 5", t.clip_norm == 5.0)
    for key, value in (("train.gen_ema", t.gen_ema), ("train.est_ema", t.est_ema)):
        if value > 0:
            s.problems.append(f"{key}={value}: the official code has no weight average")
    return s


def settings_table(preset: str, s: Settings) -> str:
    lines = [f"| setting | ours (`{preset}`) | official (`LBT_toy.py`) |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in s.rows]
    return "\n".join(lines)


# -- the workers -----------------------------------------------------------------------------
@dataclass
class Result:
    times: list[float]  # seconds per timed iteration
    warmup_s: float
    wall_s: float  # the whole subprocess: start-up, graph building or compiling, warm-up, timing
    data_ms: float
    versions: dict[str, str]


def thread_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({name: str(threads) for name in THREAD_VARS})
    return env


def run_worker(cmd: list[str], cwd: Path | None, env: dict[str, str], timeout: float, label: str) -> Result:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise SystemExit(f"official_anchor: {label} ran past --timeout {timeout:g} s") from err
    wall = time.perf_counter() - t0
    found = [line for line in proc.stdout.splitlines() if line.startswith(MARKER)]
    if proc.returncode != 0 or not found:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise SystemExit(f"official_anchor: {label} failed (exit {proc.returncode}):\n{tail}")
    out = json.loads(found[-1][len(MARKER) :])
    return Result(out["times"], out["warmup_s"], wall, out["data_ms"], out["versions"])


def official_cmd(args: argparse.Namespace, flags: list[str]) -> list[str]:
    """The official script's command line: the preset's flags, the CPU, and no periodic logging,
    plotting or checkpoint after iteration 0 (the loop stops itself after the timed iterations)."""
    big = str(10 * (args.warmup + args.iterations) + 1000)
    return [args.tf_python, "LBT_toy.py", "-gpu", "-1", "-seed", str(args.seed), *flags,
            "-max_iter", big, "-viz_every", big, "-model_every", big]  # fmt: skip


def official_run(args: argparse.Namespace, copy: Path, flags: list[str]) -> Result:
    env = thread_env(args.threads) | {
        "TF_USE_LEGACY_KERAS": "1",  # tf.layers.dense under TF 2 needs Keras 2 (tf-keras)
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "ANCHOR_THREADS": str(args.threads),
        "ANCHOR_WARMUP": str(args.warmup),
        "ANCHOR_ITERATIONS": str(args.iterations),
    }
    return run_worker(official_cmd(args, flags), copy, env, args.timeout, OFFICIAL)


def ours_run(args: argparse.Namespace, mode: str, cache: Path | None) -> Result:
    """Ours in a subprocess; ``cache``: a fresh inductor cache folder (a cold compile), None: the user's."""
    env = thread_env(args.threads) | ({"TORCHINDUCTOR_CACHE_DIR": str(cache)} if cache else {})
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker-ours", "--preset", args.preset,
           "--compile", mode, "--threads", str(args.threads), "--warmup", str(args.warmup),
           "--iterations", str(args.iterations), "--seed", str(args.seed)]  # fmt: skip
    return run_worker(cmd, None, env, args.timeout, f"ours ({mode})")


def worker_ours(args: argparse.Namespace) -> None:
    """In the subprocess: time ``trainer.method.step`` and print one :data:`MARKER` line."""
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    from lbt.train import Trainer

    overrides = {"train.compile": args.compile, "seed": args.seed}
    trainer = Trainer(preset=args.preset, overrides=overrides, progress=False, device="cpu")
    step, data_fn = trainer.method.step, trainer.data_fn
    t0 = time.perf_counter()
    for _ in range(args.warmup):
        step(data_fn)
    warmup_s = time.perf_counter() - t0
    times = []
    for _ in range(args.iterations):
        t0 = time.perf_counter()
        step(data_fn)
        times.append(time.perf_counter() - t0)
    data_s = []
    for _ in range(10):
        t0 = time.perf_counter()
        data_fn(trainer.cfg.train.batch_size)
        data_s.append(time.perf_counter() - t0)
    out = {"times": times, "warmup_s": warmup_s, "data_ms": 1000 * statistics.median(data_s),
           "versions": {"torch": torch.__version__}}  # fmt: skip
    print(MARKER + json.dumps(out), flush=True)


# -- the report ------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ms(seconds: list[float]) -> float:
    return 1000 * statistics.median(seconds)


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def report(
    args: argparse.Namespace, cases: list[str], results: dict[str, list[Result]], load_start: float
) -> str:
    base = ms([t for r in results[OFFICIAL] for t in r.times])
    rounds = " | ".join(f"round {i + 1}" for i in range(args.rounds))
    lines = [
        f"| case | {rounds} | overall | ours / official | warm-up s | process s | data batch ms |",
        "|---|" + "---:|" * (args.rounds + 5),
    ]
    for case in cases:
        rs = results[case]
        overall = ms([t for r in rs for t in r.times])
        label = "official (TF 1 code, compat.v1)" if case == OFFICIAL else f"ours, train.compile={case}"
        ratio = "1.00" if case == OFFICIAL else f"{overall / base:.2f}"
        cells = " | ".join(f"{ms(r.times):.1f}" for r in rs)
        warm = statistics.median(r.warmup_s for r in rs)
        wall = statistics.median(r.wall_s for r in rs)
        data = statistics.median(r.data_ms for r in rs)
        lines.append(
            f"| {label} | {cells} | **{overall:.1f}** | {ratio} | {warm:.1f} | {wall:.1f} | {data:.2f} |"
        )
    versions: dict[str, str] = {}
    for rs in results.values():
        versions |= rs[0].versions
    lines += [
        "",
        f"Median ms per iteration ({args.iterations} timed after {args.warmup} warm-up, per round; overall: "
        f"all rounds pooled). Preset {args.preset}, seed {args.seed}.",
        f"Machine: {cpu_model()}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.machine()}; "
        f"{args.threads} thread(s) per process; load average (1 min) {load_start:.2f} at the start, "
        f"{load_average():.2f} at the end.",
        "Versions: python " + platform.python_version() + ", "
        + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        + f", numpy {importlib.metadata.version('numpy')} (ours).",
        f"Date: {datetime.date.today().isoformat()}.",
    ]  # fmt: skip
    return "\n".join(lines)


def check_tf_python(tf_python: str) -> None:
    code = "import tensorflow.compat.v1, tensorflow_probability, tf_keras"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_USE_LEGACY_KERAS="1")
    try:
        proc = subprocess.run([tf_python, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    except OSError as err:
        raise SystemExit(f"official_anchor: cannot run --tf-python {tf_python}: {err}") from err
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise SystemExit(f"official_anchor: --tf-python {tf_python} lacks TensorFlow 2, tf-keras or "
                         f"tensorflow-probability ({last})")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent(__doc__.split("\n", 1)[1]),
    )  # fmt: skip
    ap.add_argument("--official", type=Path, help="a local checkout of taufikxu/Learning-By-Teaching")
    tf_python = os.environ.get("LBT_TF_PYTHON") or shutil.which("python") or "python"
    ap.add_argument("--tf-python", default=tf_python,
                    help="interpreter with TensorFlow 2, tf-keras and tensorflow-probability "
                    "(default: $LBT_TF_PYTHON, else python on PATH)")  # fmt: skip
    ap.add_argument(
        "--preset", default="paper-ring", help="our preset (paper-ring, paper-grid; default %(default)s)"
    )
    ap.add_argument("--compile", default="none,inductor",
                    help="our train.compile modes, comma-separated (default %(default)s)")  # fmt: skip
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (default %(default)s)")
    ap.add_argument(
        "--iterations", type=int, default=30, help="timed iterations per run (default %(default)s)"
    )
    ap.add_argument("--warmup", type=int, default=5, help="untimed iterations first (default %(default)s)")
    ap.add_argument("--threads", type=int, default=1, help="threads per process (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="seed of both (default %(default)s)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per run (default %(default)s)")
    ap.add_argument("--fresh-compile-cache", action="store_true",
                    help="give every run of ours an empty inductor cache, so warm-up s is a cold compile "
                    "(default: inductor's own on-disk cache, which later runs reuse)")  # fmt: skip
    ap.add_argument("--keep", action="store_true", help="keep (and print) the patched temporary copy")
    ap.add_argument("--show-settings", action="store_true", help="print the settings table and stop")
    ap.add_argument("--worker-ours", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker_ours:
        worker_ours(args)
        return
    for name in ("rounds", "iterations", "threads"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if args.warmup < 0:
        ap.error("--warmup must be at least 0")

    settings = official_settings(args.preset)
    print(
        f"## Equivalence of settings: {args.preset}\n\n{settings_table(args.preset, settings)}\n", flush=True
    )
    if settings.problems:
        raise SystemExit("official_anchor: the official code cannot run this preset's settings:\n  "
                         + "\n  ".join(settings.problems))  # fmt: skip
    if args.show_settings:
        return
    if args.official is None:
        ap.error("--official PATH (a checkout of taufikxu/Learning-By-Teaching) is required")
    official = args.official.expanduser().resolve()
    check_checkout(official)
    modes = [m.strip() for m in args.compile.split(",") if m.strip()]
    for mode in modes:
        if mode not in ("none", "inductor"):
            ap.error(f"--compile {mode}: ours runs on the CPU here, so none or inductor")
    check_tf_python(args.tf_python)

    tmp = Path(tempfile.mkdtemp(prefix="lbt-official-anchor-"))
    try:
        copy = prepare_official(official, tmp)
        print(f"official command (in {copy if args.keep else 'a patched temporary copy'}):\n  "
              f"{' '.join(official_cmd(args, settings.flags))}\n", flush=True)  # fmt: skip
        cases = [OFFICIAL, *modes]
        load_start = load_average()
        results: dict[str, list[Result]] = {case: [] for case in cases}
        for rnd in range(args.rounds):
            for case in cases:
                if case == OFFICIAL:
                    r = official_run(args, copy, settings.flags)
                else:
                    r = ours_run(
                        args, case, tmp / f"inductor-{rnd}-{case}" if args.fresh_compile_cache else None
                    )
                results[case].append(r)
                print(f"round {rnd + 1}, {case}: {ms(r.times):.1f} ms / iteration "
                      f"(warm-up {r.warmup_s:.1f} s, process {r.wall_s:.1f} s)", flush=True)  # fmt: skip
        print("\n" + report(args, cases, results, load_start))
    finally:
        if args.keep:
            print(f"\npatched copy kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

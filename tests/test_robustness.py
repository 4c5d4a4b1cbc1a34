"""Runs that survive: kill -9 and resume, signals, corrupt checkpoints, NaN guard."""

import csv
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lbt import Trainer
from lbt.train import NonFiniteError

FAST = ["--set", "eval.every=10", "--set", "eval.samples=5000", "--set", "eval.train_samples=1000",
        "--set", "train.batch_size=64", "--set", "train.gen_batch_size=64"]  # fmt: skip
TIMING = {"train_seconds", "wall_seconds"}


def _popen(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "lbt.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip


def _wait_for_line(proc, prefix):
    for line in proc.stdout:
        if line.startswith(prefix):
            return line
    raise AssertionError(f"process ended before printing {prefix!r}: {proc.stderr.read()}")


def _history(path):
    with open(path) as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


def _metrics(path):
    return {k: v for k, v in json.loads(path.read_text()).items() if k not in TIMING}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from conftest import run_cli

    out = tmp_path_factory.mktemp("ref") / "run"
    res = run_cli(
        "train", "--iterations", "60", "--seed", "11", "--out", str(out), "--checkpoint-every", "10", *FAST
    )
    assert res.returncode == 0, res.stderr
    return out


def test_kill_9_then_resume_matches_uninterrupted(reference, tmp_path, cli):
    out = tmp_path / "killed"
    stop_after = random.choice([10, 20, 30, 40])  # a random moment: the process may be mid-checkpoint
    proc = _popen(
        "train", "--iterations", "60", "--seed", "11", "--out", str(out), "--checkpoint-every", "10", *FAST
    )
    _wait_for_line(proc, f"iteration {stop_after}:")
    proc.kill()  # SIGKILL: no handler runs
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "metrics.json").exists()
    res = cli("train", "--resume", str(out), "--no-progress")
    assert res.returncode == 0, res.stderr
    assert _history(out / "history.csv") == _history(reference / "history.csv")
    assert _metrics(out / "metrics.json") == _metrics(reference / "metrics.json")


def test_sigterm_checkpoints_and_exits_with_resume_hint(reference, tmp_path, cli):
    out = tmp_path / "term"
    proc = _popen(
        "train", "--iterations", "60", "--seed", "11", "--out", str(out), "--checkpoint-every", "10", *FAST
    )
    _wait_for_line(proc, "iteration 10:")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("lbt:")]
    assert len(lines) == 1 and "resume with: lbt train --resume" in lines[0]
    assert "Traceback" not in err
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ckpt["iteration"] >= 10
    res = cli("train", "--resume", str(out), "--no-progress")
    assert res.returncode == 0, res.stderr
    assert _metrics(out / "metrics.json") == _metrics(reference / "metrics.json")


def test_corrupt_checkpoint_is_reported_and_previous_one_resumes(tmp_path, cli):
    out = tmp_path / "run"
    res = cli(
        "train", "--iterations", "30", "--seed", "2", "--out", str(out), "--checkpoint-every", "10", *FAST
    )
    assert res.returncode == 0, res.stderr
    ckpt = out / "checkpoint.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 3])  # truncated
    for args in (["eval", str(out)], ["train", "--resume", str(out), "--iterations", "40"]):
        res = cli(*args, "--no-progress")
        assert res.returncode == 2, res.stderr
        assert "corrupt" in res.stderr and "checkpoint.prev.pt" in res.stderr
        assert "Traceback" not in res.stderr
    ckpt.write_bytes(b"not a checkpoint at all")
    assert cli("eval", str(out)).returncode == 2
    res = cli("train", "--resume", str(out / "checkpoint.prev.pt"), "--iterations", "40", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert json.loads((out / "metrics.json").read_text())["iterations"] == 40


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "model.mixture_components=32"], "cannot resume with model.mixture_components=32"),
        (
            ["--set", "train.method=lbt", "--set", "lbt.unroll_steps=3"],
            "cannot resume with lbt.unroll_steps=3",
        ),
        (["--preset", "grid"], "--resume continues a run"),
    ],
)
def test_resume_with_incompatible_config_is_refused(reference, cli, args, message):
    before = (reference / "checkpoint.pt").read_bytes()
    res = cli("train", "--resume", str(reference), "--no-progress", *args)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr
    assert (reference / "checkpoint.pt").read_bytes() == before


def test_resume_of_missing_directory(cli, tmp_path):
    res = cli("train", "--resume", str(tmp_path / "nothing"), "--no-progress")
    assert res.returncode == 2 and "no config.yaml" in res.stderr


# -- NaN guard (in process: inject a NaN into the estimator's loss) --------------------------


def _trainer(tmp_path, on_nan="stop", iterations=20):
    overrides = {
        "train.iterations": iterations,
        "eval.every": 5,
        "eval.samples": 2000,
        "eval.train_samples": 500,
        "train.batch_size": 64,
        "train.gen_batch_size": 64,
        "train.on_nan": on_nan,
        "seed": 4,
    }
    return Trainer(preset="ring", overrides=overrides, out_dir=tmp_path / "run", progress=False)


def _inject(trainer, at_calls):
    real = trainer.method.update_estimator
    calls = {"n": 0}

    def poisoned():
        calls["n"] += 1
        loss = real()
        return float("nan") if calls["n"] in at_calls else loss

    trainer.method.update_estimator = poisoned


def test_nan_stops_with_iteration_and_quantity(tmp_path):
    trainer = _trainer(tmp_path)
    _inject(trainer, {7})
    with pytest.raises(
        NonFiniteError, match=r"iteration 7: loss_est=nan.*last good checkpoint \(iteration 5\)"
    ):
        trainer.fit()
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert ckpt["iteration"] == 5
    assert all(torch.isfinite(v).all() for v in ckpt["method"].values() if v.is_floating_point())
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_nan_rollback_recovers_with_lower_learning_rate(tmp_path):
    trainer = _trainer(tmp_path, on_nan="rollback")
    _inject(trainer, {7})
    metrics = trainer.fit()
    assert metrics["iterations"] == 20 and metrics["rollbacks"] == 1
    assert trainer.lr_factor == pytest.approx(0.5)
    assert trainer.method.lr_factor == pytest.approx(0.5)  # the estimator's rates are lowered too
    events = json.loads((tmp_path / "run" / "events.json").read_text())
    assert events[0]["event"] == "rollback" and events[0]["iteration"] == 7 and events[0]["to"] == 5
    assert [row["iteration"] for row in trainer.history] == [5, 10, 15, 20]


def test_nan_rollback_is_bounded(tmp_path):
    trainer = _trainer(tmp_path, on_nan="rollback")
    _inject(trainer, set(range(6, 1000)))  # every estimator update after the first checkpoint fails
    with pytest.raises(NonFiniteError, match="after 3 rollbacks"):
        trainer.fit()


def _children(pid: int) -> list[int]:
    """The process ids whose parent is ``pid`` (Linux /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_to_a_parallel_compare_stops_its_workers_with_checkpoints(tmp_path):
    """``kill`` of ``lbt compare --jobs 2`` (the parent only) must not leave its workers training on
    into the study directory: they checkpoint and stop, and the study says how to continue."""
    import time

    out = tmp_path / "study"
    proc = _popen("compare", "--methods", "lbt", "--seeds", "2", "--iterations", "100000", "--jobs", "2",
                  "--out", str(out), "--no-progress", *FAST)  # fmt: skip
    histories = [out / "lbt" / f"seed{s}" / "history.csv" for s in (0, 1)]
    deadline = time.monotonic() + 240
    while not all(h.exists() for h in histories):  # both workers past their first evaluation
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
        time.sleep(0.2)
    workers = [p for p in _children(proc.pid) if "fork" in Path(f"/proc/{p}/cmdline").read_text()]
    assert len(workers) == 2
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode != 0 and "rerun the same lbt compare command" in err and "Traceback" not in err
    deadline = time.monotonic() + 60
    while any(_alive(w) for w in workers):
        assert time.monotonic() < deadline, "a worker kept running after the study was stopped"
        time.sleep(0.2)
    for s in (0, 1):
        ckpt = torch.load(out / "lbt" / f"seed{s}" / "checkpoint.pt", weights_only=False)
        assert 10 <= ckpt["iteration"] < 100000

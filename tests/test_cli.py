"""`lbt train` / `lbt eval` end to end through the real entry point."""

import json

import pytest

FAST = ["--set", "eval.every=10", "--set", "eval.samples=20000", "--set", "eval.train_samples=2000",
        "--set", "train.batch_size=64", "--set", "train.gen_batch_size=64", "--no-progress"]  # fmt: skip
RUN_FILES = ["config.yaml", "metrics.json", "history.csv", "checkpoint.pt", "density.png", "curves.png"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from conftest import run_cli

    out = tmp_path_factory.mktemp("run") / "ring"
    res = run_cli("train", "--iterations", "30", "--seed", "5", "--out", str(out), *FAST)
    assert res.returncode == 0, res.stderr
    return out, res


def test_train_writes_every_file(trained):
    out, res = trained
    for name in RUN_FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ["modes_covered", "modes_total", "high_quality_fraction", "inner_mode_kl", "iterations",
                "wall_seconds"]:  # fmt: skip
        assert key in metrics
    assert metrics["iterations"] == 30 and metrics["modes_total"] == 8
    header = (out / "history.csv").read_text().splitlines()[0].split(",")
    for col in [
        "iteration",
        "modes_covered",
        "high_quality_fraction",
        "inner_mode_kl",
        "elbo_gen",
        "elbo_data",
    ]:
        assert col in header
    assert len((out / "history.csv").read_text().splitlines()) == 1 + 3
    cfg = (out / "config.yaml").read_text()
    assert "git_commit" in cfg and "torch" in cfg and "seed: 5" in cfg
    assert "modes 8/8" in res.stdout or "modes" in res.stdout


def test_eval_reproduces_metrics(trained, cli):
    out, _ = trained
    res = cli("eval", str(out))
    assert res.returncode == 0, res.stderr
    recomputed = json.loads(res.stdout)
    stored = json.loads((out / "metrics.json").read_text())
    for key in ["modes_covered", "high_quality_fraction", "inner_mode_kl", "elbo_data"]:
        assert recomputed[key] == pytest.approx(stored[key], rel=1e-9, abs=1e-9), key


def test_same_seed_same_metrics(trained, cli, tmp_path):
    out, _ = trained
    res = cli("train", "--iterations", "30", "--seed", "5", "--out", str(tmp_path / "again"), *FAST)
    assert res.returncode == 0, res.stderr
    a = json.loads((out / "metrics.json").read_text())
    b = json.loads((tmp_path / "again" / "metrics.json").read_text())
    for key in [
        "modes_covered",
        "high_quality_fraction",
        "inner_mode_kl",
        "inner_mode_kl_covered",
        "elbo_gen",
    ]:
        assert a[key] == b[key], key
    assert (out / "history.csv").read_text().splitlines()[1].split(",")[2:6] == (
        (tmp_path / "again" / "history.csv").read_text().splitlines()[1].split(",")[2:6]
    )


def test_existing_run_is_not_overwritten(trained, cli):
    out, _ = trained
    before = (out / "metrics.json").read_bytes()
    res = cli("train", "--iterations", "5", "--out", str(out), "--no-progress")
    assert res.returncode == 2
    assert "already holds a run" in res.stderr
    assert (out / "metrics.json").read_bytes() == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "train.bogus=1"], "unknown config key 'train.bogus'"),
        (["--set", "train.gen_lr=abc"], "train.gen_lr must be a number"),
        (["--set", "lbt.unroll_steps=0"], "lbt.unroll_steps=0 needs a teacher fitted in closed form"),
        (["--set", "lbt.unroll_steps=-1"], "lbt.unroll_steps must be >= 0"),
        (["--set", "train.batch_size=0"], "train.batch_size must be > 0"),
        (["--set", "data.std=-1"], "data.std must be > 0"),
        (["--set", "lbt.est_lr=-0.1"], "lbt.est_lr must be > 0"),
        (["--set", "lbt.inner_optimizer=rmsprop"], "lbt.inner_optimizer='rmsprop' is not one of"),
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--set", "noequals"], "--set expects key=value"),
        (["--set", "data.name=grid", "--set", "data.modes=10"], "not a square number"),
        (["--set", "data.name=npy"], "data.name=npy needs data.path"),
        (["--set", "data.name=npy", "--set", "data.path=/nonexistent.npy"], "data file not found"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, tmp_path, args, message):
    res = cli("train", "--iterations", "2", "--out", str(tmp_path / "r"), "--no-progress", *args)
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.strip().splitlines() if ln]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("lbt: error:") and message in lines[0]
    assert "Traceback" not in res.stderr


def test_eval_of_missing_run_is_clear(cli, tmp_path):
    res = cli("eval", str(tmp_path))
    assert res.returncode == 2
    assert "config.yaml" in res.stderr and "Traceback" not in res.stderr


def test_npy_point_cloud(cli, tmp_path):
    import numpy as np

    pts = np.random.default_rng(0).normal(size=(500, 2)).astype(np.float32)
    np.save(tmp_path / "pts.npy", pts)
    out = tmp_path / "npy"
    res = cli("train", "--iterations", "10", "--out", str(out), "--set", "data.name=npy",
              "--set", f"data.path={tmp_path / 'pts.npy'}", *FAST)  # fmt: skip
    assert res.returncode == 0, res.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert "modes_covered" not in metrics and metrics["iterations"] == 10
    assert (out / "density.png").is_file()


def test_presets_and_keys_list(cli):
    res = cli("presets")
    assert res.returncode == 0
    for name in ["ring", "grid", "paper-ring", "paper-grid"]:
        assert name in res.stdout
    rows = {line.split()[0]: line for line in res.stdout.splitlines()}
    assert "estimator=kde " in rows["grid"]  # the lbt recipe's teacher, not the preset's top level
    assert "data=folder " in rows["folder-lbt-gan"]  # listed though it needs data.path to build
    res = cli("keys")
    assert "lbt.unroll_steps = 5" in res.stdout


def test_a_closed_pipe_ends_quietly():
    """`lbt presets | head -1`: the reader has gone; no traceback, exit 0."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # no reader from the start: the first write fails with EPIPE, deterministically
    try:
        res = subprocess.run([sys.executable, "-m", "lbt.cli", "presets"], stdout=write,
                             stderr=subprocess.PIPE, text=True, timeout=120)  # fmt: skip
    finally:
        os.close(write)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr


TINY = ["--iterations", "2", "--no-progress", "--set", "eval.every=2", "--set", "eval.samples=200",
        "--set", "eval.train_samples=200", "--set", "train.batch_size=32",
        "--set", "train.gen_batch_size=32"]  # fmt: skip


def _main(capsys, *argv: str) -> tuple[int, str]:  # noqa: ANN001
    """`lbt ARGV` in this process: the exit code and stderr."""
    from lbt.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("where", ["file", "under-a-file", "under-dev-null"])
def test_out_that_cannot_be_a_directory_is_one_line_exit_2(capsys, tmp_path, where):
    """--out naming an existing file, or a path under one: one line, exit 2, nothing written."""
    afile = tmp_path / "afile"
    afile.write_text("keep me\n")
    out = {"file": afile, "under-a-file": afile / "run", "under-dev-null": "/dev/null/run"}[where]
    code, err = _main(capsys, "train", "--out", str(out), *TINY)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lbt: error:") and "not a directory" in lines[0], err
    assert afile.read_text() == "keep me\n" and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_a_batch_too_large_for_memory_is_one_line_and_leaves_no_run(capsys, tmp_path):
    """An impossible allocation: one "out of memory" line, exit 2, and no half-made run directory
    (one would make the next `--out` refuse the place, and it could not be resumed)."""
    out = tmp_path / "big"
    code, err = _main(capsys, "train", "--out", str(out), *TINY, "--set", "train.batch_size=1000000000000")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lbt: error: out of memory"), err
    assert "train.batch_size" in lines[0]
    assert not out.exists()

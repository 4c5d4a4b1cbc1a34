"""Shared test setup: small thread count so the suite behaves the same on 2-core CI machines."""

import os
import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))

REPO = Path(__file__).resolve().parents[1]


def mnist_dir() -> Path | None:
    """Where the four MNIST files are: $LBT_DATA_DIR or ../shared/data/mnist, else None."""
    for cand in (os.environ.get("LBT_DATA_DIR", ""), str(REPO.parent / "shared" / "data" / "mnist")):
        if cand and (Path(cand) / "t10k-labels-idx1-ubyte.gz").exists():
            return Path(cand)
    return None


MNIST_DIR = mnist_dir()
if MNIST_DIR is None and os.environ.get("CI"):
    # CI always has ../shared/data/mnist: a missing copy is a broken setup, never a silent skip.
    raise RuntimeError("CI run without MNIST: expected $LBT_DATA_DIR or ../shared/data/mnist")
needs_mnist = pytest.mark.skipif(
    MNIST_DIR is None, reason="MNIST not found in $LBT_DATA_DIR or ../shared/data/mnist"
)


# Fixtures (tests/fixtures) were written on one x86 CPU; another rounds float32 reductions differently
# (other vector kernels): after a few steps ~1e-7 relative on the losses, ~1e-5 on a gradient norm,
# ~1e-4 absolute on a discriminator's mean probabilities, which are small and saturate. A change to
# what is computed moves them by far more.
PROBABILITIES = {"disc_real", "disc_fake"}


def as_written(key: str, value: object, rel: float = 1e-4) -> object:
    """A fixture's ``value`` as another CPU reproduces it: a number (or numeric text) up to that
    round-off, anything else exactly."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value
    if key in PROBABILITIES:
        return pytest.approx(number, abs=5e-4, nan_ok=True)
    return pytest.approx(number, rel=rel, abs=1e-9, nan_ok=True)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600):
    """Run ``python -m lbt.cli ARGS`` in a subprocess (the real entry point, exit codes included)."""
    import subprocess

    full_env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "lbt.cli", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture
def cli():
    return run_cli

"""The CIFAR-format Stacked-MNIST stand-in (benchmarks/stacked32.py) holds what it says."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from lbt.datasets import cifar10

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import stacked32  # noqa: E402


def test_each_channel_is_a_padded_digit_and_the_mode_names_them() -> None:
    labels = np.arange(20) % 10
    images = np.stack([np.full((28, 28), 10 * i + 5, np.uint8) for i in range(20)])  # image i: value 10i+5
    rows, modes = stacked32.stacked32(images.reshape(20, 784), labels, n=64, seed=3)
    x = rows.reshape(64, 3, 32, 32)
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert rows.dtype == np.uint8 and x[:, :, border].max() == 0
    crop = x[:, :, 2:30, 2:30]
    assert (crop == crop[:, :, :1, :1]).all()  # each channel is one whole digit image
    which = (crop[:, :, 0, 0].astype(int) - 5) // 10  # (64, 3): the image index in each channel
    digits = labels[which]
    assert (modes == 100 * digits[:, 0] + 10 * digits[:, 1] + digits[:, 2]).all()
    assert len(set(which[:, 0])) > 5 and (which[:, 0] != which[:, 1]).any()  # drawn, not fixed


def test_the_written_folder_reads_as_cifar10(tmp_path: Path, monkeypatch) -> None:
    digits = np.random.default_rng(0).integers(0, 256, (30, 784), dtype=np.uint8)
    monkeypatch.setattr(stacked32, "load_mnist", lambda split: (digits, np.arange(30) % 10))
    folder = stacked32.write(tmp_path, train=25, test=7, seed=1)
    x, y = cifar10.load_cifar10("train", path=folder)
    tx, ty = cifar10.load_cifar10("test", path=folder)
    assert x.shape == (25, 3, 32, 32) and tx.shape == (7, 3, 32, 32)
    rows, modes = stacked32.stacked32(digits, np.arange(30) % 10, 25, 1)
    assert np.array_equal(x.reshape(25, -1), rows) and np.array_equal(y, modes // 100)

"""Stacked MNIST at 32x32 in CIFAR-10's format: a stand-in for CIFAR-10 where it cannot be had.

The CIFAR-10 networks (``cifar10-lbt-gan``) take 32x32 RGB images. Where the archive cannot be
downloaded, this writes a ``cifar-10-batches-py`` folder in the official layout whose images are
Stacked MNIST: three independent MNIST digits as the red, green and blue channels, each padded by
2 pixels to 32x32 (label: the red digit). Unlike natural images it has a known answer, 1000
modes, so a run on it can be scored the way Stacked MNIST is: ``score`` crops each channel of
the generator's samples back to 28x28 and counts modes with the project's MNIST classifier.

    python benchmarks/stacked32.py write DIR            # DIR/cifar-10-batches-py (about 180 MB)
    lbt train --preset cifar10-lbt-gan --set data.path=DIR/cifar-10-batches-py ...
    python benchmarks/stacked32.py score RUN_DIR        # modes covered, KL to uniform (26,000 samples)
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import torch

from lbt.datasets.cifar10 import FOLDER
from lbt.datasets.mnist import load_mnist
from lbt.datasets.stacked import mode_index

PAD = 2  # 28 + 2 * 2 = 32


def stacked32(images: np.ndarray, labels: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows ``(3072,)`` uint8 in CIFAR's channel-major layout, and the modes ``100r + 10g + b``."""
    idx = np.random.default_rng(seed).integers(len(images), size=(n, 3))
    digits = np.pad(images.reshape(-1, 28, 28), ((0, 0), (PAD, PAD), (PAD, PAD)))
    rows = digits[idx].reshape(n, 3 * 32 * 32)
    modes = mode_index(torch.from_numpy(labels[idx].astype(np.int64))).numpy()
    return rows, modes


def write(out: Path, train: int, test: int, seed: int) -> Path:
    """The folder ``out/cifar-10-batches-py``: five training batches, a test batch, batches.meta."""
    folder = out / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    tr_x, tr_y = load_mnist("train")
    te_x, te_y = load_mnist("test")
    rows, modes = stacked32(tr_x, tr_y, train, seed)
    batches = {f"data_batch_{i + 1}": part for i, part in enumerate(np.array_split(np.arange(train), 5))}
    for name, part in batches.items():
        _dump(folder / name, name, rows[part], modes[part] // 100)
    rows, modes = stacked32(te_x, te_y, test, seed + 1)
    _dump(folder / "test_batch", "test_batch", rows, modes // 100)
    _dump(folder / "batches.meta", "batches.meta", np.zeros((0, 3072), np.uint8), np.zeros(0, np.int64))
    return folder


def _dump(path: Path, name: str, data: np.ndarray, labels: np.ndarray) -> None:
    doc = {b"batch_label": name.encode(), b"data": data, b"labels": [int(v) for v in labels]}
    path.write_bytes(pickle.dumps(doc, protocol=2))


def score(run: Path, n: int) -> dict[str, float]:
    """Modes covered and KL to uniform of ``n`` samples of the run's final generator."""
    from lbt.metrics.classifier import load_or_train
    from lbt.metrics.images import classify_confident, generate, stacked_mode_metrics
    from lbt.train import Trainer

    trainer = Trainer.resume(run, progress=False)
    clf, _ = load_or_train()
    with trainer.averaged():  # the generator's weight average, where the run keeps one
        x = generate(trainer.method, n).clamp(0, 1).reshape(n, 3, 32, 32)
    modes, confident = classify_confident(clf, x[:, :, PAD:-PAD, PAD:-PAD].reshape(n, 3 * 784))
    return {**stacked_mode_metrics(modes), "confident": float(confident.float().mean()), "samples": n}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="write the stand-in folder")
    w.add_argument("out", type=Path)
    w.add_argument("--train", type=int, default=50000)
    w.add_argument("--test", type=int, default=10000)
    w.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("score", help="count a run's modes")
    s.add_argument("run", type=Path)
    s.add_argument("--samples", type=int, default=26000)
    args = p.parse_args()
    if args.cmd == "write":
        print(write(args.out, args.train, args.test, args.seed))
        return 0
    result = score(args.run, args.samples)
    (args.run / "stacked32.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

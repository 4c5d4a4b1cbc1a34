"""The MNIST digit classifier that labels Stacked-MNIST samples (mode counting).

Trained by the project on the real MNIST training set, checked on the test set (it must reach
99% so that mode counts measure the generator, not the classifier), and cached with a SHA-256
checksum under ``$LBT_CACHE_DIR`` (default ``~/.cache/lbt``) so every later run, test or CI job
reuses it. A cache file that fails its checksum is retrained, never trusted.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from lbt import rng
from lbt.datasets.mnist import FILES, load_mnist
from lbt.rundir import atomic_write_bytes, atomic_write_text

VERSION = 2  # bump when the architecture or the training recipe changes
MIN_ACCURACY = 0.99


class DigitNet(nn.Module):
    """A small LeNet-style CNN on (N, 784) or (N, 1, 28, 28) inputs in [0, 1]; returns logits."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),  # 12x12
            nn.Conv2d(16, 32, 5), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 4x4
            nn.Flatten(), nn.Linear(32 * 16, 128), nn.ReLU(), nn.Linear(128, 10),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.reshape(-1, 1, 28, 28))

    def features(self, x: Tensor) -> Tensor:
        """Penultimate activations ``(N, 128)`` (after the hidden layer's ReLU): the feature space
        of ``fd_classifier`` (lbt.metrics.images)."""
        return self.net[:-1](x.reshape(-1, 1, 28, 28))


def cache_dir() -> Path:
    return Path(os.environ.get("LBT_CACHE_DIR") or Path.home() / ".cache" / "lbt").expanduser()


def cache_path() -> Path:
    return cache_dir() / f"mnist-classifier-v{VERSION}.pt"


def _to_tensor(images: np.ndarray) -> Tensor:
    return torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)


@torch.no_grad()
def predict_proba(model: nn.Module, x: Tensor, batch: int = 2000) -> Tensor:
    """Class probabilities ``(N, 10)`` for images in [0, 1], shape (N, 784) or (N, 1, 28, 28)."""
    model.eval()
    dev = next(model.parameters()).device
    return torch.cat([model(x[i : i + batch].to(dev)).softmax(1).cpu() for i in range(0, len(x), batch)])


@torch.no_grad()
def features(model: DigitNet, x: Tensor, batch: int = 2000) -> Tensor:
    """Penultimate features ``(N, 128)`` for images in [0, 1], shape (N, 784) or (N, 1, 28, 28)."""
    model.eval()
    dev = next(model.parameters()).device
    return torch.cat([model.features(x[i : i + batch].to(dev)).cpu() for i in range(0, len(x), batch)])


def predict(model: nn.Module, x: Tensor, batch: int = 2000) -> Tensor:
    """Digit labels for images in [0, 1]."""
    return predict_proba(model, x, batch).argmax(1)


def accuracy(model: nn.Module, directory: str | Path | None = None) -> float:
    """Accuracy on the real MNIST test set (10,000 images)."""
    images, labels = load_mnist("test", directory)
    pred = predict(model, _to_tensor(images))
    return float((pred == torch.from_numpy(labels.astype(np.int64))).double().mean())


def train_classifier(directory: str | Path | None = None, epochs: int = 2, seed: int = 0) -> DigitNet:
    """Adam with a one-cycle schedule (peak 3e-3), batch 128; about 99.2% after 2 epochs.

    Batch norm and the one-cycle decay are what make 2 epochs (about a minute on one core) enough.
    """
    images, labels = load_mnist("train", directory)
    x, y = _to_tensor(images), torch.from_numpy(labels.astype(np.int64))
    gen = torch.Generator().manual_seed(seed)
    batch = 128
    with rng.forked(seed):
        model = DigitNet()
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=3e-3, total_steps=epochs * -(-len(x) // batch), pct_start=0.15
        )
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), batch):
                idx = perm[i : i + batch]
                loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
    return model.eval()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_or_train(directory: str | Path | None = None, verbose: bool = True) -> tuple[DigitNet, float]:
    """The cached classifier and its test accuracy; trains (about a minute on one core) if needed.

    The cache holds the weights, the accuracy measured when it was trained and the checksum of the
    MNIST training payload it was trained on; a ``.sha256`` sidecar guards the file itself.
    """
    path = cache_path()
    sidecar = path.with_suffix(".pt.sha256")
    train_digest = FILES["train-images-idx3-ubyte"][0]
    if path.is_file() and sidecar.is_file():
        blob = path.read_bytes()
        if _digest(blob) == sidecar.read_text().strip():
            payload = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
            meta = json.loads(payload["meta"])
            if meta.get("version") == VERSION and meta.get("train_sha256") == train_digest:
                model = DigitNet()
                model.load_state_dict(payload["state"])
                return model.eval(), float(meta["test_accuracy"])
        if verbose:
            print(f"lbt: classifier cache {path} is stale or corrupt; retraining", file=sys.stderr)
    if verbose:
        print(f"lbt: training the MNIST digit classifier once (cached at {path})", file=sys.stderr)
    model = train_classifier(directory)
    acc = accuracy(model, directory)
    meta = {"version": VERSION, "test_accuracy": acc, "train_sha256": train_digest}
    buf = io.BytesIO()
    torch.save({"state": model.state_dict(), "meta": json.dumps(meta)}, buf)
    blob = buf.getvalue()
    atomic_write_bytes(path, blob)
    atomic_write_text(sidecar, _digest(blob) + "\n")
    return model, acc

"""MNIST from its four IDX files (``.gz`` or raw), checksum-verified, without torchvision.

The files are looked up in ``images.data_dir``, else ``$LBT_DATA_DIR`` (what ``lbt train
--data-dir`` sets), else ``./data/mnist``. A missing, truncated or altered file is an
:class:`~lbt.errors.LBTError` whose one line names the file and says where the files go, because
that is the mistake a new user makes first. The checksum is taken over the *decompressed*
payload, so a re-gzipped or already-unpacked copy of the official data is accepted too.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import urllib.request
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from lbt.errors import LBTError

# stem -> (sha256 of the decompressed IDX payload, expected shape)
FILES: dict[str, tuple[str, tuple[int, ...]]] = {
    "train-images-idx3-ubyte": (
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        (60000, 28, 28),
    ),
    "train-labels-idx1-ubyte": (
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        (60000,),
    ),
    "t10k-images-idx3-ubyte": (
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        (10000, 28, 28),
    ),
    "t10k-labels-idx1-ubyte": (
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        (10000,),
    ),
}
SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}  # fmt: skip
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
DEFAULT_DIR = Path("data") / "mnist"
# data.binarize (docs/images.md, "Binarised MNIST"): the seeds of the fixed Bernoulli draws.
STATIC_SEED = 0  # static: the 60,000 training images
TEST_SEED = 1  # static and dynamic: the 10,000 test images (held-out ELBO / IWAE, metrics)
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def data_dir(explicit: str | Path | None = None) -> Path:
    """Where the MNIST files are expected: ``explicit``, else ``$LBT_DATA_DIR``, else ./data/mnist."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("LBT_DATA_DIR", "")
    return Path(env).expanduser() if env else DEFAULT_DIR


def _where(directory: Path) -> str:
    return (f"put the four MNIST files (.gz or unpacked) in {directory} "
            f"or run `lbt data mnist --data-dir {directory}`")  # fmt: skip


def find_file(directory: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    raise LBTError(f"MNIST file {stem}(.gz) not found in {directory}; {_where(directory)}")


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise LBTError(f"{path} is corrupt ({exc}); delete it and {_where(path.parent)}") from None


def parse_idx(payload: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode an IDX payload (magic: two zero bytes, type code, number of dims, big-endian sizes)."""
    if len(payload) < 4 or payload[:2] != b"\x00\x00" or payload[2] not in _IDX_DTYPES:
        raise LBTError(f"{source} is not an IDX file (bad header)")
    ndim = payload[3]
    if len(payload) < 4 + 4 * ndim:
        raise LBTError(f"{source} is truncated (header cut short)")
    shape = struct.unpack(f">{ndim}I", payload[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[payload[2]])
    body = payload[4 + 4 * ndim :]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(body) != expected:
        what = "truncated" if len(body) < expected else "longer than its header says"
        raise LBTError(f"{source} is {what}: {len(body)} data bytes, header needs {expected}")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def read_idx(path: str | Path, verify: bool = True) -> np.ndarray:
    """Read one IDX file (``.gz`` or raw); ``verify`` checks the official MNIST checksum."""
    path = Path(path)
    payload = _read_bytes(path)
    stem = path.name.removesuffix(".gz")
    arr = parse_idx(payload, str(path))
    if verify and stem in FILES:
        _check(payload, stem, str(path), arr.shape)
    return arr


def _check(payload: bytes, stem: str, source: str, shape: tuple[int, ...] | None = None) -> None:
    digest, expected = FILES[stem]
    if (shape is not None and shape != expected) or hashlib.sha256(payload).hexdigest() != digest:
        where = _where(Path(source).parent) if "://" not in source else "try again later"
        raise LBTError(f"{source} does not match the official MNIST checksum (corrupt or a different "
                       f"file); delete it and {where}")  # fmt: skip


@lru_cache(maxsize=4)
def _load(directory: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    d = Path(directory)
    img_stem, lab_stem = SPLITS[split]
    images = read_idx(find_file(d, img_stem))
    labels = read_idx(find_file(d, lab_stem))
    if len(images) != len(labels):
        raise LBTError(f"MNIST {split} images and labels in {d} disagree in length")
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_mnist(split: str = "train", directory: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, 28, 28), labels uint8 (N,))``, read once per process and directory."""
    if split not in SPLITS:
        raise LBTError(f"MNIST split must be 'train' or 'test', got {split!r}")
    d = data_dir(directory)
    if not d.is_dir():
        raise LBTError(f"MNIST directory {d} does not exist; {_where(d)}")
    return _load(str(d.resolve()), split)


def download(directory: str | Path, mirrors: tuple[str, ...] = MIRRORS) -> list[Path]:
    """Fetch any missing or bad MNIST file into ``directory``; every file is verified before use."""
    d = Path(directory).expanduser()
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem in FILES:
        try:
            paths.append(_verified(d, stem))
            continue
        except LBTError:
            pass
        errors = []
        for mirror in mirrors:
            url = mirror + stem + ".gz"
            part = d / (stem + ".gz.part")
            try:
                with urllib.request.urlopen(url, timeout=60) as r, open(part, "wb") as f:
                    shutil.copyfileobj(r, f)
                _check(_read_bytes(part), stem, url)
                part.replace(d / (stem + ".gz"))
                (d / stem).unlink(missing_ok=True)  # an unpacked copy would be read first
                paths.append(_verified(d, stem))
                break
            except (OSError, LBTError) as exc:
                part.unlink(missing_ok=True)
                errors.append(f"{url}: {exc}")
        else:
            raise LBTError(f"could not download {stem}.gz ({'; '.join(errors)}); "
                           f"copy the MNIST files into {d} by hand")  # fmt: skip
    _load.cache_clear()
    return paths


def _verified(d: Path, stem: str) -> Path:
    path = find_file(d, stem)
    read_idx(path, verify=True)
    return path


def binarized(images_u8: torch.Tensor, seed: int) -> torch.Tensor:
    """One fixed Bernoulli draw of every pixel: 1 with probability ``intensity / 255``.

    Returned as uint8 0 / 255 (the scale of the grey images, so readers divide by 255 as usual).
    The draw is one ``torch.bernoulli`` call over the whole array with a CPU ``torch.Generator``
    seeded with ``seed``, so it is the same in every run with the same torch version.
    """
    gen = torch.Generator().manual_seed(seed)
    probs = images_u8.to(torch.float32).div_(255.0)
    return torch.bernoulli(probs, generator=gen).to(torch.uint8).mul_(255)

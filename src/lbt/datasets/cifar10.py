"""CIFAR-10 from its python-version archive (``cifar-10-python.tar.gz``), without torchvision.

Where: ``data.path`` (the archive, a folder holding it, or an extracted ``cifar-10-batches-py``
folder), else ``images.data_dir``, else ``$LBT_DATA_DIR``, else ``./data/cifar10``.

What is verified: an archive of the official size (170,498,071 bytes) must have the official MD5
(``c58f3010...``), so a corrupted download is refused. An archive of any other size is read as a
*same-format* archive without a checksum (a truncated download fails to unpack and is refused;
small test archives load), with one warning line on stderr; so is an extracted folder. Every
batch is checked for structure: a dict with ``b'data'`` ``(N, 3072)`` uint8 (channel-major
3x32x32 rows) and ``b'labels'`` (N ints in 0..9). The pickles are read with an unpickler that
only builds dicts, lists and numpy arrays, so a foreign archive cannot run code.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import sys
import tarfile
import urllib.request
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from lbt.errors import LBTError

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE = "cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
SIZE = 170_498_071  # bytes of the official archive
FOLDER = "cifar-10-batches-py"
SPLITS = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
DEFAULT_DIR = Path("data") / "cifar10"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def data_dir(explicit: str | Path | None = None) -> Path:
    """``explicit``, else ``$LBT_DATA_DIR``, else ./data/cifar10."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("LBT_DATA_DIR", "")
    return Path(env).expanduser() if env else DEFAULT_DIR


def _where(d: Path) -> str:
    return f"put {ARCHIVE} in {d}, set data.path=FILE, or run `lbt data cifar10 --data-dir {d}`"


def find(path: str | Path | None = None, directory: str | Path | None = None) -> Path:
    """The archive or extracted folder to read: ``path`` if given, else one in the data directory."""
    if path:
        p = Path(path).expanduser()
        if not p.exists():
            raise LBTError(f"CIFAR-10 data.path={p} does not exist; {_where(p.parent)}")
        if p.is_file():
            return p
        d = p
    else:
        d = data_dir(directory)
    for cand in (d / ARCHIVE, d / FOLDER, d):
        if cand.is_file() or (cand / "data_batch_1").is_file():
            return cand
    raise LBTError(f"CIFAR-10 not found: no {ARCHIVE} or {FOLDER}/ in {d}; {_where(d)}")


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: Path) -> bool:
    """Check an archive of the official size against the official MD5; False: not the official size."""
    if path.stat().st_size != SIZE:
        return False
    if md5sum(path) != MD5:
        raise LBTError(f"{path} has the size of the official CIFAR-10 archive but not its MD5 "
                       f"(corrupt download?); delete it and {_where(path.parent)}")  # fmt: skip
    return True


class _SafeUnpickler(pickle.Unpickler):
    """Builds only what CIFAR-10's pickles hold: dicts, lists, bytes, str, numbers, numpy arrays.

    (``_codecs.encode`` is how protocol-2 pickles written by Python 3 spell bytes.)
    """

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in (
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
        ):
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct, whatever its module
        if (module, name) in (("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def parse_batch(payload: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """One batch pickle -> ``(images uint8 (N, 3, 32, 32), labels uint8 (N,))``."""
    try:
        doc = _SafeUnpickler(io.BytesIO(payload), encoding="bytes").load()
    except Exception as exc:  # any unpickling failure means: not a CIFAR-10 batch
        why = " ".join(str(exc).split())
        raise LBTError(f"{source} is not a CIFAR-10 batch ({type(exc).__name__}: {why})") from None
    if not isinstance(doc, dict) or b"data" not in doc or b"labels" not in doc:
        raise LBTError(f"{source} is not a CIFAR-10 batch (no b'data' / b'labels' entries)")
    data = np.asarray(doc[b"data"])
    labels = np.asarray(doc[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise LBTError(f"{source}: b'data' must be N x 3072 uint8, got {data.shape} {data.dtype}")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise LBTError(f"{source}: b'labels' must be {len(data)} integers, got shape {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise LBTError(f"{source}: labels must lie in 0..9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.uint8)


def _read_members(source: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    if source.is_dir():
        out = {}
        for n in names:
            f = source / n
            if not f.is_file():
                raise LBTError(f"CIFAR-10 folder {source} has no {n}; {_where(source.parent)}")
            out[n] = f.read_bytes()
        return out
    wanted = {f"{FOLDER}/{n}": n for n in names}
    out = {}
    try:
        with tarfile.open(source, "r:gz") as tar:
            for m in tar:
                if m.name in wanted and m.isfile():
                    f = tar.extractfile(m)
                    if f is not None:
                        out[wanted[m.name]] = f.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise LBTError(f"{source} is not a readable CIFAR-10 archive ({why}); delete it and "
                       f"{_where(source.parent)}") from None  # fmt: skip
    missing = [n for n in names if n not in out]
    if missing:
        raise LBTError(f"{source} lacks {FOLDER}/{missing[0]}; is it cifar-10-python.tar.gz?")
    return out


@lru_cache(maxsize=4)
def _load(source: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    p = Path(source)
    if p.is_file() and not verify(p):
        print(f"lbt: warning: {p} is not the official CIFAR-10 archive (size {p.stat().st_size:,} bytes, "
              f"official {SIZE:,}); read without its checksum", file=sys.stderr)  # fmt: skip
    elif p.is_dir():
        print(f"lbt: warning: reading the extracted CIFAR-10 folder {p} without checksums", file=sys.stderr)
    members = _read_members(p, SPLITS["train"] + SPLITS["test"])
    out = {}
    for split, names in SPLITS.items():
        parts = [parse_batch(members[n], f"{p}:{n}") for n in names]
        images = np.concatenate([a for a, _ in parts])
        labels = np.concatenate([b for _, b in parts])
        images.setflags(write=False)
        labels.setflags(write=False)
        out[split] = (images, labels)
    return out


def load_cifar10(
    split: str = "train", path: str | Path | None = None, directory: str | Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, 3, 32, 32), labels uint8 (N,))``, read once per process and source."""
    if split not in SPLITS:
        raise LBTError(f"CIFAR-10 split must be 'train' or 'test', got {split!r}")
    return _load(str(find(path, directory).resolve()))[split]


def download(directory: str | Path, url: str = URL) -> Path:
    """Fetch the archive into ``directory`` unless a verified copy is there; verify it either way."""
    d = Path(directory).expanduser()
    d.mkdir(parents=True, exist_ok=True)
    dest = d / ARCHIVE
    if dest.is_file() and dest.stat().st_size == SIZE and md5sum(dest) == MD5:
        return dest
    part = d / (ARCHIVE + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(part, "wb") as f:
            shutil.copyfileobj(r, f)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise LBTError(f"could not download {url} ({exc}); copy {ARCHIVE} into {d} by hand") from None
    size = part.stat().st_size
    if size != SIZE or md5sum(part) != MD5:
        part.unlink(missing_ok=True)
        raise LBTError(f"the download from {url} does not match the official CIFAR-10 archive "
                       f"({size:,} bytes, MD5 mismatch); try again later")  # fmt: skip
    part.replace(dest)
    _load.cache_clear()
    return dest

"""MNIST files, Stacked-MNIST labelling and the digit classifier, on the real data.

The data come from $LBT_DATA_DIR, else ``<repo>/../shared/data/mnist`` (where CI puts them); the
tests skip only when neither exists.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import MNIST_DIR as DATA
from conftest import needs_mnist

from lbt.datasets import mnist
from lbt.datasets.stacked import MODES, mode_index, stack, stacked_set
from lbt.errors import LBTError
from lbt.metrics.images import classify_modes, stacked_mode_metrics


@needs_mnist
def test_idx_reader_parses_real_files() -> None:
    x, y = mnist.load_mnist("test", DATA)
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,) and set(np.unique(y)) == set(range(10))
    assert y[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first test labels
    xt, yt = mnist.load_mnist("train", DATA)
    assert xt.shape == (60000, 28, 28) and yt[:3].tolist() == [5, 0, 4]
    assert 30 < float(x.mean()) < 40  # mean MNIST intensity is about 33 of 255


@needs_mnist
def test_unpacked_files_read_the_same(tmp_path: Path) -> None:
    raw = tmp_path / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gzip.decompress((DATA / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    assert np.array_equal(mnist.read_idx(raw), mnist.read_idx(DATA / "t10k-labels-idx1-ubyte.gz"))


def _copy_all(dst: Path) -> None:
    for stem in mnist.FILES:
        shutil.copy(DATA / f"{stem}.gz", dst / f"{stem}.gz")


@needs_mnist
def test_truncated_gzip_is_a_clear_error(tmp_path: Path) -> None:
    _copy_all(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(LBTError, match=r"t10k-images-idx3-ubyte.gz is corrupt.*lbt data mnist --data-dir"):
        mnist.load_mnist("test", tmp_path)


@needs_mnist
def test_truncated_raw_file_is_a_clear_error(tmp_path: Path) -> None:
    payload = gzip.decompress((DATA / "t10k-labels-idx1-ubyte.gz").read_bytes())
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(payload[:-10])
    with pytest.raises(LBTError, match="truncated"):
        mnist.read_idx(path)


@needs_mnist
def test_altered_file_fails_the_checksum(tmp_path: Path) -> None:
    payload = bytearray(gzip.decompress((DATA / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    payload[8 + 100] = (payload[8 + 100] + 1) % 10  # label 100 (after the 8-byte header), wrong
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(bytes(payload)))
    with pytest.raises(LBTError, match="checksum"):
        mnist.read_idx(path)
    assert mnist.read_idx(path, verify=False)[100] == payload[8 + 100]


def test_missing_files_say_where_they_go(tmp_path: Path) -> None:
    with pytest.raises(LBTError, match=rf"not found in {tmp_path}.*lbt data mnist --data-dir"):
        mnist.load_mnist("train", tmp_path)
    with pytest.raises(LBTError, match="does not exist"):
        mnist.load_mnist("train", tmp_path / "nope")


def test_bad_header_is_rejected() -> None:
    with pytest.raises(LBTError, match="not an IDX file"):
        mnist.parse_idx(b"PK\x03\x04 a zip file", "x.zip")


def test_cli_missing_data_is_one_line(tmp_path: Path, cli) -> None:  # noqa: ANN001
    r = cli("train", "--preset", "mnist", "--iterations", "1", "--data-dir", str(tmp_path / "empty"),
            "--out", str(tmp_path / "run"), cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "lbt data mnist" in lines[0], r.stderr


# -- Stacked MNIST --------------------------------------------------------------------------


def test_mode_index_and_histogram_metrics() -> None:
    digits = torch.tensor([[0, 0, 0], [9, 9, 9], [3, 1, 4], [4, 1, 3]])
    assert mode_index(digits).tolist() == [0, 999, 314, 413]
    m = stacked_mode_metrics(torch.arange(MODES))  # exactly uniform
    assert m["modes_covered"] == 1000 and abs(m["kl_to_uniform"]) < 1e-12
    m = stacked_mode_metrics(torch.full((500,), 7))  # one mode only
    assert m["modes_covered"] == 1 and m["kl_to_uniform"] == pytest.approx(np.log(1000))


def test_stacking_puts_each_digit_in_its_channel() -> None:
    imgs = torch.arange(4, dtype=torch.uint8)[:, None].expand(4, 784).contiguous()  # image i is all i
    x = stack(imgs, torch.tensor([[1, 2, 3]]))
    assert x.shape == (1, 3 * 784)
    assert x.reshape(3, 784)[:, 0].mul(255).round().tolist() == [1, 2, 3]
    a, ma = stacked_set(imgs, torch.arange(4), 50, seed=3)
    b, mb = stacked_set(imgs, torch.arange(4), 50, seed=3)
    assert torch.equal(a, b) and torch.equal(ma, mb)  # seeded


@pytest.fixture(scope="module")
def classifier():
    """Trained once per module (cached on disk); only used by tests marked ``needs_mnist``."""
    assert DATA is not None
    from lbt.metrics.classifier import load_or_train

    model, _ = load_or_train(DATA)
    return model


@needs_mnist
def test_classifier_reaches_99_percent_on_real_test_set(classifier) -> None:  # noqa: ANN001
    from lbt.metrics.classifier import MIN_ACCURACY, accuracy

    assert accuracy(classifier, DATA) >= MIN_ACCURACY


@needs_mnist
def test_stacked_image_of_known_digits_maps_to_its_mode(classifier) -> None:  # noqa: ANN001
    x, y = mnist.load_mnist("test", DATA)
    first = {d: int(np.flatnonzero(y == d)[0]) for d in range(10)}  # first test image of each digit
    triples = [(3, 1, 4), (0, 0, 9), (9, 5, 0), (2, 7, 7)]
    idx = torch.tensor([[first[d] for d in t] for t in triples])
    imgs = stack(torch.from_numpy(x.reshape(len(x), -1).copy()), idx)
    assert classify_modes(classifier, imgs).tolist() == [314, 9, 950, 277]
    _, true_modes = stacked_set(torch.from_numpy(x.reshape(len(x), -1).copy()),
                                torch.from_numpy(y.astype(np.int64)), 2000, seed=1)  # fmt: skip
    xs, _ = stacked_set(torch.from_numpy(x.reshape(len(x), -1).copy()),
                        torch.from_numpy(y.astype(np.int64)), 2000, seed=1)  # fmt: skip
    assert (classify_modes(classifier, xs) == true_modes).double().mean() > 0.96  # ~0.99^3


def test_classifier_cache_rejects_a_tampered_file(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from lbt.metrics import classifier as clf

    monkeypatch.setenv("LBT_CACHE_DIR", str(tmp_path))
    calls = []

    def fake_train(directory=None, epochs=2, seed=0):  # noqa: ANN001, ANN202
        calls.append(1)
        return clf.DigitNet().eval()

    monkeypatch.setattr(clf, "train_classifier", fake_train)
    monkeypatch.setattr(clf, "accuracy", lambda model, directory=None: 0.5)
    clf.load_or_train()
    clf.load_or_train()
    assert len(calls) == 1  # the second call used the cache
    path = clf.cache_path()
    blob = bytearray(path.read_bytes())
    blob[-20] ^= 0xFF
    path.write_bytes(bytes(blob))
    clf.load_or_train(verbose=False)
    assert len(calls) == 2  # a checksum mismatch retrains instead of loading damaged weights


@needs_mnist
def test_download_fetches_missing_files_and_rejects_bad_ones(tmp_path: Path) -> None:
    """`lbt data mnist` logic against local 'mirrors' (file:// URLs; no network in tests)."""
    good = DATA.resolve().as_uri() + "/"
    dest = tmp_path / "dest"
    dest.mkdir()
    shutil.copy(DATA / "train-images-idx3-ubyte.gz", dest)  # one file already there
    paths = mnist.download(dest, mirrors=(good,))
    assert sorted(p.name for p in paths) == sorted(f"{s}.gz" for s in mnist.FILES)
    assert mnist.load_mnist("test", dest)[0].shape == (10000, 28, 28)

    bad = tmp_path / "bad"
    bad.mkdir()
    for stem in mnist.FILES:  # a mirror serving truncated files
        (bad / f"{stem}.gz").write_bytes((DATA / f"{stem}.gz").read_bytes()[:50])
    (dest / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(LBTError, match="could not download t10k-labels-idx1-ubyte.gz"):
        mnist.download(dest, mirrors=(bad.as_uri() + "/",))
    assert not list(dest.glob("*.part"))  # nothing half-written is left behind

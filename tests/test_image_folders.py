"""Natural-image readers: a folder of PNG / JPEG files, and CIFAR-10's python archive (no download)."""

from __future__ import annotations

import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lbt import config
from lbt.datasets import cifar10
from lbt.datasets.folder import load_folder
from lbt.errors import LBTError


def _rgb(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def make_folder(root: Path) -> Path:
    """Six images of different sizes, aspect ratios, modes and formats, in nested subfolders."""
    (root / "a" / "b").mkdir(parents=True)
    (root / "c").mkdir()
    Image.fromarray(_rgb(40, 60, 0), "RGB").save(root / "one.png")
    Image.fromarray(_rgb(50, 30, 1), "RGB").save(root / "a" / "two.JPG", quality=90)
    Image.fromarray(_rgb(32, 32, 2)[..., 0], "L").save(root / "a" / "b" / "grey.png")
    Image.fromarray(np.dstack([_rgb(36, 36, 3), np.full((36, 36), 128, np.uint8)]), "RGBA").save(
        root / "c" / "alpha.png"
    )
    Image.fromarray(_rgb(20, 28, 4), "RGB").convert("P").save(root / "c" / "palette.png")
    Image.fromarray(_rgb(24, 18, 5)[..., 1], "L").save(root / "a" / "b" / "grey.jpeg")
    (root / "c" / "notes.txt").write_text("not an image")
    return root


def test_folder_loads_nested_mixed_images(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "imgs")
    rgb = load_folder(root, size=16, channels=3)
    assert rgb.shape == (6, 3, 16, 16) and rgb.dtype == np.uint8
    assert rgb.std() > 20  # random pixels survived, not a constant image
    grey = load_folder(root, size=12, channels=1)
    assert grey.shape == (6, 1, 12, 12)
    # a greyscale source image is the same in all three RGB channels
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.*") if p.suffix != ".txt")
    for name in ("a/b/grey.png", "a/b/grey.jpeg"):
        g = files.index(name)
        assert np.array_equal(rgb[g, 0], rgb[g, 1]) and np.array_equal(rgb[g, 1], rgb[g, 2])
    assert float(np.abs(rgb[:, :1].astype(float) - rgb[:, 1:2]).mean()) > 1  # colour ones differ


def test_resize_shorter_side_and_centre_crop(tmp_path: Path) -> None:
    """A 20x40 image (h x w): left and right quarters are cropped away, the middle half is kept."""
    img = np.zeros((20, 40), np.uint8)
    img[:, 10:30] = 255  # the centre 20x20 square is white, the rest black
    (tmp_path / "f").mkdir()
    Image.fromarray(img, "L").save(tmp_path / "f" / "wide.png")
    x = load_folder(tmp_path / "f", size=10, channels=1)
    assert x.shape == (1, 1, 10, 10)  # only the white centre is left (bicubic: a faint edge)
    assert x[..., 1:-1].min() == 255 and x.min() > 200
    # the same file at its own size keeps every pixel of the square
    assert load_folder(tmp_path / "f", size=20, channels=1).min() == 255


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    (tmp_path / "f").mkdir()
    Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(tmp_path / "f" / "deep.png")
    x = load_folder(tmp_path / "f", size=8, channels=1)
    assert 120 <= int(x.mean()) <= 135  # half of the 16-bit range is mid-grey, not white


def test_corrupt_file_skipped_and_counted_or_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = make_folder(tmp_path / "imgs")
    (root / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    good = Image.open(root / "one.png")
    buf = io.BytesIO()
    good.save(buf, "PNG")
    (root / "c" / "truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    x = load_folder(root, size=8, channels=3, on_bad_file="skip")
    assert len(x) == 6
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "skipped 2 unreadable image file(s) of 8" in err[0]
    with pytest.raises(LBTError, match=r"cannot read image .*broken\.png.*data\.on_bad_file=skip") as e:
        load_folder(root, size=8, channels=3, on_bad_file="error")
    assert "\n" not in str(e.value)


def test_empty_missing_and_unreadable_folders_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").write_text("x")
    cases = [
        (tmp_path / "empty", "no images found in"),
        (tmp_path / "nowhere", "does not exist"),
        (tmp_path / "empty" / "sub" / "readme.txt", "is not a folder"),
        ("", "needs data.path=DIR"),
    ]
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"not a jpeg")
    cases.append((tmp_path / "bad", "no readable images in"))
    for path, msg in cases:
        with pytest.raises(LBTError, match=msg) as e:
            load_folder(path, size=8)
        assert "\n" not in str(e.value)
    with pytest.raises(LBTError, match="data.channels must be 1"):
        load_folder(tmp_path / "bad", channels=2)
    with pytest.raises(LBTError, match="data.name=folder needs data.path"):
        config.build("mnist", {"data.name": "folder"})
    with pytest.raises(LBTError, match="data.on_bad_file='maybe' is not one of: skip, error"):
        config.build("mnist", {"data.on_bad_file": "maybe"})


def test_cli_missing_folder_is_one_line(tmp_path: Path, cli) -> None:  # noqa: ANN001
    r = cli("train", "--preset", "mnist", "--set", "data.name=folder", "--set",
            f"data.path={tmp_path / 'none'}", "--out", str(tmp_path / "run"), cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"lbt: error: image folder {tmp_path / 'none'} does not exist (data.path)"
    ]


# -- CIFAR-10 --------------------------------------------------------------------------------


def _batch(n: int, seed: int) -> tuple[np.ndarray, list[int]]:
    """Rows in the official layout: 1024 red, then 1024 green, then 1024 blue values, row-major."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return data, [int(v) for v in rng.integers(0, 10, n)]


def make_cifar_archive(path: Path, n: int = 4) -> dict[str, tuple[np.ndarray, list[int]]]:
    batches = {f"data_batch_{i}": _batch(n, i) for i in range(1, 6)}
    batches["test_batch"] = _batch(n, 9)
    # a known pattern in the first training image: red = row index, green = column, blue = 7
    r, c = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    batches["data_batch_1"][0][0] = np.concatenate([r.ravel(), c.ravel(), np.full(1024, 7)]).astype(np.uint8)
    with tarfile.open(path, "w:gz") as tar:
        for name, (data, labels) in {**batches, "batches.meta": (np.zeros((0, 3072), np.uint8), [])}.items():
            payload = pickle.dumps(
                {b"batch_label": name.encode(), b"data": data, b"labels": labels}, protocol=2
            )
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return batches


def test_cifar10_small_archive_pixels_and_labels(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    batches = make_cifar_archive(tmp_path / cifar10.ARCHIVE)
    x, y = cifar10.load_cifar10("train", directory=tmp_path)
    assert x.shape == (20, 3, 32, 32) and x.dtype == np.uint8 and y.shape == (20,)
    assert np.array_equal(x[0, 0], np.tile(np.arange(32)[:, None], (1, 32)))  # red: row index
    assert np.array_equal(x[0, 1], np.tile(np.arange(32)[None, :], (32, 1)))  # green: column index
    assert (x[0, 2] == 7).all()
    expected = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)]).reshape(-1, 3, 32, 32)
    assert np.array_equal(x, expected)
    assert y.tolist() == sum((batches[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    tx, ty = cifar10.load_cifar10("test", path=tmp_path / cifar10.ARCHIVE)  # the file itself as data.path
    assert np.array_equal(tx.reshape(len(tx), -1), batches["test_batch"][0])
    assert ty.tolist() == batches["test_batch"][1]
    assert "not the official CIFAR-10 archive" in capsys.readouterr().err


def test_cifar10_extracted_folder_and_errors(tmp_path: Path) -> None:
    make_cifar_archive(tmp_path / cifar10.ARCHIVE)
    with tarfile.open(tmp_path / cifar10.ARCHIVE) as tar:
        tar.extractall(tmp_path / "x", filter="data")
    x, _ = cifar10.load_cifar10("train", path=tmp_path / "x")
    assert x.shape == (20, 3, 32, 32)
    with pytest.raises(LBTError, match="CIFAR-10 not found: no cifar-10-python.tar.gz"):
        cifar10.load_cifar10("train", directory=tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / cifar10.ARCHIVE).write_bytes(b"\x1f\x8b truncated")
    with pytest.raises(LBTError, match="is not a readable CIFAR-10 archive") as e:
        cifar10.load_cifar10("train", directory=tmp_path / "bad")
    assert "\n" not in str(e.value)
    # a pickle that would call anything but numpy's array constructor is refused, not run
    evil = tmp_path / "evil" / cifar10.FOLDER
    evil.mkdir(parents=True)
    for name in cifar10.SPLITS["train"] + cifar10.SPLITS["test"]:
        (evil / name).write_bytes(pickle.dumps({b"data": print, b"labels": []}))
    with pytest.raises(LBTError, match="refusing to load builtins.print"):
        cifar10.load_cifar10("train", path=evil.parent)


def test_cifar10_official_size_is_checksummed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_cifar_archive(tmp_path / cifar10.ARCHIVE)
    monkeypatch.setattr(cifar10, "SIZE", (tmp_path / cifar10.ARCHIVE).stat().st_size)
    with pytest.raises(LBTError, match="has the size of the official CIFAR-10 archive but not its MD5"):
        cifar10.load_cifar10("train", directory=tmp_path)
    monkeypatch.setattr(cifar10, "MD5", cifar10.md5sum(tmp_path / cifar10.ARCHIVE))
    cifar10._load.cache_clear()
    assert cifar10.load_cifar10("train", directory=tmp_path)[0].shape == (20, 3, 32, 32)


def test_lbt_data_cifar10_failed_download_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from lbt import cli

    def offline(*a: object, **k: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(cifar10.urllib.request, "urlopen", offline)
    assert cli.main(["data", "cifar10", "--data-dir", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lbt: error: could not download https://www.cs.toronto.edu")
    assert not list((tmp_path / "d").iterdir())  # no .part file left behind


# -- as cfg.data for the image methods ---------------------------------------------------------

TINY = {
    "images.gen_base": 8, "images.gen_hidden": 32, "images.vae_hidden": "32", "images.disc_width": 4,
    "model.vae_latent": 4, "model.z_dim": 8, "images.test_images": 8, "images.iw_images": 4,
    "images.iw_samples": 2, "images.grid": 2, "train.batch_size": 4, "train.gen_batch_size": 4,
    "train.time_limit": 0, "lbt.unroll_steps": 1, "lbt.est_steps": 1, "train.iterations": 2,
    "eval.every": 2, "eval.samples": 8, "eval.train_samples": 4,
}  # fmt: skip


def test_cifar10_trains_as_image_data(tmp_path: Path) -> None:
    from lbt.train import Trainer

    make_cifar_archive(tmp_path / cifar10.ARCHIVE)
    over = {**TINY, "data.name": "cifar10", "data.path": str(tmp_path), "train.method": "lbt-gan"}
    tr = Trainer(preset="mnist-lbt-gan", overrides=over, out_dir=tmp_path / "run", progress=False)
    assert tr.data.dim == 3072 and tr.data.sample(3).shape == (3, 3072)
    assert float(tr.data.sample(64).min()) >= 0 and float(tr.data.sample(64).max()) <= 1
    m = tr.fit()
    assert np.isfinite(m["elbo_test"]) and 0 < m["disc_real"] < 1
    import matplotlib.pyplot as plt

    assert plt.imread(tmp_path / "run" / "samples_data.png").shape[:2] == (2 * 36, 2 * 36)
    # greyscale 16x16 on request
    grey = Trainer(
        preset="mnist", overrides={**over, "data.channels": 1, "data.image_size": 16}, progress=False
    )
    assert grey.data.dim == 256 and grey.method.sample(2).shape == (2, 256)


def test_lbt_train_on_a_folder_writes_a_run(tmp_path: Path, cli) -> None:  # noqa: ANN001
    root = make_folder(tmp_path / "imgs")
    sets = [f"{k}={v}" for k, v in {**TINY, "train.iterations": 3, "eval.every": 3}.items()]
    args = ["train", "--preset", "mnist-lbt-gan", "--set", "data.name=folder", "--set", f"data.path={root}",
            "--set", "data.image_size=12", "--out", str(tmp_path / "run"), "--no-progress"]  # fmt: skip
    for s in sets:
        args += ["--set", s]
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["iterations"] == 3 and "elbo_test" not in metrics  # a folder has no held-out split
    for name in ("config.yaml", "history.csv", "samples_generator.png", "samples_data.png"):
        assert (run / name).stat().st_size > 0, name
    cfg = config.load(run / "config.yaml")
    assert (cfg.data.name, cfg.data.image_size, cfg.data.channels) == ("folder", 12, 3)


def test_networks_follow_image_side() -> None:
    from lbt.models.images import ConvDiscriminator, DCGANGenerator

    g = DCGANGenerator(z_dim=4, channels=3, base=8, hidden=16, kernel=5, side=32)
    x = g.sample(2)
    assert x.shape == (2, 3 * 32 * 32) and ConvDiscriminator(3, 4, 8, side=32)(x).shape == (2,)
    cfg = config.build("mnist", {"data.name": "folder", "data.path": "x", "data.image_size": 30})
    from lbt.methods import GENERATORS

    with pytest.raises(LBTError, match="needs data.image_size divisible by 4, got 30"):
        GENERATORS["dcgan"](cfg, 3 * 900)
    with torch.no_grad():
        assert g.eval()(torch.zeros(1, 4)).shape == (1, 3072)

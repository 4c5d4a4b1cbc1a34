"""A folder of PNG / JPEG images (searched recursively), as one uint8 array ``(N, C, S, S)``.

Every image is decoded with Pillow, turned upright (EXIF orientation), converted to RGB
(``channels=3``) or greyscale (``channels=1``, ITU-R 601-2 luma), scaled so that its *shorter*
side is ``size`` and centre-cropped to ``size x size``; so images of mixed sizes, aspect ratios
and modes (greyscale, palette, RGBA, 16-bit) can share one folder. An alpha channel is dropped.
The folder is read once per process (the folders this is meant for are small) and sampled by
index. A file that cannot be decoded is skipped and counted (``on_bad_file="skip"``, one warning
line on stderr) or refused (``"error"``); a missing path or a folder without images is an
:class:`~lbt.errors.LBTError`.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from lbt.errors import LBTError

EXTENSIONS = (".png", ".jpg", ".jpeg")


def image_files(directory: Path) -> list[Path]:
    """PNG / JPEG files under ``directory`` (any depth, extension case ignored), in sorted order."""
    return sorted(p for p in directory.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())


def _to_8bit(im):  # PIL.Image in, PIL.Image out
    """16-bit / 32-bit greyscale (modes I;16, I, F) to 8-bit L; Pillow's convert would clip."""
    from PIL import Image

    if im.mode not in ("I", "F") and not im.mode.startswith("I;16"):
        return im
    arr = np.asarray(im, dtype=np.float64)
    if arr.size and arr.max() > 255:
        arr = arr / 257.0  # 16-bit range -> 8-bit
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")


def fit_image(im, size: int, channels: int) -> np.ndarray:  # im: a PIL.Image
    """One PIL image -> uint8 ``(channels, size, size)``: shorter side to ``size``, centre crop."""
    from PIL import Image, ImageOps

    im = _to_8bit(ImageOps.exif_transpose(im))
    im = im.convert("RGB" if channels == 3 else "L")
    im = ImageOps.fit(im, (size, size), Image.Resampling.BICUBIC, centering=(0.5, 0.5))
    arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def fit_array(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """uint8 RGB ``(N, 3, H, W)`` -> ``(N, channels, size, size)`` the way :func:`fit_image` does it."""
    if images.shape[1:] == (channels, size, size):
        return images
    from PIL import Image

    out = np.empty((len(images), channels, size, size), dtype=np.uint8)
    for i, img in enumerate(images):
        out[i] = fit_image(
            Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0)), "RGB"), size, channels
        )
    return out


def check_shape(size: int, channels: int) -> None:
    if channels not in (1, 3):
        raise LBTError(f"data.channels must be 1 (greyscale) or 3 (RGB), got {channels}")
    if size < 1:
        raise LBTError(f"data.image_size must be > 0, got {size}")


def load_folder(path: str | Path, size: int = 32, channels: int = 3, on_bad_file: str = "skip") -> np.ndarray:
    """All images under ``path`` as uint8 ``(N, channels, size, size)``, read once per process."""
    check_shape(size, channels)
    if on_bad_file not in ("skip", "error"):
        raise LBTError(f"data.on_bad_file must be skip or error, got {on_bad_file!r}")
    if not str(path).strip():
        raise LBTError("data.name=folder needs data.path=DIR (a folder of PNG/JPEG images)")
    d = Path(path).expanduser()
    if not d.exists():
        raise LBTError(f"image folder {d} does not exist (data.path)")
    if not d.is_dir():
        raise LBTError(f"data.path={d} is not a folder; data.name=folder reads a folder of PNG/JPEG images")
    return _load(str(d.resolve()), size, channels, on_bad_file)


@lru_cache(maxsize=4)
def _load(directory: str, size: int, channels: int, on_bad_file: str) -> np.ndarray:
    from PIL import Image

    files = image_files(Path(directory))
    if not files:
        raise LBTError(f"no images found in {directory} (searched all subfolders for "
                       f"{', '.join(EXTENSIONS)} files)")  # fmt: skip
    out = np.empty((len(files), channels, size, size), dtype=np.uint8)
    n, bad = 0, []
    for f in files:
        try:
            with Image.open(f) as im:
                im.draft("RGB" if channels == 3 else "L", (size, size))  # JPEG: decode at a reduced scale
                out[n] = fit_image(im, size, channels)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            if on_bad_file == "error":
                raise LBTError(f"cannot read image {f} ({_reason(exc)}); remove it or set "
                               "data.on_bad_file=skip") from None  # fmt: skip
            bad.append(f"{f.relative_to(directory)}: {_reason(exc)}")
            continue
        n += 1
    if n == 0:
        raise LBTError(f"no readable images in {directory}: all {len(files)} image files failed to "
                       f"decode (first: {bad[0]})")  # fmt: skip
    if bad:
        print(f"lbt: warning: skipped {len(bad)} unreadable image file(s) of {len(files)} in {directory} "
              f"(first: {bad[0]})", file=sys.stderr)  # fmt: skip
    out = out[:n].copy() if n < len(out) else out
    out.setflags(write=False)
    return out


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__

"""A user's points from a file: ``.npy`` (``data.name=npy``) or ``.csv`` (``data.name=csv``).

Each reader returns an (N, D) float array of finite numbers, or raises one :class:`LBTError` line
that says what is wrong and where (a CSV error names the file's line and the column).
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lbt.errors import LBTError


def _existing(path: str | Path, kind: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise LBTError(f"data file not found: {p} (data.path must name an existing {kind} file)")
    return p


def _checked(arr: np.ndarray, p: Path) -> np.ndarray:
    if arr.ndim != 2 or arr.shape[0] < 2 or arr.shape[1] < 1:
        raise LBTError(f"{p} holds an array of shape {arr.shape}; expected (N, D) with N >= 2")
    return arr


def read_npy(path: str | Path) -> np.ndarray:
    """An (N, D) array saved with ``numpy.save``."""
    p = _existing(path, ".npy")
    try:
        arr = np.load(p, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for bad files
        raise LBTError(f"cannot read {p} as a .npy array: {exc}") from None
    _checked(arr, p)
    if not np.issubdtype(arr.dtype, np.number):
        raise LBTError(f"{p} holds dtype {arr.dtype}; expected numbers")
    for i in range(0, len(arr), 4096):  # in blocks: no second array the size of the data
        bad = np.argwhere(~np.isfinite(arr[i : i + 4096]))
        if len(bad):
            row, col = bad[0]
            raise LBTError(
                f"{p} contains NaN or infinite values (first at row {i + row}, column {col}, 0-based)"
            )
    return arr


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def read_csv(path: str | Path) -> np.ndarray:
    """Comma-separated numeric columns; the first row is a header when none of its cells is a number.

    numpy parses a well-formed file; when it refuses, or a value is NaN or infinite, the file is
    read row by row instead, which names the first bad line and column (blank lines are skipped).
    """
    p = _existing(path, ".csv")
    header = next(_lines(p), (0, None))[1]
    if header is None:
        raise LBTError(f"{p} is empty: expected rows of comma-separated numbers")
    skip = 1 if _is_header(header) else 0
    try:
        with warnings.catch_warnings():  # a file of a header alone: the scan below says so
            warnings.simplefilter("ignore")
            arr = np.loadtxt(p, delimiter=",", skiprows=skip, dtype=np.float64, ndmin=2,
                             comments=None, quotechar='"', encoding="utf-8")  # fmt: skip
    except (ValueError, UnicodeDecodeError):
        arr = None
    if arr is None or arr.size == 0 or not np.isfinite(arr).all():
        arr = _scan(p)
    if arr.shape[0] < 2:
        raise LBTError(f"{p} holds {arr.shape[0]} data row(s); at least 2 are needed")
    return arr


def _lines(p: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each non-blank row; a file that is not text CSV is one error line."""
    try:
        with p.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            for cells in reader:
                if any(c.strip() for c in cells):
                    yield reader.line_num, cells
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LBTError(f"cannot read {p} as text CSV: {exc}") from None


def _is_header(cells: list[str]) -> bool:
    return all(_number(c) is None for c in cells)


def _scan(p: Path) -> np.ndarray:
    """The rows parsed one by one, or one error line naming the first bad line and column (a
    non-numeric, NaN or infinite cell, or a row of another length)."""
    rows: list[list[float]] = []
    names: list[str] | None = None
    width = 0
    for line, cells in _lines(p):
        if not rows and names is None and _is_header(cells):
            names, width = [c.strip() for c in cells], len(cells)
            continue
        width = width or len(cells)
        if len(cells) != width:
            raise LBTError(f"{p} line {line} has {len(cells)} columns; expected {width} "
                           "(every row needs the same number of comma-separated values)")  # fmt: skip
        values = []
        for j, cell in enumerate(cells):
            value = _number(cell)
            if value is None or not math.isfinite(value):
                what = "is not a number" if value is None else "is NaN or infinite"
                col = f"column {j + 1}" + (f" ({names[j]!r})" if names else "")
                raise LBTError(f"{p} line {line}, {col}: {cell.strip()!r} {what}")
            values.append(value)
        rows.append(values)
    if not rows:
        raise LBTError(f"{p} has a header but no data rows")
    return np.asarray(rows, dtype=np.float64)

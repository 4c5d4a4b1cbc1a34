"""The run directory: atomic file writes, provenance, checkpoints, history, and :class:`RunDirectory`.

Every file is written to a temporary sibling, flushed to disk and renamed over the target, so a
kill at any moment leaves either the old file or the new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lbt.errors import LBTError

CHECKPOINT = "checkpoint.pt"


def check_can_be_made(path: Path) -> None:
    """Refuse, before any work, a run directory that cannot exist: ``path`` itself, or the nearest
    of its parents that exists, is not a directory (a file, ``/dev/null``)."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                where = f"{p} {'exists and ' if p == path else ''}is not a directory"
                raise LBTError(f"cannot make the run directory {path}: {where}; "
                               "choose another --out (nothing was changed)")  # fmt: skip
            return


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_history(path: Path, rows: list[dict[str, float]]) -> None:
    """history.csv with the union of keys as columns (first-seen order), rewritten atomically."""
    cols: list[str] = []
    for r in rows:
        cols.extend(k for k in r if k not in cols)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, restval="", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def read_history(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)]


def git_commit() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        commit = out.stdout.strip()
        if not commit:
            return "unknown"
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()  # fmt: skip
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance() -> dict[str, Any]:
    from lbt import __version__

    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
        "git_commit": git_commit(),
        "versions": {
            "lbt": __version__,
            "python": platform.python_version(),
            "torch": str(torch.__version__),
            "numpy": np.__version__,
        },
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
    }


PREVIOUS = "checkpoint.prev.pt"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically, keeping the checkpoint it replaces as ``checkpoint.prev.pt``.

    If the newest file is ever damaged (a full disk, a copy gone wrong), the previous one still
    resumes the run.
    """
    path = Path(path)
    buf = io.BytesIO()
    torch.save(payload, buf)
    if path.exists():  # keep it as PREVIOUS with no moment at which ``path`` is missing
        prev = path.with_name(PREVIOUS)
        tmp = prev.with_name(f".{PREVIOUS}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(path, tmp)  # a second name for the same bytes, no copy
        except OSError:  # a file system without hard links
            shutil.copyfile(path, tmp)
        os.replace(tmp, prev)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    path = Path(path)
    prev = path.with_name(PREVIOUS)
    hint = (
        f"; the previous checkpoint is intact: lbt train --resume {prev}"
        if prev.is_file() and prev != path
        else ""
    )
    if not path.is_file():
        raise LBTError(f"no checkpoint at {path}{hint or ' (train first, or point at a run directory)'}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for damaged archives
        raise LBTError(f"checkpoint {path} is unreadable or corrupt ({type(exc).__name__}){hint}") from None
    if not isinstance(payload, dict) or "method" not in payload or "iteration" not in payload:
        raise LBTError(f"{path} is not an lbt checkpoint{hint}")
    return payload


class RunDirectory:
    """A run's directory while it trains: made on first use, history rows to history.csv and
    TensorBoard, checkpoints, the final metrics; and, for a new run that crashes before its first
    checkpoint, taken away again (:meth:`discarded_if_it_crashes_unstarted`)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._writer: Any = None
        self._unstarted: tuple[set[str], list[Path]] | None = None

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    def open(self, write_files: Callable[[Path], None]) -> None:
        """Make the directory, call ``write_files(path)`` (config.yaml and the like), start TensorBoard."""
        if self.is_open:
            return
        from torch.utils.tensorboard import SummaryWriter

        made = [p for p in (self.path, *self.path.parents) if not p.exists()]  # deepest first
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LBTError(f"cannot make the run directory {self.path}: {exc.strerror or exc}") from None
        resumable = (self.path / CHECKPOINT).exists()
        self._unstarted = None if resumable else ({p.name for p in self.path.iterdir()}, made)
        write_files(self.path)
        self._writer = SummaryWriter(str(self.path / "tensorboard"))

    def log(self, history: list[dict[str, float]], iteration: int) -> None:
        """The history so far to history.csv, its last row to TensorBoard."""
        write_history(self.path / "history.csv", history)
        for k, v in history[-1].items():
            if k != "iteration" and isinstance(v, (int, float)) and math.isfinite(v):
                self._writer.add_scalar(k, v, iteration)
        self._writer.flush()

    def save_checkpoint(self, payload: dict[str, Any]) -> None:
        save_checkpoint(self.path / CHECKPOINT, payload)

    def write_metrics(self, metrics: dict[str, Any], events: list[dict[str, Any]]) -> None:
        """metrics.json, and events.json where something happened (NaN rollbacks)."""
        write_json(self.path / "metrics.json", metrics)
        if events:
            write_json(self.path / "events.json", events)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    @contextlib.contextmanager
    def discarded_if_it_crashes_unstarted(self) -> Iterator[None]:
        """A new run that crashes (out of memory, say) before its first checkpoint leaves nothing:
        it could not be resumed, and its config.yaml would make ``--out`` refuse the place.

        Only what this run wrote goes (files that were there before stay). An :class:`LBTError`
        (a NaN stop, an interruption, which checkpoints) leaves the directory as its line says.
        """
        try:
            yield
        except LBTError:
            raise
        except Exception:
            if self._unstarted is not None and not (self.path / CHECKPOINT).exists():
                kept, made = self._unstarted
                self._unstarted = None
                self.close()
                for entry in self.path.iterdir():
                    if entry.name in kept:
                        continue
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
                for directory in made:  # only directories this run made, and only if now empty
                    with contextlib.suppress(OSError):
                        directory.rmdir()
            raise

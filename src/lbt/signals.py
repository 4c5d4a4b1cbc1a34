"""How a run stops early: SIGINT/SIGTERM as a flag between iterations, and the errors that say why."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from multiprocessing import active_children
from pathlib import Path
from typing import Any

from lbt.errors import LBTError


class Interrupted(LBTError):
    """Training stopped by SIGINT/SIGTERM after writing a checkpoint."""

    def __init__(self, signum: int, iteration: int, out: Path | None):
        self.signum, self.iteration, self.out = signum, iteration, out
        name = signal.Signals(signum).name
        where = f"; resume with: lbt train --resume {out}" if out is not None else ""
        super().__init__(f"{name} received: stopped after iteration {iteration}, checkpoint written{where}")

    def __reduce__(self) -> tuple[type, tuple[int, int, Path | None]]:
        """Picklable, so that a ``lbt compare --jobs N`` worker hands the interruption back as one."""
        return type(self), (self.signum, self.iteration, self.out)


class NonFiniteError(LBTError):
    """A loss or gradient became NaN or infinite (and no rollback was allowed)."""


@contextmanager
def handling(handler: Callable[[int, Any], None], *signums: int) -> Iterator[None]:
    """``handler`` for ``signums`` while the block runs, the old handlers after it (main thread
    only: Python installs signal handlers nowhere else, so elsewhere this does nothing)."""
    old: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        old = {sig: signal.signal(sig, handler) for sig in signums}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


class StopSignals:
    """Turn SIGINT/SIGTERM into a flag the loop checks between iterations (main thread only)."""

    def __init__(self) -> None:
        self.received = 0
        self._handling = handling(self._handler, signal.SIGINT, signal.SIGTERM)

    def _handler(self, signum: int, frame: Any) -> None:
        if self.received:  # a second signal: stop right away
            raise KeyboardInterrupt
        self.received = signum

    def __enter__(self) -> StopSignals:
        self._handling.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._handling.__exit__(None, None, None)


def _to_children(signum: int, frame: Any) -> None:
    for child in active_children():
        if child.pid is not None:
            os.kill(child.pid, signum)


def sigterm_to_children() -> AbstractContextManager[None]:
    """SIGTERM to this process reaches its worker processes too, so each checkpoints and stops (as
    Ctrl-C reaches a terminal's whole process group); a parallel study's workers would otherwise
    train on, orphaned, into the study directory that a rerun would then share with them."""
    return handling(_to_children, signal.SIGTERM)

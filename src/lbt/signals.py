"""How a run stops early: SIGINT/SIGTERM as a flag between iterations, and the errors that say why."""

from __future__ import annotations

import signal
import threading
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


class StopSignals:
    """Turn SIGINT/SIGTERM into a flag the loop checks between iterations (main thread only)."""

    def __init__(self) -> None:
        self.received = 0
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.received:  # a second signal: stop right away
            raise KeyboardInterrupt
        self.received = signum

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

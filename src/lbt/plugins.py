"""Modules that extend the core (extra methods, data sets, presets, CLI subcommands).

Each listed module registers what it adds when imported: methods via
``lbt.methods.register``, data via ``lbt.train.DATA_BUILDERS``, presets via
``lbt.config.register_preset``, and CLI subcommands through ``add_subcommand(subparsers) -> name``
plus ``run_subcommand(args) -> exit code``. Keeping the list here lets the core stay small.
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES: list[str] = ["lbt.images"]

_loaded: list[ModuleType] | None = None


def load() -> list[ModuleType]:
    """Import every extension module once (idempotent)."""
    global _loaded
    if _loaded is None:
        _loaded = [importlib.import_module(m) for m in MODULES]
    return _loaded

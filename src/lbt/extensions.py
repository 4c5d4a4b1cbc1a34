"""Third-party extensions: the entry points of the group ``lbt.extensions``, loaded once, explicitly.

The package's own names are registered where they are defined, by importing the module that
defines them; an extension of another distribution is found only through its installed metadata,
so something has to load it. :func:`load_extensions` does, once per process: :func:`lbt.cli.main`
calls it before it builds the parser, :class:`lbt.train.Trainer` before it builds or reopens a
config. A script that builds configs from an extension's names before any Trainer exists calls
it first. Reading a registry never loads anything (:mod:`lbt.registry`).
"""

from __future__ import annotations

from typing import Any

from lbt.commands import COMMANDS
from lbt.config import CHOICES, POSITIVE, PRESETS, SECTIONS
from lbt.datasets import DATASETS
from lbt.errors import LBTError
from lbt.hypergrad import HYPERGRADIENTS
from lbt.methods import METHODS
from lbt.models import DISCRIMINATORS, ESTIMATORS, GENERATORS
from lbt.registry import Extension, Registries, declared_extensions


def package_registries() -> Registries:
    """Every registry of the package, as an extension's ``register`` receives them."""
    return Registries(
        methods=METHODS,
        generators=GENERATORS,
        estimators=ESTIMATORS,
        discriminators=DISCRIMINATORS,
        datasets=DATASETS,
        hypergradients=HYPERGRADIENTS,
        presets=PRESETS,
        sections=SECTIONS,
        choices=CHOICES,
        positive=POSITIVE,
        commands=COMMANDS,
    )


_loaded: list[str] | None = None
_failure: LBTError | None = None


def load_extensions() -> list[str]:
    """Call ``register`` of every declared extension, once per process; returns their names.

    A failing extension is an error here and at every later call (a half-registered extension
    would fail later and less clearly).
    """
    global _loaded, _failure
    if _failure is not None:
        raise _failure
    if _loaded is not None:
        return _loaded
    _loaded = []  # first: an extension that itself asks for the extensions gets those loaded so far
    registries = package_registries()
    for ep in declared_extensions():
        try:
            module: Any = ep.load()
            if not isinstance(module, Extension):
                raise TypeError("it defines no register(registry) function")
            module.register(registries)
        except Exception as exc:
            _failure = LBTError(f"extension {ep.name!r} ({ep.value}) failed to load: {exc}")
            raise _failure from exc
        _loaded.append(ep.name)
    return _loaded

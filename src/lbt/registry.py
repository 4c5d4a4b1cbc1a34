"""Registries, the one list of names per kind of thing, and the extensions that add to them.

A :class:`Registry` maps a name (a config value such as ``train.method=gan``) to what builds it.
Config validation, ``lbt presets`` and the builders all read the registries, so a registered
name is accepted everywhere and nothing else needs to know it.

An extension is a module declared as a Python entry point in the group ``lbt.extensions``::

    [project.entry-points."lbt.extensions"]
    my_extension = "my_package.lbt_extension"

It defines ``register(registry)`` (the :class:`Extension` protocol) and adds its entries to the
:class:`Registries` it is given; importing it changes nothing. :func:`load_extensions` calls every
declared extension once, the first time any registry is read. The project's own image support is
declared the same way (``images = "lbt.images"`` in pyproject.toml), so an install (``pip
install -e .``) is what makes it, and any third-party extension, visible.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, TypeVar, runtime_checkable

from lbt.errors import LBTError

EXTENSION_GROUP = "lbt.extensions"

T = TypeVar("T")


class Registry(MutableMapping[str, T]):
    """Names of one ``kind`` of thing -> what builds it, in registration order.

    Reading (lookup, ``in``, iteration, ``len``) first loads the declared extensions, once;
    writing does not, so an extension's ``register`` can fill registries freely.
    """

    def __init__(self, kind: str, entries: dict[str, T] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, T] = dict(entries or {})

    def __getitem__(self, name: str) -> T:
        load_extensions()
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        load_extensions()
        return iter(list(self._entries))

    def __len__(self) -> int:
        load_extensions()
        return len(self._entries)

    def __setitem__(self, name: str, value: T) -> None:
        self._entries[name] = value

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of ``registry[name] = thing``."""

        def deco(thing: T) -> T:
            self[name] = thing
            return thing

        return deco

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"


@dataclass(frozen=True)
class Registries:
    """What an extension's ``register`` receives: every registry of the package, by kind.

    Builders take the resolved config (:class:`lbt.config.Config`); ``dim`` is the flattened
    feature count (a discriminator's input may be wider: PacGAN packs, VEEGAN pairs ``(z, x)``).
    """

    methods: Registry  # train.method -> (cfg, x_dim, generator=None, estimator=None) -> Method
    generators: Registry  # model.generator -> (cfg, x_dim) -> nn.Module with sample(n)
    estimators: Registry  # model.estimator -> (cfg, x_dim) -> teacher (forward = log-density)
    discriminators: Registry  # model.discriminator -> (cfg, in_dim) -> nn.Module (logits)
    datasets: Registry  # data.name -> (cfg) -> data set with sample(n) and dim
    hypergradients: Registry  # lbt.hypergrad -> strategy(problem, x_data)
    presets: Registry  # preset name -> nested dict of config values
    sections: Registry  # config section -> dataclass; its fields become keys ``NAME.field``
    choices: Registry  # config key -> the values it may take
    positive: set[str]  # config keys that must be > 0
    commands: Registry  # CLI subcommand -> lbt.cli.Command

    @classmethod
    def of_package(cls) -> Registries:
        from lbt import cli, config, datasets, hypergrad, methods, models

        return cls(
            methods=methods.METHODS,
            generators=models.GENERATORS,
            estimators=models.ESTIMATORS,
            discriminators=models.DISCRIMINATORS,
            datasets=datasets.DATASETS,
            hypergradients=hypergrad.HYPERGRADIENTS,
            presets=config.PRESETS,
            sections=config.SECTIONS,
            choices=config.CHOICES,
            positive=config.POSITIVE,
            commands=cli.COMMANDS,
        )


@runtime_checkable
class Extension(Protocol):
    """An extension module: everything it adds, it adds in ``register``."""

    def register(self, registry: Registries) -> None: ...


_loaded: list[str] | None = None
_failure: LBTError | None = None


def declared_extensions() -> list[EntryPoint]:
    """The entry points of the group ``lbt.extensions``, by name (one per name)."""
    found = {ep.name: ep for ep in entry_points(group=EXTENSION_GROUP)}
    return [found[name] for name in sorted(found)]


def load_extensions() -> list[str]:
    """Call ``register`` of every declared extension, once per process; returns their names.

    A failing extension is an error here and at every later read (a half-registered extension
    would fail later and less clearly).
    """
    global _loaded, _failure
    if _failure is not None:
        raise _failure
    if _loaded is not None:
        return _loaded
    _loaded = []  # first: registries read while extensions register see what is there so far
    declared = declared_extensions()
    if not declared:
        print(f"lbt: warning: no extensions declared (entry point group {EXTENSION_GROUP}); the "
              "image data sets and presets are missing; reinstall with pip install -e .",
              file=sys.stderr)  # fmt: skip
    registry = Registries.of_package()
    for ep in declared:
        try:
            module: Any = ep.load()
            if not isinstance(module, Extension):
                raise TypeError("it defines no register(registry) function")
            module.register(registry)
        except Exception as exc:
            _failure = LBTError(f"extension {ep.name!r} ({ep.value}) failed to load: {exc}")
            raise _failure from exc
        _loaded.append(ep.name)
    return _loaded

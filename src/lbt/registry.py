"""Registries, the one list of names per kind of thing, and the shape of an extension.

A :class:`Registry` maps a name (a config value such as ``train.method=gan``) to what builds it.
Config validation, ``lbt presets`` and the builders all read the registries, so a registered
name is accepted everywhere and nothing else needs to know it. Each part of the package
registers its names where it is defined (:data:`lbt.methods.METHODS` beside the methods, ...);
reading a registry never loads anything, so this module is a leaf that every builder can import.

An extension is a module of another distribution, declared as a Python entry point in the group
``lbt.extensions``::

    [project.entry-points."lbt.extensions"]
    my_extension = "my_package.lbt_extension"

It defines ``register(registry)`` (the :class:`Extension` protocol) and adds its entries to the
:class:`Registries` it is given; importing it changes nothing. :func:`lbt.extensions.load_extensions`
calls every declared extension once, explicitly (the CLI and :class:`lbt.train.Trainer` do).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Protocol, TypeVar, runtime_checkable

EXTENSION_GROUP = "lbt.extensions"

T = TypeVar("T")


class Registry(MutableMapping[str, T]):
    """Names of one ``kind`` of thing -> what builds it, in registration order."""

    def __init__(self, kind: str, entries: dict[str, T] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, T] = dict(entries or {})

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
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
    """What an extension's ``register`` receives: every registry of the package, by kind
    (:func:`lbt.extensions.package_registries` fills it).

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
    commands: Registry  # CLI subcommand -> lbt.commands.Command


@runtime_checkable
class Extension(Protocol):
    """An extension module: everything it adds, it adds in ``register``."""

    def register(self, registry: Registries) -> None: ...


def declared_extensions() -> list[EntryPoint]:
    """The entry points of the group ``lbt.extensions``, by name (one per name).

    Entry points into ``lbt`` itself are left out: the package's own parts register where they
    are defined, and an install made before the image support moved in-tree still declares
    ``images = "lbt.images"`` in its metadata.
    """
    found = {ep.name: ep for ep in entry_points(group=EXTENSION_GROUP) if ep.module.split(".")[0] != "lbt"}
    return [found[name] for name in sorted(found)]

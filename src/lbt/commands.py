"""The ``lbt`` subcommands by name: :class:`Command` and the registry :data:`COMMANDS`.

A module of its own, below :mod:`lbt.cli` (which registers the built-in commands) and
:mod:`lbt.extensions` (whose extensions add theirs), so that neither has to import the other.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from lbt.registry import Registry


@dataclass(frozen=True)
class Command:
    """One subcommand: ``arguments(parser)`` declares its options, ``run(args)`` returns the exit code.

    The built-in commands are registered by :mod:`lbt.cli`; an extension adds its own to
    ``registry.commands`` (:mod:`lbt.registry`). Every command also gets ``--debug`` and
    ``--no-progress``.
    """

    help: str
    run: Callable[[argparse.Namespace], int]
    arguments: Callable[[argparse.ArgumentParser], None] = lambda p: None


COMMANDS: Registry[Command] = Registry("command")

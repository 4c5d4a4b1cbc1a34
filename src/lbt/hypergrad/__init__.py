"""Hypergradient strategies, by the name ``lbt.hypergrad`` selects."""

from __future__ import annotations

from typing import Any

from lbt.hypergrad.base import Hypergradient, Teaching, TeachingProblem
from lbt.hypergrad.implicit import implicit
from lbt.hypergrad.unrolled import unrolled
from lbt.registry import Registry

HYPERGRADIENTS: Registry[Hypergradient] = Registry(
    "lbt.hypergrad", {"unrolled": unrolled, "implicit": implicit}
)

OPTION_KEYS = (
    "implicit_solver", "implicit_iters", "implicit_damping", "implicit_alpha", "implicit_warm_start",
)  # fmt: skip


def hypergrad_options(cfg: Any) -> dict[str, Any]:
    """The strategies' settings (``TeachingProblem.options``), keyed by field name, from the ``lbt``
    section or from a whole config."""
    section = getattr(cfg, "lbt", cfg)
    return {k: getattr(section, k) for k in OPTION_KEYS}


def register_hypergradient(name: str, strategy: Hypergradient) -> None:
    """Add a strategy; ``lbt.hypergrad=NAME`` then selects it (validated against this table)."""
    HYPERGRADIENTS[name] = strategy


__all__ = [
    "HYPERGRADIENTS",
    "Hypergradient",
    "Teaching",
    "TeachingProblem",
    "hypergrad_options",
    "implicit",
    "register_hypergradient",
    "unrolled",
]

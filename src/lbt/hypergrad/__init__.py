"""Hypergradient strategies, by the name ``lbt.hypergrad`` selects."""

from __future__ import annotations

from lbt.hypergrad.base import Hypergradient, Teaching, TeachingProblem
from lbt.hypergrad.unrolled import unrolled

HYPERGRADIENTS: dict[str, Hypergradient] = {"unrolled": unrolled}


def register_hypergradient(name: str, strategy: Hypergradient) -> None:
    """Add a strategy; ``lbt.hypergrad=NAME`` then selects it (validated against this table)."""
    HYPERGRADIENTS[name] = strategy


__all__ = [
    "HYPERGRADIENTS",
    "Hypergradient",
    "Teaching",
    "TeachingProblem",
    "register_hypergradient",
    "unrolled",
]

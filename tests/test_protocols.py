"""The roles the loop checks at run time hold under the rules of every supported Python.

Python >= 3.12 decides ``isinstance(obj, P)`` for a runtime protocol by static lookup
(``inspect.getattr_static``), which does not see the submodules ``nn.Module`` keeps aside; the
suite runs on whichever Python is installed, so it applies those rules itself.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from lbt import config
from lbt.methods import METHODS, Adversarial, Submodule, Teaches, build_method

ROLES = (Teaches, Adversarial)
TEACHERS = {"lbt", "lbt-gan", "mle"}


def holds_statically(obj: object, role: type) -> bool:
    """``isinstance(obj, role)`` as Python >= 3.12 decides it for data members."""
    missing = object()
    return all(inspect.getattr_static(obj, name, missing) is not missing for name in role.__annotations__)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_plays_the_same_roles_by_static_lookup(name: str) -> None:
    method = build_method(config.build("ring", [("train.method", name)]), 2)
    for role in ROLES:
        assert holds_statically(method, role) == isinstance(method, role), (name, role.__name__)
    assert holds_statically(method, Teaches) == (name in TEACHERS)


class Holder(nn.Module):
    part = Submodule()


def test_a_declared_submodule_stays_a_registered_submodule() -> None:
    h = Holder()
    with pytest.raises(AttributeError, match="no attribute 'part'"):
        _ = h.part
    h.part = nn.Linear(2, 3)
    assert isinstance(h.part, nn.Linear) and h._modules["part"] is h.part
    assert set(h.state_dict()) == {"part.weight", "part.bias"}
    h.part = nn.Linear(2, 1)  # replaced, not shadowed
    assert h.part(torch.zeros(1, 2)).shape == (1, 1) and len(list(h.parameters())) == 2

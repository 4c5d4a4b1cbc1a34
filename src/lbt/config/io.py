"""A run's ``config.yaml``: writing it, reading it back, and which keys a resume may change.

The file is plain YAML of the sections' values (no module paths, no Python objects), so moving
code does not break old run directories; a key removed since (``schema.REMOVED``) is dropped when
it holds its last default and refused otherwise. A checkpoint carries the same mapping, which
:func:`check_resumable` compares with the config a resume asks for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lbt.config.schema import Config, _fields, apply, as_written, validate
from lbt.errors import LBTError


def save(cfg: Config, path: Path, meta: dict[str, Any] | None = None) -> None:
    doc = cfg.to_dict()
    if meta:
        doc["meta"] = meta
    from lbt.rundir import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(doc, sort_keys=False))


def load(path: Path) -> Config:
    """Read a run's ``config.yaml`` back (its ``meta`` block is informational and ignored)."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise LBTError(f"no config.yaml in {Path(path).parent} (is it a run directory?)") from None
    except yaml.YAMLError as exc:
        raise LBTError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise LBTError(f"{path} does not hold a config mapping")
    doc.pop("meta", None)
    cfg = Config()
    apply(cfg, as_written(doc))
    return validate(cfg)


# Keys a resumed run may change: budgets, evaluation, schedules, failure policy, where the data
# lives, how a step runs (threads, compilation: the same mathematics, compiled and eager agreeing to
# round-off). Everything else (data, networks, method, batch sizes, optimizer form) must match the
# checkpoint. Each entry is a key (matching the keys it begins, train.gen_lr_final say) or a section
# ("eval."); a resume override of a key that does not exist is refused by set_value, as any other.
RESUMABLE_PREFIXES = ("train.iterations", "train.time_limit", "train.checkpoint_every", "train.on_nan",
                      "train.max_rollbacks", "train.rollback_lr_factor", "train.gen_lr", "eval.",
                      "train.dist_timeout", "train.threads", "train.compile",
                      "device", "data.path")  # fmt: skip


def from_dict(doc: dict[str, Any]) -> Config:
    """A config from its mapping (a checkpoint's copy, say), old keys read as :func:`load` reads them."""
    cfg = Config()
    apply(cfg, as_written({k: v for k, v in doc.items() if k != "meta"}))
    return cfg


def check_resumable(old: Config, new: Config) -> None:
    """Refuse to resume when a key that shapes the checkpoint's state has changed."""
    a, b = _fields(old), _fields(new)
    for key in sorted(a):
        if key.startswith(RESUMABLE_PREFIXES) or key == "preset":
            continue
        va, vb = getattr(a[key][0], a[key][1].name), getattr(b[key][0], b[key][1].name)
        if va != vb:
            raise LBTError(f"cannot resume with {key}={vb!r}: the run was trained with {key}={va!r} "
                           "(start a new run with --out to change it)")  # fmt: skip

"""Reopening a run directory: its config with the changes a resume may make, its checkpoint, and
the device it continues on. :meth:`lbt.train.Trainer.resume` builds the trainer from these; it is
the one way the package (``lbt train --resume``, ``lbt eval``, ``lbt compare``) reopens a run."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import torch

from lbt import config as config_mod
from lbt import rundir
from lbt.config import Config
from lbt.errors import LBTError


def resume_device(cfg: Config, payload: dict[str, Any], overrides: list[tuple[str, Any]] | None,
                  cpu_fallback: bool = False) -> str:  # fmt: skip
    """A resumed run stays on the kind of device it trained on unless ``device`` is set again.

    ``cpu_fallback`` (an evaluation, which continues nothing): a GPU run (``device=cuda``, or
    ``auto`` that found one) opens on the CPU when no GPU is visible, with a warning, instead of
    asking for ``--set device=cpu``.
    """
    trained_on = payload.get("device")
    if any(k == "device" for k, _ in overrides or []):
        return cfg.device
    wanted = trained_on if cfg.device == "auto" and trained_on is not None else cfg.device
    if wanted == "cuda" and not torch.cuda.is_available():
        if cpu_fallback:
            print("lbt: warning: this run trained on a CUDA GPU and none is visible here; "
                  "evaluating it on the CPU", file=sys.stderr)  # fmt: skip
            return "cpu"
        if cfg.device == "auto":
            raise LBTError("this run trained on a CUDA GPU and none is visible here; "
                           "resume with --set device=cpu to continue on the CPU")  # fmt: skip
    return wanted


def reopen(run: str | Path, overrides: list[tuple[str, Any]] | None = None,
           checkpoint: str | Path | None = None, cpu_fallback: bool = False
           ) -> tuple[Config, dict[str, Any], str]:  # fmt: skip
    """(config with ``overrides``, the checkpoint's payload, the device to open it on).

    ``overrides`` may change budgets, evaluation and learning rates, but not anything that shapes
    the networks or the data (that checkpoint could not be loaded faithfully): refused with one line.
    """
    run = Path(run)
    cfg = config_mod.load(run / "config.yaml")
    old = copy.deepcopy(cfg)
    for key, value in overrides or []:
        config_mod.set_value(cfg, key, value)
    config_mod.validate(cfg)
    config_mod.check_resumable(old, cfg)
    payload = rundir.load_checkpoint(Path(checkpoint) if checkpoint else run / rundir.CHECKPOINT)
    saved = payload.get("config")
    if saved is not None:
        config_mod.check_resumable(config_mod.from_dict(saved), cfg)
    return cfg, payload, resume_device(cfg, payload, overrides, cpu_fallback)

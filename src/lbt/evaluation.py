"""Evaluation: what a method's samples score on its data set at one point of training, and the figures.

The loop decides when (every ``eval.every`` iterations and at the end) and under which random
stream and weights (:meth:`lbt.train.Trainer.evaluate` forks the streams and swaps the averages
in); this module decides what: a data set that scores itself (images, point clouds) does so, a
Gaussian mixture is scored by ``eval.protocol``'s mode metrics, and every method adds its own
diagnostics.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from lbt.datasets import DrawsFigures, EvaluatesItself, Mixture
from lbt.metrics import protocol_metrics, protocol_samples

if TYPE_CHECKING:
    from lbt.config import Config
    from lbt.datasets import DataSet
    from lbt.methods import Method

Sampler = Callable[[int], Tensor]  # n generator samples on the CPU, in the data's units


def metrics(method: Method, data: DataSet, cfg: Config, n: int, sample: Sampler, data_fn: Sampler,
            final: bool = False) -> dict[str, float]:  # fmt: skip
    """The metrics of one evaluation on ``n`` samples (``final``: the costly end-of-run ones too)."""
    out: dict[str, float] = {}
    if isinstance(data, EvaluatesItself):  # images, point clouds: their own metrics
        out.update(data.evaluate(method, n, final=final))
    else:
        x = sample(protocol_samples(cfg.eval, n))  # eval.protocol's count
        if isinstance(data, Mixture):  # the mode metrics need the true means
            out.update(protocol_metrics(cfg.eval.protocol, x, data.means, data.std))
        out["sample_nonfinite_fraction"] = float((~torch.isfinite(x).all(1)).double().mean())
    out.update(method.diagnostics(data_fn, min(n, 4096)))
    return out


def reached_quality(row: dict[str, float], target: float) -> bool:
    """Every mode covered at ``target`` high quality or better (``eval.stop_at_quality``)."""
    return (
        "modes_covered" in row
        and row["modes_covered"] >= row["modes_total"]
        and row.get("high_quality_fraction", 1.0) >= target
    )


def figures(method: Method, data: DataSet, name: str, iteration: int, out: Path,
            history: list[dict[str, float]], sample: Sampler) -> None:  # fmt: skip
    """A data set's own figures, or for 2-D data density.png (true against generated, the paper's
    Fig. 1) and curves.png (its Fig. 2 and the ELBOs). The caller seeds the streams."""
    from lbt.plots import curves_figure, density_figure

    if isinstance(data, DrawsFigures):  # images, point clouds
        data.figures(method, out, history)
        return
    if data.dim != 2:
        return
    real, fake = data.sample(50_000).numpy(), sample(50_000).numpy()
    is_mix = isinstance(data, Mixture)
    density_figure(
        [("true", real), (f"{name} (iteration {iteration})", fake)], data.extent(), out / "density.png",
        mode_std=data.std if is_mix else None, means=data.means.numpy() if is_mix else None,
    )  # fmt: skip
    curves_figure({name: history}, out / "curves.png", data.n_modes if is_mix else None)

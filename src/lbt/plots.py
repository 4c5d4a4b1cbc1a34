"""Figures a person looks at: densities side by side (paper Fig. 1), training curves (Fig. 2), and
for images sample grids and ELBO curves (Fig. 4)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lbt.methods.base import Teaches  # noqa: E402
from lbt.models.teachers import Samples  # noqa: E402

BINS = 300


def density_image(
    points: np.ndarray, extent: tuple[float, float, float, float], bandwidth: float
) -> np.ndarray:
    """Kernel density on a grid: a fine 2-D histogram blurred by a Gaussian (separable) kernel.

    Equivalent to a Gaussian KDE evaluated at the bin centres up to binning error, and fast for
    the 10^4-10^5 points a figure wants.
    """
    x0, x1, y0, y1 = extent
    h, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=BINS, range=[[x0, x1], [y0, y1]])
    for axis, span in ((0, x1 - x0), (1, y1 - y0)):
        sigma = max(bandwidth / (span / BINS), 0.5)
        r = int(np.ceil(4 * sigma))
        k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
        h = np.apply_along_axis(lambda v, k=k: np.convolve(v, k / k.sum(), mode="same"), axis, h)
    return h.T / max(h.sum(), 1e-12)


def kde_bandwidth(points: np.ndarray, mode_std: float | None) -> float:
    """Scott's rule, but never wider than the known mode width (keeps the grid's modes apart)."""
    scott = float(points.std(0).mean()) * len(points) ** (-1 / 6)
    return min(scott, mode_std) if mode_std else scott


def density_figure(
    panels: Sequence[tuple[str, np.ndarray]],
    extent: tuple[float, float, float, float],
    path: Path,
    mode_std: float | None = None,
    means: np.ndarray | None = None,
) -> None:
    """One KDE panel per (title, points); the first is normally the true distribution."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
    for ax, (title, pts) in zip(axes[0], panels, strict=True):
        pts = pts[np.isfinite(pts).all(1)]
        bw = kde_bandwidth(pts, mode_std) if len(pts) > 1 else 0.1
        img = density_image(pts, extent, bw) if len(pts) else np.zeros((BINS, BINS))
        ax.imshow(img, origin="lower", extent=extent, cmap="viridis", aspect="equal",
                  vmax=np.quantile(img, 0.999) or None)  # fmt: skip
        if means is not None:
            ax.scatter(means[:, 0], means[:, 1], s=4, c="w", marker="+", linewidths=0.5, alpha=0.6)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


CURVE_PANELS = (
    ("modes_covered", "modes covered"),
    ("high_quality_fraction", "high-quality fraction"),
    ("inner_mode_kl", "inner-mode KL"),
    ("kl_to_uniform", "KL(mode histogram || uniform)"),
    ("precision", "precision (dotted: data vs data)"),
    ("recall", "recall (dotted: data vs data)"),
    ("energy_distance", "energy distance (dotted: data vs data)"),
)


def curves_figure(
    series: dict[str, list[dict[str, float]]],
    path: Path,
    modes_total: int | None = None,
    elbo: bool = True,
) -> None:
    """Metric curves over iterations, one line per run (``series``: label -> history rows).

    Several rows with the same iteration under one label (seeds) are drawn as mean and a
    min-max band, as in the paper's Fig. 2.
    """
    panels = [p for p in CURVE_PANELS if any(p[0] in r for rows in series.values() for r in rows)]
    has_elbo = elbo and any("elbo_data" in r for rows in series.values() for r in rows)
    n = len(panels) + int(has_elbo)
    fig, axes = plt.subplots(1, max(n, 1), figsize=(4 * max(n, 1), 3.2), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels, strict=False):
        for label, rows in series.items():
            it, mean, lo, hi = _aggregate(rows, key)
            if len(it) == 0:
                continue
            (line,) = ax.plot(it, mean, label=label)
            if np.any(hi > lo):
                ax.fill_between(it, lo, hi, alpha=0.2, color=line.get_color())
        if key == "modes_covered" and modes_total:
            ax.axhline(modes_total, color="k", lw=0.8, ls=":")
        floors = [r[f"{key}_floor"] for rows in series.values() for r in rows if f"{key}_floor" in r]
        if floors:  # a point cloud's held-out data against itself: the best a generator can read
            ax.axhline(floors[-1], color="k", lw=0.8, ls=":")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    if has_elbo:
        ax = axes[0][len(panels)]
        for label, rows in series.items():
            for key, style in (("elbo_gen", "--"), ("elbo_data", "-")):
                it, mean, _, _ = _aggregate(rows, key)
                if len(it):
                    suffix = "generated" if key == "elbo_gen" else "real"
                    ax.plot(it, mean, style, label=f"{label}: {suffix}" if len(series) > 1 else suffix)
        ax.set_title("estimator log-likelihood / ELBO", fontsize=10)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if len(series) > 1 and panels:
        axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- point clouds with more than two coordinates ----------------------------------------------------


def pairs_figure(
    real: np.ndarray, fake: np.ndarray, path: Path, label: str = "generated", dims: int = 4
) -> None:
    """A pair plot of the first ``dims`` coordinates: data against generated points off the diagonal,
    both coordinates' histograms on it."""
    d = min(dims, real.shape[1])
    fake = fake[np.isfinite(fake).all(1)]
    fig, axes = plt.subplots(d, d, figsize=(2.4 * d, 2.4 * d), squeeze=False)
    for i in range(d):
        for j in range(d):
            ax = axes[i][j]
            if i == j:
                _overlaid_hists(ax, real[:, i], fake[:, i], label)
            else:
                ax.scatter(real[:, j], real[:, i], s=1, alpha=0.3, color="C0", rasterized=True)
                ax.scatter(fake[:, j], fake[:, i], s=1, alpha=0.3, color="C1", rasterized=True)
                ax.set_xlim(*_window(real[:, j]))
                ax.set_ylim(*_window(real[:, i]))
            if i == d - 1:
                ax.set_xlabel(f"x{j}")
            if j == 0:
                ax.set_ylabel(f"x{i}")
            ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"first {d} coordinates: data (blue) and {label} (orange)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def marginals_figure(
    real: np.ndarray, fake: np.ndarray, path: Path, label: str = "generated", dims: int = 8
) -> None:
    """Histograms of the first ``dims`` coordinates, data against generated points (bins from the data)."""
    d = min(dims, real.shape[1])
    fake = fake[np.isfinite(fake).all(1)]
    cols = min(d, 4)
    rows = -(-d // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.4 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= d:
            ax.axis("off")
            continue
        _overlaid_hists(ax, real[:, i], fake[:, i], label, clip=True)
        ax.set_title(f"x{i}", fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _overlaid_hists(ax: Any, real: np.ndarray, fake: np.ndarray, label: str, clip: bool = False) -> None:
    """One coordinate's histograms, data and generated, on bins over the data's window (``clip``:
    generated values outside it land in the end bins)."""
    lo, hi = _window(real)
    bins = np.linspace(lo, hi, 41)
    ax.hist(real, bins=bins, density=True, alpha=0.5, color="C0", label="data")
    ax.hist(
        np.clip(fake, lo, hi) if clip else fake, bins=bins, density=True, alpha=0.5, color="C1", label=label
    )


def _window(v: np.ndarray) -> tuple[float, float]:
    """The data's range with a 10% margin (a constant coordinate gets +-1)."""
    lo, hi = float(v.min()), float(v.max())
    m = 0.1 * (hi - lo) or 1.0
    return lo - m, hi + m


# -- images ---------------------------------------------------------------------------------------


def grid_image(x: Any, channels: int, side: int = 28, pad: int = 2) -> np.ndarray:
    """Tile flat images ``(g*g, C*side^2)`` into one ``(H, W)`` or ``(H, W, 3)`` array in [0, 1]."""
    g = int(np.ceil(np.sqrt(len(x))))
    imgs = np.ones((g * g, channels, side, side), dtype=np.float32)
    imgs[: len(x)] = x.detach().float().clamp(0, 1).reshape(-1, channels, side, side).numpy()
    imgs = np.pad(imgs, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=1.0)
    s = side + 2 * pad
    out = imgs.reshape(g, g, channels, s, s).transpose(0, 3, 1, 4, 2).reshape(g * s, g * s, channels)
    return out[..., 0] if channels == 1 else out


def save_grid(x: Any, channels: int, path: Path, side: int = 28) -> None:
    img = grid_image(x, channels, side)
    plt.imsave(path, img, cmap="gray" if channels == 1 else None, vmin=0, vmax=1)


def image_figures(method: Any, data: Any, out_dir: Path, history: list[dict[str, float]], grid: int) -> None:
    """``grid`` x ``grid`` samples of the generator, the estimator (if it samples) and the data, and
    elbo_curves.png; ``data`` is one of :mod:`lbt.datasets.images`."""
    c, s = data.channels, data.side
    save_grid(method.sample(grid * grid).cpu(), c, out_dir / "samples_generator.png", s)
    if isinstance(method, Teaches) and isinstance(method.estimator, Samples):
        save_grid(method.estimator.sample(grid * grid).cpu(), c, out_dir / "samples_estimator.png", s)
    save_grid(data.sample(grid * grid), c, out_dir / "samples_data.png", s)
    image_curves_figure(history, out_dir / "elbo_curves.png")


def image_curves_figure(history: list[dict[str, float]], path: Path) -> None:
    """ELBO on generated, real (train) and held-out data over training (paper Fig. 4), modes too."""
    if not history:
        return
    it = [r["iteration"] for r in history]
    elbos = []
    for key, label in (("elbo_gen", "ELBO on generated data"), ("elbo_data", "ELBO on real data"),
                       ("elbo_test", "ELBO on held-out data")):  # fmt: skip
        ys = [r.get(key, np.nan) for r in history]
        if np.isfinite(ys).any():
            elbos.append((label, ys))
    modes = [r for r in history if "modes_covered" in r]
    n = int(bool(elbos)) + int(bool(modes))
    if n == 0:
        return
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n, 4), squeeze=False)
    panels = iter(axes[0])
    if elbos:  # a GAN has no estimator, hence no ELBO panel
        ax = next(panels)
        for label, ys in elbos:
            ax.plot(it, ys, label=label)
        ax.set_xlabel("iteration")
        ax.set_ylabel("ELBO (nats per image)")
        ax.legend()
        ax.grid(alpha=0.3)
    if modes:
        ax = next(panels)
        its = [r["iteration"] for r in modes]
        ax.plot(its, [r["modes_covered"] for r in modes], color="C3", label="any sample (argmax)")
        if all("modes_covered_confident" in r for r in modes):
            ax.plot(its, [r["modes_covered_confident"] for r in modes], color="C4",
                    label="a sample with all 3 digits at p >= 0.9")  # fmt: skip
            ax.legend()
        ax.set_xlabel("iteration")
        total = modes[-1].get("modes_total")
        ax.set_ylabel(f"modes covered (of {int(total)})" if total else "modes covered")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _aggregate(rows: list[dict[str, float]], key: str) -> tuple[np.ndarray, ...]:
    by_it: dict[int, list[float]] = {}
    for r in rows:
        v = r.get(key)
        if v is not None and v == v:  # skip NaN
            by_it.setdefault(int(r["iteration"]), []).append(float(v))
    it = np.array(sorted(by_it))
    vals = [np.array(by_it[i]) for i in it]
    mean = np.array([v.mean() for v in vals])
    return it, mean, np.array([v.min() for v in vals]), np.array([v.max() for v in vals])

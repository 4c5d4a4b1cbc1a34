"""The paper's three metrics for Gaussian-mixture benchmarks (Sec. 5.1), vectorised.

* **high-quality fraction**: share of samples within ``3 * std`` of their nearest mode;
* **modes covered**: modes whose high-quality count is at least 20% of the expected count
  ``N / modes`` (equal-weight mixtures);
* **inner-mode KL**: each sample is assigned to its nearest mode, a Gaussian (full covariance)
  is fitted to each mode's samples, and ``KL(true || fitted)`` is computed in closed form, then
  averaged over *all* modes. A mode with fewer than ``min_samples`` assigned samples cannot be
  fitted reliably and contributes ``kl_cap``; every mode's KL is also capped there, so one
  degenerate fit cannot swamp the average. ``inner_mode_kl_covered`` is the uncapped mean over
  the covered modes alone.

``eval.protocol`` picks whose rules score a run, so that numbers can sit beside published tables
(docs/metrics.md records each rule and its source): ``paper`` (the above, the default), ``veegan``
(2,500 samples; a mode is covered by one high-quality sample) and ``pacgan`` (VEEGAN's rules plus the
reverse KL between the high-quality samples' mode histogram and the uniform one, ``mode_kl_uniform``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

CHUNK = 65_536


@dataclass
class ModeMetrics:
    modes_covered: int
    modes_total: int
    high_quality_fraction: float
    inner_mode_kl: float
    inner_mode_kl_covered: float
    samples: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def nearest_mode(samples: Tensor, means: Tensor) -> tuple[Tensor, Tensor]:
    """Index of and distance to the nearest mode for each sample, in chunks to bound memory."""
    idx = torch.empty(len(samples), dtype=torch.long)
    dist = torch.empty(len(samples), dtype=torch.float64)
    m = means.double()
    for s in range(0, len(samples), CHUNK):
        x = samples[s : s + CHUNK].double()
        d2 = (x * x).sum(1, keepdim=True) - 2 * x @ m.T + (m * m).sum(1)
        best, arg = d2.min(1)
        idx[s : s + CHUNK] = arg
        dist[s : s + CHUNK] = best.clamp_min(0).sqrt()
    return idx, dist


def gaussian_kl(mu0: Tensor, cov0: Tensor, mu1: Tensor, cov1: Tensor) -> Tensor:
    """KL(N(mu0, cov0) || N(mu1, cov1)), batched over leading dimensions."""
    d = mu0.shape[-1]
    l1 = torch.linalg.cholesky(cov1)
    diff = (mu1 - mu0).unsqueeze(-1)
    sol = torch.cholesky_solve(torch.cat([cov0, diff], -1), l1)
    trace = torch.diagonal(sol[..., :d], dim1=-2, dim2=-1).sum(-1)
    maha = (diff * sol[..., d:]).sum((-2, -1))
    logdet1 = 2 * torch.log(torch.diagonal(l1, dim1=-2, dim2=-1)).sum(-1)
    logdet0 = torch.linalg.slogdet(cov0).logabsdet
    return 0.5 * (trace + maha - d + logdet1 - logdet0)


def mode_metrics(
    samples: Tensor,
    means: Tensor,
    std: float,
    *,
    quality_sigmas: float = 3.0,
    coverage_threshold: float = 0.2,
    min_samples: int = 20,
    kl_cap: float = 10.0,
) -> ModeMetrics:
    """All three paper metrics for ``samples`` against the equal-weight mixture (``means``, ``std``)."""
    samples = samples.detach().cpu()
    means = means.detach().cpu()
    n, d = samples.shape
    c = means.shape[0]
    idx, dist = nearest_mode(samples, means)
    hq = dist <= quality_sigmas * std
    hq_counts = torch.bincount(idx[hq], minlength=c)
    covered_mask = hq_counts >= coverage_threshold * n / c

    # Per-mode Gaussian fits from sufficient statistics: one scatter-add pass, no Python loop.
    x = samples.double()
    counts = torch.bincount(idx, minlength=c).double()
    sums = torch.zeros(c, d, dtype=torch.float64).index_add_(0, idx, x)
    outer = torch.zeros(c, d * d, dtype=torch.float64).index_add_(
        0, idx, (x[:, :, None] * x[:, None, :]).reshape(n, d * d)
    )
    safe = counts.clamp_min(1)[:, None]
    mu = sums / safe
    cov = outer.reshape(c, d, d) / safe[..., None] - mu[:, :, None] * mu[:, None, :]
    cov = cov + 1e-12 * torch.eye(d, dtype=torch.float64)  # keep Cholesky alive on exact collapse
    enough = counts >= max(min_samples, d + 1)
    true_cov = (std**2) * torch.eye(d, dtype=torch.float64).expand(c, d, d)
    raw = torch.full((c,), math.inf, dtype=torch.float64)
    if enough.any():
        fit = gaussian_kl(means.double()[enough], true_cov[enough], mu[enough], cov[enough])
        raw[enough] = torch.nan_to_num(fit, nan=math.inf)
    kl = raw.clamp(max=kl_cap)
    kl_covered = raw[covered_mask & enough]
    return ModeMetrics(
        modes_covered=int(covered_mask.sum()),
        modes_total=c,
        high_quality_fraction=float(hq.double().mean()),
        inner_mode_kl=float(kl.mean()),
        inner_mode_kl_covered=float(kl_covered.mean()) if len(kl_covered) else math.nan,
        samples=n,
    )


# -- protocols -----------------------------------------------------------------------------------
def high_quality_histogram(
    samples: Tensor, means: Tensor, std: float, quality_sigmas: float = 3.0, strict: bool = False
) -> Tensor:
    """Per-mode count of high-quality samples: those within ``quality_sigmas * std`` of their nearest
    mode (``<`` when ``strict``, else ``<=``), each counted for that nearest mode."""
    idx, dist = nearest_mode(samples.detach().cpu(), means.detach().cpu())
    limit = quality_sigmas * std
    hq = dist < limit if strict else dist <= limit
    return torch.bincount(idx[hq], minlength=means.shape[0])


def veegan_metrics(samples: Tensor, means: Tensor, std: float) -> dict[str, float | int]:
    """VEEGAN's 2-D rules: high quality within 3 std of the nearest mode; a mode is captured when it is
    the nearest mode of at least one high-quality sample (no share of the expected count needed)."""
    hist = high_quality_histogram(samples, means, std)
    return {
        "modes_covered": int((hist > 0).sum()),
        "modes_total": int(means.shape[0]),
        "high_quality_fraction": float(hist.sum()) / len(samples),
        "samples": len(samples),
    }


def pacgan_metrics(samples: Tensor, means: Tensor, std: float) -> dict[str, float | int]:
    """PacGAN's MetricLogger rules: as VEEGAN's, with the strict ``< 3`` std test, plus
    ``mode_kl_uniform`` = KL(p || uniform) = log K - H(p), p the normalised high-quality histogram
    over the K modes (nats; NaN when no sample is of high quality)."""
    hist = high_quality_histogram(samples, means, std, strict=True)
    k = means.shape[0]
    total = float(hist.sum())
    if total > 0:
        p = hist.double() / total
        nz = p[p > 0]
        kl = float((nz * torch.log(nz * k)).sum())
    else:
        kl = math.nan
    return {
        "modes_covered": int((hist > 0).sum()),
        "modes_total": int(k),
        "high_quality_fraction": total / len(samples),
        "mode_kl_uniform": kl,
        "samples": len(samples),
    }


def paper_metrics(samples: Tensor, means: Tensor, std: float) -> dict[str, float | int]:
    return mode_metrics(samples, means, std).as_dict()


@dataclass(frozen=True)
class Protocol:
    """Whose rules score a run: ``metrics`` and the published sample count (None: eval.samples)."""

    name: str
    metrics: Any  # (samples, means, std) -> dict of metric name -> value
    samples: int | None


PROTOCOLS: dict[str, Protocol] = {
    "paper": Protocol("paper", paper_metrics, None),
    "veegan": Protocol("veegan", veegan_metrics, 2500),
    "pacgan": Protocol("pacgan", pacgan_metrics, 2500),
}


def protocol_metrics(protocol: str, samples: Tensor, means: Tensor, std: float) -> dict[str, float | int]:
    """The metrics of ``protocol`` (a key of :data:`PROTOCOLS`) on ``samples``."""
    try:
        return PROTOCOLS[protocol].metrics(samples, means, std)
    except KeyError:
        raise ValueError(f"unknown eval.protocol {protocol!r} (known: {', '.join(PROTOCOLS)})") from None


def protocol_samples(eval_cfg: Any, n: int | None = None) -> int:
    """How many samples an evaluation asked for ``n`` (default ``eval.samples``) draws.

    A protocol with a published count (veegan, pacgan: 2,500) uses it in place of ``eval.samples``
    and ``eval.train_samples`` while they are at their defaults (500,000 and 20,000); a value you set
    yourself, or an ``n`` that is neither, is used as given. ``paper`` always uses ``n``.
    """
    n = n or eval_cfg.samples
    count = PROTOCOLS[getattr(eval_cfg, "protocol", "paper")].samples
    if count is None:
        return n
    default = type(eval_cfg)()
    if n == eval_cfg.samples:
        return count if eval_cfg.samples == default.samples else n
    if n == eval_cfg.train_samples:
        return count if eval_cfg.train_samples == default.train_samples else n
    return n


# -- one formatter for every place that prints metrics (progress bar, `lbt train`, `lbt compare`) --
# (key, long label, short label, decimals): the order is the order printed.
METRIC_LABELS: tuple[tuple[str, str, str, int], ...] = (
    ("high_quality_fraction", "high-quality", "hq", 3),
    ("inner_mode_kl", "inner-mode KL", "kl", 3),
    ("mode_kl_uniform", "mode KL to uniform", "mode_kl", 3),
    ("kl_to_uniform", "KL to uniform", "kl_uniform", 3),
    ("elbo_test", "test ELBO", "elbo_test", 1),
    ("iwae_test", "test IWAE bound", "iwae_test", 1),
    ("elbo_data", "estimator log-likelihood of data", "ll_data", 3),
    # point clouds (lbt.metrics.points)
    ("precision", "precision", "prec", 3),
    ("recall", "recall", "rec", 3),
    ("energy_distance", "energy distance", "ed", 4),
    ("heldout_loglik", "held-out log-likelihood", "ll_held", 3),
    ("heldout_elbo", "held-out ELBO", "elbo_held", 3),
)


def describe(
    m: dict[str, Any], short: bool = False, keys: tuple[str, ...] | None = None
) -> list[tuple[str, str]]:
    """(label, formatted value) pairs for the metrics present in ``m``: modes first, then METRIC_LABELS."""
    out: list[tuple[str, str]] = []
    if "modes_covered" in m and "modes_total" in m:
        out.append(("modes", f"{int(m['modes_covered'])}/{int(m['modes_total'])}"))
    for key, long, brief, decimals in METRIC_LABELS:
        if key in m and (keys is None or key in keys):
            text = f"{float(m[key]):.{decimals}f}"
            if not short and f"{key}_floor" in m:  # a point cloud's data-against-data value beside it
                text += f" (data vs data {float(m[key + '_floor']):.{decimals}f})"
            out.append((brief if short else long, text))
    return out

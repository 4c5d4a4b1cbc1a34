"""How a run is scored.

* :mod:`lbt.metrics.modes`: the 2-D Gaussian-mixture protocols (the paper's, VEEGAN's, PacGAN's),
  re-exported here;
* :mod:`lbt.metrics.images`: held-out ELBO / IWAE, Stacked-MNIST modes, the classifier Fréchet
  distance and FID / KID / IS;
* :mod:`lbt.metrics.classifier`: the MNIST digit classifier behind the mode counts and the
  classifier FD.
"""

from lbt.metrics.modes import (
    METRIC_LABELS,
    PROTOCOLS,
    ModeMetrics,
    Protocol,
    describe,
    gaussian_kl,
    high_quality_histogram,
    mode_metrics,
    nearest_mode,
    pacgan_metrics,
    paper_metrics,
    protocol_metrics,
    protocol_samples,
    veegan_metrics,
)

__all__ = [
    "METRIC_LABELS",
    "PROTOCOLS",
    "ModeMetrics",
    "Protocol",
    "describe",
    "gaussian_kl",
    "high_quality_histogram",
    "mode_metrics",
    "nearest_mode",
    "pacgan_metrics",
    "paper_metrics",
    "protocol_metrics",
    "protocol_samples",
    "veegan_metrics",
]

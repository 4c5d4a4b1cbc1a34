"""Generators and explicit density estimators."""

from lbt.models.toy import (
    VAE,
    GaussianEstimator,
    MixtureEstimator,
    MLPGenerator,
    as_estimator,
)

__all__ = ["VAE", "GaussianEstimator", "MLPGenerator", "MixtureEstimator", "as_estimator"]

"""Generators and explicit density estimators."""

from lbt.models.teachers import KDETeacher, Refits, Scheduled, Teacher
from lbt.models.toy import (
    VAE,
    GaussianEstimator,
    MixtureEstimator,
    MLPGenerator,
    TeacherModule,
    as_estimator,
)

__all__ = [
    "VAE",
    "GaussianEstimator",
    "KDETeacher",
    "MLPGenerator",
    "MixtureEstimator",
    "Refits",
    "Scheduled",
    "Teacher",
    "TeacherModule",
    "as_estimator",
]

"""Teachers: explicit density estimators that LBT fits to the generator and differentiates through.

One module per family (``vae``, ``mixture``, ``kde``, ``flow``); ``protocol`` declares what LBT
asks of a teacher and ``adapt`` holds the ``forward(x) = log p(x)`` convention and
:func:`as_estimator`, which brings a user's density model to it.
"""

from lbt.models.teachers.adapt import TeacherModule, as_estimator
from lbt.models.teachers.flow import FlowTeacher
from lbt.models.teachers.kde import KDETeacher, kde_log_prob
from lbt.models.teachers.mixture import GaussianEstimator, MixtureEstimator
from lbt.models.teachers.protocol import (
    Calibrates,
    ImportanceWeighted,
    Refits,
    Samples,
    Scheduled,
    Teacher,
    ViewsData,
)
from lbt.models.teachers.vae import VAE, CategoricalVAE

__all__ = [
    "VAE",
    "Calibrates",
    "CategoricalVAE",
    "FlowTeacher",
    "GaussianEstimator",
    "ImportanceWeighted",
    "KDETeacher",
    "MixtureEstimator",
    "Refits",
    "Samples",
    "Scheduled",
    "Teacher",
    "TeacherModule",
    "ViewsData",
    "as_estimator",
    "kde_log_prob",
]

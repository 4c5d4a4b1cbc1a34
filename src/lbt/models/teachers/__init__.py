"""Teachers: explicit density estimators that LBT fits to the generator and differentiates through."""

from lbt.models.teachers.kde import KDETeacher, kde_log_prob
from lbt.models.teachers.protocol import Calibrates, Refits, Scheduled, Teacher

__all__ = ["Calibrates", "KDETeacher", "Refits", "Scheduled", "Teacher", "kde_log_prob"]

"""Data sources: 2-D mixtures and point clouds here; image data sets in their own modules."""

from lbt.datasets.toy import Mixture, PointCloud, grid, load_points, ring

__all__ = ["Mixture", "PointCloud", "grid", "load_points", "ring"]

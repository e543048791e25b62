"""Closed-form grid fields shared by the metrics tests."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from pdediff import Grid

# ----------------------------------------------------------------------- helpers


def gaussian_cells(grid: Grid, mean, std) -> np.ndarray:
    """Exact cell averages of the product Gaussian N(mean, diag(std^2)), normalised on
    the box (the truncated mass is far below every tolerance used here)."""
    mean = np.atleast_1d(np.asarray(mean, dtype=float))
    std = np.atleast_1d(np.asarray(std, dtype=float))
    field = np.ones(())
    for d in range(grid.ndim):
        edges = grid.edges[d]
        factor = np.diff(ndtr((edges - mean[d]) / std[d])) / grid.spacing[d]
        field = np.multiply.outer(field, factor)
    return grid.normalize(field)


def box_cells(grid: Grid, low: float, high: float) -> np.ndarray:
    """Uniform density on [low, high] (aligned with the grid edges)."""
    c = grid.centers[0]
    return grid.normalize(((c > low) & (c < high)).astype(float))


def kl_gauss_1d(m1, s1, m2, s2) -> float:
    return math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


# -------------------------------------------------------------------- lp / tv

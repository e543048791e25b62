"""Shared argument handling of the metrics: grid densities, particle clouds, weights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _validate
from ..grid import Grid

#: Relative tolerance on ``grid.integrate(p) == 1`` for arguments that must be
#: probability densities (solvers conserve mass to round-off; analytic densities
#: sampled on a grid should be passed through ``grid.normalize`` first).
MASS_RTOL = 1e-6

#: Default cap on the support size of each measure handed to the dense OT solver.
#: Measured on the 2-core CI machine: 64x64 vs 64x64 cells (4096 vs 4096 points)
#: takes ~0.5 s for the cost matrix plus ~4.3 s in ``ot.emd2`` and 134 MB of memory;
#: time grows roughly like (number of points)^2.
DEFAULT_MAX_POINTS = 5000

_DEFAULT_NUM_ITERMAX = 10**9
_EMD_RESULT = {0: "infeasible", 1: "optimal", 2: "unbounded", 3: "max_iter_reached"}

# ============================================================================ inputs
@dataclass(frozen=True)
class GridDensity:
    """A probability density of cell averages on a grid.

    Parameters
    ----------
    p
        Cell averages, shape ``grid.shape``, nonnegative, finite, with
        ``grid.integrate(p) = sum p dV = 1`` up to :data:`MASS_RTOL`; units 1/volume.
    grid
        The :class:`pdediff.Grid` carrying ``p``.

    The constructor validates and stores a float64 copy of ``p``.
    """

    p: np.ndarray
    grid: Grid

    def __post_init__(self) -> None:
        if not isinstance(self.grid, Grid):
            raise TypeError(f"grid: expected a pdediff.Grid, got {type(self.grid).__name__}")
        object.__setattr__(self, "p", _validate.density(self.p, self.grid, "p",
                                                        mass_rtol=MASS_RTOL))

    @property
    def masses(self) -> np.ndarray:
        """Cell masses ``p * dV``, shape ``grid.shape``, summing to 1 up to round-off."""
        return self.p * self.grid.cell_volume


@dataclass(frozen=True)
class _Cloud:
    """Internal: a discrete measure sum_k w_k delta_{x_k}, weights summing to 1."""

    points: np.ndarray  # (N, ndim)
    weights: np.ndarray  # (N,)


def _as_measure(obj: Any, name: str) -> GridDensity | _Cloud:
    """Interpret ``obj`` as a GridDensity, ``(p, grid)``, ``(x, weights)`` or ``x``."""
    if isinstance(obj, GridDensity):
        return obj
    if isinstance(obj, tuple):
        if len(obj) != 2:
            raise TypeError(
                f"{name}: a tuple must be (p, grid) or (x, weights), got {len(obj)} entries"
            )
        first, second = obj
        if isinstance(second, Grid):
            try:
                return GridDensity(first, second)
            except (TypeError, ValueError) as error:
                raise type(error)(f"{name}: {error}") from error
        points = _validate.points(first, f"{name}[0]", flat=True)
        return _Cloud(points, _validate.weights(second, points.shape[0], f"{name}[1]"))
    if isinstance(obj, Grid):
        raise TypeError(f"{name}: got a Grid alone; pass (p, grid) or GridDensity(p, grid)")
    points = _validate.points(obj, name, flat=True)
    return _Cloud(points, _validate.weights(None, points.shape[0], name))


def _ndim(measure: GridDensity | _Cloud) -> int:
    return measure.grid.ndim if isinstance(measure, GridDensity) else measure.points.shape[1]


def _support(measure: GridDensity | _Cloud) -> tuple[np.ndarray, np.ndarray]:
    """Support points (M, ndim) and their masses (M,) summing to 1.  A grid density
    is represented by the centres of its cells with positive mass."""
    if isinstance(measure, _Cloud):
        return measure.points, measure.weights
    masses = measure.masses.ravel()
    keep = masses > 0
    points = measure.grid.points().reshape(-1, measure.grid.ndim)[keep]
    weights = masses[keep]
    return points, weights / weights.sum()

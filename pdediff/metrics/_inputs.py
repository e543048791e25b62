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
        object.__setattr__(self, "p", _check_probability(self.p, self.grid, "p"))

    @property
    def masses(self) -> np.ndarray:
        """Cell masses ``p * dV``, shape ``grid.shape``, summing to 1 up to round-off."""
        return self.p * self.grid.cell_volume


@dataclass(frozen=True)
class _Cloud:
    """Internal: a discrete measure sum_k w_k delta_{x_k}, weights summing to 1."""

    points: np.ndarray  # (N, ndim)
    weights: np.ndarray  # (N,)


def _check_field(p: Any, grid: Grid, name: str) -> np.ndarray:
    """Real finite field of shape ``grid.shape`` (sign not restricted)."""
    if not isinstance(grid, Grid):
        raise TypeError(f"grid: expected a pdediff.Grid, got {type(grid).__name__}")
    return grid.check_field(p, name)


def _check_probability(p: Any, grid: Grid, name: str) -> np.ndarray:
    """Nonnegative finite density on ``grid`` with unit integral (to MASS_RTOL)."""
    if not isinstance(grid, Grid):
        raise TypeError(f"grid: expected a pdediff.Grid, got {type(grid).__name__}")
    arr = grid.check_density(p, name)
    mass = grid.integrate(arr)
    if abs(mass - 1.0) > MASS_RTOL:
        raise ValueError(
            f"{name}: expected a probability density (integral 1 within {MASS_RTOL:g}), "
            f"got integral {mass:.12g}; normalise it with grid.normalize({name})"
        )
    return arr


def _check_points(x: Any, name: str) -> np.ndarray:
    """Particle positions ``(N, ndim)`` (``(N,)`` in 1-D), finite floats: the shared
    checker of :mod:`pdediff._validate`."""
    return _validate.points(x, name, flat=True)


def _check_weights(weights: Any, n: int, name: str) -> np.ndarray:
    """Nonnegative finite weights of shape (n,), normalised to sum 1."""
    return _validate.weights(weights, n, name)


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
        points = _check_points(first, f"{name}[0]")
        return _Cloud(points, _check_weights(second, points.shape[0], f"{name}[1]"))
    if isinstance(obj, Grid):
        raise TypeError(f"{name}: got a Grid alone; pass (p, grid) or GridDensity(p, grid)")
    points = _check_points(obj, name)
    return _Cloud(points, _check_weights(None, points.shape[0], name))


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

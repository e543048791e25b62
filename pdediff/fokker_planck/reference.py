"""Reference (oracle) Fokker–Planck operators built with findiff.

These act on *point values* at the cell centres with standard finite-difference
stencils; they are independent of the finite-volume kernels and serve to check them
(and to give researchers a plain operator to compare with), not to step in time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from findiff import Diff

from ..grid import Grid


def _derivative(grid: Grid, axis: int, order: int, accuracy: int) -> Diff:
    operator = Diff(axis, float(grid.spacing[axis]), periodic=grid.periodic[axis], acc=accuracy)
    return operator**order if order > 1 else operator


def reference_rhs(
    p: np.ndarray,
    grid: Grid,
    velocity: Sequence[np.ndarray],
    diffusion: float,
    accuracy: int = 2,
) -> np.ndarray:
    """``-div(v p) + D Lap p`` at the cell centres by findiff stencils.

    Parameters
    ----------
    p
        Point values of the density at the cell centres, shape ``grid.shape``.
    velocity
        ``ndim`` arrays of shape ``grid.shape``: the components ``v_d`` at the centres.
    diffusion
        Scalar ``D >= 0``.
    accuracy
        Order of the stencils (even).

    Returns
    -------
    ndarray of ``grid.shape``; one-sided stencils are used at no-flux walls, so the
    values there approximate the PDE, not the boundary condition.
    """
    p = np.asarray(p, dtype=float)
    if p.shape != grid.shape:
        raise ValueError(f"p: expected shape {grid.shape}, got {p.shape}")
    if len(velocity) != grid.ndim:
        raise ValueError(f"velocity: expected {grid.ndim} components, got {len(velocity)}")
    out = np.zeros(grid.shape)
    for axis in range(grid.ndim):
        flux = np.asarray(velocity[axis], dtype=float) * p
        out -= _derivative(grid, axis, 1, accuracy)(flux)
        if diffusion:
            out += diffusion * _derivative(grid, axis, 2, accuracy)(p)
    return out


def reference_matrix(grid: Grid, diffusion: float, accuracy: int = 2):
    """Sparse matrix of ``D Lap`` on the cell centres (findiff), for operator checks."""
    lap = None
    for axis in range(grid.ndim):
        term = _derivative(grid, axis, 2, accuracy)
        lap = term if lap is None else lap + term
    return diffusion * lap.matrix(grid.shape)

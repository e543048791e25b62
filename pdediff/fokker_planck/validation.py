"""Argument checks shared by the forward and reverse solvers (built on
:mod:`pdediff._validate`), and the memory guard of a solve."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _resources, _validate
from ..grid import Grid
from ..processes import ForwardProcess

# Field-sized work arrays of a solve besides the snapshots: the state, two SSP stages,
# the trial step, the backward-Euler half step and embedded solution, and du.
_FIELD_ARRAYS = 7


def check_process(process: Any) -> ForwardProcess:
    return _validate.process(process)


def check_grid(grid: Any) -> Grid:
    if not isinstance(grid, Grid):
        raise TypeError(f"grid: expected a pdediff.Grid, got {type(grid).__name__}")
    return grid


def check_times(t_eval: Any, increasing: bool, process: ForwardProcess | None = None) -> np.ndarray:
    """``t_eval`` as a float array of at least two finite times ``>= 0``, strictly
    increasing (forward solves) or strictly decreasing (reverse solves), and not past
    the horizon ``process.T``."""
    horizon = getattr(process, "T", None)
    if isinstance(t_eval, (str, bytes)):
        raise TypeError(f"t_eval: expected a sequence of times, got {t_eval!r}")
    return _validate.times(t_eval, "t_eval", increasing=increasing, minimum_count=2, T=horizon)


def check_stepping(
    rtol: Any, atol: Any, dt: Any, first_step: Any, max_steps: Any, stiffness_ratio: Any
) -> None:
    """Type and range checks of the stepping options, naming the argument."""
    _validate.probability(rtol, "rtol", open_left=True, open_right=True)
    for name, value in (("atol", atol), ("dt", dt), ("first_step", first_step)):
        if value is not None:
            _validate.positive(value, name)
    _validate.positive_int(max_steps, "max_steps")
    _validate.positive(stiffness_ratio, "stiffness_ratio")


def require_solve_memory(
    grid: Grid, n_times: int, what: str, ndim_fields: int = 0, implicit: bool = True
) -> None:
    """Refuse a solve whose work arrays cannot fit: the snapshots, the field-sized
    work arrays, ``ndim_fields`` face-array triples (velocity and two coefficient
    arrays per axis, for general velocity fields) and, when backward Euler may run,
    the sparse matrix and an LU factor (estimated at 10x the matrix entries)."""
    count = n_times + _FIELD_ARRAYS + 3 * ndim_fields * grid.ndim
    nbytes = _resources.array_bytes(grid.shape, count)
    if implicit:
        entries = _resources.array_bytes(grid.shape, (2 * grid.ndim + 1) * 11, itemsize=16)
        nbytes += entries
    _resources.require_memory(nbytes, what, grid.shape)

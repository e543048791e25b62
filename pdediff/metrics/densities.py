"""Functionals of grid densities: L^p norms, total variation, KL divergence, entropy;
and :func:`histogram`, the particle -> grid deposit (an alias of :meth:`Grid.deposit`)."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from .. import _validate
from ..grid import Grid
from ._inputs import MASS_RTOL


# ====================================================================== functionals
def lp_norm(p: np.ndarray, grid: Grid, order: float) -> float:
    """L^p norm of a grid field of cell averages.

    ``||p||_r = (sum_cells |p|^r dV)^(1/r)`` for ``1 <= r < inf`` and
    ``||p||_inf = max_cells |p|``: the exact norm of the piecewise-constant field.

    Parameters
    ----------
    p
        Real field of shape ``grid.shape`` (any sign: differences ``q1 - q2`` are fine).
    grid
        The grid carrying ``p``.
    order
        ``r`` in ``[1, inf]`` (``numpy.inf`` or ``float("inf")`` for the max norm).

    Returns
    -------
    float
        The norm, in the units of ``p`` times volume^(1/r).
    """
    arr = _validate.grid_field(p, grid, "p")
    if isinstance(order, bool) or not isinstance(order, (int, float, np.integer, np.floating)):
        raise TypeError(f"order: expected a real number in [1, inf], got {order!r}")
    r = float(order)
    if math.isnan(r) or r < 1:
        raise ValueError(f"order: expected a number in [1, inf], got {order!r}")
    peak = float(np.max(np.abs(arr)))
    if r == math.inf or peak == 0.0:
        return peak
    # Scaling by the peak keeps |p|^r from overflowing/underflowing for large r.
    scaled = np.abs(arr) / peak
    return peak * float(np.sum(scaled**r) * grid.cell_volume) ** (1.0 / r)


def tv(p: np.ndarray, q: np.ndarray, grid: Grid) -> float:
    """Total variation distance of two grid probability densities.

    ``TV(p, q) = (1/2) ||p - q||_1 = (1/2) sum_cells |p - q| dV``, in [0, 1].

    ``p`` and ``q``: nonnegative cell averages of shape ``grid.shape``, each with
    integral 1 (to :data:`MASS_RTOL`).  Returns a dimensionless float.
    """
    p = _validate.density(p, grid, "p", mass_rtol=MASS_RTOL)
    q = _validate.density(q, grid, "q", mass_rtol=MASS_RTOL)
    return 0.5 * float(np.sum(np.abs(p - q)) * grid.cell_volume)


def kl(
    p: np.ndarray,
    q: np.ndarray,
    grid: Grid,
    *,
    floor: float | None = None,
    strict: bool = True,
) -> float:
    """Kullback–Leibler divergence of two grid probability densities.

    ``KL(p || q) = sum_cells p log(p / q) dV`` (natural log, nats), with the
    convention ``0 log(0/q) = 0``: the exact KL of the piecewise-constant densities.

    Support policy: if ``q = 0`` in a cell where ``p > 0`` the divergence is
    infinite.  With ``strict=True`` (default) this raises ``ValueError`` (on grids it
    is almost always underflow of a tail rather than a true support mismatch);
    with ``strict=False`` the function returns ``math.inf``.  ``floor`` (density
    units, > 0) replaces ``q`` by ``max(q, floor)`` before the evaluation without
    renormalising, so the floored value is
    ``KL - sum_{q<floor} p log(floor/q) dV <= KL`` (a lower bound; finite even
    where the unfloored KL is infinite).  Use it only for underflowed tails and
    report the floor with the result.

    Parameters
    ----------
    p, q
        Nonnegative cell averages of shape ``grid.shape`` with integral 1 (to
        :data:`MASS_RTOL`).
    grid
        The grid carrying both.
    floor
        Optional positive lower bound applied to ``q``.
    strict
        Raise (True) or return ``inf`` (False) when ``p`` is not absolutely
        continuous with respect to (floored) ``q``.

    Returns
    -------
    float
        ``KL(p || q)`` in nats.
    """
    p = _validate.density(p, grid, "p", mass_rtol=MASS_RTOL)
    q = _validate.density(q, grid, "q", mass_rtol=MASS_RTOL)
    if floor is not None:
        if isinstance(floor, bool) or not isinstance(floor, (int, float, np.floating)):
            raise TypeError(f"floor: expected a positive float or None, got {floor!r}")
        if not (math.isfinite(floor) and floor > 0):
            raise ValueError(f"floor: expected a positive finite float, got {floor!r}")
        q = np.maximum(q, float(floor))
    support = p > 0
    bad = support & (q <= 0)
    if np.any(bad):
        if strict:
            lost = float(np.sum(p[bad]) * grid.cell_volume)
            raise ValueError(
                f"q: is zero in {int(bad.sum())} cells where p > 0 (p-mass {lost:.3g} there), "
                "so KL(p || q) = inf; pass floor=... if q underflowed, or strict=False "
                "to get inf"
            )
        return math.inf
    ps, qs = p[support], q[support]
    # log p - log q rather than log(p/q): p/q can overflow when q is tiny.
    return float(np.sum(ps * (np.log(ps) - np.log(qs))) * grid.cell_volume)


def entropy(p: np.ndarray, grid: Grid) -> float:
    """Differential entropy of a grid probability density.

    ``H(p) = -int p log p = -sum_cells p log p dV`` (nats; ``0 log 0 = 0``): the exact
    entropy of the piecewise-constant density.  For the cell averages of a smooth
    density it converges to the continuum entropy at order 2 in the spacing.

    ``p``: nonnegative cell averages of shape ``grid.shape`` with integral 1.
    Returns a float (may be negative).
    """
    p = _validate.density(p, grid, "p", mass_rtol=MASS_RTOL)
    ps = p[p > 0]
    return -float(np.sum(ps * np.log(ps)) * grid.cell_volume)


# ======================================================================= deposition
def histogram(
    x: np.ndarray,
    grid: Grid,
    weights: np.ndarray | None = None,
    *,
    method: Literal["nearest", "cic"] = "nearest",
    outside: Literal["clip", "raise"] = "clip",
) -> np.ndarray:
    """Deposit a weighted particle cloud onto a grid density: :meth:`Grid.deposit`
    (the one deposit of the package; see there for the formula and arguments)."""
    if not isinstance(grid, Grid):
        raise TypeError(f"grid: expected a pdediff.Grid, got {type(grid).__name__}")
    return grid.deposit(x, weights, method=method, outside=outside)

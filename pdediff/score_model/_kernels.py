"""Numba kernel of the spline score model (imports nothing from pdediff)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, error_model="numpy")
def spline_cell_powers(point, low, spacing, cells, powers, derivatives):  # pragma: no cover
    """Locate ``point`` (n,) among ``cells`` knot cells of width ``spacing[d]`` from
    ``low[d]`` per axis and fill ``powers[d, r] = f_d^r`` and ``derivatives[d, r] =
    d(f_d^r)/dx_d`` of its local coordinates ``f_d``.  Returns ``(inside, cell)``, the
    flat cell index (row-major over the axes)."""
    n = point.shape[0]
    k1 = powers.shape[1]
    cell = 0
    for d in range(n):
        inverse_spacing = 1.0 / spacing[d]
        u = (point[d] - low[d]) * inverse_spacing
        if not (0.0 <= u <= cells):
            return False, 0
        i = min(int(u), cells - 1)
        f = u - i
        cell = cell * cells + i
        powers[d, 0] = 1.0
        derivatives[d, 0] = 0.0
        for r in range(1, k1):
            derivatives[d, r] = r * powers[d, r - 1] * inverse_spacing
            powers[d, r] = powers[d, r - 1] * f
    return True, cell


@numba.njit(cache=True, error_model="numpy")
def spline_contract(polynomials, cell, powers, derivatives, work):  # pragma: no cover
    """Contract ``sum_r A[cell, r] prod_d f_d^{r_d}`` one axis at a time (last axis
    first), carrying the value and the partial derivatives along the axes already
    contracted: ``(n + 1)(degree + 1)^n`` multiply-adds.  On return ``work[e, 0]`` is
    the derivative along ``x_e`` and ``work[n, 0]`` the value."""
    n, k1 = powers.shape
    combos = work.shape[1]
    for m in range(combos):
        work[n, m] = polynomials[cell, m]
    length = combos
    for d in range(n - 1, -1, -1):
        length //= k1
        for e in range(d + 1, n):
            for q in range(length):
                total = 0.0
                for r in range(k1):
                    total += work[e, q * k1 + r] * powers[d, r]
                work[e, q] = total
        for q in range(length):
            value = 0.0
            slope = 0.0
            for r in range(k1):
                w = work[n, q * k1 + r]
                value += w * powers[d, r]
                slope += w * derivatives[d, r]
            work[d, q] = slope
            work[n, q] = value


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _tensor_spline_gradient(
    x: np.ndarray, polynomials: np.ndarray, low: np.ndarray, spacing: np.ndarray,
    cells: int, degree: int, out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """``out[p] = grad_x sum_r A[cell(x), r] prod_d f_d^{r_d}`` with ``A`` =
    ``polynomials`` from :func:`_cell_polynomials` (``cells`` knot cells of width
    ``spacing[d]`` per axis from ``low[d]``; zero outside the box), contracted by
    :func:`spline_contract`.  Points are split into a fixed number of chunks, each
    with its own work arrays, so the result does not depend on the thread count."""
    P, n = x.shape
    k1 = degree + 1
    combos = k1**n
    nchunks = min(P, 256)
    chunk = (P + nchunks - 1) // nchunks
    for c in numba.prange(nchunks):
        powers = np.empty((n, k1))
        derivatives = np.empty((n, k1))
        work = np.empty((n + 1, combos))  # rows 0..n-1: d/dx_e, row n: value
        for p in range(c * chunk, min(P, (c + 1) * chunk)):
            inside, cell = spline_cell_powers(x[p], low, spacing, cells, powers, derivatives)
            if not inside:
                for e in range(n):
                    out[p, e] = 0.0
                continue
            spline_contract(polynomials, cell, powers, derivatives, work)
            for e in range(n):
                out[p, e] = work[e, 0]

"""B-spline bases of the spline score model: one axis of uniform B-splines with exact
derivatives, the power-basis form of a tensor spline on its knot cells, and the sparse
Gram accumulation used by its least-squares fits."""

from __future__ import annotations

import numpy as np
import numpy.polynomial.polynomial as npoly
import scipy.sparse as sp
from scipy.interpolate import BSpline


class _SplineAxis:
    """Degree-``k`` B-splines on uniform knots over ``[low, high]``.

    ``interior=False`` (time axis): ``size`` functions whose base interval
    ``[knots[k], knots[size]]`` is ``[low, high]`` (a partition of unity there);
    evaluation clips ``u`` to ``[low, high]`` and derivatives vanish outside.

    ``interior=True`` (space axes): the ``size`` functions whose support lies inside
    ``[low, high]`` (knot spacing ``(high - low) / (size + k)``); they vanish with their
    first ``k - 1`` derivatives at the ends, so extending them by zero outside is
    ``C^{k-1}``. Local index ``start + c`` may then fall outside ``[0, size)``: such
    entries belong to boundary-crossing functions that are not in the basis, and their
    values are returned but must be discarded by the caller (``valid``)."""

    def __init__(self, low: float, high: float, size: int, degree: int, interior: bool = False) -> None:
        self.low, self.high, self.size, self.degree = low, high, size, degree
        self.interior = interior
        self.n_full = size + 2 * degree if interior else size
        h = (high - low) / (self.n_full - degree)
        self.spacing = h
        self.knots = low + h * (np.arange(self.n_full + degree + 1) - degree)
        self.knots[degree] = low
        self.knots[self.n_full] = high
        self.offset = degree if interior else 0

    def evaluate(self, u: np.ndarray, nu_max: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Return ``start`` (P,) and ``[d^nu B_{start + c}(u)]`` for nu = 0..nu_max,
        each (P, degree + 1), ``start`` in the local numbering (see class docstring)."""
        inside = (u >= self.low) & (u <= self.high)
        uc = np.clip(u, self.low, self.high)
        start, values = self._compact(uc, self.knots, self.degree)
        # interior basis: zero extension outside the box; time basis: frozen (clipped)
        out = [values * inside[:, None] if self.interior else values]
        for nu in range(1, nu_max + 1):
            out.append(self._derivative(uc, self.knots, self.degree, nu, start) * inside[:, None])
        return start - self.offset, out

    @staticmethod
    def _compact(u: np.ndarray, knots: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        matrix = BSpline.design_matrix(u, knots, k).tocsr()
        # scipy stores exactly k+1 entries per row at contiguous columns start..start+k;
        # we rely on it to avoid a dense conversion, so check it.
        indices = matrix.indices.reshape(-1, k + 1)
        start = indices[:, 0].astype(np.int64)
        if matrix.indptr[-1] != u.size * (k + 1) or np.any(indices - start[:, None] != np.arange(k + 1)):
            raise RuntimeError("unexpected sparsity layout of BSpline.design_matrix")
        return start, matrix.data.reshape(-1, k + 1).copy()

    @classmethod
    def _derivative(cls, u, knots, k, nu, start) -> np.ndarray:
        # d/du B_{i,k} = a_i B_{i,k-1} - a_{i+1} B_{i+1,k-1}, a_i = k / (t_{i+k} - t_i);
        # the degree-(k-1) functions on knots[1:-1] are B_{i+1,k-1} of the full knots.
        if nu == 0:
            s, values = cls._compact(u, knots, k)
            if np.any(s != start):
                raise RuntimeError("inconsistent B-spline intervals")
            return values
        lower = cls._derivative(u, knots[1:-1], k - 1, nu - 1, start)  # full i = s+1..s+k
        a = k / (knots[k:] - knots[:-k])
        idx = start[:, None] + np.arange(k + 1)
        padded = np.zeros((u.size, k + 2))
        padded[:, 1 : k + 1] = lower  # padded[:, c] = B_{s+c, k-1}
        return a[idx] * padded[:, :-1] - a[idx + 1] * padded[:, 1:]


def _cardinal_power_matrix(degree: int) -> np.ndarray:
    """``M[c, r]`` with ``B_c(f) = sum_r M[c, r] f^r`` for the ``degree + 1`` uniform
    B-splines that are nonzero on one knot interval, ``f`` in [0, 1] the fraction of
    the interval: the Cox–de Boor recursion (every denominator equals the level ``j``)
    run on polynomial coefficients (rational entries, exact to round-off)."""
    basis = [np.array([1.0])]
    for j in range(1, degree + 1):
        saved = np.zeros(1)
        level = []
        for r in range(j):
            temp = basis[r] / j
            level.append(npoly.polyadd(saved, npoly.polymul([r + 1.0, -1.0], temp)))
            saved = npoly.polymul([j - r - 1.0, 1.0], temp)
        basis = [*level, saved]
    matrix = np.zeros((degree + 1, degree + 1))
    for c, coefficients in enumerate(basis):
        matrix[c, : coefficients.size] = coefficients
    return matrix


def _cell_polynomials(coefficients: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Power-basis coefficients of ``sum_j coefficients[j] B_j(x)`` (interior tensor
    basis of :class:`_SplineAxis`, ``coefficients`` of shape ``(size,) * n``) on each
    knot cell: ``(cells^n, (degree + 1)^n)``, cells in C order, and in the local
    fractions ``f_d`` the polynomial ``sum_r A[cell, r] prod_d f_d^{r_d}``; ``matrix``
    is :func:`_cardinal_power_matrix` of the degree."""
    n, k1 = coefficients.ndim, matrix.shape[0]
    degree = k1 - 1
    size = coefficients.shape[0]
    # full numbering: the interior functions are preceded and followed by ``degree``
    # boundary-crossing functions that are not in the basis (coefficient 0)
    full = np.zeros((size + 2 * degree,) * n)
    full[(slice(degree, degree + size),) * n] = coefficients
    out = np.lib.stride_tricks.sliding_window_view(full, (k1,) * n)  # (cells..., k1...)
    for d in range(n):
        out = np.moveaxis(np.tensordot(out, matrix, axes=([n + d], [0])), -1, n + d)
    return np.ascontiguousarray(out.reshape(-1, k1**n))


def _csr(cols: np.ndarray, vals: np.ndarray, n_cols: int) -> sp.csr_matrix:
    P, K = vals.shape
    return sp.csr_matrix((vals.ravel(), cols.ravel(), np.arange(0, P * K + 1, K)), shape=(P, n_cols))


def _add_gram(out: np.ndarray, cols: np.ndarray, vals: np.ndarray, key: np.ndarray) -> np.ndarray:
    """``out += A^T A`` for the sparse A whose row i has values ``vals[i]`` at columns
    ``cols[i]``. Rows with equal ``key`` have the same column pattern, so they are
    grouped and each group is one dense BLAS product: much faster than a sparse-sparse
    product with 64+ entries per row. Repeated columns in a pattern may only be the
    ghost column (its row/column of ``out`` is garbage and discarded by the caller)."""
    order = np.argsort(key, kind="stable")
    keys = key[order]
    bounds = np.flatnonzero(np.diff(keys)) + 1
    for group in np.split(order, bounds):
        c = cols[group[0]]
        v = vals[group]
        out[np.ix_(c, c)] += v.T @ v
    return out


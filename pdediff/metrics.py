"""Distances and functionals between grid densities and particle clouds.

A *grid density* is an array ``p`` of cell averages on a :class:`pdediff.Grid`
(shape ``grid.shape``, ``grid.integrate(p) == 1``); pass it as a :class:`GridDensity`
or as a tuple ``(p, grid)``.  A *particle cloud* is an array ``x`` of shape
``(N, ndim)`` (``(N,)`` is accepted in 1-D) or a tuple ``(x, weights)`` with
nonnegative ``weights`` of shape ``(N,)``; weights are normalised to sum 1.

Contents

* functionals of grid fields: :func:`lp_norm`, :func:`tv`, :func:`kl`, :func:`entropy`;
* particle -> grid deposition: :func:`histogram` (nearest cell or cloud-in-cell);
* optimal transport: :func:`w1`, :func:`w2` (exact quantile formula in 1-D, exact
  network-simplex OT with POT in 2-D/3-D), :func:`sliced_w2`, :func:`quantile`,
  :func:`noise_floor`;
* statistics: :func:`distance_statistics`, :func:`fit_rate`, :func:`observed_order`.

Every Wasserstein distance treats the domain as a subset of R^n: periodic axes are
*not* identified (the distance is the one of the unrolled box).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import ot
from scipy import stats

from .grid import Grid

__all__ = [
    "GridDensity",
    "RateFit",
    "NoiseFloor",
    "lp_norm",
    "tv",
    "kl",
    "entropy",
    "histogram",
    "quantile",
    "w1",
    "w2",
    "sliced_w2",
    "noise_floor",
    "distance_statistics",
    "fit_rate",
    "observed_order",
    "MASS_RTOL",
    "DEFAULT_MAX_POINTS",
]

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
    arr = np.asarray(p)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a real array, got dtype {arr.dtype}")
    if arr.shape != grid.shape:
        raise ValueError(f"{name}: expected shape {grid.shape} (the grid), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or inf")
    return arr.astype(np.float64, copy=False)


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
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a real array of points, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] not in (1, 2, 3) or arr.shape[0] < 1:
        raise ValueError(
            f"{name}: expected particle positions of shape (N, ndim) with N >= 1 and "
            f"ndim in 1..3 (or (N,) in 1-D), got shape {np.shape(x)}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: particle positions contain NaN or inf")
    return arr.astype(np.float64, copy=False)


def _check_weights(weights: Any, n: int, name: str) -> np.ndarray:
    """Nonnegative finite weights of shape (n,), normalised to sum 1."""
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights)
    if w.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected real weights, got dtype {w.dtype}")
    if w.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},) (one weight per particle), got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name}: weights contain NaN or inf")
    if np.any(w < 0):
        raise ValueError(f"{name}: weights must be nonnegative, min is {w.min():.3g}")
    total = float(np.sum(w, dtype=np.float64))
    if not total > 0:
        raise ValueError(f"{name}: weights must have a positive sum")
    return w.astype(np.float64) / total


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
    arr = _check_field(p, grid, "p")
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
    p = _check_probability(p, grid, "p")
    q = _check_probability(q, grid, "q")
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
    p = _check_probability(p, grid, "p")
    q = _check_probability(q, grid, "q")
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
    p = _check_probability(p, grid, "p")
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


def _segments_1d(measure: GridDensity | _Cloud) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantile function of a 1-D measure as linear pieces.

    Returns ``(cum, xl, xr)``: ``cum`` (K+1,) strictly increasing from 0 to 1, and on
    ``u in (cum[j], cum[j+1]]`` the quantile is
    ``Q(u) = xl[j] + (u - cum[j]) / (cum[j+1] - cum[j]) * (xr[j] - xl[j])``.
    A grid density's CDF is linear inside each cell, so its pieces run from the
    left to the right edge of each cell with mass; a particle is a constant piece.
    """
    if isinstance(measure, GridDensity):
        edges = measure.grid.edges[0]
        xl, xr = edges[:-1], edges[1:]
        masses = measure.masses
    else:
        order = np.argsort(measure.points[:, 0], kind="stable")
        xl = xr = measure.points[order, 0]
        masses = measure.weights[order]
    cum = np.concatenate(([0.0], np.cumsum(masses)))
    cum /= cum[-1]
    cum[-1] = 1.0
    # Drop pieces that carry no mass after rounding, so every kept piece has a
    # strictly positive length in u (no division by zero below).
    keep = np.diff(cum) > 0
    return np.concatenate(([0.0], cum[1:][keep])), xl[keep], xr[keep]


def _eval_pieces(
    cum: np.ndarray, xl: np.ndarray, xr: np.ndarray, j: np.ndarray, u: np.ndarray
) -> np.ndarray:
    frac = np.clip((u - cum[j]) / (cum[j + 1] - cum[j]), 0.0, 1.0)
    return xl[j] + frac * (xr[j] - xl[j])


def _wp_1d(a: GridDensity | _Cloud, b: GridDensity | _Cloud, order: int) -> float:
    """Exact ``W_order^order = int_0^1 |Q_a(u) - Q_b(u)|^order du`` for order 1 or 2."""
    if (
        isinstance(a, _Cloud)
        and isinstance(b, _Cloud)
        and a.weights.size == b.weights.size
        and np.all(a.weights == a.weights[0])
        and np.all(b.weights == b.weights[0])
    ):
        # Equal-size uniform clouds: the quantile pieces coincide, so the general
        # formula below reduces to matching sorted samples (same value, ~5x faster).
        diff = np.sort(a.points[:, 0]) - np.sort(b.points[:, 0])
        return float(np.mean(diff * diff) if order == 2 else np.mean(np.abs(diff)))
    ca, al, ar = _segments_1d(a)
    cb, bl, br = _segments_1d(b)
    u = np.union1d(ca, cb)
    lo, hi = u[:-1], u[1:]
    mid = 0.5 * (lo + hi)
    # On (lo, hi) both quantiles are single linear pieces; locate them by the midpoint.
    ja = np.clip(np.searchsorted(ca, mid, side="right") - 1, 0, len(al) - 1)
    jb = np.clip(np.searchsorted(cb, mid, side="right") - 1, 0, len(bl) - 1)
    d0 = _eval_pieces(ca, al, ar, ja, lo) - _eval_pieces(cb, bl, br, jb, lo)
    d1 = _eval_pieces(ca, al, ar, ja, hi) - _eval_pieces(cb, bl, br, jb, hi)
    length = hi - lo
    if order == 2:
        # int_0^L (d0 + (d1 - d0) s / L)^2 ds
        return float(np.sum(length * (d0 * d0 + d0 * d1 + d1 * d1) / 3.0))
    a0, a1 = np.abs(d0), np.abs(d1)
    same_sign = d0 * d1 >= 0
    denom = np.where(same_sign, 1.0, a0 + a1)  # a0 + a1 > 0 when the signs differ
    piece = np.where(same_sign, 0.5 * (a0 + a1), 0.5 * (d0 * d0 + d1 * d1) / denom)
    return float(np.sum(length * piece))


def quantile(a: Any, u: np.ndarray) -> np.ndarray:
    """Quantile function of a 1-D measure, ``Q(u) = inf{x : F(x) >= u}``.

    For a grid density the CDF ``F`` is piecewise linear inside cells (the density
    is piecewise constant), so ``Q`` is piecewise linear in ``u`` with jumps across
    empty cells; for particles ``Q`` is a step function.  ``Q(0)`` is the left end
    of the support.

    Parameters
    ----------
    a
        1-D grid density (:class:`GridDensity` or ``(p, grid)``) or particle cloud.
    u
        Probabilities in ``[0, 1]``, any shape.

    Returns
    -------
    numpy.ndarray
        Positions, same shape as ``u`` (length units).
    """
    measure = _as_measure(a, "a")
    if _ndim(measure) != 1:
        raise ValueError(f"a: quantile needs a 1-D measure, got ndim {_ndim(measure)}")
    uu = np.asarray(u, dtype=np.float64)
    if not np.all(np.isfinite(uu)) or np.any((uu < 0) | (uu > 1)):
        raise ValueError("u: expected probabilities in [0, 1]")
    cum, xl, xr = _segments_1d(measure)
    j = np.clip(np.searchsorted(cum, uu, side="left") - 1, 0, len(xl) - 1)
    return _eval_pieces(cum, xl, xr, j, uu)


# ============================================================ n-D optimal transport
def _check_max_points(max_points: Any) -> int:
    if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)):
        raise TypeError(f"max_points: expected a positive int, got {max_points!r}")
    if max_points < 1:
        raise ValueError(f"max_points: expected a positive int, got {max_points!r}")
    return int(max_points)


def _emd_cost(
    a: GridDensity | _Cloud,
    b: GridDensity | _Cloud,
    order: int,
    max_points: int,
    num_itermax: int,
) -> float:
    """Exact ``min_pi sum pi_ij |x_i - y_j|^order`` over couplings of the supports."""
    xa, wa = _support(a)
    xb, wb = _support(b)
    for name, pts in (("a", xa), ("b", xb)):
        if pts.shape[0] > max_points:
            megabytes = 8e-6 * xa.shape[0] * xb.shape[0]
            raise ValueError(
                f"{name}: {pts.shape[0]} support points exceed max_points={max_points} "
                f"(dense OT needs a {xa.shape[0]}x{xb.shape[0]} cost matrix, "
                f"{megabytes:.0f} MB, and time ~ points^2); bin particles with "
                "pdediff.metrics.histogram on a coarser grid, coarsen grid densities "
                "with Grid.coarsen, use sliced_w2, or raise max_points"
            )
    metric = "sqeuclidean" if order == 2 else "euclidean"
    cost_matrix = ot.dist(xa, xb, metric=metric)
    with warnings.catch_warnings():
        # POT warns on a non-optimal exit; we turn that into an error just below.
        warnings.simplefilter("ignore", UserWarning)
        cost, log = ot.emd2(wa, wb, cost_matrix, numItermax=num_itermax, log=True)
    code = int(log["result_code"])
    if code != 1:
        raise RuntimeError(
            f"ot.emd2 did not reach the optimum (status {_EMD_RESULT.get(code, code)}); "
            f"increase num_itermax (was {num_itermax}) or reduce the number of points"
        )
    return max(float(cost), 0.0)


def _wasserstein_power(a: Any, b: Any, order: int, max_points: Any, num_itermax: Any) -> float:
    ma, mb = _as_measure(a, "a"), _as_measure(b, "b")
    if _ndim(ma) != _ndim(mb):
        raise ValueError(f"b: dimension {_ndim(mb)} differs from a's dimension {_ndim(ma)}")
    max_points = _check_max_points(max_points)
    if num_itermax is None:
        num_itermax = _DEFAULT_NUM_ITERMAX
    if isinstance(num_itermax, bool) or not isinstance(num_itermax, (int, np.integer)):
        raise TypeError(f"num_itermax: expected a positive int or None, got {num_itermax!r}")
    if num_itermax < 1:
        raise ValueError(f"num_itermax: expected a positive int, got {num_itermax!r}")
    if _ndim(ma) == 1:
        return _wp_1d(ma, mb, order)
    return _emd_cost(ma, mb, order, max_points, int(num_itermax))


def w1(
    a: Any,
    b: Any,
    *,
    max_points: int = DEFAULT_MAX_POINTS,
    num_itermax: int | None = None,
) -> float:
    """Wasserstein-1 distance ``W1(a, b) = min_pi int |x - y| dpi(x, y)``.

    * 1-D: exact, ``W1 = int_0^1 |Q_a(u) - Q_b(u)| du = int |F_a - F_b| dx`` with the
      piecewise-linear quantile of a grid density (no cell-centre bias).
    * 2-D/3-D: exact discrete OT (``ot.emd2``, network simplex) between the supports:
      cells with positive mass at their centres (an O(h) representation error for
      grid densities), and particles.  The solver status is checked; a non-optimal
      exit raises ``RuntimeError``.

    Parameters
    ----------
    a, b
        Each a grid density (:class:`GridDensity` or ``(p, grid)``) or a particle
        cloud (``x`` of shape ``(N, ndim)`` or ``(x, weights)``); same ndim.
    max_points
        Largest support size allowed per measure in 2-D/3-D (ValueError beyond it);
        see :data:`DEFAULT_MAX_POINTS` for measured times.
    num_itermax
        Network-simplex iteration cap (default 1e9).

    Returns
    -------
    float
        ``W1(a, b)`` in length units.
    """
    return _wasserstein_power(a, b, 1, max_points, num_itermax)


def w2(
    a: Any,
    b: Any,
    *,
    squared: bool = False,
    max_points: int = DEFAULT_MAX_POINTS,
    num_itermax: int | None = None,
) -> float:
    """Wasserstein-2 distance ``W2(a, b) = (min_pi int |x - y|^2 dpi(x, y))^(1/2)``.

    * 1-D: exact, ``W2^2 = int_0^1 |Q_a(u) - Q_b(u)|^2 du`` integrated in closed form
      on the merged linear pieces of the quantile functions (grid densities have a
      piecewise-linear CDF inside cells, so no cell-centre bias: for cell averages of
      a smooth density the error is O(h^2)).
    * 2-D/3-D: exact discrete OT (``ot.emd2``) on the supports (positive-mass cell
      centres and particles), status checked.  For two grid densities the
      centre representation adds ``h^2/12`` to each variance; for cell averages of
      Gaussians the error was measured O(h^2) (0.073 at h = 0.75, 0.0084 at h = 0.25).

    Periodic axes are not identified: this is W2 in the unrolled box.

    Parameters
    ----------
    a, b
        Grid densities or particle clouds as in :func:`w1`; same ndim.
    squared
        Return ``W2^2`` (length^2) instead of ``W2``.
    max_points, num_itermax
        As in :func:`w1`.

    Returns
    -------
    float
        ``W2(a, b)`` (length units), or ``W2^2`` if ``squared``.
    """
    value = _wasserstein_power(a, b, 2, max_points, num_itermax)
    return value if squared else math.sqrt(value)


def sliced_w2(
    a: Any,
    b: Any,
    n_projections: int = 100,
    seed: int | np.random.Generator = 0,
    *,
    squared: bool = False,
) -> float:
    """Monte-Carlo sliced Wasserstein-2 distance.

    ``SW2(a, b)^2 = E_theta[W2(theta#a, theta#b)^2]``, theta uniform on the unit
    sphere, estimated with ``n_projections`` directions drawn from
    ``numpy.random.default_rng(seed)``; each 1-D W2 is exact (quantile formula).
    Grid densities enter through their positive-mass cell centres.  In 1-D this is
    exactly :func:`w2`.  ``SW2 <= W2``; cost ``O(n_projections (N + M) log(N + M))``,
    so it handles clouds far beyond ``max_points``.

    Parameters
    ----------
    a, b
        Grid densities or particle clouds as in :func:`w1`; same ndim.
    n_projections
        Number of random directions (>= 1).
    seed
        Seed or ``numpy.random.Generator`` for the directions.
    squared
        Return ``SW2^2``.

    Returns
    -------
    float
        ``SW2(a, b)`` in length units (or its square).
    """
    ma, mb = _as_measure(a, "a"), _as_measure(b, "b")
    ndim = _ndim(ma)
    if _ndim(mb) != ndim:
        raise ValueError(f"b: dimension {_ndim(mb)} differs from a's dimension {ndim}")
    if isinstance(n_projections, bool) or not isinstance(n_projections, (int, np.integer)):
        raise TypeError(f"n_projections: expected a positive int, got {n_projections!r}")
    if n_projections < 1:
        raise ValueError(f"n_projections: expected a positive int, got {n_projections!r}")
    rng = _as_rng(seed)
    if ndim == 1:
        value = _wp_1d(ma, mb, 2)
    else:
        xa, wa = _support(ma)
        xb, wb = _support(mb)
        theta = rng.standard_normal((int(n_projections), ndim))
        theta /= np.linalg.norm(theta, axis=1, keepdims=True)
        total = 0.0
        for direction in theta:
            pa = _Cloud(xa @ direction[:, None], wa)
            pb = _Cloud(xb @ direction[:, None], wb)
            total += _wp_1d(pa, pb, 2)
        value = total / int(n_projections)
    return value if squared else math.sqrt(value)


def _as_rng(seed: Any) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: expected an int or numpy.random.Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


# ====================================================================== noise floor
@dataclass(frozen=True)
class NoiseFloor:
    """Particle noise floor of a distance: ``d(mu_n, mu'_n)`` for two independent
    samples of size ``n`` of the same law, over ``repeats`` repetitions.

    Attributes: ``mean``, ``std`` (sample std, ddof=1; 0 if one repeat), ``values``
    (shape ``(repeats,)``), ``n``, ``metric`` (its name).
    """

    mean: float
    std: float
    values: np.ndarray
    n: int
    metric: str


_METRICS: dict[str, Callable[..., float]] = {"w1": w1, "w2": w2, "sliced_w2": sliced_w2}


def noise_floor(
    sampler_or_distribution: Any,
    n: int,
    metric: str | Callable[[np.ndarray, np.ndarray], float] = "w2",
    repeats: int = 10,
    seed: int | np.random.Generator = 0,
    metric_kwargs: Mapping[str, Any] | None = None,
) -> NoiseFloor:
    """Particle noise floor: the distance between two independent samples of one law.

    For each repeat ``r``, draws ``X, Y ~ mu`` i.i.d. of size ``n`` and evaluates
    ``d(X, Y)``; a distance measured between two ``n``-particle clouds is only
    meaningful above ``mean + few * std`` of these values (for W2,
    ``|W2(mu_n, nu_n) - W2(mu, nu)| <= W2(mu_n, mu) + W2(nu_n, nu)``).

    Parameters
    ----------
    sampler_or_distribution
        An object with a method ``sample(n, rng)`` (e.g. a
        ``pdediff.distributions`` law) or a callable ``sampler(n, rng)``, returning
        an ``(n, ndim)`` array (``(n,)`` in 1-D); ``rng`` is a
        ``numpy.random.Generator``.
    n
        Sample size (>= 1).
    metric
        ``"w1"``, ``"w2"``, ``"sliced_w2"`` or a callable ``d(x, y) -> float``.
    repeats
        Number of independent pairs (>= 1).
    seed
        Seed or Generator; each repeat uses an independent child stream, so results
        do not depend on what the sampler does with its stream.
    metric_kwargs
        Extra keyword arguments for a named metric (e.g. ``max_points``,
        ``n_projections``).  For ``"sliced_w2"`` the projection seed is drawn from
        the repeat's stream unless given.

    Returns
    -------
    NoiseFloor
    """
    # A distribution object may also be callable (a density); its sampler wins.
    if callable(getattr(sampler_or_distribution, "sample", None)):
        draw = sampler_or_distribution.sample
    elif callable(sampler_or_distribution):
        draw = sampler_or_distribution
    else:
        raise TypeError(
            "sampler_or_distribution: expected a callable sampler(n, rng) or an object "
            f"with a sample(n, rng) method, got {type(sampler_or_distribution).__name__}"
        )
    for name, value in (("n", n), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name}: expected a positive int, got {value!r}")
        if value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}")
    kwargs = dict(metric_kwargs or {})
    if isinstance(metric, str):
        if metric not in _METRICS:
            raise ValueError(
                f"metric: expected one of {sorted(_METRICS)} or a callable, got {metric!r}"
            )
        distance = _METRICS[metric]
        metric_name = metric
    elif callable(metric):
        if kwargs:
            raise ValueError("metric_kwargs: only used with a named metric")
        distance = metric
        metric_name = getattr(metric, "__name__", "callable")
    else:
        raise TypeError(f"metric: expected a name or a callable, got {metric!r}")
    streams = _as_rng(seed).spawn(int(repeats))
    values = np.empty(int(repeats))
    for r, rng in enumerate(streams):
        x = _check_points(draw(int(n), rng), "sampler output")
        y = _check_points(draw(int(n), rng), "sampler output")
        if x.shape[0] != n or y.shape[0] != n:
            raise ValueError(f"sampler output: expected {n} samples, got {x.shape[0]}")
        extra = dict(kwargs)
        if metric_name == "sliced_w2" and "seed" not in extra:
            extra["seed"] = rng
        values[r] = float(distance(x, y, **extra))
    std = float(np.std(values, ddof=1)) if repeats > 1 else 0.0
    return NoiseFloor(float(np.mean(values)), std, values, int(n), metric_name)


# ======================================================================= statistics
def distance_statistics(d: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    """Summary statistics of distances, e.g. ``d_K = dist(., K)`` to a support ``K``.

    With weights ``w`` (normalised to sum 1; uniform ``1/N`` for particles, ``p dV``
    for a grid density ``p`` evaluated at cell centres) the statistics of the law
    ``sum_k w_k delta_{d_k}``:

    * ``mean = sum w d``, ``rms = (sum w d^2)^(1/2)`` (the quantity bounded in DESIGN
      section 3.4: ``E[d_K^2] <= 4 sigma_t^2 (KL0 + (n/2) ln 2)``);
    * ``median``, ``q90``, ``q99``: inverse-CDF quantiles ``inf{d : W(d) >= q}``
      (``numpy.quantile(method="inverted_cdf")``, the same definition with and
      without weights);
    * ``max``: the largest ``d`` carrying positive weight.

    Parameters
    ----------
    d
        Nonnegative finite distances, any shape (e.g. ``(N,)`` or ``grid.shape``).
    weights
        Optional nonnegative weights of the same shape as ``d``.

    Returns
    -------
    dict
        Keys ``mean, rms, median, q90, q99, max`` (length units).
    """
    dist = np.asarray(d)
    if dist.dtype.kind not in "fiu":
        raise TypeError(f"d: expected a real array, got dtype {dist.dtype}")
    if dist.size == 0:
        raise ValueError("d: expected at least one distance")
    if not np.all(np.isfinite(dist)):
        raise ValueError("d: contains NaN or inf")
    if np.any(dist < 0):
        raise ValueError(f"d: distances must be nonnegative, min is {dist.min():.3g}")
    dist = dist.astype(np.float64).ravel()
    levels = [0.5, 0.9, 0.99]
    if weights is None:
        w = np.full(dist.size, 1.0 / dist.size)
        # Unweighted numpy compares ranks exactly; a cumsum of 1/N would not.
        qs = np.quantile(dist, levels, method="inverted_cdf")
    else:
        warr = np.asarray(weights)
        if warr.shape != np.shape(d):
            raise ValueError(f"weights: expected shape {np.shape(d)} (that of d), got {warr.shape}")
        w = _check_weights(warr.ravel(), dist.size, "weights")
        # Raw weights: integer weights then give exactly the replicated-sample quantiles.
        qs = np.quantile(dist, levels, weights=warr.ravel(), method="inverted_cdf")
    return {
        "mean": float(np.sum(w * dist)),
        "rms": math.sqrt(float(np.sum(w * dist * dist))),
        "median": float(qs[0]),
        "q90": float(qs[1]),
        "q99": float(qs[2]),
        "max": float(np.max(dist[w > 0])),
    }


@dataclass(frozen=True)
class RateFit:
    """Least-squares power law ``y ~ exp(intercept) t^slope`` fitted in log-log space.

    Attributes: ``slope``, ``intercept`` (natural log), ``stderr`` (of the slope),
    ``ci = (low, high)`` (Student-t interval for the slope at ``confidence``),
    ``r2`` (coefficient of determination in log space), ``n`` (points),
    ``confidence``.
    """

    slope: float
    intercept: float
    stderr: float
    ci: tuple[float, float]
    r2: float
    n: int
    confidence: float

    def __str__(self) -> str:
        low, high = self.ci
        return (
            f"slope {self.slope:.4g} (stderr {self.stderr:.2g}, {100 * self.confidence:g}% CI "
            f"[{low:.4g}, {high:.4g}], r2 {self.r2:.4f}, n {self.n})"
        )


def fit_rate(t: np.ndarray, y: np.ndarray, confidence: float = 0.95) -> RateFit:
    """Fit ``log y = intercept + slope log t`` by ordinary least squares.

    With ``n`` points, residual variance ``s^2 = SSR / (n - 2)`` and
    ``S_tt = sum (log t - mean log t)^2``: ``stderr = s / sqrt(S_tt)`` and the
    interval is ``slope +- t_{(1+confidence)/2, n-2} stderr`` (scipy.stats.t), exact
    when the log-errors are i.i.d. Gaussian.

    Parameters
    ----------
    t, y
        Positive finite 1-D arrays of equal length ``n >= 3``; ``t`` not all equal.
    confidence
        Level of the slope interval, in (0, 1).

    Returns
    -------
    RateFit
    """
    tt = _check_positive_1d(t, "t")
    yy = _check_positive_1d(y, "y")
    if tt.shape != yy.shape:
        raise ValueError(f"y: expected the shape of t {tt.shape}, got {yy.shape}")
    if tt.size < 3:
        raise ValueError(f"t: need at least 3 points for a slope and its error, got {tt.size}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.floating)):
        raise TypeError(f"confidence: expected a float in (0, 1), got {confidence!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: expected a float in (0, 1), got {confidence!r}")
    lt, ly = np.log(tt), np.log(yy)
    lt_mean, ly_mean = lt.mean(), ly.mean()
    s_tt = float(np.sum((lt - lt_mean) ** 2))
    if not s_tt > 0:
        raise ValueError("t: all values are equal; a slope needs at least two distinct t")
    slope = float(np.sum((lt - lt_mean) * (ly - ly_mean)) / s_tt)
    intercept = float(ly_mean - slope * lt_mean)
    residual = ly - (intercept + slope * lt)
    ss_res = float(np.sum(residual**2))
    ss_tot = float(np.sum((ly - ly_mean) ** 2))
    dof = tt.size - 2
    stderr = math.sqrt(ss_res / dof / s_tt)
    half = float(stats.t.ppf(0.5 * (1.0 + confidence), dof)) * stderr
    # A constant y is fitted exactly (slope 0): report r2 = 1 rather than 0/0.
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return RateFit(
        slope, intercept, stderr, (slope - half, slope + half), r2, int(tt.size), float(confidence)
    )


def observed_order(h: np.ndarray, err: np.ndarray, confidence: float = 0.95) -> RateFit:
    """Observed convergence order: the slope ``q`` of ``err ~ C h^q`` fitted by
    :func:`fit_rate` on ``(log h, log err)``; read ``.slope`` and ``.ci``.

    ``h``: positive spacings (or any resolution parameter that goes to 0), ``err``:
    positive errors, 1-D arrays of equal length ``>= 3``.  An exactly zero error
    raises ``ValueError`` (it has no logarithm; drop that level or report it).
    """
    try:
        return fit_rate(h, err, confidence)
    except (TypeError, ValueError) as error:
        message = str(error).replace("t:", "h:", 1).replace("y:", "err:", 1)
        raise type(error)(message) from error


def _check_positive_1d(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a real 1-D array, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or inf")
    if np.any(arr <= 0):
        raise ValueError(f"{name}: expected positive values (log-log fit), min is {arr.min():.3g}")
    return arr.astype(np.float64)

"""The bounds of docs/theory, Bounds as functions.

Notation: ``n`` is the dimension, ``alpha_t`` and ``sigma_t`` come from the forward
process (``X_t = alpha_t X_0 + sigma_t Z``), ``p_t`` is the forward law.

* 3.1 Li–Yau / Hamilton: :func:`li_yau_margin`, :func:`hamilton_margin`,
  :func:`li_yau_upper_bound_margin` (exact densities) and their ``*_grid`` versions
  (a density snapshot on a grid).  A *margin* is ``bound side - other side``, so the
  bound holds where the margin is ``>= 0``.
* 3.2 L^p stability: :func:`lp_stability_bound` (and :func:`gaussian_lp_norm`, the
  closed form it is checked against).
* 3.3/3.4 entropy and concentration: :func:`gaussian_kl`, :func:`concentration_bound`.
* 3.5 ODE–SDE gap: :func:`w2_gap_bound`.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from scipy import sparse

from . import _validate
from .grid import Grid
from .processes import ForwardProcess
from .residual import _check_accuracy, _check_grid, _diff
from .scores import ExactScore, KernelScore

__all__ = [
    "concentration_bound",
    "gaussian_kl",
    "gaussian_lp_norm",
    "grid_log_hessian",
    "hamilton_margin",
    "hamilton_margin_grid",
    "li_yau_margin",
    "li_yau_margin_grid",
    "li_yau_upper_bound_margin",
    "li_yau_upper_bound_margin_grid",
    "lp_stability_bound",
    "w2_gap_bound",
]


# ----------------------------------------------------------------- helpers
def _sigma2_positive(process: ForwardProcess, t: float) -> float:
    sigma2 = float(process.sigma2(t))
    if not sigma2 > 0:
        raise ValueError(f"t: sigma_t^2 = 0 at t={t!r}; the bounds need t > 0")
    return sigma2


def _exact_hessian(dist: Any, process: ForwardProcess, x: np.ndarray, t: float) -> np.ndarray:
    """``Hess log p_t(x)`` from a distribution (``dist.hessian(x, t, process)``) or a
    score object that carries its own process (``ExactScore``, ``KernelScore``)."""
    if isinstance(dist, (ExactScore, KernelScore)):
        if dist.process != process:
            raise ValueError("process: differs from the process the score object was built with")
        return np.asarray(dist.hessian(x, t))
    if not callable(getattr(dist, "hessian", None)):
        raise TypeError("dist: expected an object with .hessian(x, t, process)")
    return np.asarray(dist.hessian(x, t, process))


def _prepare(dist: Any, process: Any, x: Any, t: Any) -> tuple[ForwardProcess, np.ndarray, float]:
    process = _validate.process(process)
    x = _validate.points(x, "x", getattr(dist, "ndim", None))
    t = _validate.forward_time(t, "t", positive_only=True)
    return process, x, t


# ----------------------------------------------------------- 3.1 exact densities
def li_yau_margin(dist: Any, process: ForwardProcess, x: np.ndarray, t: float) -> np.ndarray:
    """Li–Yau margin ``Lap log p_t(x) + n / sigma_t^2`` (docs/theory, Li-Yau).

    The bound is ``Lap log p_t >= -n / sigma_t^2`` (heat flow: ``Lap log u >= -n /
    (2 kappa t)``), with equality for a point mass and asymptotically far from a
    compact support; so the margin is ``>= 0`` and tends to 0 in those cases.  It
    follows from Tweedie, ``Hess log p_t = -I/sigma_t^2 + alpha_t^2 Cov[X_0 | X_t] /
    sigma_t^4``, hence margin ``= alpha_t^2 tr Cov[X_0 | X_t = x] / sigma_t^4``.

    Parameters
    ----------
    dist : a ``pdediff.distributions`` object (``.hessian(x, t, process)``), or an
        :class:`~pdediff.scores.ExactScore` / :class:`~pdediff.scores.KernelScore`
        built with ``process``
    process : ForwardProcess
    x : array (..., n), points (units of length)
    t : float > 0, forward time

    Returns
    -------
    margin : ndarray, shape ``x.shape[:-1]``
        In units 1/length^2.  Divide by ``n / sigma_t^2`` for the relative margin.
    """
    process, x, t = _prepare(dist, process, x, t)
    hess = _exact_hessian(dist, process, x, t)
    return np.trace(hess, axis1=-2, axis2=-1) + x.shape[-1] / _sigma2_positive(process, t)


def hamilton_margin(dist: Any, process: ForwardProcess, x: np.ndarray, t: float) -> np.ndarray:
    """Hamilton (matrix Li–Yau) margin ``lambda_min(Hess log p_t(x)) + 1 / sigma_t^2``
    (docs/theory, Li-Yau: ``Hess log p_t >= -I / sigma_t^2``); arguments as in
    :func:`li_yau_margin`.  Returns shape ``x.shape[:-1]`` (1/length^2)."""
    process, x, t = _prepare(dist, process, x, t)
    hess = _exact_hessian(dist, process, x, t)
    return np.linalg.eigvalsh(hess)[..., 0] + 1.0 / _sigma2_positive(process, t)


def _upper_level(process: ForwardProcess, t: float, radius: Any) -> float:
    try:
        radius = float(radius)
    except (TypeError, ValueError) as error:
        raise TypeError(f"radius: expected a number >= 0, got {radius!r}") from error
    if not (math.isfinite(radius) and radius >= 0):
        raise ValueError(f"radius: expected a finite number >= 0, got {radius!r}")
    sigma2 = _sigma2_positive(process, t)
    alpha2 = float(process.alpha(t)) ** 2
    return -1.0 / sigma2 + alpha2 * radius**2 / sigma2**2


def li_yau_upper_bound_margin(
    dist: Any, process: ForwardProcess, x: np.ndarray, t: float, radius: float
) -> np.ndarray:
    """Upper-bound margin for data supported in a ball of radius ``R`` (docs/theory, Li-Yau):

        Hess log p_t <= (-1/sigma_t^2 + alpha_t^2 R^2 / sigma_t^4) I

    returned as ``(-1/sigma_t^2 + alpha_t^2 R^2/sigma_t^4) - lambda_max(Hess log p_t(x))``
    (``>= 0``; from Tweedie with ``Cov[X_0 | X_t] <= R^2 I``).  ``radius`` is ``R``
    (units of length; the ball may have any centre).  Other arguments and the
    returned shape as in :func:`li_yau_margin`."""
    process, x, t = _prepare(dist, process, x, t)
    level = _upper_level(process, t, radius)
    hess = _exact_hessian(dist, process, x, t)
    return level - np.linalg.eigvalsh(hess)[..., -1]


# ------------------------------------------------------------ 3.1 grid snapshots
def grid_log_hessian(
    p: np.ndarray, grid: Grid, floor: float = 1e-8, accuracy: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Hessian of ``log p`` on the cell centres of ``grid`` by findiff stencils of
    order ``accuracy``, from cell averages ``p``.

    Cell averages differ from point values by ``O(h^2)`` smoothly, so the result is
    second-order accurate whatever ``accuracy`` (use ``accuracy=2``).  Tiny densities:
    ``log p`` is only trusted where ``p >= floor * max p``; a cell is valid (``mask``)
    when every cell its stencils touch (one-sided ones at walls included) passes that
    test.  Values outside the mask are computed from ``log max(p, floor max p)`` and
    must not be used.

    Returns ``(hess, mask)``: shapes ``(*grid.shape, n, n)`` (1/length^2) and
    ``grid.shape`` (bool).
    """
    grid = _check_grid(grid)
    p = grid.check_density(p)
    accuracy = _check_accuracy(accuracy)
    if not (isinstance(floor, (int, float)) and 0 < floor < 1):
        raise ValueError(f"floor: expected a relative floor in (0, 1), got {floor!r}")
    threshold = floor * p.max()
    phi = np.log(np.maximum(p, threshold))
    n = grid.ndim
    hess = np.empty((*grid.shape, n, n))
    for (i, j), op in zip(_pairs(n), _hessian_operators(grid, accuracy), strict=True):
        hess[..., i, j] = hess[..., j, i] = op(phi)
    bad = p < threshold
    if not bad.any():
        return hess, np.ones(grid.shape, dtype=bool)
    # |stencils| applied to the bad-cell indicator: positive iff a bad cell is used.
    touched = _stencil_reach(grid, accuracy) @ bad.ravel().astype(float)
    return hess, (touched == 0).reshape(grid.shape)


def _pairs(n: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(n) for j in range(i, n)]


@functools.lru_cache(maxsize=16)
def _hessian_operators(grid: Grid, accuracy: int) -> tuple:
    ops = []
    for i, j in _pairs(grid.ndim):
        if i == j:
            ops.append(_diff(grid, i, accuracy) ** 2)
        else:
            ops.append(_diff(grid, i, accuracy) * _diff(grid, j, accuracy))
    return tuple(ops)


@functools.lru_cache(maxsize=16)
def _stencil_reach(grid: Grid, accuracy: int) -> sparse.csr_matrix:
    """Sum of |coefficients| of the Hessian stencils (cached per grid: building the
    sparse matrices dominates the cost of a call)."""
    total = None
    for op in _hessian_operators(grid, accuracy):
        term = abs(sparse.csr_matrix(op.matrix(grid.shape)))
        total = term if total is None else total + term
    return total.tocsr()


def _snapshot_hessian(p, grid, process, t, floor, accuracy):
    """Checked ``(process, t)`` and ``grid_log_hessian(p)``: ``(process, t, hess, mask)``."""
    process = _validate.process(process)
    t = _validate.forward_time(t, "t", positive_only=True)
    return (process, t, *grid_log_hessian(p, grid, floor, accuracy))


def li_yau_margin_grid(
    p: np.ndarray,
    grid: Grid,
    process: ForwardProcess,
    t: float,
    floor: float = 1e-8,
    accuracy: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Li–Yau margin ``Lap log p + n / sigma_t^2`` (docs/theory, Li-Yau) of a density snapshot
    ``p`` (cell averages, shape ``grid.shape``) at forward time ``t``.

    On a grid the bound holds up to the discretisation error of the snapshot and of
    the stencils (second order, see :func:`grid_log_hessian`).  Returns ``(margin,
    mask)``, shapes ``grid.shape``; only ``margin[mask]`` is meaningful."""
    process, t, hess, mask = _snapshot_hessian(p, grid, process, t, floor, accuracy)
    margin = np.trace(hess, axis1=-2, axis2=-1) + grid.ndim / _sigma2_positive(process, t)
    return margin, mask


def hamilton_margin_grid(
    p: np.ndarray,
    grid: Grid,
    process: ForwardProcess,
    t: float,
    floor: float = 1e-8,
    accuracy: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Hamilton margin ``lambda_min(Hess log p) + 1/sigma_t^2`` of a grid snapshot;
    arguments and returns as in :func:`li_yau_margin_grid`."""
    process, t, hess, mask = _snapshot_hessian(p, grid, process, t, floor, accuracy)
    margin = np.linalg.eigvalsh(hess)[..., 0] + 1.0 / _sigma2_positive(process, t)
    return margin, mask


def li_yau_upper_bound_margin_grid(
    p: np.ndarray,
    grid: Grid,
    process: ForwardProcess,
    t: float,
    radius: float,
    floor: float = 1e-8,
    accuracy: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Upper-bound margin ``(-1/sigma_t^2 + alpha_t^2 R^2/sigma_t^4) - lambda_max(Hess
    log p)`` of a grid snapshot (see :func:`li_yau_upper_bound_margin`); returns
    ``(margin, mask)`` as :func:`li_yau_margin_grid`."""
    process, t, hess, mask = _snapshot_hessian(p, grid, process, t, floor, accuracy)
    level = _upper_level(process, t, radius)
    return level - np.linalg.eigvalsh(hess)[..., -1], mask


# -------------------------------------------------------------- 3.2 L^p stability
def lp_stability_bound(
    p: float,
    eps: float,
    n: int,
    process: ForwardProcess,
    t: float | np.ndarray,
    T: float | None = None,
    norm_T: float = 1.0,
) -> float | np.ndarray:
    """L^p stability bound of the reverse family (docs/theory, L^p stability):

        ||q_t||_p <= ||q_T||_p (sigma_T/sigma_t)^{(1+eps) n (1-1/p)}
                               (alpha_t/alpha_T)^{eps n (1-1/p)}

    for the exact score, or any score with ``div s >= -n/sigma_t^2``; sharp for
    ``eps = 0`` and a point mass.  It applies equally to ``q1 - q2``.

    Parameters
    ----------
    p : float in [1, inf] (``inf`` allowed: exponent factor ``1 - 1/p = 1``)
    eps : float >= 0 (0: probability-flow ODE, 1: reverse SDE)
    n : int, dimension
    process : ForwardProcess
    t : float or array, forward times in (0, T]
    T : float, start of the reverse solve (default ``process.T``)
    norm_T : float >= 0, ``||q_T||_p`` (default 1: the bound is then a growth factor)

    Returns
    -------
    The right-hand side, float or array shaped like ``t`` (units of ``norm_T``).
    """
    p = _validate.real_in(p, "p", 1.0, math.inf)
    n = _validate.positive_int(n, "n")
    process = _validate.process(process)
    eps = float(eps)
    if not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps: expected a finite number >= 0, got {eps!r}")
    T = process.T if T is None else _validate.forward_time(T, "T", positive_only=True)
    norm_T = float(norm_T)
    if not (math.isfinite(norm_T) and norm_T >= 0):
        raise ValueError(f"norm_T: expected a finite number >= 0, got {norm_T!r}")
    tt = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(tt)) or np.any(tt <= 0) or np.any(tt > T * (1 + 1e-12)):
        raise ValueError(f"t: expected forward times in (0, T={T!r}], got {t!r}")
    k = n * (1.0 - 1.0 / p)
    log_factor = (1.0 + eps) * k * 0.5 * (
        math.log(float(process.sigma2(T))) - np.log(process.sigma2(tt))
    ) + eps * k * (np.asarray(process.log_alpha(tt)) - float(process.log_alpha(T)))
    out = norm_T * np.exp(log_factor)
    return float(out) if np.ndim(out) == 0 else out


def gaussian_lp_norm(variance: float | np.ndarray, n: int, p: float) -> float | np.ndarray:
    """``||N(m, v I_n)||_p = (2 pi v)^{-(n/2)(1 - 1/p)} p^{-n/(2p)}`` (``p = inf``: the
    peak ``(2 pi v)^{-n/2}``).  ``variance`` ``v > 0`` (length^2); the mean is
    irrelevant.  Returns the norm (units length^{-n(1-1/p)})."""
    p = _validate.real_in(p, "p", 1.0, math.inf)
    n = _validate.positive_int(n, "n")
    v = np.asarray(variance, dtype=float)
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise ValueError(f"variance: expected positive finite values, got {variance!r}")
    exponent = 1.0 - 1.0 / p
    tail = 0.0 if math.isinf(p) else -n / (2.0 * p) * math.log(p)
    out = np.exp(-0.5 * n * exponent * np.log(2.0 * math.pi * v) + tail)
    return float(out) if np.ndim(out) == 0 else out


# ------------------------------------------------------ 3.3/3.4 entropy, concentration
def gaussian_kl(
    mean_q: np.ndarray, var_q: float, mean_p: np.ndarray, var_p: float
) -> float:
    """``KL(N(m_q, v_q I) || N(m_p, v_p I)) = (n/2)(v_q/v_p - 1 - ln(v_q/v_p))
    + |m_q - m_p|^2 / (2 v_p)`` in nats; means shape ``(n,)``, variances > 0."""
    mq = np.atleast_1d(np.asarray(mean_q, dtype=float))
    mp = np.atleast_1d(np.asarray(mean_p, dtype=float))
    if mq.shape != mp.shape or mq.ndim != 1:
        raise ValueError(f"mean_q, mean_p: expected equal shapes (n,), got {mq.shape}, {mp.shape}")
    if not (var_q > 0 and var_p > 0):
        raise ValueError(f"var_q, var_p: expected positive variances, got {var_q!r}, {var_p!r}")
    r = var_q / var_p
    return float(0.5 * mq.size * (r - 1.0 - math.log(r)) + np.sum((mq - mp) ** 2) / (2 * var_p))


def concentration_bound(
    kl0: float, n: int, process: ForwardProcess, t: float | np.ndarray
) -> float | np.ndarray:
    """Concentration bound (docs/theory, Concentration):

        E_{q_t}[d_K^2] <= 4 sigma_t^2 (KL0 + (n/2) ln 2)

    with ``K = supp p_0`` compact, ``KL0 = KL(q_T || p_T)`` and ``q`` a reverse solve
    with the exact score.  Derivation: Donsker–Varadhan with ``f = d^2/(4 sigma_t^2)``,
    ``E_q f <= KL(q_t||p_t) + ln E_{p_t} e^f``; under ``p_t``, ``d(X_t, alpha_t K) <=
    sigma_t |Z|`` so ``E e^f <= E e^{|Z|^2/4} = 2^{n/2}``; and ``KL(q_t||p_t) <= KL0``
    (docs/theory, Entropy).  For heat flow (``alpha_t = 1``) ``d_K`` is the distance to ``K``;
    for other processes read it as the distance to ``alpha_t K``.

    Parameters: ``kl0 >= 0`` (nats), ``n`` dimension, ``process``, ``t`` forward
    time(s) ``>= 0``.  Returns the bound on ``E d_K^2`` (length^2), shaped like ``t``.
    """
    process = _validate.process(process)
    n = _validate.positive_int(n, "n")
    kl0 = float(kl0)
    if not (math.isfinite(kl0) and kl0 >= 0):
        raise ValueError(f"kl0: expected a finite KL >= 0, got {kl0!r}")
    sigma2 = process.sigma2(t)
    out = 4.0 * np.asarray(sigma2) * (kl0 + 0.5 * n * math.log(2.0))
    return float(out) if np.ndim(out) == 0 else out


# ------------------------------------------------------------------ 3.5 ODE–SDE gap
def w2_gap_bound(t: np.ndarray, gap_norm: np.ndarray, lipschitz: np.ndarray) -> float:
    """ODE–SDE gap bound (docs/theory, ODE-SDE gap):

        W2(q_ODE(t0), q_SDE(t0)) <= int_{t0}^{T} ||v - w||_{L^2(q_SDE(t))}
                                     exp(int_{t0}^{t} L(r) dr) dt

    with ``v`` the ODE velocity, ``w = b_1 - (g^2/2) grad log q_SDE`` the SDE transport
    velocity and ``L`` the one-sided Lipschitz constant of ``v``.  Both integrals are
    trapezoid rules on the given nodes (inner one cumulative), so the result is
    second-order in the node spacing.

    Parameters
    ----------
    t : array (m,), m >= 2, distinct forward times covering [t0, T] (any order)
    gap_norm : array (m,), ``||v - w||_{L^2(q_SDE(t))}`` >= 0 (length/time)
    lipschitz : array (m,), ``L(t)`` (1/time; may be negative)

    Returns
    -------
    float, the bound on ``W2`` (length).
    """
    t = np.asarray(t, dtype=float)
    gap = np.asarray(gap_norm, dtype=float)
    lip = np.asarray(lipschitz, dtype=float)
    if t.ndim != 1 or t.size < 2:
        raise ValueError(f"t: expected a 1-D array of >= 2 times, got shape {t.shape}")
    for name, array in (("gap_norm", gap), ("lipschitz", lip)):
        if array.shape != t.shape:
            raise ValueError(f"{name}: expected shape {t.shape} (like t), got {array.shape}")
    for name, array in (("t", t), ("gap_norm", gap), ("lipschitz", lip)):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name}: contains NaN or inf")
    if np.any(gap < 0):
        raise ValueError("gap_norm: norms must be >= 0")
    order = np.argsort(t)
    t, gap, lip = t[order], gap[order], lip[order]
    dt = np.diff(t)
    if np.any(dt <= 0):
        raise ValueError("t: times must be distinct")
    exponent = np.concatenate([[0.0], np.cumsum(0.5 * dt * (lip[1:] + lip[:-1]))])
    integrand = gap * np.exp(exponent)
    return float(np.sum(0.5 * dt * (integrand[1:] + integrand[:-1])))

"""Numba kernel for Gaussian mixtures (any dimension, any number of components).

For components ``k`` with log-coefficient ``c_k = log w_k - (n/2) log(2 pi) - (1/2) log
det S_k``, centre ``m_k`` and precision ``P_k = S_k^{-1}``:

    log p(x) = logsumexp_k [c_k - (1/2) (x - m_k)^T P_k (x - m_k)]
    y_k = P_k (x - m_k),  r_k = responsibilities (softmax of the above)
    score     s = -sum_k r_k y_k
    Hessian   H = sum_k r_k (y_k y_k^T - P_k) - s s^T = sum_k r_k ((y_k + s)(y_k + s)^T - P_k)
    divergence  = sum_k r_k (|y_k + s|^2 - tr P_k)

(the centred forms, using sum_k r_k y_k = -s, avoid the cancellation of |y|^2 ~ 1/v^2
terms as t -> 0).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange


@numba.njit(cache=True, inline="always")
def component_exponent(x, means, prec, logc, isotropic, k, y):  # pragma: no cover - compiled
    """``logc_k - q_k / 2`` of component ``k`` at one point ``x`` (n,), filling ``y[k] =
    P_k (x - m_k)`` (``y`` (K, n)), ``q_k = (x - m_k)^T y[k]`` summed over ``d`` in
    order.  With ``isotropic`` the precision is ``prec[k, 0, 0] I``."""
    n = means.shape[1]
    q = 0.0
    if isotropic:
        pk = prec[k, 0, 0]
        for d in range(n):
            diff = x[d] - means[k, d]
            y[k, d] = pk * diff
            q += diff * y[k, d]
    else:
        for d in range(n):
            acc = 0.0
            for e in range(n):
                acc += prec[k, d, e] * (x[e] - means[k, e])
            y[k, d] = acc
            q += (x[d] - means[k, d]) * acc
    return logc[k] - 0.5 * q


@numba.njit(cache=True, inline="always")
def mixture_normalise(lw, top):  # pragma: no cover - compiled
    """Replace the exponents ``lw`` (K,) by ``exp(lw[k] - top)`` and return their sum
    (in order ``k``).  The top component's term is ``exp(0) = 1`` exactly and is not
    evaluated: one exponential fewer per point (half of them for two components)."""
    total = 0.0
    for k in range(lw.shape[0]):
        e = lw[k] - top
        w = 1.0 if e == 0.0 else math.exp(e)
        lw[k] = w
        total += w
    return total


@numba.njit(cache=True, error_model="numpy")
def mixture_weights(x, means, prec, logc, isotropic, y, lw):  # pragma: no cover - compiled
    """The unnormalised responsibilities of a Gaussian mixture at one point ``x`` (n,):
    ``y[k] = P_k (x - m_k)``, ``q_k = (x - m_k)^T y[k]``, ``lw[k] = exp(logc_k - q_k/2 -
    top)`` with ``top = max_k (logc_k - q_k/2)``; returns ``(top, sum_k lw[k])``, so
    ``log p = top + log(total)`` and the score is ``-sum_k (lw[k] / total) y[k]``.  With
    ``isotropic`` the precision is ``prec[k, 0, 0] I``.  The one evaluation of these
    terms: the grid solver's face kernel uses :func:`component_exponent` and
    :func:`mixture_normalise` too (and the same operations, in the same order, where
    it hoists the terms constant along a row of faces), for the same bits."""
    top = -np.inf
    for k in range(means.shape[0]):
        lw[k] = component_exponent(x, means, prec, logc, isotropic, k, y)
        if lw[k] > top:
            top = lw[k]
    return top, mixture_normalise(lw, top)


@numba.njit(parallel=True, cache=True, fastmath=False)
def mixture_kernel(
    x: np.ndarray,
    means: np.ndarray,
    prec: np.ndarray,
    trace: np.ndarray,
    logc: np.ndarray,
    isotropic: bool,
    mode: int,
    logp: np.ndarray,
    score: np.ndarray,
    div: np.ndarray,
    hess: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Fill ``logp`` (N,), and per ``mode`` bits ``score`` (N, n) (1), ``div`` (N,) (2),
    ``hess`` (N, n, n) (4).  With ``isotropic`` the precision is ``prec[k, 0, 0] I``.
    Points are split into a fixed number of chunks (independent of the thread count,
    each with its own work arrays allocated once)."""
    N, n = x.shape
    K = means.shape[0]
    nchunks = min(N, 256)
    size = (N + nchunks - 1) // nchunks
    for c in prange(nchunks):
        lw = np.empty(K)
        y = np.empty((K, n))
        s = np.empty(n)
        start = c * size
        stop = min(N, start + size)
        for i in range(start, stop):
            top, total = mixture_weights(x[i], means, prec, logc, isotropic, y, lw)
            logp[i] = top + math.log(total)
            if mode == 0:
                continue
            for k in range(K):
                lw[k] /= total
            for d in range(n):
                acc = 0.0
                for k in range(K):
                    acc -= lw[k] * y[k, d]
                s[d] = acc
            if mode & 1:
                for d in range(n):
                    score[i, d] = s[d]
            if mode & 2:
                acc = 0.0
                for k in range(K):
                    yy = 0.0
                    for d in range(n):
                        yy += (y[k, d] + s[d]) * (y[k, d] + s[d])
                    acc += lw[k] * (yy - trace[k])
                div[i] = acc
            if mode & 4:
                for d in range(n):
                    for e in range(d, n):
                        acc = 0.0
                        for k in range(K):
                            pde = 0.0
                            if isotropic:
                                if d == e:
                                    pde = prec[k, 0, 0]
                            else:
                                pde = prec[k, d, e]
                            acc += lw[k] * ((y[k, d] + s[d]) * (y[k, e] + s[e]) - pde)
                        hess[i, d, e] = acc
                        hess[i, e, d] = acc


# ----------------------------------------------------------------------------- radial
@numba.njit(cache=True, inline="always")
def _clenshaw2(cheb: np.ndarray, piece: int, x: float) -> tuple[float, float]:
    """Chebyshev series ``sum_k cheb[f, piece, k] T_k(x)`` for f = 0 and 1 together
    (interleaved recurrences)."""
    b1 = 0.0
    b2 = 0.0
    c1 = 0.0
    c2 = 0.0
    for k in range(cheb.shape[2] - 1, 0, -1):
        b1, b2 = 2.0 * x * b1 - b2 + cheb[0, piece, k], b1
        c1, c2 = 2.0 * x * c1 - c2 + cheb[1, piece, k], c1
    return x * b1 - b2 + cheb[0, piece, 0], x * c1 - c2 + cheb[1, piece, 0]


@numba.njit(cache=True, inline="always")
def _horner(coef: np.ndarray, w: float) -> float:  # pragma: no cover - compiled
    out = coef[coef.shape[0] - 1]
    for k in range(coef.shape[0] - 2, -1, -1):
        out = out * w + coef[k]
    return out


@numba.njit(cache=True, inline="always")
def _radial_functions(
    z: float,
    n: int,
    cheb: np.ndarray,
    series_b: np.ndarray,
    asym: np.ndarray,
    z_series: float,
    z_large: float,
) -> tuple[float, float, float, float]:  # pragma: no cover - compiled
    """``(log E_n(z), B(z), V(z), D(z) = 1 - A(z))`` (see
    :mod:`pdediff.distributions.radial`).

    2-D: ``i0e`` and ``i1e / z`` from the piecewise Chebyshev fits ``cheb`` (see
    ``pdediff.distributions.radial._bessel_chebyshev``); 3-D: elementary.
    ``series_b``: coefficients of B in ``w = z^2/4`` (used below ``z_series``);
    ``asym``: large-z series of ``V z^2`` and ``D z`` in 1/z (2-D, above ``z_large``;
    3-D uses ``V = 1/z^2`` there and ``D = 1/z - 2/expm1(2z)`` above ``z_series``)."""
    if n == 2:
        if z < 8.0:
            k = min(int(0.5 * z), 3)
            e0, i1z = _clenshaw2(cheb, k, z - 2.0 * k - 1.0)
        else:
            u = 16.0 / z - 1.0
            if u < 0.0:
                f0, f1 = _clenshaw2(cheb, 4, 2.0 * u + 1.0)
            else:
                f0, f1 = _clenshaw2(cheb, 5, 2.0 * u - 1.0)
            s = math.sqrt(z)
            e0 = f0 / s
            i1z = f1 / (s * z)
        log_e = math.log(e0)
        b = i1z / e0
    else:
        if z < 1e-8:
            log_e = -z
        else:
            log_e = math.log(-math.expm1(-2.0 * z)) - math.log(2.0 * z)
        b = 0.0
        if z >= z_series:
            b = (1.0 / math.tanh(z) - 1.0 / z) / z
    if z < z_series:
        b = _horner(series_b, 0.25 * z * z)
    a = z * b
    v = 1.0 - a * a - (n - 1) * b
    d = 1.0 - a
    if n == 3 and z >= z_series:
        d = 1.0 / z - 2.0 / math.expm1(min(2.0 * z, 700.0))
    if z >= z_large:
        u = 1.0 / z
        if n == 2:
            v = u * u * _horner(asym[0], u)
            d = u * _horner(asym[1], u)
        else:
            v = u * u
    return log_e, b, v, d


@numba.njit(parallel=True, cache=True)
def radial_kernel(
    xi: np.ndarray,
    r0: np.ndarray,
    delta: np.ndarray,
    log_w: np.ndarray,
    v: float,
    mode: int,
    cheb: np.ndarray,
    series_b: np.ndarray,
    asym: np.ndarray,
    z_series: float,
    z_large: float,
    logp: np.ndarray,
    score: np.ndarray,
    div: np.ndarray,
    hess: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Radial mixture ``p(x) = sum_j w_j K_n(|xi|, r0_j + delta_j)`` with rows of
    ``r0``, ``delta``, ``log_w`` (N, Q) per point: same formulas, exponent splitting and
    offset form of the posterior moments as
    :func:`pdediff.distributions.radial.radial_evaluate`."""
    N, n = xi.shape
    Q = r0.shape[1]
    nchunks = min(N, 256)
    size = (N + nchunks - 1) // nchunks
    const = -0.5 * n * math.log(2.0 * math.pi * v)
    for c in prange(nchunks):
        terms = np.empty(Q)
        bq = np.empty(Q)
        vq = np.empty(Q)
        nuq = np.empty(Q)
        rq = np.empty(Q)
        start = c * size
        stop = min(N, start + size)
        for i in range(start, stop):
            rho2 = 0.0
            for d in range(n):
                rho2 += xi[i, d] * xi[i, d]
            rho = math.sqrt(rho2)
            ref = r0[i, 0]
            gap0 = rho - ref
            top = -np.inf
            for j in range(Q):
                rj = r0[i, j] + delta[i, j]
                rq[j] = rj
                shift = (r0[i, j] - ref) * (r0[i, j] + ref - 2.0 * rho) - delta[i, j] * (
                    2.0 * (rho - r0[i, j]) - delta[i, j]
                )
                log_e, bj, vj, dj = _radial_functions(
                    rho * rj / v, n, cheb, series_b, asym, z_series, z_large
                )
                terms[j] = log_w[i, j] - shift / (2.0 * v) + log_e
                bq[j] = bj
                vq[j] = vj
                nuq[j] = (r0[i, j] - ref) + delta[i, j] - rj * dj
                if terms[j] > top:
                    top = terms[j]
            total = 0.0
            for j in range(Q):
                terms[j] = math.exp(terms[j] - top)
                total += terms[j]
            logp[i] = const - gap0 * gap0 / (2.0 * v) + top + math.log(total)
            if mode == 0:
                continue
            v_t = 0.0
            mean_nu = 0.0
            for j in range(Q):
                terms[j] /= total
                v_t += terms[j] * rq[j] * rq[j] * bq[j]
                mean_nu += terms[j] * nuq[j]
            if rho * ref / v >= 1.0 and rho > 0.0:
                lam_t = ((ref - rho) + mean_nu) / (rho * v)
            else:
                lam_t = (v_t / v - 1.0) / v
            if mode & 1:
                for d in range(n):
                    score[i, d] = lam_t * xi[i, d]
            if mode & 6:
                v_r = 0.0
                for j in range(Q):
                    dev = nuq[j] - mean_nu
                    v_r += terms[j] * (rq[j] * rq[j] * vq[j] + dev * dev)
                lam_r = (v_r / v - 1.0) / v
                if mode & 2:
                    div[i] = (n - 1) * lam_t + lam_r
                if mode & 4:
                    extra = (lam_r - lam_t) / rho2 if rho2 > 0.0 else 0.0
                    for d in range(n):
                        for e in range(n):
                            h = extra * xi[i, d] * xi[i, e]
                            if d == e:
                                h += lam_t
                            hess[i, d, e] = h

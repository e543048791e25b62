"""Numba kernels of the particle samplers (pure numba: nothing from pdediff).

Every kernel is elementwise per particle (a particle's result depends only on its
own inputs), so its results do not depend on the number of threads; the only
reduction is an integer count, which is exact in any order.

Generic path (any score callable, evaluated by the caller on the full array):

* :func:`velocity` ``k = a x + b s`` for one Runge–Kutta stage;
* :func:`combine` ``x' = x + h sum_q w_q k_q + c z`` (stage points and updates);
* :func:`row_norms` Euclidean norms per particle (Langevin corrector).

Fused path (:func:`mixture_step`, ``ndim <= 3``): one pass per particle evaluates
the score of an isotropic or full-covariance Gaussian mixture at every stage point,
the stage velocities, the update and (optionally) the log-density increment, with
no score or stage array in memory.  For components ``k`` with centre ``m_k``,
precision ``P_k`` and log-coefficient
``c_k = log w_k - (n/2) log 2 pi - (1/2) log det P_k^{-1}`` (the parameters of
``p_t`` at the stage time):

    y_k = P_k (x - m_k),  r = softmax_k(c_k - (1/2) (x - m_k)^T y_k)
    s = -sum_k r_k y_k,   div s = sum_k r_k (|y_k + s|^2 - tr P_k)

in the same operation order as the mixture kernel of ``pdediff.distributions``, so
the fused and generic paths give the same bits.

Range check: a position leaves the *finite range* when it is NaN or
``|x_j| > RANGE_LIMIT = sqrt(max float64)``, beyond which ``x_j^2`` (and so every
quadratic form a score evaluates) overflows.  :func:`combine` and
:func:`mixture_step` count such particles; a non-finite fused velocity counts too,
through the update it makes non-finite (the closed-form score is finite wherever
``|x - m|^2 P`` is representable).
"""

from __future__ import annotations

import math

import numba
import numpy as np

#: sqrt of the largest float64: past it |x|^2 overflows.
RANGE_LIMIT = math.sqrt(np.finfo(np.float64).max)

# Particles per work chunk of the fused kernel: a fixed count (not the thread count),
# each chunk with its own small work arrays allocated once per call.
_CHUNKS = 256

# math.exp(e) is exactly 0.0 for every e below this (the smallest subnormal is
# exp(-744.44)).
_EXP_UNDERFLOW = -746.0

# Up to this many components the fused kernel walks the softmax terms by index
# (branch-free); past it, by a test per term (measured: 4 and 64 components).
_WALK_MAX = 8


@numba.njit(parallel=True, cache=True)
def velocity(x, s, ax, bs, out):  # pragma: no cover - compiled
    """``out = ax * x + bs * s``; returns the number of non-finite entries of ``s``."""
    n, d = x.shape
    bad = 0
    for i in numba.prange(n):
        for j in range(d):
            value = s[i, j]
            if not np.isfinite(value):
                bad += 1
            out[i, j] = ax * x[i, j] + bs * value
    return bad


@numba.njit(parallel=True, cache=True)
def combine(x, k, w, h, z, zc, out):  # pragma: no cover - compiled
    """``out = x + h sum_q w[q] k[q] + zc z`` (``out`` may alias ``x``); returns the
    number of particles whose new position left the finite range."""
    n, d = x.shape
    m = w.shape[0]
    bad = 0
    for i in numba.prange(n):
        outside = 0
        for j in range(d):
            acc = 0.0
            for q in range(m):
                # Skipping zero weights keeps stages not yet computed (and their
                # possibly stale values) out of the sum.
                if w[q] != 0.0:
                    acc += w[q] * k[q, i, j]
            value = x[i, j] + h * acc
            if zc != 0.0:
                value += zc * z[i, j]
            out[i, j] = value
            if not abs(value) <= RANGE_LIMIT:
                outside = 1
        bad += outside
    return bad


@numba.njit(parallel=True, cache=True)
def row_norms(a, out):  # pragma: no cover - compiled
    """``out[i] = |a[i, :]|_2``."""
    n, d = a.shape
    for i in numba.prange(n):
        acc = 0.0
        for j in range(d):
            acc += a[i, j] * a[i, j]
        out[i] = math.sqrt(acc)


@numba.njit(cache=True, inline="always")
def _stage_score(
    x0, x1, x2, n, means, prec, logc, trace, isotropic, j, y, lw, ex, track
):  # pragma: no cover - compiled
    """Score ``s`` (3 entries, zero past ``n``) and, with ``track``, ``div s`` of the
    stage-``j`` mixture at ``(x0, x1, x2)``, in the operation order of the mixture
    kernel of ``pdediff.distributions`` (same bits).  ``y`` (K, 3), ``lw`` and
    ``ex`` (K,) are the caller's work arrays; only array elements are indexed (no
    slices, so no array views and no reference counting in the particle loop).

    Per particle this is a chain of dependent operations (quadratic forms, maximum,
    exps, sum, divisions, score); it runs at the speed of that chain, so the code
    avoids what lengthens it: a mispredicted branch per particle, loads that wait
    on a store whose address is not yet known, recomputing ``P_k (x - m_k)``."""
    K = means.shape[1]
    top = -np.inf
    kt = 0
    for k in range(K):
        d0 = x0 - means[j, k, 0]
        d1 = x1 - means[j, k, 1] if n > 1 else 0.0
        d2 = x2 - means[j, k, 2] if n > 2 else 0.0
        if isotropic:
            pk = prec[j, k, 0, 0]
            y0, y1, y2 = pk * d0, pk * d1, pk * d2
        else:
            y0 = prec[j, k, 0, 0] * d0
            y1 = 0.0
            y2 = 0.0
            if n > 1:
                y0 += prec[j, k, 0, 1] * d1
                y1 = prec[j, k, 1, 0] * d0 + prec[j, k, 1, 1] * d1
            if n > 2:
                y0 += prec[j, k, 0, 2] * d2
                y1 += prec[j, k, 1, 2] * d2
                y2 = prec[j, k, 2, 0] * d0 + prec[j, k, 2, 1] * d1 + prec[j, k, 2, 2] * d2
        q = d0 * y0
        if n > 1:
            q += d1 * y1
        if n > 2:
            q += d2 * y2
        y[k, 0] = y0
        y[k, 1] = y1
        if n > 2:
            y[k, 2] = y2
        v = logc[j, k] - 0.5 * q
        lw[k] = v
        if v > top:
            top = v
            kt = k
    if K <= _WALK_MAX and -np.inf < top < np.inf:
        # lw[kt] - top is exactly 0 and exp(0) = 1: the largest term needs no exp.
        # The other K - 1 terms go by index into ex[0 .. K-2] and ex[K-1] holds
        # the 1: no data-dependent branch to mispredict, and no store whose
        # address waits on kt (later loads would wait on it).  exp(e) = 0 exactly
        # below -746.
        for k2 in range(K - 1):
            e = lw[k2 + (k2 >= kt)] - top
            ex[k2] = 0.0 if e < _EXP_UNDERFLOW else math.exp(e)
        ex[K - 1] = 1.0
        total = 0.0
        for k in range(K):
            w = ex[K - 1 if k == kt else k - (k > kt)]
            lw[k] = w
            total += w
    else:
        # Many components: one mispredicted test per particle (e == 0 at the
        # largest term) costs less than the index arithmetic on every term.  A
        # non-finite top (every term -inf, or a +inf term) makes every e NaN and
        # every weight NaN, as in the distribution kernel.
        total = 0.0
        for k in range(K):
            e = lw[k] - top
            if e == 0.0:
                w = 1.0
            elif e < _EXP_UNDERFLOW:
                w = 0.0
            else:
                w = math.exp(e)
            lw[k] = w
            total += w
    # For n = 1, y[k, 1] = 0, so the 2-entry sums below add exact zeros: the same
    # bits as sums over n entries.  The third entry only exists for n = 3.
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    for k in range(K):
        r = lw[k] / total
        lw[k] = r
        s0 -= r * y[k, 0]
        s1 -= r * y[k, 1]
        if n > 2:
            s2 -= r * y[k, 2]
    div = 0.0
    if track:
        for k in range(K):
            u0 = y[k, 0] + s0
            u1 = y[k, 1] + s1
            yy = u0 * u0 + u1 * u1
            if n > 2:
                u2 = y[k, 2] + s2
                yy += u2 * u2
            div += lw[k] * (yy - trace[j, k])
    return s0, s1, s2, div


@numba.njit(cache=True, inline="always")
def _mixture_step(
    x, h, a_matrix, b_weights, ax, bs, means, prec, logc, trace, isotropic,
    z, zc, dna, hg2, log_q, out, m, track,
):  # pragma: no cover - compiled
    """One explicit Runge–Kutta (or Euler–Maruyama) step of ``dX = (a X + b s) dt``
    with the Gaussian-mixture score fused in, for ``ndim <= 3``.

    Stage ``j`` (tableau ``a_matrix``, ``b_weights``; ``m`` stages) has the point
    ``x_j = x + h sum_q A[j, q] k_q``, the mixture parameters ``means[j]`` (K, n),
    ``prec[j]`` (K, n, n) or (K, 1, 1) if ``isotropic``, ``logc[j]``, ``trace[j]``
    (K,), and the velocity ``k_j = ax[j] x_j + bs[j] s_j(x_j)``.  The update is
    ``out = x + h sum_q b_q k_q + zc z``.  With ``track`` the log-density follows
    ``log_q -= h sum_q b_q (dna[q] - hg2[q] div s_q)`` (``dna = n a``, ``hg2 =
    g^2 / 2``).  ``out`` may alias ``x``.  Returns the number of particles that left
    the finite range at a stage point or after the update (a non-finite velocity
    makes the update non-finite).

    A particle's coordinates live in registers; ``P_k (x - m_k)`` is computed once
    per stage into a (K, 3) work array (:func:`_stage_score`)."""
    N, n = x.shape
    K = means.shape[1]
    nchunks = min(N, _CHUNKS)
    size = (N + nchunks - 1) // nchunks
    bad = 0
    for c in numba.prange(nchunks):
        lw = np.empty(K)
        ex = np.empty(K)
        y = np.empty((K, 3))
        kst = np.zeros((m, 3))
        start = c * size
        stop = min(N, start + size)
        for i in range(start, stop):
            outside = 0
            p0 = x[i, 0]
            p1 = x[i, 1] if n > 1 else 0.0
            p2 = x[i, 2] if n > 2 else 0.0
            # sum_q b_q k_q and sum_q b_q (n a_q - g_q^2/2 div s_q), accumulated as the
            # stages come, in the generic path's order.
            f0 = 0.0
            f1 = 0.0
            f2 = 0.0
            flog = 0.0
            for j in range(m):
                x0, x1, x2 = p0, p1, p2
                if j > 0:
                    a0 = 0.0
                    a1 = 0.0
                    a2 = 0.0
                    for q in range(j):
                        w = a_matrix[j, q]
                        if w != 0.0:
                            a0 += w * kst[q, 0]
                            a1 += w * kst[q, 1]
                            a2 += w * kst[q, 2]
                    x0, x1, x2 = p0 + h * a0, p1 + h * a1, p2 + h * a2
                    if not (abs(x0) <= RANGE_LIMIT and abs(x1) <= RANGE_LIMIT
                            and abs(x2) <= RANGE_LIMIT):
                        outside = 1
                s0, s1, s2, div = _stage_score(x0, x1, x2, n, means, prec, logc, trace,
                                               isotropic, j, y, lw, ex, track)
                if track:
                    flog += b_weights[j] * (dna[j] - hg2[j] * div)
                k0 = ax[j] * x0 + bs[j] * s0
                k1 = ax[j] * x1 + bs[j] * s1
                k2 = ax[j] * x2 + bs[j] * s2
                if j + 1 < m:
                    kst[j, 0] = k0
                    kst[j, 1] = k1
                    kst[j, 2] = k2
                w = b_weights[j]
                if w != 0.0:
                    f0 += w * k0
                    f1 += w * k1
                    f2 += w * k2
            v0 = p0 + h * f0
            v1 = p1 + h * f1
            v2 = p2 + h * f2
            if zc != 0.0:
                v0 += zc * z[i, 0]
                if n > 1:
                    v1 += zc * z[i, 1]
                if n > 2:
                    v2 += zc * z[i, 2]
            out[i, 0] = v0
            if n > 1:
                out[i, 1] = v1
            if n > 2:
                out[i, 2] = v2
            if not (abs(v0) <= RANGE_LIMIT and abs(v1) <= RANGE_LIMIT and abs(v2) <= RANGE_LIMIT):
                outside = 1
            if track:
                log_q[i] -= h * flog
            bad += outside
    return bad



# Two entry points of the one fused step: Euler–Maruyama with the stage count and
# ``track`` as compile-time constants (the stage loop and the log-density code drop
# out: 5-10% of its time), and every other scheme with both as run-time values
# (branches that go the same way for every particle).  Two compilations instead of
# one per (scheme, track).  ``error_model="numpy"``: the divisions carry no
# zero-divisor test (the normalising sum is >= 1 wherever it is finite).
@numba.njit(parallel=True, cache=True, error_model="numpy")
def _mixture_em(x, h, A, b, ax, bs, means, prec, logc, trace, iso, z, zc, dna, hg2, lq, out):
    return _mixture_step(x, h, A, b, ax, bs, means, prec, logc, trace, iso, z, zc, dna, hg2,
                         lq, out, 1, False)  # pragma: no cover - compiled


@numba.njit(parallel=True, cache=True, error_model="numpy")
def _mixture_rk(x, h, A, b, ax, bs, means, prec, logc, trace, iso, z, zc, dna, hg2, track, lq,
                out):
    return _mixture_step(x, h, A, b, ax, bs, means, prec, logc, trace, iso, z, zc, dna, hg2,
                         lq, out, b.shape[0], track)  # pragma: no cover - compiled


#: The compiled fused kernels (one specialisation each).
FUSED_KERNELS = (_mixture_em, _mixture_rk)


def mixture_step(x, h, a_matrix, b_weights, ax, bs, means, prec, logc, trace, isotropic,
                 z, zc, dna, hg2, track, log_q, out):
    """The fused step for ``b_weights.size`` stages (see :func:`_mixture_step`);
    returns the number of particles that left the finite range."""
    if b_weights.shape[0] == 1 and not track:
        return _mixture_em(x, h, a_matrix, b_weights, ax, bs, means, prec, logc, trace,
                           bool(isotropic), z, zc, dna, hg2, log_q, out)
    return _mixture_rk(x, h, a_matrix, b_weights, ax, bs, means, prec, logc, trace,
                       bool(isotropic), z, zc, dna, hg2, bool(track), log_q, out)

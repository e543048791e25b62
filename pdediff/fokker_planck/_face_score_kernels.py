"""Face rates of the reverse drift with a compiled pdediff score evaluated in the same
pass (pure numba; from pdediff only ``face_pair`` of :mod:`._kernels`).

One face loop, :func:`score_face_coefficients`, fills the rates ``A/h, B/h`` (as
``_kernels.face_coefficients``) of the normal velocity

    v = drift_a x_d + score_c s_d(x)

on the faces normal to one axis, evaluating the score component ``s_d`` at each face
centre with the evaluator selected by ``kind`` (no face-point, score or velocity
array).  Each evaluator repeats, operation for operation, the score's own
evaluation, so the rates equal those of the generic path (score evaluated on the
face centres, then ``face_coefficients``) bit for bit, except for boxes (below):

* ``KIND_MIXTURE``: Gaussian mixtures (and point clouds at ``t > 0``),
  ``s = -sum_k r_k P_k (x - m_k)``, with the building blocks of
  ``pdediff.distributions._kernels.mixture_kernel`` (``component_exponent``,
  ``mixture_normalise``) and their order of operations;
* ``KIND_BOX``: mixtures of uniform laws on boxes (docs/theory, "Conventions"),
  ``s_d = sum_k r_k (A_l - A_u)_kd / sqrt(v)`` in the formulas of
  ``pdediff.distributions.boxes``.  The generic path evaluates them with scipy's
  ``log_ndtr``, ``ndtr`` and ``erfcx`` (Cephes and Faddeeva codes); here they are
  built from libm's ``erf``, ``erfc``, ``exp`` (:func:`_erfcx`, :func:`_log_ndtr`,
  :func:`_ndtr`), so the two agree to a few ulps per special function, not bit for bit;
* ``KIND_TABULATED``: :class:`pdediff.scores.TabulatedScore` on the face points,
  ``s = (1 - lam) S_j + lam S_{j+1}`` from the two bracketing tables;
* ``KIND_SPLINE``: the spline score model at one time, ``grad phi_ref + grad sum_j
  C_j B_j(x)``, in the order of ``pdediff.score_model._kernels._tensor_spline_gradient``
  followed by the reference's ``- (x - alpha m0) / v``.

Per-kind parameters come packed in a fixed set of arrays (so that the one kernel has
one signature per entry point, compiled once): ``arr2a``, ``arr2b`` (2-D), ``arr3`` (3-D), ``arr1``
(1-D), ``ints``, ``reals``; the table in :func:`_face_loop` says which
holds what.  Work arrays are allocated once per outer face index; the terms of a
score constant along a row of faces are computed once per row (:func:`_face_loop`).
Each kind has its own
entry point (the loop compiled with ``kind`` a constant); :func:`score_face_coefficients`
picks it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..distributions._kernels import component_exponent, mixture_normalise
from ..score_model._kernels import spline_cell_powers, spline_contract
from ._kernels import face_pair

KIND_MIXTURE = 0
KIND_BOX = 1
KIND_TABULATED = 2
KIND_SPLINE = 3

_SQRT1_2 = math.sqrt(0.5)
_SQRT2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)
_LOG2 = math.log(2.0)


# ------------------------------------------------------------------ mixture
@njit(cache=True, inline="always")
def _mixture_row(x, means, prec, isotropic, pre, row_y):  # pragma: no cover - compiled
    """The terms of an isotropic mixture constant along a row of faces (only the last
    coordinate varies): per component ``c``, ``pre[c]`` the partial sum of ``q_c`` over
    the other axes and ``row_y[c, d] = P_c (x_d - m_cd)`` (the operations of
    ``component_exponent``, whose sum over the axes ends with the last)."""
    if not isotropic:
        return
    K, n = means.shape
    for c in range(K):
        pk = prec[c, 0, 0]
        q = 0.0
        for d in range(n - 1):
            diff = x[d] - means[c, d]
            row_y[c, d] = pk * diff
            q += diff * row_y[c, d]
        pre[c] = q


@njit(cache=True, inline="always")
def _mixture_score(x, x_last, d_face, means, prec, logc, isotropic, pre, row_y, y, lw,
                   ys):  # pragma: no cover - compiled
    """Component ``d_face`` of the Gaussian-mixture score at the face point ``x`` with
    last coordinate ``x_last``: ``component_exponent`` and ``mixture_normalise``
    operation for operation, the isotropic quadratic form completed from the row
    terms of :func:`_mixture_row` (``q_c = pre_c + diff y``: the same sum, in the same
    order).  Work arrays: ``y`` (K, n), ``lw``, ``ys`` (K,)."""
    K, n = means.shape
    last = n - 1
    top = -np.inf
    if not isotropic:
        x[last] = x_last
    for c in range(K):
        if isotropic:
            diff = x_last - means[c, last]
            y_last = prec[c, 0, 0] * diff
            e = logc[c] - 0.5 * (pre[c] + diff * y_last)
            ys[c] = y_last if d_face == last else row_y[c, d_face]
        else:
            e = component_exponent(x, means, prec, logc, False, c, y)
            ys[c] = y[c, d_face]
        lw[c] = e
        if e > top:
            top = e
    total = mixture_normalise(lw, top)
    score = 0.0
    for c in range(K):
        score -= (lw[c] / total) * ys[c]
    return score


# ------------------------------------------------------------------ boxes
@njit(cache=True, inline="always")
def _erfcx(y: float) -> float:  # pragma: no cover - compiled
    """``exp(y^2) erfc(y)`` for ``y >= 0``: libm's erfc times ``exp(y^2)`` with the
    rounding error of ``y^2`` restored (Dekker's split) below 26, where erfc is still
    normal; the asymptotic series ``(1 / (y sqrt pi)) sum_k (-1)^k (2k-1)!! / (2y^2)^k``
    above (terms below 1e-17 after at most 8)."""
    if y < 26.0:
        yy = y * y
        c = 134217729.0 * y
        hi = c - (c - y)
        lo = y - hi
        err = ((hi * hi - yy) + 2.0 * hi * lo) + lo * lo
        return math.erfc(y) * math.exp(yy) * (1.0 + err)
    inv = 1.0 / (2.0 * y * y)
    term = 1.0
    total = 1.0
    for k in range(1, 40):
        term *= -(2.0 * k - 1.0) * inv
        total += term
        if abs(term) < 1e-17:
            break
    return total * _INV_SQRT_PI / y


@njit(cache=True, inline="always")
def _ndtr(x: float) -> float:  # pragma: no cover - compiled
    """``Phi(x)`` in Cephes' form (erf near 0, erfc of ``|x|/sqrt 2`` beyond)."""
    w = x * _SQRT1_2
    z = abs(w)
    if z < _SQRT1_2:
        return 0.5 + 0.5 * math.erf(w)
    y = 0.5 * math.erfc(z)
    if w > 0.0:
        return 1.0 - y
    return y


@njit(cache=True, inline="always")
def _log_ndtr(x: float) -> float:  # pragma: no cover - compiled
    """``log Phi(x)`` in scipy's form: ``log(erfcx(-t) / 2) - t^2`` for ``x < -1``,
    ``log1p(-erfc(t) / 2)`` above (``t = x / sqrt 2``)."""
    t = x * _SQRT1_2
    if x < -1.0:
        return math.log(_erfcx(-t) / 2.0) - t * t
    return math.log1p(-math.erfc(t) / 2.0)


@njit(cache=True, inline="always")
def _mills(b: float) -> float:  # pragma: no cover - compiled
    """``phi(b) / Phi(b)`` without underflow (as ``pdediff.distributions.boxes._mills``)."""
    if b < 0.0:
        return _SQRT_2_OVER_PI / _erfcx(-b / _SQRT2)
    return math.exp(-0.5 * b * b - _LOG_SQRT_2PI) / _ndtr(b)


@njit(cache=True, error_model="numpy")
def _interval(x_d, low, high, alpha, s, slope):  # pragma: no cover - compiled
    """``(log D_d, g1_d)`` of one axis of one box (``boxes.interval_terms``): ``log D_d``
    the log of the Gaussian mass of ``[alpha low, alpha high]`` around ``x_d`` (scale
    ``s``) and, when ``slope``, ``g1_d = (A_l - A_u) / s`` (else 0)."""
    u = (alpha * high - x_d) / s
    lo = (alpha * low - x_d) / s
    flip = (u + lo) > 0.0
    b = -lo if flip else u
    a = -u if flip else lo
    log_b = _log_ndtr(b)
    delta = min(_log_ndtr(a) - log_b, 0.0)
    if delta > -_LOG2:
        log_d = log_b + math.log(-math.expm1(delta))
    else:
        log_d = log_b + math.log1p(-math.exp(delta))
    g1 = 0.0
    if slope:
        one_minus = -math.expm1(delta)
        a_b = _mills(b) / one_minus
        a_a = _mills(a) * math.exp(delta) / one_minus
        a_u = a_a if flip else a_b
        a_l = a_b if flip else a_a
        g1 = (a_l - a_u) / s
    return log_d, g1


@njit(cache=True, inline="always")
def _box_row(x, d_face, lows, highs, alpha, s, pre, row_g):  # pragma: no cover - compiled
    """The terms of a box mixture constant along a row of faces (only the last
    coordinate varies): per box ``c``, ``pre[c]`` the partial sum of ``log D_d`` over
    the other axes and, when ``d_face`` is one of them, ``row_g[c] = g1_{d_face}``."""
    K, n = lows.shape
    for c in range(K):
        total = 0.0
        for d in range(n - 1):
            log_d, g1 = _interval(x[d], lows[c, d], highs[c, d], alpha, s, d == d_face)
            total += log_d
            if d == d_face:
                row_g[c] = g1
        pre[c] = total


@njit(cache=True, inline="always")
def _box_score(x_last, d_face, lows, highs, log_w, alpha, s, pre, row_g, log_k,
               g1):  # pragma: no cover - compiled
    """Component ``d_face`` of the box-mixture score at the face point with last
    coordinate ``x_last`` (``boxes.BoxMixture``: the sum of ``log D_d`` over the axes
    in order, completed from the row terms of :func:`_box_row`; responsibilities by
    log-sum-exp); ``log_k``, ``g1`` (K,) are work arrays."""
    K, n = lows.shape
    last = n - 1
    for c in range(K):
        log_d, g_last = _interval(x_last, lows[c, last], highs[c, last], alpha, s,
                                  d_face == last)
        log_k[c] = log_w[c] + (pre[c] + log_d)
        g1[c] = g_last if d_face == last else row_g[c]
    top = -np.inf
    for c in range(K):
        if log_k[c] > top:
            top = log_k[c]
    if not math.isfinite(top):
        top = 0.0
    total = 0.0
    for c in range(K):
        total += math.exp(log_k[c] - top)
    logp = math.log(total) + top
    score = 0.0
    for c in range(K):
        score += math.exp(log_k[c] - logp) * g1[c]
    return score


# ------------------------------------------------------------------ spline model
@njit(cache=True, inline="always")
def _spline_score(x, d_face, polynomials, low, spacing, reference, cells, degree,
                  has_reference, powers, derivatives, work):  # pragma: no cover - compiled
    """Component ``d_face`` of the spline model's score at ``x``: box ``low`` and knot
    ``spacing`` (n,), ``reference`` rows ``alpha m0`` and the reference variance ``v``
    (2, n).  Work arrays ``powers``, ``derivatives`` (n, degree + 1), ``work`` (n + 1,
    (degree + 1)^n).  The arguments are whole arrays, not rows of one: a row view made
    per face costs an atomic reference-count increment and decrement on the shared
    parent array (contended between threads)."""
    score = 0.0
    inside, cell = spline_cell_powers(x, low, spacing, cells, powers, derivatives)
    if inside:
        spline_contract(polynomials, cell, powers, derivatives, work)
        score = work[d_face, 0]
    if has_reference:
        score -= (x[d_face] - reference[0, d_face]) / reference[1, d_face]
    return score


# ------------------------------------------------------------------ the face loop
@njit(cache=True, inline="always")
def _face_loop(
    kind, position, coords0, coords1, coords2, grid_axis, arr2a, arr2b, arr3, arr1, ints,
    reals, work_shape, drift_a, score_c, diffusion, h, periodic, scheme, coef_a, coef_b,
):  # pragma: no cover - compiled
    """Fill ``coef_a``, ``coef_b`` (3-D face arrays normal to 3-D ``position``, grid
    axis ``d = grid_axis[position]``) with the rates of ``v = drift_a x_d + score_c
    s_d(x)``, the score evaluated at each face centre.  ``coordsP``: coordinates along
    position ``P`` (edges along ``position``, centres elsewhere; unused positions have
    ``grid_axis[P] = -1``).  Wall faces get zero on no-flux axes; on periodic axes the
    last face uses the point of face 0 (bitwise equal copies: mass conserved).

    ========== ============ ============ ======== ========= ==================== =================
    kind       arr2a        arr2b        arr3     arr1      ints                 reals
    ========== ============ ============ ======== ========= ==================== =================
    mixture    means (K,n)  --           P (K,.,.) logc (K) [isotropic]          --
    box        lows (K,n)   highs (K,n)  --       log_w (K) --                   [alpha, sqrt v, v]
    tabulated  S_j (F,n)    S_j+1 (F,n)  --       --        --                   [1 - lam, lam]
    spline     polys        ref (2,n)    --       low (n)   [cells, degree, ref] spacing (n)
    ========== ============ ============ ======== ========= ==================== =================

    Tabulated rows are the face points in C order of the 3-D face array.
    ``work_shape = (L, R, C, R2, C2)``: per outer face index four 1-D work arrays of
    length ``L``, two ``(R, C)`` and one ``(R2, C2)``.

    Position 2 holds the last grid axis (the caller checks it), so along the innermost
    loop only the last coordinate changes, and it is the last term of every sum over
    the axes: the mixture and box evaluators sum the other axes' terms once per row
    (:func:`_mixture_row`, :func:`_box_row`) and complete the sum per face, in the
    same order (the same bits).  Every evaluator is inlined (``inline="always"``): an
    out-of-line call per face passes each array as its seven fields (about a hundred
    arguments), which cost more than the score itself."""
    m0, m1, m2 = coef_a.shape
    n = coef_a.shape[position] - 1
    ndim = 0
    for p in range(3):
        if grid_axis[p] >= 0:
            ndim += 1
    d_face = grid_axis[position]
    for i in prange(m0):
        x = np.empty(ndim)
        w1 = np.empty(work_shape[0])
        w2 = np.empty(work_shape[0])
        w3 = np.empty(work_shape[0])
        w4 = np.empty(work_shape[0])
        wa = np.empty((work_shape[1], work_shape[2]))
        wb = np.empty((work_shape[1], work_shape[2]))
        wc = np.empty((work_shape[3], work_shape[4]))
        for j in range(m1):
            i0 = np.int64(i)
            i1 = np.int64(j)
            x_face = 0.0
            if position != 2:
                f = i0 if position == 0 else i1
                if (f == 0 or f == n) and not periodic:
                    for k in range(m2):
                        coef_a[i, j, k] = 0.0
                        coef_b[i, j, k] = 0.0
                    continue
                if f == n:
                    if position == 0:
                        i0 = 0
                    else:
                        i1 = 0
                x_face = coords0[i0] if position == 0 else coords1[i1]
            if grid_axis[0] >= 0:
                x[grid_axis[0]] = coords0[i0]
            if grid_axis[1] >= 0:
                x[grid_axis[1]] = coords1[i1]
            if kind == KIND_MIXTURE:
                _mixture_row(x, arr2a, arr3, ints[0] != 0, w1, wa)
            elif kind == KIND_BOX:
                _box_row(x, d_face, arr2a, arr2b, reals[0], reals[1], w1, w2)
            for k in range(m2):
                i2 = np.int64(k)
                if position == 2:
                    if (k == 0 or k == n) and not periodic:
                        coef_a[i, j, k] = 0.0
                        coef_b[i, j, k] = 0.0
                        continue
                    if k == n:
                        i2 = 0
                x_last = coords2[i2]
                if position == 2:
                    x_face = x_last
                if kind == KIND_MIXTURE:
                    score = _mixture_score(x, x_last, d_face, arr2a, arr3, arr1, ints[0] != 0,
                                           w1, wa, wa, w2, w3)
                elif kind == KIND_BOX:
                    score = _box_score(x_last, d_face, arr2a, arr2b, arr1, reals[0], reals[1],
                                       w1, w2, w3, w4)
                elif kind == KIND_TABULATED:
                    row = (i0 * m1 + i1) * m2 + i2
                    score = reals[0] * arr2a[row, d_face] + reals[1] * arr2b[row, d_face]
                else:
                    x[ndim - 1] = x_last
                    score = _spline_score(x, d_face, arr2a, arr1, reals, arr2b, ints[0],
                                          ints[1], ints[2] != 0, wa, wb, wc)
                v = drift_a * x_face + score_c * score
                a, b = face_pair(v, diffusion, h, scheme)
                coef_a[i, j, k] = a
                coef_b[i, j, k] = b


# One entry point per kind, each the one face loop with ``kind`` a compile-time
# constant: the other evaluators are dropped from the loop (16 % faster for the
# mixture than a runtime switch, measured on one thread at 256^2).
@njit(parallel=True, cache=True, error_model="numpy")
def _mixture_faces(position, c0, c1, c2, axes, a2, b2, a3, a1, ints, reals, work, drift_a,
                   score_c, diffusion, h, periodic, scheme, coef_a, coef_b):  # pragma: no cover
    _face_loop(KIND_MIXTURE, position, c0, c1, c2, axes, a2, b2, a3, a1, ints, reals, work,
               drift_a, score_c, diffusion, h, periodic, scheme, coef_a, coef_b)


@njit(parallel=True, cache=True, error_model="numpy")
def _box_faces(position, c0, c1, c2, axes, a2, b2, a3, a1, ints, reals, work, drift_a,
               score_c, diffusion, h, periodic, scheme, coef_a, coef_b):  # pragma: no cover
    _face_loop(KIND_BOX, position, c0, c1, c2, axes, a2, b2, a3, a1, ints, reals, work,
               drift_a, score_c, diffusion, h, periodic, scheme, coef_a, coef_b)


@njit(parallel=True, cache=True, error_model="numpy")
def _tabulated_faces(position, c0, c1, c2, axes, a2, b2, a3, a1, ints, reals, work, drift_a,
                     score_c, diffusion, h, periodic, scheme, coef_a, coef_b):  # pragma: no cover
    _face_loop(KIND_TABULATED, position, c0, c1, c2, axes, a2, b2, a3, a1, ints, reals, work,
               drift_a, score_c, diffusion, h, periodic, scheme, coef_a, coef_b)


@njit(parallel=True, cache=True, error_model="numpy")
def _spline_faces(position, c0, c1, c2, axes, a2, b2, a3, a1, ints, reals, work, drift_a,
                  score_c, diffusion, h, periodic, scheme, coef_a, coef_b):  # pragma: no cover
    _face_loop(KIND_SPLINE, position, c0, c1, c2, axes, a2, b2, a3, a1, ints, reals, work,
               drift_a, score_c, diffusion, h, periodic, scheme, coef_a, coef_b)


#: The face kernel of each kind.
FACE_KERNELS = {
    KIND_MIXTURE: _mixture_faces,
    KIND_BOX: _box_faces,
    KIND_TABULATED: _tabulated_faces,
    KIND_SPLINE: _spline_faces,
}


def score_face_coefficients(kind, *args):
    """Run the face loop of ``kind`` (see :func:`_face_loop` for the arguments)."""
    FACE_KERNELS[kind](*args)

"""Numba kernels of the finite-volume Fokker–Planck operator (pure numba, no pdediff
imports).

The operator is ``L[u] = -div(v u) + D Lap u`` in flux form on a cell-centred grid:

    (L u)_i = - sum_d (F_{d, i+1/2} - F_{d, i-1/2}) / h_d

Every field is handled as 3-D (a 1-D or 2-D field gets axes of length 1, which carry
no net flux and are skipped), so one kernel serves every dimension.  Along axis ``d``
the face arrays have ``n_d + 1`` entries: face ``f`` separates cell ``f - 1`` (left)
from cell ``f`` (right); faces ``0`` and ``n_d`` are the walls (zero coefficients on
no-flux axes; the same periodic face on periodic axes).

Every face carries two nonnegative coefficients ``A`` (rate at which the left cell's
value leaves through the face) and ``B`` (the right cell's):

* Scharfetter–Gummel (``SCHEME_SG``): ``F = A u_L - B u_R`` with
  ``A = (D/h) B(-Pe)``, ``B = (D/h) B(Pe)``, ``Pe = v h / D`` and the Bernoulli
  function ``B(z) = z / (e^z - 1)`` (upwind ``A = v^+, B = v^-`` when ``D = 0``).
* MUSCL (``SCHEME_MUSCL``): ``F = A u_L^+ - B u_R^- + (D/h)(u_L - u_R)`` with
  ``A = v^+``, ``B = v^-`` and face values ``u^(+/-) = u_i (1 +/- r_i)`` from the
  van Leer slope ``sigma_i = 2 r_i u_i``, ``|r_i| <= 1``.

Coefficients live either in 1-D arrays of length ``n_d + 1`` (a drift ``a(t) x``
with scalar diffusion: they depend on ``x_d`` only) or in full face arrays.

Positivity by construction.  The stage kernel writes the update of cell ``i`` as

    w_i = u_i (1 - dt k_i) + dt sum_(neighbours j) (inflow coefficient) u_j^(face)

with ``k_i`` the total outflow coefficient of cell ``i``: every term is a product of
nonnegative floating-point numbers, so ``w_i >= 0`` exactly (no cancellation of
``u_i`` against its own outflow), whenever ``fl(1 - dt k_i) >= 0``.  For
Scharfetter–Gummel ``k_i`` *is* the positivity rate ``c_i`` returned by the kernel,
and a stage is accepted only when ``dt max_i c_i <= 1``, which by monotone rounding
gives ``fl(dt k_i) <= 1``.  For MUSCL ``k_i <= c_i`` holds in exact arithmetic
(``(A + B) + (A - B) r <= 2 max(A, B)``); ``max(0, 1 - dt k_i)`` absorbs the few ulps
by which the rounded ``k_i`` can exceed its exact value when ``dt c_i`` is within
ulps of 1 (a change of at most a few ulps of ``u_i``: a round-off correction).  Mass
is conserved to round-off: each face flux appears with opposite signs in its two
cells, evaluated from the same coefficient and face value.

Reductions are deterministic: cells are split into a fixed number of row blocks
(depending on the shape only, never on the number of threads); each block reduces in
a fixed order into its own slot and the slots are combined in a fixed order.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

SCHEME_SG = 0
SCHEME_MUSCL = 1

# Number of row blocks of the deterministic reductions (a shape-only constant).
_BLOCKS = 64


@njit(cache=True, inline="always")
def _bernoulli(z: float) -> float:
    """``B(z) = z / (e^z - 1)``, with its Taylor series near 0 (no cancellation)."""
    if abs(z) < 1e-5:
        return 1.0 - 0.5 * z + z * z / 12.0
    if z > 700.0:
        return 0.0
    return z / math.expm1(z)


@njit(cache=True, inline="always")
def _van_leer(a: float, b: float) -> float:
    """van Leer limited slope ``2ab/(a+b)`` for ``ab > 0``, else 0; bounded by
    ``2 min(|a|, |b|)`` so reconstructed face values stay within the neighbours."""
    if a * b <= 0.0:
        return 0.0
    return 2.0 * a * b / (a + b)


@njit(cache=True, inline="always")
def _at(u, axis, i, j, k, m):
    """``u`` at index ``m`` along ``axis`` with the other two indices fixed."""
    if axis == 0:
        return u[m, j, k]
    if axis == 1:
        return u[i, m, k]
    return u[i, j, m]


@njit(cache=True, inline="always")
def face_pair(v: float, diffusion: float, h: float, scheme: int) -> tuple[float, float]:
    """``(A / h, B / h)`` of one face with normal velocity ``v`` and diffusion ``D``
    (the coefficient arrays store rates per cell width: no division per cell)."""
    if scheme == SCHEME_SG and diffusion > 0.0:
        # One exponential per face: B(-z) = B(z) + z, evaluated from B(|z|) so that
        # the small coefficient has no cancellation.
        d_over_h2 = diffusion / (h * h)
        peclet = v * h / diffusion
        small = _bernoulli(abs(peclet))
        large = small + abs(peclet)
        if peclet >= 0.0:
            return d_over_h2 * large, d_over_h2 * small
        return d_over_h2 * small, d_over_h2 * large
    return max(v, 0.0) / h, max(-v, 0.0) / h


@njit(parallel=True, cache=True)
def face_coefficients(velocity, diffusion, h, axis, periodic, scheme, coef_a, coef_b):
    """Fill ``coef_a``, ``coef_b`` (face arrays along ``axis``, 3-D) with ``A/h``,
    ``B/h`` from the normal face velocity ``velocity`` (same shape).  Wall faces get zero on no-flux axes;
    on periodic axes both copies of the wall face use the velocity of face 0, so the
    two are bitwise equal and mass is conserved."""
    n = velocity.shape[axis] - 1
    m0, m1, m2 = velocity.shape
    for i in prange(m0):
        for j in range(m1):
            for k in range(m2):
                # prange indices may be unsigned; mixing them with signed ints
                # would promote to float, hence the explicit int64.
                if axis == 0:
                    f = np.int64(i)
                elif axis == 1:
                    f = np.int64(j)
                else:
                    f = np.int64(k)
                if (f == 0 or f == n) and not periodic:
                    coef_a[i, j, k] = 0.0
                    coef_b[i, j, k] = 0.0
                    continue
                v = _at(velocity, axis, i, j, k, 0) if f == n else velocity[i, j, k]
                a, b = face_pair(v, diffusion, h, scheme)
                coef_a[i, j, k] = a
                coef_b[i, j, k] = b


@njit(cache=True, inline="always")
def _ratio(u_minus: float, u_c: float, u_plus: float, flat: bool) -> float:
    """``r = sigma / (2 u_c)`` of the van Leer slope, in [-1, 1] (0 at no-flux wall
    cells, where the slope is set to zero: first order there, still positive)."""
    if flat or u_c <= 0.0:
        return 0.0
    r = _van_leer(u_c - u_minus, u_plus - u_c) / (2.0 * u_c)
    # |sigma| <= 2 u_c exactly for nonnegative neighbours; the clamp only removes
    # the rounding of the division.
    return min(1.0, max(-1.0, r))


@njit(cache=True, inline="always")
def _face_rates(separable, a1, b1, an, bn, p, i, j, k, m):
    """``(A_right, B_right, A_left, B_left)`` (per cell width) of the faces of cell
    ``m`` along position ``p``."""
    if separable:
        return a1[m + 1], b1[m + 1], a1[m], b1[m]
    return (_at(an, p, i, j, k, m + 1), _at(bn, p, i, j, k, m + 1), _at(an, p, i, j, k, m),
            _at(bn, p, i, j, k, m))


@njit(cache=True, inline="always")
def _axis_terms(u, ui, p, i, j, k, m, n, periodic, coefs, dh, scheme):
    """Positivity rate ``c``, outflow coefficient ``kout`` and inflow of cell ``m``
    along 3-D position ``p`` (cell value ``ui``, face rates ``coefs``)."""
    a_r, b_r, a_l, b_l = coefs
    mm = m - 1 if m > 0 else n - 1
    mp = m + 1 if m < n - 1 else 0
    u_left = _at(u, p, i, j, k, mm)
    u_right = _at(u, p, i, j, k, mp)
    if scheme == SCHEME_SG:
        c = a_r + b_l
        return c, c, b_r * u_right + a_l * u_left
    # MUSCL: limited face values u^(+/-) = u (1 +/- r) of this cell and its neighbours;
    # dh = D / h^2.
    wall_l = m == 0 and not periodic
    wall_r = m == n - 1 and not periodic
    u_left2 = _at(u, p, i, j, k, (m - 2) % n)
    u_right2 = _at(u, p, i, j, k, (m + 2) % n)
    r_c = _ratio(u_left, ui, u_right, wall_l or wall_r)
    r_l = _ratio(u_left2, u_left, ui, (mm == 0 or mm == n - 1) and not periodic)
    r_r = _ratio(ui, u_right, u_right2, (mp == 0 or mp == n - 1) and not periodic)
    d_l = 0.0 if wall_l else dh
    d_r = 0.0 if wall_r else dh
    c = 2.0 * (max(a_r, b_l) + dh)
    kout = a_r * (1.0 + r_c) + b_l * (1.0 - r_c) + d_l + d_r
    inflow = (b_r * u_right * (1.0 - r_r) + a_l * u_left * (1.0 + r_l)
              + d_r * u_right + d_l * u_left)
    return c, kout, inflow


@njit(cache=True, inline="always")
def _rows(u, u0, out, rates, start, stop, alpha, beta, dt, rhs_only, use_u0, separable, a1, b1,
          an, bn, h, dh, periodic, scheme, error_in, error_0, atol, rtol, want_error, result):
    """Rows ``start..stop`` of (i, j) pairs: values into ``out`` and the four
    reductions into ``result``.  Called with constant ``scheme`` and ``separable``
    so each call site compiles to a branch-free, vectorisable inner loop."""
    n0, n1, n2 = u.shape
    largest = 0.0
    s0 = np.inf
    s1 = np.inf
    s2 = np.inf
    s3 = np.inf
    t0 = 0.0
    t1 = 0.0
    t2 = 0.0
    t3 = 0.0
    e0 = 0.0
    e1 = 0.0
    zero = (0.0, 0.0, 0.0, 0.0)
    for row in range(start, stop):
        i = row // n1
        j = row - i * n1
        # Coefficients of positions 0 and 1 are constant along a row when separable:
        # loaded once per row, so the inner loop streams u, out and the 1-D arrays.
        row0 = zero
        row1 = zero
        if separable:
            if n0 > 1:
                row0 = _face_rates(True, a1[0], b1[0], an[0], bn[0], 0, i, j, 0, i)
            if n1 > 1:
                row1 = _face_rates(True, a1[1], b1[1], an[1], bn[1], 1, i, j, 0, j)
        for k in range(n2):
            ui = u[i, j, k]
            c = 0.0
            kout = 0.0
            inflow = 0.0
            if n0 > 1:
                coefs = row0 if separable else _face_rates(False, a1[0], b1[0], an[0], bn[0],
                                                           0, i, j, k, i)
                c_, k_, in_ = _axis_terms(u, ui, 0, i, j, k, i, n0, periodic[0], coefs, dh[0],
                                          scheme)
                c += c_
                kout += k_
                inflow += in_
            if n1 > 1:
                coefs = row1 if separable else _face_rates(False, a1[1], b1[1], an[1], bn[1],
                                                           1, i, j, k, j)
                c_, k_, in_ = _axis_terms(u, ui, 1, i, j, k, j, n1, periodic[1], coefs, dh[1],
                                          scheme)
                c += c_
                kout += k_
                inflow += in_
            if n2 > 1:
                coefs = _face_rates(separable, a1[2], b1[2], an[2], bn[2], 2, i, j, k, k)
                c_, k_, in_ = _axis_terms(u, ui, 2, i, j, k, k, n2, periodic[2], coefs, dh[2],
                                          scheme)
                c += c_
                kout += k_
                inflow += in_
            if rhs_only:
                value = inflow - kout * ui
            else:
                value = ui * max(0.0, 1.0 - dt * kout) + dt * inflow
                if use_u0:
                    value = alpha * u0[i, j, k] + beta * value
                else:
                    value = beta * value
            out[i, j, k] = value
            rates[k] = c
        # Reductions over the row while it is in L1: four interleaved partial sums
        # in a fixed pattern (no dependence on the thread count).
        k = 0
        while k + 4 <= n2:
            v0 = out[i, j, k]
            v1 = out[i, j, k + 1]
            v2 = out[i, j, k + 2]
            v3 = out[i, j, k + 3]
            t0 += v0
            t1 += v1
            t2 += v2
            t3 += v3
            s0 = min(s0, v0)
            s1 = min(s1, v1)
            s2 = min(s2, v2)
            s3 = min(s3, v3)
            k += 4
        while k < n2:
            t0 += out[i, j, k]
            s0 = min(s0, out[i, j, k])
            k += 1
        # Branch-free max.  A NaN coefficient cannot hide here: it enters the inflow
        # of the neighbouring cell, so the (checked) sum is NaN too.
        for k in range(n2):
            largest = max(largest, rates[k])
        if want_error:
            for k in range(n2):
                value = out[i, j, k]
                old = u0[i, j, k]
                embedded = error_in * u[i, j, k] + error_0 * old
                ratio = (value - embedded) / (atol + rtol * max(abs(old), abs(value)))
                if k & 1:
                    e1 += ratio * ratio
                else:
                    e0 += ratio * ratio
    result[0] = largest
    result[1] = min(min(s0, s1), min(s2, s3))
    result[2] = (t0 + t1) + (t2 + t3)
    result[3] = e0 + e1


@njit(cache=True)
def _block(u, u0, out, start, stop, alpha, beta, dt, rhs_only, separable, a1, b1, an, bn,
           h, dh, periodic, scheme, error_in, error_0, atol, rtol, want_error, result):
    """One reduction block; dispatches to a specialised copy of :func:`_rows`."""
    rates = np.empty(u.shape[2])
    use_u0 = alpha != 0.0
    if scheme == SCHEME_SG:
        if separable:
            _rows(u, u0, out, rates, start, stop, alpha, beta, dt, rhs_only, use_u0, True, a1,
                  b1, an, bn, h, dh, periodic, SCHEME_SG, error_in, error_0, atol, rtol,
                  want_error, result)
        else:
            _rows(u, u0, out, rates, start, stop, alpha, beta, dt, rhs_only, use_u0, False, a1,
                  b1, an, bn, h, dh, periodic, SCHEME_SG, error_in, error_0, atol, rtol,
                  want_error, result)
    else:
        if separable:
            _rows(u, u0, out, rates, start, stop, alpha, beta, dt, rhs_only, use_u0, True, a1,
                  b1, an, bn, h, dh, periodic, SCHEME_MUSCL, error_in, error_0, atol, rtol,
                  want_error, result)
        else:
            _rows(u, u0, out, rates, start, stop, alpha, beta, dt, rhs_only, use_u0, False, a1,
                  b1, an, bn, h, dh, periodic, SCHEME_MUSCL, error_in, error_0, atol, rtol,
                  want_error, result)


@njit(parallel=True, cache=True)
def stage(
    u, u0, out, alpha, beta, dt, rhs_only, separable, a1, b1, an, bn,
    h, dh, periodic, scheme, error_in, error_0, atol, rtol, want_error, partial,
):
    """One fused pass: the flux divergence of ``u`` and the stage update

        out = alpha u0 + beta (u + dt L u)        (``rhs_only``: out = L u)

    written in the positive form of the module docstring, with the reductions
    ``max_i c_i`` (positivity rate), ``min out``, ``sum out`` and, with
    ``want_error``, the sum over cells of
    ``((out - e) / (atol + rtol max(|u0|, |out|)))^2`` for the embedded solution
    ``e = error_in u + error_0 u0`` (reusing the stage data while it is in cache).

    ``u0`` is not read when ``alpha == 0``.  Coefficients, per 3-D position ``p``
    (tuples of three arrays): 1-D arrays ``a1[p], b1[p]`` (``separable``) or face
    arrays ``an[p], bn[p]``; ``h``, ``dh`` (= D/h, MUSCL) and ``periodic`` are per
    position.  ``partial`` is a ``(_BLOCKS, 4)`` work array.  Returns
    ``(rate, min, sum, error_sum)``; a non-finite value anywhere makes ``sum``
    non-finite.  Each row is computed in one loop (no loop-carried dependence) and
    reduced in a second loop while it is in L1.
    """
    n0, n1, n2 = u.shape
    rows = n0 * n1
    blocks = min(rows, _BLOCKS)
    size = (rows + blocks - 1) // blocks
    for block in prange(blocks):
        start = np.int64(block) * size
        stop = min(rows, start + size)
        _block(u, u0, out, start, stop, alpha, beta, dt, rhs_only, separable, a1, b1, an, bn,
               h, dh, periodic, scheme, error_in, error_0, atol, rtol, want_error,
               partial[block])
    rate = 0.0
    smallest = np.inf
    total = 0.0
    errors = 0.0
    for block in range(blocks):
        if not partial[block, 0] <= rate:
            rate = partial[block, 0]
        smallest = min(smallest, partial[block, 1])
        total += partial[block, 2]
        errors += partial[block, 3]
    return rate, smallest, total, errors


@njit(parallel=True, cache=True)
def error_norm(u_old, u_new, u_embedded, atol, rtol, partial):
    """RMS over cells of ``(u_new - u_embedded) / (atol + rtol max(|u_old|, |u_new|))``
    on flattened arrays (the ``scipy.integrate`` error norm), reduced in fixed blocks."""
    n = u_new.size
    blocks = min(n, _BLOCKS)
    size = (n + blocks - 1) // blocks
    for block in prange(blocks):
        total = 0.0
        start = np.int64(block) * size
        for m in range(start, min(n, start + size)):
            scale = atol + rtol * max(abs(u_old[m]), abs(u_new[m]))
            ratio = (u_new[m] - u_embedded[m]) / scale
            total += ratio * ratio
        partial[block, 3] = total
    total = 0.0
    for block in range(blocks):
        total += partial[block, 3]
    return math.sqrt(total / n)

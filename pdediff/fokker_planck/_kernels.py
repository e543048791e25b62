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
    """``(A, B)`` of one face with normal velocity ``v`` and diffusion ``D``."""
    if scheme == SCHEME_SG and diffusion > 0.0:
        # One exponential per face: B(-z) = B(z) + z, evaluated from B(|z|) so that
        # the small coefficient has no cancellation.
        d_over_h = diffusion / h
        peclet = v * h / diffusion
        small = _bernoulli(abs(peclet))
        large = small + abs(peclet)
        if peclet >= 0.0:
            return d_over_h * large, d_over_h * small
        return d_over_h * small, d_over_h * large
    return max(v, 0.0), max(-v, 0.0)


@njit(parallel=True, cache=True)
def face_coefficients(velocity, diffusion, h, axis, periodic, scheme, coef_a, coef_b):
    """Fill ``coef_a``, ``coef_b`` (face arrays along ``axis``, 3-D) from the normal
    face velocity ``velocity`` (same shape).  Wall faces get zero on no-flux axes;
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
def _axis_terms(u, ui, p, i, j, k, m, n, periodic, separable, a1, b1, an, bn, h, dh, scheme):
    """Positivity rate ``c``, outflow coefficient ``kout`` and inflow of cell ``m``
    along 3-D position ``p`` (cell value ``ui``)."""
    mm = m - 1 if m > 0 else n - 1
    mp = m + 1 if m < n - 1 else 0
    if separable:
        a_r = a1[m + 1]
        b_r = b1[m + 1]
        a_l = a1[m]
        b_l = b1[m]
    else:
        a_r = _at(an, p, i, j, k, m + 1)
        b_r = _at(bn, p, i, j, k, m + 1)
        a_l = _at(an, p, i, j, k, m)
        b_l = _at(bn, p, i, j, k, m)
    u_left = _at(u, p, i, j, k, mm)
    u_right = _at(u, p, i, j, k, mp)
    if scheme == SCHEME_SG:
        c = (a_r + b_l) / h
        return c, c, (b_r * u_right + a_l * u_left) / h
    # MUSCL: limited face values u^(+/-) = u (1 +/- r) of this cell and its neighbours.
    wall_l = m == 0 and not periodic
    wall_r = m == n - 1 and not periodic
    u_left2 = _at(u, p, i, j, k, (m - 2) % n)
    u_right2 = _at(u, p, i, j, k, (m + 2) % n)
    r_c = _ratio(u_left, ui, u_right, wall_l or wall_r)
    r_l = _ratio(u_left2, u_left, ui, (mm == 0 or mm == n - 1) and not periodic)
    r_r = _ratio(ui, u_right, u_right2, (mp == 0 or mp == n - 1) and not periodic)
    d_l = 0.0 if wall_l else dh
    d_r = 0.0 if wall_r else dh
    c = 2.0 * (max(a_r, b_l) + dh) / h
    kout = (a_r * (1.0 + r_c) + b_l * (1.0 - r_c) + d_l + d_r) / h
    inflow = (b_r * u_right * (1.0 - r_r) + a_l * u_left * (1.0 + r_l)
              + d_r * u_right + d_l * u_left) / h
    return c, kout, inflow


@njit(parallel=True, cache=True)
def stage(
    u, u0, out, alpha, beta, dt, rhs_only,
    separable, a1_0, b1_0, a1_1, b1_1, a1_2, b1_2, an_0, bn_0, an_1, bn_1, an_2, bn_2,
    h, dh, periodic, scheme, error_in, error_0, atol, rtol, want_error, partial,
):
    """One fused pass: the flux divergence of ``u`` and the stage update

        out = alpha u0 + beta (u + dt L u)        (``rhs_only``: out = L u)

    written in the positive form of the module docstring, with the reductions
    ``max_i c_i`` (positivity rate), ``min out``, ``sum out`` and, with
    ``want_error``, the sum over cells of
    ``((out - e) / (atol + rtol max(|u0|, |out|)))^2`` for the embedded solution
    ``e = error_in u + error_0 u0`` (reusing the stage data in registers).

    ``u0`` is not read when ``alpha == 0``.  Coefficients: per 3-D position ``p``
    either 1-D arrays ``a1_p, b1_p`` (``separable``) or face arrays ``an_p, bn_p``;
    ``h``, ``dh`` (= D/h, MUSCL) and ``periodic`` are per position.  ``partial`` is a
    ``(_BLOCKS, 4)`` work array.  Returns ``(rate, min, sum, error_sum)``; a
    non-finite value anywhere makes ``sum`` non-finite.
    """
    n0, n1, n2 = u.shape
    rows = n0 * n1
    blocks = min(rows, _BLOCKS)
    size = (rows + blocks - 1) // blocks
    use_u0 = alpha != 0.0
    for block in prange(blocks):
        largest = 0.0
        smallest = np.inf
        total = 0.0
        errors = 0.0
        start = np.int64(block) * size
        stop = min(rows, start + size)
        for row in range(start, stop):
            i = row // n1
            j = row - i * n1
            for k in range(n2):
                ui = u[i, j, k]
                c = 0.0
                kout = 0.0
                inflow = 0.0
                if n0 > 1:
                    c_, k_, in_ = _axis_terms(u, ui, 0, i, j, k, i, n0, periodic[0], separable,
                                              a1_0, b1_0, an_0, bn_0, h[0], dh[0], scheme)
                    c += c_
                    kout += k_
                    inflow += in_
                if n1 > 1:
                    c_, k_, in_ = _axis_terms(u, ui, 1, i, j, k, j, n1, periodic[1], separable,
                                              a1_1, b1_1, an_1, bn_1, h[1], dh[1], scheme)
                    c += c_
                    kout += k_
                    inflow += in_
                if n2 > 1:
                    c_, k_, in_ = _axis_terms(u, ui, 2, i, j, k, k, n2, periodic[2], separable,
                                              a1_2, b1_2, an_2, bn_2, h[2], dh[2], scheme)
                    c += c_
                    kout += k_
                    inflow += in_
                if rhs_only:
                    value = inflow - kout * ui
                else:
                    value = ui * max(0.0, 1.0 - dt * kout) + dt * inflow
                    if use_u0:
                        value = alpha * u0[i, j, k] + beta * value
                    elif beta != 1.0:
                        value = beta * value
                out[i, j, k] = value
                # NaN rates must not hide: comparisons with NaN are false.
                if not c <= largest:
                    largest = c
                smallest = min(smallest, value)
                total += value
                if want_error:
                    old = u0[i, j, k]
                    embedded = error_in * ui + error_0 * old
                    ratio = (value - embedded) / (atol + rtol * max(abs(old), abs(value)))
                    errors += ratio * ratio
        partial[block, 0] = largest
        partial[block, 1] = smallest
        partial[block, 2] = total
        partial[block, 3] = errors
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

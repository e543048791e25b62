"""Numba kernels of the finite-volume Fokker–Planck operator (pure numba; imports only
the reductions of :mod:`._reductions` and the bit tally of ``pdediff._field_passes``).

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

The block split and the deterministic reductions are in :mod:`._reductions`.

Aliasing.  The row kernels are compiled into the parallel body of :func:`stage` (and
of the multi-step loop) by LLVM-level forced inlining, and that body holds no array
views, so numba marks the arrays it receives ``noalias``.  With that promise LLVM
carries a cell's ``k +/- 1`` neighbours from one vector iteration to the next in
registers instead of reloading them after every store to ``out`` (same bits; measured
1.04-1.09x per 512^2 Euler step, 1.18x for MUSCL).  The promise is the callers' to
keep: ``out`` never overlaps ``u`` or ``u0`` (:meth:`.FluxOperator.stage` checks it),
and ``partial`` and ``partial_bits`` (one buffer) are written at distinct elements.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .._field_passes import _tally
from ._reductions import (
    _fold_row,
    _row_error_sum,
    _row_max_bits,
    _row_negative_min,
    stage_blocks,
    stage_result,
    thread_chunk,
)

SCHEME_SG = 0
SCHEME_MUSCL = 1

@njit(cache=True, error_model="numpy")
def _bernoulli(z: float) -> float:
    """``B(z) = z / (e^z - 1)``, with its Taylor series near 0 (no cancellation)."""
    if abs(z) < 1e-5:
        return 1.0 - 0.5 * z + z * z / 12.0
    if z > 700.0:
        return 0.0
    return z / math.expm1(z)


@njit(cache=True, error_model="numpy")
def _van_leer(a: float, b: float) -> float:
    """van Leer limited slope ``2ab/(a+b)`` for ``ab > 0``, else 0; bounded by
    ``2 min(|a|, |b|)`` so reconstructed face values stay within the neighbours."""
    if a * b <= 0.0:
        return 0.0
    return 2.0 * a * b / (a + b)


@njit(cache=True, error_model="numpy")
def _at(u, axis, i, j, k, m):
    """``u`` at index ``m`` along ``axis`` with the other two indices fixed."""
    if axis == 0:
        return u[m, j, k]
    if axis == 1:
        return u[i, m, k]
    return u[i, j, m]


@njit(cache=True, error_model="numpy")
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


@njit(cache=True, error_model="numpy")
def linear_face_coefficients(edges, scale, diffusion, h, periodic, scheme, coef_a, coef_b):
    """Fill the 1-D ``coef_a``, ``coef_b`` (length ``n + 1``) with ``A/h``, ``B/h`` of
    the separable velocity ``v_f = scale * edges[f]``, with the wall rule of
    :func:`face_coefficients` (serial: ``n + 1`` faces are too few for threads)."""
    n = edges.size - 1
    for f in range(n + 1):
        if (f == 0 or f == n) and not periodic:
            coef_a[f] = 0.0
            coef_b[f] = 0.0
            continue
        a, b = face_pair(scale * edges[0 if f == n else f], diffusion, h, scheme)
        coef_a[f] = a
        coef_b[f] = b


@njit(parallel=True, cache=True, error_model="numpy")
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


@njit(cache=True, error_model="numpy")
def _ratio(u_minus: float, u_c: float, u_plus: float, flat: bool) -> float:
    """``r = sigma / (2 u_c)`` of the van Leer slope, in [-1, 1] (0 at no-flux wall
    cells, where the slope is set to zero: first order there, still positive)."""
    if flat or u_c <= 0.0:
        return 0.0
    r = _van_leer(u_c - u_minus, u_plus - u_c) / (2.0 * u_c)
    # |sigma| <= 2 u_c exactly for nonnegative neighbours; the clamp only removes
    # the rounding of the division.
    return min(1.0, max(-1.0, r))


@njit(cache=True, error_model="numpy")
def _neighbours(m: int, n: int, periodic: bool) -> tuple[int, int]:
    """Indices ``(m - 1, m + 1)`` along an axis of ``n`` cells: wrapped on periodic
    axes, clamped to ``m`` at no-flux walls (whose face rates are zero, so the
    clamped value never contributes)."""
    lo = m - 1 if m > 0 else (n - 1 if periodic else m)
    hi = m + 1 if m < n - 1 else (0 if periodic else m)
    return lo, hi


@njit(cache=True, error_model="numpy")
def _face_rates(separable, a1, b1, an, bn, p, i, j, k, m):
    """``(A_right, B_right, A_left, B_left)`` (per cell width) of the faces of cell
    ``m`` along position ``p``."""
    if separable:
        return a1[m + 1], b1[m + 1], a1[m], b1[m]
    return (_at(an, p, i, j, k, m + 1), _at(bn, p, i, j, k, m + 1), _at(an, p, i, j, k, m),
            _at(bn, p, i, j, k, m))


@njit(cache=True, error_model="numpy")
def _muscl_terms(u, ui, p, i, j, k, m, n, periodic, coefs, dh):
    """MUSCL positivity rate ``c``, outflow coefficient ``kout`` and inflow of cell
    ``m`` along 3-D position ``p`` (cell value ``ui``, face rates ``coefs``,
    ``dh = D / h^2``): limited face values ``u^(+/-) = u (1 +/- r)`` of this cell and
    its neighbours."""
    a_r, b_r, a_l, b_l = coefs
    mm = m - 1 if m > 0 else n - 1
    mp = m + 1 if m < n - 1 else 0
    u_left = _at(u, p, i, j, k, mm)
    u_right = _at(u, p, i, j, k, mp)
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


@njit(cache=True, error_model="numpy")
def _update(ui, u0ik, kout, inflow, alpha, beta, dt, rhs_only, use_u0):
    """The stage value of one cell in the positive form of the module docstring
    (``use_u0``: the combination ``alpha u0 + beta (...)``; else ``alpha = 0``,
    ``beta = 1``)."""
    if rhs_only:
        return inflow - kout * ui
    value = ui * max(0.0, 1.0 - dt * kout) + dt * inflow
    if use_u0:
        return alpha * u0ik + beta * value
    return value


@njit(cache=True, error_model="numpy")
def _sg_value(ui, u0i, u_ip, u_im, u_jp, u_jm, u_kp, u_km, c0, c1, c2, alpha, beta, dt,
              rhs_only, use_u0, planar):
    """Scharfetter–Gummel stage value and outflow coefficient of one cell from its
    neighbours' values and, per position ``p``, its face rates
    ``c_p = (A_right, B_right, A_left, B_left)``.  Sums run in the order
    ``(position 0 + position 1) + position 2`` on every path (same bits); a
    ``planar`` field (position 1 absent) leaves out the middle terms, exact zeros
    whose addition would cost an instruction per cell.  Scalars only: LLVM inlines
    it into the vectorised loops.  (No helper of this module asks numba to inline
    it: numba's IR inlining costs most of the compilation time and, for functions
    taking arrays, puts reference counting into the loops.)"""
    if planar:
        kout = (c0[0] + c0[3]) + (c2[0] + c2[3])
        inflow = (c0[1] * u_ip + c0[2] * u_im) + (c2[1] * u_kp + c2[2] * u_km)
    else:
        kout = ((c0[0] + c0[3]) + (c1[0] + c1[3])) + (c2[0] + c2[3])
        inflow = (((c0[1] * u_ip + c0[2] * u_im) + (c1[1] * u_jp + c1[2] * u_jm))
                  + (c2[1] * u_kp + c2[2] * u_km))
    return _update(ui, u0i, kout, inflow, alpha, beta, dt, rhs_only, use_u0), kout


@njit(cache=True, error_model="numpy")
def _cell_rates(an0, bn0, an1, bn1, an2, bn2, i, j, k, has0, has1):
    """Face rates ``(A_right, B_right, A_left, B_left)`` of cell ``(i, j, k)`` per
    position from the face arrays (zeros for absent positions 0 and 1), for the two
    end cells of a row (the interior loops load their rates themselves).  Asking
    numba to inline it saved up to a tenth of a 96^3 field stage but cost 4 s of
    compilation."""
    none = (0.0, 0.0, 0.0, 0.0)
    c0 = (an0[i + 1, j, k], bn0[i + 1, j, k], an0[i, j, k], bn0[i, j, k]) if has0 else none
    c1 = (an1[i, j + 1, k], bn1[i, j + 1, k], an1[i, j, k], bn1[i, j, k]) if has1 else none
    c2 = (an2[i, j, k + 1], bn2[i, j, k + 1], an2[i, j, k], bn2[i, j, k])
    return c0, c1, c2


@njit(cache=True, error_model="numpy", forceinline=True)
def _sg_rows(u, u0, out, rates, start, stop, separable, a1, b1, an, bn, periodic, alpha, beta,
             dt, rhs_only, use_u0):
    """Rows ``start..stop`` (row ``r``: ``(i, j) = divmod(r, n1)``) of
    Scharfetter–Gummel updates; returns their reductions ``(largest bit pattern of
    the positivity rates, sum, smallest bit pattern, smallest negative value)`` (the
    rate on the field path only: a separable stage takes it from the 1-D arrays; the
    minimum as a bit pattern, or as the exact value when a row holds a negative
    value, else ``inf``), each row summed in its own loop order by :func:`_tally`.
    Per row: the interior in a branch-free loop that vectorises (the per-cell
    arithmetic is a scalar-only function inlined into it; numba's inlining of
    array-taking functions would put reference counting inside the loop and stop
    vectorisation), then the two end cells with their wall/periodic neighbours.  One
    call covers a block of rows: a call per row, passing every array (~1.2 kB of
    arguments), cost a fifth of a 512-cell row.  Forced inlining puts this loop
    inside the parallel body, where the arrays are known not to alias (module
    docstring).  The outflow coefficients of a row go into ``rates`` on the field
    path."""
    n0, n1, n2 = u.shape
    none = (0.0, 0.0, 0.0, 0.0)
    a2 = a1[2]
    b2 = b1[2]
    an0, bn0, an1, bn1, an2, bn2 = an[0], bn[0], an[1], bn[1], an[2], bn[2]
    has0 = n0 > 1
    has1 = n1 > 1
    planar = not has1
    largest = np.int64(0)
    block = (0.0, np.iinfo(np.int64).max, np.inf)
    # (i, j) of row ``start``, then advanced by one per row (no division per row).
    i = start // n1
    j = start - i * n1 - 1
    for _ in range(start, stop):
        j += 1
        if j == n1:
            i += 1
            j = 0
        total = 0.0
        smallest = np.iinfo(np.int64).max
        im, ip = _neighbours(i, n0, periodic[0])
        jm, jp = _neighbours(j, n1, periodic[1])
        row0 = none
        row1 = none
        if separable:
            if has0:
                row0 = (a1[0][i + 1], b1[0][i + 1], a1[0][i], b1[0][i])
            if has1:
                row1 = (a1[1][j + 1], b1[1][j + 1], a1[1][j], b1[1][j])
        # Separable rates: a planar and a 3-D loop, so that ``planar`` is a literal in
        # each (a run-time flag inside the loop costs the vector loop).
        if separable and planar:
            for k in range(1, n2 - 1):
                value = _sg_value(
                    u[i, j, k], u0[i, j, k], u[ip, j, k], u[im, j, k], 0.0, 0.0,
                    u[i, j, k + 1], u[i, j, k - 1], row0, row1, (a2[k + 1], b2[k + 1], a2[k], b2[k]),
                    alpha, beta, dt, rhs_only, use_u0, True)[0]
                out[i, j, k] = value
                total, smallest = _tally(total, smallest, value)
        elif separable:
            for k in range(1, n2 - 1):
                value = _sg_value(
                    u[i, j, k], u0[i, j, k], u[ip, j, k], u[im, j, k], u[i, jp, k], u[i, jm, k],
                    u[i, j, k + 1], u[i, j, k - 1], row0, row1, (a2[k + 1], b2[k + 1], a2[k], b2[k]),
                    alpha, beta, dt, rhs_only, use_u0, False)[0]
                out[i, j, k] = value
                total, smallest = _tally(total, smallest, value)
        # Face arrays: one loop per set of present positions, each with unconditional
        # loads (a load under a position test inside the loop, or a call per cell,
        # kept it scalar: measured 8x slower at 512^2).
        elif has1:
            for k in range(1, n2 - 1):
                value, kout = _sg_value(
                    u[i, j, k], u0[i, j, k], u[ip, j, k], u[im, j, k], u[i, jp, k], u[i, jm, k],
                    u[i, j, k + 1], u[i, j, k - 1],
                    (an0[i + 1, j, k], bn0[i + 1, j, k], an0[i, j, k], bn0[i, j, k]),
                    (an1[i, j + 1, k], bn1[i, j + 1, k], an1[i, j, k], bn1[i, j, k]),
                    (an2[i, j, k + 1], bn2[i, j, k + 1], an2[i, j, k], bn2[i, j, k]),
                    alpha, beta, dt, rhs_only, use_u0, False)
                out[i, j, k] = value
                rates[k] = kout
                total, smallest = _tally(total, smallest, value)
        elif has0:
            for k in range(1, n2 - 1):
                value, kout = _sg_value(
                    u[i, j, k], u0[i, j, k], u[ip, j, k], u[im, j, k], 0.0, 0.0,
                    u[i, j, k + 1], u[i, j, k - 1],
                    (an0[i + 1, j, k], bn0[i + 1, j, k], an0[i, j, k], bn0[i, j, k]), none,
                    (an2[i, j, k + 1], bn2[i, j, k + 1], an2[i, j, k], bn2[i, j, k]),
                    alpha, beta, dt, rhs_only, use_u0, True)
                out[i, j, k] = value
                rates[k] = kout
                total, smallest = _tally(total, smallest, value)
        else:
            for k in range(1, n2 - 1):
                value, kout = _sg_value(
                    u[i, j, k], u0[i, j, k], 0.0, 0.0, 0.0, 0.0, u[i, j, k + 1], u[i, j, k - 1],
                    none, none, (an2[i, j, k + 1], bn2[i, j, k + 1], an2[i, j, k], bn2[i, j, k]),
                    alpha, beta, dt, rhs_only, use_u0, True)
                out[i, j, k] = value
                rates[k] = kout
                total, smallest = _tally(total, smallest, value)
        # The end cells, with wrapped or clamped neighbours along position 2.
        for end in range(2 if n2 > 1 else 1):
            k = 0 if end == 0 else n2 - 1
            km, kp = _neighbours(k, n2, periodic[2])
            if separable:
                c0, c1, c2 = row0, row1, (a2[k + 1], b2[k + 1], a2[k], b2[k])
            else:
                c0, c1, c2 = _cell_rates(an0, bn0, an1, bn1, an2, bn2, i, j, k, has0, has1)
            value, kout = _sg_value(u[i, j, k], u0[i, j, k], u[ip, j, k], u[im, j, k], u[i, jp, k],
                                    u[i, jm, k], u[i, j, kp], u[i, j, km], c0, c1, c2, alpha, beta,
                                    dt, rhs_only, use_u0, planar)
            out[i, j, k] = value
            rates[k] = kout
            total, smallest = _tally(total, smallest, value)
        if not separable:
            largest = max(largest, _row_max_bits(rates))
        negative = _row_negative_min(out, i, j) if smallest < 0 else np.inf
        block = _fold_row(block, total, smallest, negative)
    return largest, block[0], block[1], block[2]


@njit(cache=True, error_model="numpy", forceinline=True)
def _muscl_rows(u, u0, out, rates, start, stop, separable, a1, b1, an, bn, dh, periodic, alpha,
                beta, dt, rhs_only, use_u0):
    """Rows ``start..stop`` of MUSCL updates (positivity rates of a row into
    ``rates``); returns the reductions of :func:`_sg_rows`."""
    sizes = u.shape
    largest = np.int64(0)
    block = (0.0, np.iinfo(np.int64).max, np.inf)
    for row in range(start, stop):
        i = row // sizes[1]
        j = row - i * sizes[1]
        total = 0.0
        smallest = np.iinfo(np.int64).max
        for k in range(sizes[2]):
            ui = u[i, j, k]
            c = 0.0
            kout = 0.0
            inflow = 0.0
            index = (i, j, k)
            for p in range(3):
                if sizes[p] > 1:
                    m = index[p]
                    coefs = _face_rates(separable, a1[p], b1[p], an[p], bn[p], p, i, j, k, m)
                    c_, k_, in_ = _muscl_terms(u, ui, p, i, j, k, m, sizes[p], periodic[p], coefs,
                                               dh[p])
                    c += c_
                    kout += k_
                    inflow += in_
            value = _update(ui, u0[i, j, k], kout, inflow, alpha, beta, dt, rhs_only, use_u0)
            out[i, j, k] = value
            rates[k] = c
            total, smallest = _tally(total, smallest, value)
        largest = max(largest, _row_max_bits(rates))
        negative = _row_negative_min(out, i, j) if smallest < 0 else np.inf
        block = _fold_row(block, total, smallest, negative)
    return largest, block[0], block[1], block[2]


@njit(cache=True, error_model="numpy", forceinline=True)
def _rows(u, u0, out, rates, first, last, size, alpha, beta, dt, rhs_only, use_u0, separable,
          a1, b1, an, bn, dh, periodic, scheme, error_in, error_0, atol, rtol, want_error,
          partial, partial_bits):
    """Reduction blocks ``first..last`` (block ``b``: rows ``b*size`` to
    ``(b+1)*size`` of (i, j) pairs): values into ``out`` by one row-kernel call per
    block, which also returns the block's rate, minimum and sum (reduced as the
    values are computed); these and the embedded error sum (a second pass over the
    block, in cache, adaptive steps only) go into ``partial[b]`` (``partial_bits``:
    the same memory as int64, for the bit-pattern extrema).  A separable
    Scharfetter–Gummel stage leaves the rate to :func:`separable_rate`.  A call
    covers many blocks so that its fixed cost (numba's reference counting of the ~20
    arrays it receives, atomic and shared by the threads) is paid once per thread,
    not once per block; the reductions stay per block, so their bits do not depend
    on how blocks are grouped into calls.
    A plain stage (``out = u + dt L u``: Euler and every first SSP stage) calls the
    row kernel with literal flags, so LLVM folds them out of its loops."""
    n0, n1, n2 = u.shape
    rows = n0 * n1
    plain = not rhs_only and not use_u0
    for block in range(first, last):
        start = block * size
        stop = min(rows, start + size)
        if scheme == SCHEME_SG and plain:
            reductions = _sg_rows(u, u0, out, rates, start, stop, separable, a1, b1, an, bn,
                                  periodic, 0.0, 1.0, dt, False, False)
        elif scheme == SCHEME_SG:
            reductions = _sg_rows(u, u0, out, rates, start, stop, separable, a1, b1, an, bn,
                                  periodic, alpha, beta, dt, rhs_only, use_u0)
        else:
            reductions = _muscl_rows(u, u0, out, rates, start, stop, separable, a1, b1, an,
                                     bn, dh, periodic, alpha, beta, dt, rhs_only, use_u0)
        largest, total, smallest_bits, smallest_negative = reductions
        errors = 0.0
        if want_error:
            for row in range(start, stop):
                i = row // n1
                errors += _row_error_sum(out, u, u0, i, row - i * n1, error_in, error_0, atol,
                                         rtol)
        # A NaN coefficient cannot hide in the rate: it enters the inflow of the
        # neighbouring cell, so the (checked) sum is NaN too.
        partial_bits[block, 0] = largest
        if smallest_negative < np.inf:
            partial[block, 1] = smallest_negative
        else:
            partial_bits[block, 1] = smallest_bits
        partial[block, 2] = total
        partial[block, 3] = errors


@njit(cache=True, error_model="numpy", forceinline=True)
def _block(u, u0, out, rates, chunk, first, last, size, alpha, beta, dt, rhs_only, separable,
           a1, b1, an, bn, dh, periodic, scheme, error_in, error_0, atol, rtol, want_error,
           partial, partial_bits):
    """Reduction blocks ``first..last`` of thread chunk ``chunk`` (``rates[chunk]``:
    its row of rates work space, taken here rather than by the caller so that the
    parallel body creates no array view, which would cost the ``noalias`` marking of
    the module docstring); dispatches to a specialised copy of :func:`_rows`.  The
    four calls with constant ``scheme`` and ``separable`` inline ``_rows`` with those
    constants folded; one call with the runtime values measured 1.3-1.5x slower per
    512^2 stage."""
    use_u0 = alpha != 0.0 or beta != 1.0
    row_rates = rates[chunk]
    if scheme == SCHEME_SG:
        if separable:
            _rows(u, u0, out, row_rates, first, last, size, alpha, beta, dt, rhs_only, use_u0, True,
                  a1, b1, an, bn, dh, periodic, SCHEME_SG, error_in, error_0, atol, rtol,
                  want_error, partial, partial_bits)
        else:
            _rows(u, u0, out, row_rates, first, last, size, alpha, beta, dt, rhs_only, use_u0,
                  False, a1, b1, an, bn, dh, periodic, SCHEME_SG, error_in, error_0, atol, rtol,
                  want_error, partial, partial_bits)
    else:
        if separable:
            _rows(u, u0, out, row_rates, first, last, size, alpha, beta, dt, rhs_only, use_u0, True,
                  a1, b1, an, bn, dh, periodic, SCHEME_MUSCL, error_in, error_0, atol, rtol,
                  want_error, partial, partial_bits)
        else:
            _rows(u, u0, out, row_rates, first, last, size, alpha, beta, dt, rhs_only, use_u0,
                  False, a1, b1, an, bn, dh, periodic, SCHEME_MUSCL, error_in, error_0, atol,
                  rtol, want_error, partial, partial_bits)


@njit(parallel=True, cache=True, error_model="numpy")
def stage(
    u, u0, out, alpha, beta, dt, rhs_only, separable, a1, b1, an, bn,
    dh, periodic, scheme, error_in, error_0, atol, rtol, want_error, partial, partial_bits,
    rates, threads,
):
    """One fused pass: the flux divergence of ``u`` and the stage update

        out = alpha u0 + beta (u + dt L u)        (``rhs_only``: out = L u)

    written in the positive form of the module docstring, with the reductions
    ``max_i c_i`` (positivity rate), ``min out``, ``sum out`` and, with
    ``want_error``, the sum over cells of
    ``((out - e) / (atol + rtol max(|u0|, |out|)))^2`` for the embedded solution
    ``e = error_in u + error_0 u0`` (reusing the stage data while it is in cache).

    ``u0`` is not read when ``alpha == 0`` and ``beta == 1``.  Coefficients, per 3-D position ``p``
    (tuples of three arrays): 1-D arrays ``a1[p], b1[p]`` (``separable``) or face
    arrays ``an[p], bn[p]``; ``dh`` (= D/h^2, MUSCL) and ``periodic`` are per
    position.  ``partial`` is a ``(_BLOCKS, 4)`` work array and ``partial_bits`` the
    same memory as int64; ``rates`` a ``(_BLOCKS, n2)`` work array (no allocation in
    the kernel: allocations in parallel threads contend).  ``out`` must not overlap
    ``u`` or ``u0`` (the kernel is compiled on that promise).  Returns
    ``(rate, min, sum, error_sum)``; a non-finite value anywhere makes ``sum``
    non-finite.  Each row is computed in one vectorised loop that also tallies its
    sum and minimum (the embedded error, when wanted, in a second pass over each
    block while it is in cache).  The compiled multi-step loop
    (:mod:`._multistep`) runs the same three parts: :func:`stage_blocks`, the
    parallel loop over :func:`_block`, :func:`stage_result`.
    """
    blocks, size, chunks = stage_blocks(u.shape, threads)
    for chunk in prange(chunks):
        first, last = thread_chunk(np.int64(chunk), chunks, blocks)
        _block(u, u0, out, rates, chunk, first, last, size, alpha, beta, dt, rhs_only,
               separable, a1, b1, an, bn, dh, periodic, scheme, error_in, error_0, atol, rtol,
               want_error, partial, partial_bits)
    return stage_result(partial, blocks, scheme == SCHEME_SG and separable, a1, b1, u.shape)

"""Numba kernels of the finite-volume Fokker–Planck operator.

The operator is ``L[u] = -div(v u) + D Lap u`` in flux form on a cell-centred grid:

    (L u)_i = - sum_d (F_{d, i+1/2} - F_{d, i-1/2}) / h_d

Every array is handled as 3-D (a 1-D or 2-D field gets trailing axes of length 1 whose
fluxes are zero), so one kernel serves every dimension.  Along axis ``d`` the face
arrays have ``n_d + 1`` entries: face ``f`` separates cell ``f - 1`` (left) from cell
``f`` (right); faces ``0`` and ``n_d`` are the walls (zero flux for no-flux axes; the
same periodic face for periodic axes).

Face fluxes are written as ``F = out_left * u_L^face - out_right * u_R^face`` with
nonnegative coefficients:

* Scharfetter–Gummel (``SCHEME_SG``): ``F = (D/h) [B(-Pe) u_L - B(Pe) u_R]`` with
  ``Pe = v h / D`` and the Bernoulli function ``B(z) = z / (e^z - 1)``: positive,
  exact for the discrete equilibrium of a constant face velocity, second order for
  bounded Péclet numbers, upwind when ``D -> 0``.
* MUSCL (``SCHEME_MUSCL``): ``F = v^+ u_L^+ - v^- u_R^- + (D/h)(u_L - u_R)`` with
  face values reconstructed from van Leer limited slopes: second order in smooth
  regions, positive under the CFL bound computed in :func:`divergence`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

SCHEME_SG = 0
SCHEME_MUSCL = 1


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


@njit(parallel=True, cache=True)
def face_fluxes(u, velocity, diffusion, h, axis, periodic, scheme, flux, out_left, out_right):
    """Fill ``flux``, ``out_left``, ``out_right`` (face arrays along ``axis``) from the
    cell field ``u``, the normal face velocity ``velocity`` and the scalar diffusion
    coefficient ``diffusion``.  ``out_left``/``out_right`` are the coefficients with
    which ``u_L``/``u_R`` leave their cell through the face (used for the positivity
    CFL and the implicit matrix); for MUSCL they hold ``v^+``/``v^-`` only."""
    n = u.shape[axis]
    m0, m1, m2 = flux.shape
    d_over_h = diffusion / h
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
                if f == 0 or f == n:
                    if not periodic:
                        flux[i, j, k] = 0.0
                        out_left[i, j, k] = 0.0
                        out_right[i, j, k] = 0.0
                        continue
                    left = n - 1
                    right = 0
                else:
                    left = f - 1
                    right = f
                # Periodic walls are one face: both copies use the velocity of face 0
                # so the two fluxes are bitwise equal and mass is conserved.
                v = _at(velocity, axis, i, j, k, 0) if f == n else velocity[i, j, k]
                u_left = _at(u, axis, i, j, k, left)
                u_right = _at(u, axis, i, j, k, right)
                if scheme == SCHEME_SG:
                    if diffusion > 0.0:
                        # One exponential per face: B(-z) = B(z) + z, evaluated from
                        # B(|z|) so that the small coefficient has no cancellation.
                        peclet = v * h / diffusion
                        small = _bernoulli(abs(peclet))
                        large = small + abs(peclet)
                        if peclet >= 0.0:
                            a = d_over_h * large
                            b = d_over_h * small
                        else:
                            a = d_over_h * small
                            b = d_over_h * large
                    else:
                        a = max(v, 0.0)
                        b = max(-v, 0.0)
                    flux[i, j, k] = a * u_left - b * u_right
                    out_left[i, j, k] = a
                    out_right[i, j, k] = b
                else:
                    # Second neighbours; at a no-flux wall the slope of the boundary
                    # cell is set to zero (first order there, still positive).
                    if left > 0 or periodic:
                        u_far_left = _at(u, axis, i, j, k, (left - 1) % n)
                        slope_left = _van_leer(u_left - u_far_left, u_right - u_left)
                    else:
                        slope_left = 0.0
                    if right < n - 1 or periodic:
                        u_far_right = _at(u, axis, i, j, k, (right + 1) % n)
                        slope_right = _van_leer(u_right - u_left, u_far_right - u_right)
                    else:
                        slope_right = 0.0
                    face_left = u_left + 0.5 * slope_left
                    face_right = u_right - 0.5 * slope_right
                    a = max(v, 0.0)
                    b = max(-v, 0.0)
                    flux[i, j, k] = a * face_left - b * face_right + d_over_h * (u_left - u_right)
                    out_left[i, j, k] = a
                    out_right[i, j, k] = b


@njit(parallel=True, cache=True)
def divergence(
    flux0, flux1, flux2, outl0, outl1, outl2, outr0, outr1, outr2, h, diffusion, scheme, du
):
    """``du = -sum_d (F_{d,f+1} - F_{d,f}) / h_d`` per cell, and ``rate`` per cell:
    the total outflow rate ``c_i`` such that a forward-Euler step keeps ``u_i >= 0``
    whenever ``dt c_i <= 1``; returns ``max_i c_i`` (a parallel max-reduction).

    For Scharfetter–Gummel ``c_i = sum_d (out_left_{f+1} + out_right_f) / h_d``.  For
    MUSCL the limited face values satisfy ``u^+ + u^- = 2 u_i``, so
    ``c_i = sum_d (2 max(v^+_{f+1}, v^-_f) + 2 D/h_d) / h_d``.
    """
    n0, n1, n2 = du.shape
    h0 = h[0]
    h1 = h[1]
    h2 = h[2]
    largest = 0.0
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                # Axes of length 1 (padding of 1-D/2-D fields) carry no flux; skipping
                # them saves memory traffic.
                change = (flux0[i + 1, j, k] - flux0[i, j, k]) / h0
                if scheme == SCHEME_MUSCL:
                    c = max(outl0[i + 1, j, k], outr0[i, j, k]) + diffusion[0] / h0
                    c = 2.0 * c / h0
                else:
                    c = (outl0[i + 1, j, k] + outr0[i, j, k]) / h0
                if n1 > 1:
                    change += (flux1[i, j + 1, k] - flux1[i, j, k]) / h1
                    if scheme == SCHEME_MUSCL:
                        c += 2.0 * (max(outl1[i, j + 1, k], outr1[i, j, k]) + diffusion[1] / h1) / h1
                    else:
                        c += (outl1[i, j + 1, k] + outr1[i, j, k]) / h1
                if n2 > 1:
                    change += (flux2[i, j, k + 1] - flux2[i, j, k]) / h2
                    if scheme == SCHEME_MUSCL:
                        c += 2.0 * (max(outl2[i, j, k + 1], outr2[i, j, k]) + diffusion[2] / h2) / h2
                    else:
                        c += (outl2[i, j, k + 1] + outr2[i, j, k]) / h2
                du[i, j, k] = -change
                largest = max(largest, c)
    return largest


@njit(parallel=True, cache=True)
def linear_combination(alpha, u0, beta, u1, dt, du, out):
    """``out = alpha u0 + beta (u1 + dt du)`` elementwise (one SSP Runge–Kutta stage)
    on flattened arrays; returns ``(min(out), sum(out), all finite)``."""
    n = out.size
    total = 0.0
    smallest = np.inf
    bad = 0
    for m in prange(n):
        value = alpha * u0[m] + beta * (u1[m] + dt * du[m])
        out[m] = value
        total += value
        if not math.isfinite(value):
            bad += 1
        smallest = min(smallest, value)
    return smallest, total, bad == 0


@njit(parallel=True, cache=True)
def scale_into(field, scale, out):
    """``out = scale * field`` elementwise on flattened arrays (face velocities of a
    linear drift ``a(t) x``)."""
    for m in prange(out.size):
        out[m] = scale * field[m]


@njit(parallel=True, cache=True)
def error_norm(u_old, u_new, u_embedded, atol, rtol):
    """RMS over cells of ``(u_new - u_embedded) / (atol + rtol max(|u_old|, |u_new|))``
    on flattened arrays (the ``scipy.integrate`` error norm)."""
    n = u_new.size
    total = 0.0
    for m in prange(n):
        scale = atol + rtol * max(abs(u_old[m]), abs(u_new[m]))
        ratio = (u_new[m] - u_embedded[m]) / scale
        total += ratio * ratio
    return math.sqrt(total / n)


@njit(parallel=True, cache=True)
def cached_divergence(u, left0, left1, left2, right0, right1, right2, h, scale, du):
    """Fused Scharfetter–Gummel right-hand side from precomputed face coefficients
    (SG coefficients are homogeneous of degree one in (v, D), so a drift ``a(t) x``
    with ``a/D`` fixed, as for heat flow, OU, VP and VE, reuses them): per cell,

        du_i = -scale sum_d (F_{d,f+1} - F_{d,f}) / h_d,  F = out_left u_L - out_right u_R,

    each face flux evaluated by the same expression in both neighbouring cells (so
    the two copies are bitwise equal and mass is conserved).  Wall coefficients are
    zero on no-flux axes, so the wrapped neighbour index there contributes nothing.
    Returns ``max_i c_i`` (the positivity rate, times ``scale``)."""
    n0, n1, n2 = du.shape
    h0 = h[0]
    h1 = h[1]
    h2 = h[2]
    largest = 0.0
    for i in prange(n0):
        im = i - 1 if i > 0 else n0 - 1
        ip = i + 1 if i < n0 - 1 else 0
        for j in range(n1):
            jm = j - 1 if j > 0 else n1 - 1
            jp = j + 1 if j < n1 - 1 else 0
            for k in range(n2):
                ui = u[i, j, k]
                right_face = left0[i + 1, j, k] * ui - right0[i + 1, j, k] * u[ip, j, k]
                left_face = left0[i, j, k] * u[im, j, k] - right0[i, j, k] * ui
                change = (right_face - left_face) / h0
                c = (left0[i + 1, j, k] + right0[i, j, k]) / h0
                if n1 > 1:
                    right_face = left1[i, j + 1, k] * ui - right1[i, j + 1, k] * u[i, jp, k]
                    left_face = left1[i, j, k] * u[i, jm, k] - right1[i, j, k] * ui
                    change += (right_face - left_face) / h1
                    c += (left1[i, j + 1, k] + right1[i, j, k]) / h1
                if n2 > 1:
                    km = k - 1 if k > 0 else n2 - 1
                    kp = k + 1 if k < n2 - 1 else 0
                    right_face = left2[i, j, k + 1] * ui - right2[i, j, k + 1] * u[i, j, kp]
                    left_face = left2[i, j, k] * u[i, j, km] - right2[i, j, k] * ui
                    change += (right_face - left_face) / h2
                    c += (left2[i, j, k + 1] + right2[i, j, k]) / h2
                du[i, j, k] = -scale * change
                largest = max(largest, c)
    return scale * largest

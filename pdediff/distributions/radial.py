"""Rotation-invariant laws: Ball, Annulus, Circle, Sphere and Rings (2-D and 3-D).

Write ``Y = c + R Theta`` with ``Theta`` uniform on the unit sphere ``S^{n-1}`` and an
independent radius ``R ~ nu``.  With ``xi = x - alpha_t c``, ``rho = |xi|`` and ``v =
v_t``, the spherical average of the Gaussian kernel has the closed form

    K_n(rho, r) = E_Theta N(xi; r Theta, v I) = (2 pi v)^{-n/2} exp(-(rho - r)^2 / (2 v)) E_n(z),
    z = rho r / v,   E_2(z) = I_0(z) e^{-z} (= i0e),   E_3(z) = (1 - e^{-2z}) / (2z),

so that ``p_t(x) = int K_n(rho, r) nu_t(dr)`` with ``nu_t`` the law of ``alpha_t R``.
For a circle or sphere ``nu_t`` is a point mass (exact closed form); for a ball or
annulus (``nu(dr) ~ r^{n-1} dr`` on ``[R_1, R_2]``) the ``r``-integral is done by
composite Gauss–Legendre (``panels x nodes`` points, log-sum-exp form) on the window of
``[alpha R_1, alpha R_2]`` where the Gaussian factor is within ``e^{-40.5}`` of its
maximum: ``[m - w, m + w]`` with ``m`` the clipped ``rho`` and ``w = 9 sqrt(v)`` inside
the support; at distance ``d`` outside, the one-sided window of length
``sqrt(d^2 + 81 v) - d`` (``~ 40.5 v / d``: the integrand decays like ``exp(-d u / v)``).

Given ``x`` and ``r_j``, the direction ``Theta`` is von Mises–Fisher with concentration
``z_j = rho r_j / v``.  With ``A(z) = I_{n/2}(z) / I_{n/2-1}(z)`` (``I_1/I_0`` in 2-D,
``coth z - 1/z`` in 3-D), ``B = A / z`` (smooth at 0), ``D = 1 - A`` and the vMF
variance along the mean direction ``V(z) = 1 - A^2 - (n - 1) B`` (``D`` and ``V`` with
relative accuracy at large ``z``: asymptotic series in 2-D, ``1/z`` and ``1/z^2`` forms in
3-D), Tweedie's formulas give, with posterior node weights ``p_j ~ nu_t(r_j) K_n(rho,
r_j)`` and the radial posterior mean ``m = sum_j p_j r_j A(z_j)``:

    tangential eigenvalue  lambda_t = (m - rho) / (rho v) = (V_t / v - 1) / v,
                           V_t = sum_j p_j r_j^2 B(z_j)
    radial eigenvalue      lambda_r = (V_r / v - 1) / v,
                           V_r = sum_j p_j [r_j^2 V(z_j) + (r_j A(z_j) - m)^2]
    score      = lambda_t xi
    Hessian    = lambda_t I + (lambda_r - lambda_t) xi xi^T / rho^2
    divergence = (n - 1) lambda_t + lambda_r .

As ``v -> 0`` the nodes pack within ``~sqrt(v)`` (or ``v / d``) of a reference radius
``r_ref``, where ``r_j`` itself no longer resolves their spread; so ``m - rho`` and the
spread in ``V_r`` are accumulated from the offsets ``nu_j = r_j - r_ref - r_j D(z_j)``
(``m = r_ref + sum_j p_j nu_j``) whenever ``rho r_ref / v >= 1``; below that the direct
``V_t`` form has no cancellation.  The numba kernel
:func:`pdediff.distributions._kernels.radial_kernel` implements these formulas (Bessel
functions from piecewise Chebyshev fits, relative error < 5e-15);
:func:`radial_evaluate` is the numpy/scipy twin used to test it.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
from scipy.special import i0e, i1e

from ..grid import Grid
from ._kernels import radial_kernel
from .base import (
    Distribution,
    as_center,
    as_positive,
    as_weights,
    gauss_legendre,
    logsumexp,
)
from .boxes import Box, BoxMixture

#: below this z the power series of B is used (above it the direct forms lose at most
#: ~1e-14 relative to cancellation; the 24-term series converge like (z / 2.4)^2 per term)
_Z_SERIES = 1.0
_N_TERMS = 24
#: above these z, V(z) comes from its large-z form (3-D: 1/z^2 exactly up to e^{-2z};
#: 2-D: 12 terms of the asymptotic series, relative error < 1e-14 for z >= 50)
_Z_LARGE = {2: 50.0, 3: 20.0}
#: half-width of the radial window in units of sqrt(v)
WINDOW = 9.0


def _series_b(n: int) -> np.ndarray:
    """Power-series coefficients in ``w = z^2 / 4`` of ``B(z) = I_nu / (z I_{nu-1})``
    (``nu = n/2``), from ``I_nu(z) = (z/2)^nu sum_k w^k / (k! Gamma(k + nu + 1))`` by
    series division."""
    nu = 0.5 * n
    orders = range(_N_TERMS + 1)
    top = np.array([1.0 / (math.factorial(j) * math.gamma(j + nu + 1)) for j in orders])
    bottom = np.array([1.0 / (math.factorial(j) * math.gamma(j + nu)) for j in orders])
    ratio = np.zeros(_N_TERMS + 1)
    for k in range(_N_TERMS + 1):
        ratio[k] = (top[k] - np.dot(ratio[:k], bottom[k:0:-1])) / bottom[0]
    return 0.5 * ratio[:_N_TERMS]


def _asymptotic_v2(terms: int = 12) -> np.ndarray:
    """Coefficients ``s_k`` of ``V(z) = sum_k s_k z^{-(k+2)}`` and ``d_k`` of ``1 - A(z)
    = sum_k d_k z^{-(k+1)}`` in 2-D (large z), shape (2, terms), exact
    rationals from the Hankel expansions ``I_nu(z) ~ e^z / sqrt(2 pi z) sum_k (-1)^k
    a_k(nu) z^{-k}``, ``a_k(nu) = prod_{j<=k} (4 nu^2 - (2j-1)^2) / (k! 8^k)``."""
    size = terms + 2

    def hankel(nu: int) -> list[Fraction]:
        out = []
        for k in range(size):
            num = Fraction(1)
            for j in range(1, k + 1):
                num *= 4 * nu * nu - (2 * j - 1) ** 2
            out.append((-1) ** k * num / (math.factorial(k) * 8**k))
        return out

    p1, p0 = hankel(1), hankel(0)
    a = [Fraction(0)] * size
    for k in range(size):
        a[k] = (p1[k] - sum(a[j] * p0[k - j] for j in range(k))) / p0[0]
    a2 = [sum(a[j] * a[k - j] for j in range(k + 1)) for k in range(size)]
    v = [(1 if k == 0 else 0) - a2[k] - (a[k - 1] if k else 0) for k in range(size)]
    # row 0: V(z) z^2 in powers of 1/z; row 1: D(z) z = (1 - A(z)) z in powers of 1/z
    return np.array([[float(c) for c in v[2:]], [float(-c) for c in a[1 : size - 1]]])


_SERIES_B = {n: _series_b(n) for n in (2, 3)}
_ASYMPTOTIC_2 = np.ascontiguousarray(_asymptotic_v2())


def _bessel_chebyshev(degree: int = 18) -> np.ndarray:
    """Piecewise Chebyshev fits (interpolation of scipy's values at Chebyshev points)
    used by the numba kernel, shape (2, 6, degree + 1): row 0 ``i0e(z)``, row 1
    ``i1e(z) / z`` on the pieces ``[0,2], [2,4], [4,6], [6,8]`` (variable ``z - 2k -
    1``), then ``sqrt(z) i0e(z)``, ``sqrt(z) i1e(z)`` on ``z in [16, inf)`` and ``[8,
    16]`` (variable ``2u + 1``, resp. ``2u - 1``, with ``u = 16/z - 1``).  Relative error
    below 5e-15 (checked against scipy in the tests)."""
    t = np.cos(np.pi * (np.arange(degree + 1) + 0.5) / (degree + 1))  # Chebyshev points

    def fit(values: np.ndarray) -> np.ndarray:
        return np.polynomial.chebyshev.chebfit(t, values, degree)

    def i1_over_z(z: np.ndarray) -> np.ndarray:
        return np.where(z > 0, i1e(z) / np.where(z > 0, z, 1.0), 0.5)

    out = np.empty((2, 6, degree + 1))
    for k in range(4):
        z = t + 2 * k + 1
        out[0, k], out[1, k] = fit(i0e(z)), fit(i1_over_z(z))
    for k, u in ((4, 0.5 * (t - 1.0)), (5, 0.5 * (t + 1.0))):
        z = 16.0 / (u + 1.0)
        out[0, k], out[1, k] = fit(np.sqrt(z) * i0e(z)), fit(np.sqrt(z) * i1e(z))
    return np.ascontiguousarray(out)


_CHEB = _bessel_chebyshev()


def _horner(coefficients: np.ndarray, w: np.ndarray) -> np.ndarray:
    out = np.full_like(w, coefficients[-1])
    for coefficient in coefficients[-2::-1]:
        out = out * w + coefficient
    return out


def _log_e(z: np.ndarray, n: int, e0: np.ndarray | None = None) -> np.ndarray:
    """``log E_n(z)`` (see the module docstring), z >= 0; ``e0 = i0e(z)`` if known (2-D)."""
    if n == 2:
        return np.log(i0e(z) if e0 is None else e0)
    small = z < 1e-8
    zs = np.where(small, 1.0, z)
    return np.where(small, -z, np.log(-np.expm1(-2.0 * zs)) - np.log(2.0 * zs))


def _b_v_d(
    z: np.ndarray, n: int, e0: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``B(z) = A(z)/z`` (power series below ``_Z_SERIES``, direct above), the vMF
    radial variance ``V(z) = 1 - A^2 - (n-1) B`` and ``D(z) = 1 - A(z)``, the last two
    with relative accuracy at large z (asymptotic series in 2-D, ``1/z^2`` and ``1/z -
    2/expm1(2z)`` in 3-D).  ``e0 = i0e(z)`` if known."""
    small = z < _Z_SERIES
    b = np.empty_like(z)
    zl = z[~small]
    if n == 2:
        b[~small] = i1e(zl) / (i0e(zl) if e0 is None else e0[~small]) / zl
    else:
        b[~small] = (1.0 / np.tanh(zl) - 1.0 / zl) / zl
    b[small] = _horner(_SERIES_B[n], 0.25 * z[small] ** 2)
    a = z * b
    v = 1.0 - a * a - (n - 1) * b
    d = 1.0 - a
    large = z >= _Z_LARGE[n]
    u = 1.0 / z[large]
    if n == 2:
        v[large] = u * u * _horner(_ASYMPTOTIC_2[0], u)
        d[large] = u * _horner(_ASYMPTOTIC_2[1], u)
    else:
        v[large] = u * u
        d[~small] = 1.0 / zl - 2.0 / np.expm1(np.minimum(2.0 * zl, 700.0))
    return b, v, d


def radial_evaluate(
    xi: np.ndarray, r0: np.ndarray, delta: np.ndarray, log_w: np.ndarray, v: float, mode: int
) -> tuple:
    """Log-density, score, divergence, Hessian of ``p(x) = sum_j w_j K_n(|xi|, r_j)``
    (numpy/scipy implementation; the numba kernel
    :func:`pdediff.distributions._kernels.radial_kernel` computes the same).

    ``xi`` (N, n) points relative to the centre; radii ``r_j = r0 + delta_j`` (already
    scaled by alpha) given as a reference ``r0`` and offsets ``delta``, and log weights
    ``log_w`` of the radial law (summing to 1), all broadcastable to (N, Q).  The
    Gaussian exponent is taken relative to the first node's reference,
    ``(rho - r_j)^2 - (rho - r0_0)^2 = (r0_j - r0_0)(r0_j + r0_0 - 2 rho) - delta_j (2
    (rho - r0_j) - delta_j)``, so that nodes packed within a few ulps of ``r0`` (windows
    of width ``~v / d`` at tiny ``t``) keep their relative weights exactly.  Formulas in
    the module docstring.
    """
    n_pts, n = xi.shape
    rho = np.sqrt(np.sum(xi * xi, axis=1))[:, None]
    shape = np.broadcast_shapes(np.shape(r0), np.shape(delta), np.shape(log_w), (n_pts, 1))
    r0 = np.broadcast_to(r0, shape)
    rr = r0 + delta
    z = rho * rr / v
    ref = r0[:, :1]
    gap0 = rho - ref
    shift = (r0 - ref) * (r0 + ref - 2.0 * rho) - delta * (2.0 * (rho - r0) - delta)
    e0 = i0e(z) if n == 2 else None
    terms = log_w - shift / (2.0 * v) + _log_e(z, n, e0)
    lse = logsumexp(terms, axis=1)
    logp = lse - 0.5 * n * math.log(2.0 * math.pi * v) - gap0[:, 0] ** 2 / (2.0 * v)
    if mode == 0:
        return logp, None, None, None
    p = np.exp(terms - lse[:, None])
    b, var, dd = _b_v_d(z, n, e0)
    # lambda_t = tangential Hessian eigenvalue = score factor: (m - rho) / (rho v), with
    # m - rho = (ref - rho) + E[nu] taken from offsets nu_j = r_j - ref - r_j D(z_j)
    # (accurate when the nodes are packed, z >> 1); for small z the direct
    # (V_t / v - 1) / v, V_t = E[r^2 B], has no cancellation.
    nu = (r0 - ref) + delta - rr * dd
    mean_nu = np.sum(p * nu, axis=1)
    rho1 = rho[:, 0]
    z_ref = rho1 * ref[:, 0] / v
    v_t = np.sum(p * rr * rr * b, axis=1)
    packed = (z_ref >= 1.0) & (rho1 > 0)
    lam_t = np.where(
        packed,
        ((ref[:, 0] - rho1) + mean_nu) / (np.where(packed, rho1, 1.0) * v),
        (v_t / v - 1.0) / v,
    )
    score = xi * lam_t[:, None]
    div = hess = None
    if mode & 6:
        v_r = np.sum(p * (rr * rr * var + (nu - mean_nu[:, None]) ** 2), axis=1)
        lam_r = (v_r / v - 1.0) / v
        if mode & 2:
            div = (n - 1) * lam_t + lam_r
        if mode & 4:
            unit = np.divide(xi, rho1[:, None], out=np.zeros_like(xi), where=rho1[:, None] > 0)
            hess = (lam_t[:, None, None] * np.eye(n)
                    + (lam_r - lam_t)[:, None, None] * unit[:, :, None] * unit[:, None, :])
    return logp, score if mode & 1 else None, div, hess


class _Radial(Distribution):
    """Common part of the rotation-invariant laws about ``center``."""

    center: np.ndarray

    def _nodes(self, rho: np.ndarray, alpha: float, v: float) -> tuple[np.ndarray, ...]:
        """``(r0, delta, log_w)``: radial nodes ``r0 + delta`` of the law of ``alpha R``
        and their log weights (see :func:`radial_evaluate`)."""
        raise NotImplementedError

    def _evaluate(self, x: np.ndarray, alpha: float, v: float, mode: int) -> tuple:
        xi = x - alpha * self.center
        rho = np.sqrt(np.sum(xi * xi, axis=1))
        r0, delta, log_w = self._nodes(rho, alpha, v)
        shape = np.broadcast_shapes(r0.shape, delta.shape, log_w.shape, (xi.shape[0], 1))
        n_pts, n = xi.shape
        logp = np.empty(n_pts)
        score = np.empty((n_pts, n)) if mode & 1 else np.empty((0, 0))
        div = np.empty(n_pts) if mode & 2 else np.empty(0)
        hess = np.empty((n_pts, n, n)) if mode & 4 else np.empty((0, 0, 0))
        if n_pts:
            radial_kernel(
                np.ascontiguousarray(xi),
                # writeable C copies: one kernel signature (read-only views would add one)
                *(np.array(np.broadcast_to(a, shape), order="C") for a in (r0, delta, log_w)),
                float(v), mode, _CHEB, _SERIES_B[n], _ASYMPTOTIC_2, _Z_SERIES, _Z_LARGE[n],
                logp, score, div, hess,
            )
        return (
            logp,
            score if mode & 1 else None,
            div if mode & 2 else None,
            hess if mode & 4 else None,
        )

    def _evaluate_reference(self, x: np.ndarray, alpha: float, v: float, mode: int) -> tuple:
        """The same quantities by the numpy/scipy implementation (:func:`radial_evaluate`),
        kept as an independent check of the kernel."""
        xi = x - alpha * self.center
        rho = np.sqrt(np.sum(xi * xi, axis=1))
        r0, delta, log_w = self._nodes(rho, alpha, v)
        return radial_evaluate(xi, r0, delta, log_w, v, mode)

    def _radii_moment2(self) -> float:
        raise NotImplementedError

    def _mean(self) -> np.ndarray:
        return self.center.copy()

    def _cov(self) -> np.ndarray:
        return self._radii_moment2() / self.ndim * np.eye(self.ndim)

    def _directions(self, n: int, rng: np.random.Generator) -> np.ndarray:
        g = rng.standard_normal((n, self.ndim))
        return g / np.linalg.norm(g, axis=1, keepdims=True)

    def _rho(self, x: np.ndarray) -> np.ndarray:
        return np.linalg.norm(x - self.center, axis=1)

    def _project(self, x: np.ndarray, rho: np.ndarray, radius: np.ndarray) -> np.ndarray:
        """``center + radius * (x - center)/|x - center|`` (first axis at the centre)."""
        xi = x - self.center
        unit = np.zeros_like(xi)
        unit[:, 0] = 1.0
        safe = rho > 0
        unit[safe] = xi[safe] / rho[safe, None]
        return self.center + radius[:, None] * unit


class Annulus(_Radial):
    """Uniform law on ``{r_inner <= |y - center| <= r_outer}`` in 2-D or 3-D
    (``r_inner = 0`` is the ball; in 1-D two segments, a :class:`BoxMixture`).

    Parameters
    ----------
    center : array, shape (n,)
    r_inner, r_outer : float
        ``0 <= r_inner < r_outer`` (length units).
    panels, nodes : int
        Composite Gauss–Legendre rule of the radial integral (default 4 x 16; the
        relative error of ``p_t`` is below 1e-12 for every ``t > 0``, see the tests).
    """

    name = "annulus"

    def __new__(cls, center: Any = None, *args: Any, **kwargs: Any) -> Any:
        # (center None: unpickling, which calls __new__ without arguments)
        c = np.atleast_1d(np.asarray(center if center is not None else [0.0, 0.0], dtype=float))
        if c.ndim == 1 and c.shape[0] == 1:
            return _segment_law(cls, float(c[0]), *args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self, center: Any, r_inner: float, r_outer: float, panels: int = 4, nodes: int = 16
    ) -> None:
        self.center = as_center(center, dims=(2, 3))
        self.ndim = self.center.shape[0]
        self.r_inner = as_positive(r_inner, "r_inner", allow_zero=True)
        self.r_outer = as_positive(r_outer, "r_outer")
        if self.r_inner >= self.r_outer:
            raise ValueError(
                f"r_inner: expected r_inner < r_outer = {self.r_outer}, got {self.r_inner}"
            )
        for name, value in (("panels", panels), ("nodes", nodes)):
            if not isinstance(value, (int, np.integer)) or not 1 <= value <= 256:
                raise ValueError(f"{name}: expected an int in [1, 256], got {value!r}")
        self.panels, self.nodes = int(panels), int(nodes)
        x, w = gauss_legendre(self.nodes)
        self._unit_nodes = ((np.arange(self.panels)[:, None] + x[None, :]) / self.panels).ravel()
        self._unit_log_w = np.log(np.tile(w, self.panels) / self.panels)

    @property
    def volume(self) -> float:
        """Lebesgue measure of the annulus."""
        n = self.ndim
        unit = math.pi if n == 2 else 4.0 * math.pi / 3.0
        return unit * (self.r_outer**n - self.r_inner**n)

    def _nodes(self, rho: np.ndarray, alpha: float, v: float) -> tuple[np.ndarray, np.ndarray]:
        n = self.ndim
        r1, r2 = alpha * self.r_inner, alpha * self.r_outer
        centre = np.clip(rho, r1, r2)
        # Off the support, at distance d, the integrand decays into it like
        # exp(-(d u + u^2 / 2) / v): keep u up to where the exponent reaches WINDOW^2/2.
        d = np.abs(rho - centre)
        half = np.sqrt(d * d + WINDOW**2 * v) - d
        half = np.where(d > 0, WINDOW**2 * v / (np.sqrt(d * d + WINDOW**2 * v) + d), half)
        # window [centre + a, centre + b] as offsets, so that tiny windows stay exact
        a = np.where(rho < r1, 0.0, np.maximum(r1 - centre, -half))[:, None]
        b = np.where(rho > r2, 0.0, np.minimum(r2 - centre, half))[:, None]
        delta = a + (b - a) * self._unit_nodes[None, :]
        r = centre[:, None] + delta
        # radial density n r^{n-1} / (r2^n - r1^n) of alpha R
        log_f = math.log(n) + (n - 1) * np.log(r) - math.log(r2**n - r1**n)
        return centre[:, None], delta, self._unit_log_w[None, :] + np.log(b - a) + log_f

    def _log_density_data(self, x: np.ndarray) -> np.ndarray:
        rho = self._rho(x)
        inside = (rho >= self.r_inner) & (rho <= self.r_outer)
        return np.where(inside, -math.log(self.volume), -np.inf)

    def _bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        return self.center - self.r_outer, self.center + self.r_outer

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        d = self.ndim
        u = rng.random(n)
        radius = (self.r_inner**d + u * (self.r_outer**d - self.r_inner**d)) ** (1.0 / d)
        return self.center + radius[:, None] * self._directions(n, rng)

    def _distance(self, x: np.ndarray) -> np.ndarray:
        rho = self._rho(x)
        return np.maximum(np.maximum(rho - self.r_outer, self.r_inner - rho), 0.0)

    def _nearest(self, x: np.ndarray) -> np.ndarray:
        rho = self._rho(x)
        return self._project(x, rho, np.clip(rho, self.r_inner, self.r_outer))

    def _radii_moment2(self) -> float:
        n, a, b = self.ndim, self.r_inner, self.r_outer
        return n / (n + 2) * (b ** (n + 2) - a ** (n + 2)) / (b**n - a**n)

    def _params(self) -> dict[str, Any]:
        return {"center": self.center.tolist(), "r_inner": self.r_inner,
                "r_outer": self.r_outer, "panels": self.panels, "nodes": self.nodes}


class Ball(Annulus):
    """Uniform law on the ball ``|y - center| <= radius`` in 2-D or 3-D (in 1-D the
    segment ``[center - radius, center + radius]``, returned as a :class:`Box`).
    Quadrature arguments as in :class:`Annulus`."""

    name = "ball"

    def __init__(self, center: Any, radius: float, panels: int = 4, nodes: int = 16) -> None:
        super().__init__(center, 0.0, as_positive(radius, "radius"), panels, nodes)

    @property
    def radius(self) -> float:
        return self.r_outer

    def _params(self) -> dict[str, Any]:
        return {"center": self.center.tolist(), "radius": self.r_outer,
                "panels": self.panels, "nodes": self.nodes}


def _segment_law(cls: type, c: float, *args: Any, **kwargs: Any) -> Distribution:
    """1-D balls and annuli are (unions of) segments."""
    if cls is Ball:
        radius = as_positive(args[0] if args else kwargs["radius"], "radius")
        return Box(c - radius, c + radius)
    values = list(args) + [kwargs[k] for k in ("r_inner", "r_outer") if k in kwargs]
    r_in = as_positive(values[0], "r_inner", allow_zero=True)
    r_out = as_positive(values[1], "r_outer")
    if r_in >= r_out:
        raise ValueError(f"r_inner: expected r_inner < r_outer = {r_out}, got {r_in}")
    if r_in == 0:
        return Box(c - r_out, c + r_out)
    return BoxMixture([[c - r_out], [c + r_in]], [[c - r_in], [c + r_out]])


class Rings(_Radial):
    """Concentric spheres blurred by isotropic Gaussian noise: the law of ``c + R Theta
    + spread Z`` with ``R = radii[k]`` with probability ``weights[k]``.  (An isotropic
    blur: the paper's ``circles2``, whose *radius* is normal, is
    :class:`~pdediff.distributions.RadialNormal`.)

    Parameters
    ----------
    radii : array, shape (K,)
        Positive radii.
    spread : float
        Standard deviation ``s >= 0`` of the blur (the base-class ``smoothing``);
        ``p_t`` is the rings' with ``v_t = sigma_t^2 + alpha_t^2 s^2``.
    weights : array, shape (K,), optional
        Default proportional to the radii: the uniform law on the union of the
        circles (equal arc-length density).
    center : array, shape (n,), optional
        Default the origin in 2-D; a 3-D centre gives concentric spheres.
    """

    name = "rings"
    singular = True

    def __init__(self, radii: Any, spread: float = 0.0, weights: Any = None,
                 center: Any = None) -> None:
        self.center = as_center([0.0, 0.0] if center is None else center, dims=(2, 3))
        self.ndim = self.center.shape[0]
        radii_arr = np.atleast_1d(np.asarray(radii, dtype=float))
        if radii_arr.ndim != 1 or not np.all(np.isfinite(radii_arr)) or np.any(radii_arr <= 0):
            raise ValueError(f"radii: expected positive finite radii, got {radii!r}")
        self.radii = radii_arr
        if weights is None:
            weights = radii_arr ** (self.ndim - 1) / np.sum(radii_arr ** (self.ndim - 1))
        self.weights = as_weights(weights, radii_arr.shape[0])
        self.smoothing = as_positive(spread, "spread", allow_zero=True)

    @property
    def spread(self) -> float:
        """Blur standard deviation (same as ``smoothing``)."""
        return self.smoothing

    def _nodes(self, rho: np.ndarray, alpha: float, v: float) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights)[None, :]
        return (alpha * self.radii)[None, :], np.zeros((1, self.radii.size)), log_w

    def _deposition_nodes(self, alpha: float, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        points, weights = [], []
        for radius, w in zip(self.radii, self.weights, strict=False):
            p, q = _sphere_nodes(self.ndim, alpha * radius, float(np.min(grid.spacing)))
            points.append(alpha * self.center + p)
            weights.append(w * q)
        return np.concatenate(points), np.concatenate(weights)

    def _bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        return self.center - self.radii.max(), self.center + self.radii.max()

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        comp = rng.choice(self.radii.shape[0], size=n, p=self.weights)
        return self.center + self.radii[comp][:, None] * self._directions(n, rng)

    def _distance(self, x: np.ndarray) -> np.ndarray:
        return np.min(np.abs(self._rho(x)[:, None] - self.radii[None, :]), axis=1)

    def _nearest(self, x: np.ndarray) -> np.ndarray:
        rho = self._rho(x)
        best = np.argmin(np.abs(rho[:, None] - self.radii[None, :]), axis=1)
        return self._project(x, rho, self.radii[best])

    def _radii_moment2(self) -> float:
        return float(self.weights @ self.radii**2)

    def _params(self) -> dict[str, Any]:
        return {"radii": self.radii.tolist(), "spread": self.smoothing,
                "weights": self.weights.tolist(), "center": self.center.tolist()}


class Circle(Rings):
    """Uniform law on the circle ``|y - center| = radius`` (2-D, singular):
    ``p_t(x) = K_2(|x - alpha c|, alpha radius) = exp(-(rho - alpha R)^2 / (2 v))
    i0e(rho alpha R / v) / (2 pi v)``."""

    name = "circle"
    _dims = (2,)

    def __init__(self, center: Any, radius: float) -> None:
        c = as_center(center, dims=self._dims)
        super().__init__([as_positive(radius, "radius")], 0.0, None, c)

    @property
    def radius(self) -> float:
        return float(self.radii[0])

    def _params(self) -> dict[str, Any]:
        return {"center": self.center.tolist(), "radius": self.radius}


class Sphere(Circle):
    """Uniform law on the sphere ``|y - center| = radius`` in 3-D (singular):
    ``p_t(x) = (2 pi v)^{-3/2} exp(-(rho - alpha R)^2/(2v)) (1 - e^{-2z}) / (2z)``,
    ``z = rho alpha R / v``."""

    name = "sphere"
    _dims = (3,)


def _sphere_nodes(n: int, radius: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes and weights (summing to 1) of the uniform law on the centred
    sphere of the given radius, spaced below h/4 (equispaced angles in 2-D; Gauss–
    Legendre in cos(theta) times equispaced azimuth in 3-D): symmetric, so their centre
    of mass is the centre."""
    m = max(64, int(math.ceil(8.0 * math.pi * radius / h)))
    if n == 2:
        theta = 2.0 * math.pi * (np.arange(m) + 0.5) / m
        pts = radius * np.stack([np.cos(theta), np.sin(theta)], axis=1)
        return pts, np.full(m, 1.0 / m)
    mu, w = np.polynomial.legendre.leggauss(m // 2)
    phi = 2.0 * math.pi * (np.arange(m) + 0.5) / m
    st = np.sqrt(1.0 - mu**2)
    pts = radius * np.stack(
        [np.outer(st, np.cos(phi)), np.outer(st, np.sin(phi)), np.outer(mu, np.ones(m))], axis=-1
    ).reshape(-1, 3)
    weights = np.outer(w / 2.0, np.full(m, 1.0 / m)).ravel()
    return pts, weights

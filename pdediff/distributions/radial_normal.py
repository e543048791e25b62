"""Radial-normal laws: rings whose radius is normally distributed (Deveney et al.'s
``circles2``), through the radial reduction of :mod:`pdediff.distributions.radial`.

The data law is ``Y = c + R Theta`` with ``Theta`` uniform on the unit sphere
``S^{n-1}`` and, with probability ``w_k``, ``R = N_k``, ``N_k ~ N(mu_k, s_k^2)``.  A
negative draw ``N_k < 0`` puts the point at ``c + |N_k| (-Theta)``, and ``-Theta`` is
again uniform: so the law is that of the *folded* radius ``|N_k|``, with density on
``r >= 0``

    f(r) = sum_k w_k [phi_{s_k}(r - mu_k) + phi_{s_k}(r + mu_k)],

``phi_s`` the ``N(0, s^2)`` density.  This is exactly what a sampler that draws
``r ~ N(mu, s^2)`` and returns ``r (cos theta, sin theta)`` produces (the paper's
sampler); a normal truncated at ``r >= 0`` would be a different law (by a relative
``Phi(-mu/s)``: 4e-11 for ``mu/s = 6.5``, but not zero).  The data density is
``p_0(y) = f(|y - c|) / (|S^{n-1}| |y - c|^{n-1})``: smooth away from the centre, where it
has the integrable singularity ``f(0) / (2 pi |y - c|)`` (2-D) of size ``f(0) =
2 sum_k w_k phi_{s_k}(mu_k)`` (1.4e-9 for ``circles2``).

Under a forward process (``alpha = alpha_t``, ``v = sigma_t^2``) the radial law of
``alpha R`` has density ``f(r / alpha) / alpha`` and, with ``rho = |x - alpha c|``,

    p_t(x) = int_0^inf K_n(rho, r) f(r / alpha) / alpha dr

(``K_n`` the spherical average of the Gaussian kernel, see :mod:`.radial`).  Each of
the ``2K`` Gaussian terms of ``f`` times the Gaussian factor ``exp(-(rho - r)^2 / (2
v))`` of ``K_n`` is a Gaussian in ``r`` with mean ``m = (alpha mu v + rho alpha^2 s^2) /
(v + alpha^2 s^2)`` (``+-mu``) and standard deviation ``tau = alpha s sqrt(v) / sqrt(v +
alpha^2 s^2)``; the remaining factor (``i0e`` in 2-D) is smooth on that scale.  So each
term is integrated by composite Gauss–Legendre on ``[m - W tau, m + W tau]`` clipped to
``r >= 0`` (``W = 9``: the envelope is below ``e^{-40.5}`` of its peak outside), or on
the one-sided window ``[0, sqrt(d^2 + W^2 tau^2) - d]`` when ``m = -d < 0``; the sum
over nodes is taken in the log domain by the radial kernel (log-sum-exp, scaled Bessel
functions), which also gives the score, divergence and Hessian by Tweedie's formulas.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _validate
from ..grid import Grid
from .base import as_center, gauss_legendre, logsumexp, tensor_rule
from .radial import WINDOW, _Radial


class RadialNormal(_Radial):
    """Rings with normally distributed radii: ``R = |N_k|``, ``N_k ~ N(mu_k, s_k^2)``
    with probability ``w_k``, uniform direction, about ``center`` (2-D or 3-D).

    Parameters
    ----------
    radii : array, shape (K,)
        Mean radii ``mu_k > 0`` (length units).
    stds : float or array, shape (K,)
        Standard deviations ``s_k > 0`` of the radii (length units).
    weights : array, shape (K,), optional
        Ring masses ``w_k`` (default equal: ``1/K`` each).
    center : array, shape (n,), optional
        Default the origin in 2-D.
    panels, nodes : int
        Composite Gauss–Legendre rule per Gaussian term of the radial integral (default
        2 x 20; the log-density agrees with a brute-force polar quadrature to 1e-10, see
        the tests).
    """

    name = "radial_normal"
    compact_data = False

    def __init__(self, radii: Any, stds: Any, weights: Any = None, center: Any = None,
                 panels: int = 2, nodes: int = 20) -> None:
        self.center = as_center([0.0, 0.0] if center is None else center, dims=(2, 3))
        self.ndim = self.center.shape[0]
        mu = np.atleast_1d(_validate.real_array(radii, "radii"))
        if mu.ndim != 1 or mu.size == 0 or np.any(mu <= 0):
            raise ValueError(f"radii: expected a 1-D array of positive radii, got {radii!r}")
        s = np.broadcast_to(_validate.real_array(stds, "stds"), mu.shape).astype(float)
        if np.any(s <= 0):
            raise ValueError(f"stds: expected positive standard deviations, got {stds!r}")
        self.radii, self.stds = mu, s.copy()
        self.weights = np.full(mu.size, 1.0 / mu.size) if weights is None else \
            _validate.weights(weights, mu.size, "weights")
        self.panels = _validate.integer(panels, "panels", minimum=1, maximum=64)
        self.nodes = _validate.integer(nodes, "nodes", minimum=1, maximum=64)
        x, w = gauss_legendre(self.nodes)
        self._unit_nodes = ((np.arange(self.panels)[:, None] + x[None, :]) / self.panels).ravel()
        self._unit_log_w = np.log(np.tile(w, self.panels) / self.panels)
        # the 2K Gaussian terms of the folded density: means +mu_k and -mu_k
        self._mu = np.concatenate([mu, -mu])
        self._s = np.concatenate([self.stds, self.stds])
        self._log_w = np.log(np.concatenate([self.weights, self.weights]))

    # ------------------------------------------------------------ radial quadrature
    def _nodes(self, rho: np.ndarray, alpha: float, v: float) -> tuple[np.ndarray, ...]:
        am, a2 = alpha * self._mu, (alpha * self._s) ** 2  # (2K,)
        m = (am[None, :] * v + rho[:, None] * a2[None, :]) / (v + a2[None, :])  # (N, 2K)
        tau = np.sqrt(a2 * v / (a2 + v))[None, :]
        half = WINDOW * tau
        d = np.maximum(-m, 0.0)
        one_sided = WINDOW**2 * tau**2 / (np.sqrt(d * d + WINDOW**2 * tau**2) + d)
        centre = np.maximum(m, 0.0)
        a = np.where(m > 0, np.maximum(-half, -m), 0.0)
        b = np.where(m > 0, half, one_sided)
        delta = a[:, :, None] + (b - a)[:, :, None] * self._unit_nodes[None, None, :]
        # density of alpha N_k at r = centre + delta, with r - alpha mu_k in offset form
        offset = (centre - am[None, :])[:, :, None] + delta
        sa = np.sqrt(a2)[None, :, None]
        log_f = (self._log_w[None, :, None] - np.log(sa) - 0.5 * math.log(2.0 * math.pi)
                 - 0.5 * (offset / sa) ** 2)
        log_w = self._unit_log_w[None, None, :] + np.log(b - a)[:, :, None] + log_f
        n_pts = rho.shape[0]
        r0 = np.broadcast_to(centre[:, :, None], delta.shape)
        return (r0.reshape(n_pts, -1), delta.reshape(n_pts, -1), log_w.reshape(n_pts, -1))

    # ------------------------------------------------------------ data law
    def radial_log_density(self, r: Any) -> np.ndarray:
        """``log f(r)`` of the folded radius (see the module docstring), ``r >= 0``
        any shape; ``-inf`` for ``r < 0``."""
        r = _validate.real_array(r, "r")
        z = (r[..., None] - self._mu) / self._s
        terms = self._log_w - np.log(self._s) - 0.5 * math.log(2.0 * math.pi) - 0.5 * z * z
        with np.errstate(divide="ignore"):
            return np.where(r >= 0, logsumexp(terms, axis=-1), -np.inf)

    def _log_density_data(self, x: np.ndarray) -> np.ndarray:
        rho = self._rho(x)
        n = self.ndim
        sphere = math.log(2.0 * math.pi) if n == 2 else math.log(4.0 * math.pi)
        with np.errstate(divide="ignore"):
            return self.radial_log_density(rho) - sphere - (n - 1) * np.log(rho)

    def _cell_average_exact(self, grid: Grid, alpha: float, v: float) -> np.ndarray:
        """Gauss–Legendre tensor rule with ``q`` nodes per axis chosen from the cell
        width ``h`` over the radial scale ``w = sqrt(v + alpha^2 min s^2)`` of ``p_t``
        (``q = 6 + 3 h / w``, at most 32): the rule's error on a Gaussian profile,
        ``~ (h / w)^(2q) / (4^q (2q)!)``, is then below 1e-16 relative.  At ``t = 0`` the
        rule is applied to the data density itself (smooth on the scale ``s`` except
        for the ``1/rho`` singularity of size ``f(0)`` at the centre)."""
        width = math.sqrt(v + alpha**2 * float(np.min(self.stds)) ** 2)
        q = int(min(32, math.ceil(6.0 + 3.0 * float(np.max(grid.spacing)) / width)))
        nodes, weights = gauss_legendre(q)
        if v == 0.0:
            def density(y: np.ndarray) -> np.ndarray:
                with np.errstate(under="ignore"):
                    return np.exp(self._log_density_data(y / alpha)) / alpha**self.ndim
        else:
            def density(y: np.ndarray) -> np.ndarray:
                return self._density_flat(y, alpha, v)
        return tensor_rule(grid, density, nodes, weights)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        comp = rng.choice(self.radii.size, size=n, p=self.weights)
        r = self.radii[comp] + self.stds[comp] * rng.standard_normal(n)
        # a negative radius reflects through the centre (the folded law above)
        return self.center + r[:, None] * self._directions(n, rng)

    def _radii_moment2(self) -> float:
        return float(self.weights @ (self.radii**2 + self.stds**2))

    def _params(self) -> dict[str, Any]:
        return {"radii": self.radii.tolist(), "stds": self.stds.tolist(),
                "weights": self.weights.tolist(), "center": self.center.tolist(),
                "panels": self.panels, "nodes": self.nodes}

    def _zero_variance_error(self, what: str) -> ValueError:
        return ValueError(
            f"t: the {what} of RadialNormal is evaluated for t > 0 only (at t = 0 use "
            "log_density, or t > 0)"
        )

"""Uniform laws on boxes and mixtures of boxes (the checkerboard).

For ``U`` uniform on ``prod_d [lo_d, hi_d]`` the law of ``alpha U + sqrt(v) Z`` is a
product over axes:

    p_t(x) = prod_d [Phi(u_d) - Phi(l_d)] / (alpha L_d),
    u_d = (alpha hi_d - x_d) / sqrt(v),   l_d = (alpha lo_d - x_d) / sqrt(v).

Differences of normal CDFs are taken in the log domain on the tail where both are
small: with ``(a, b) = (l, u)`` if ``l + u <= 0`` else ``(-u, -l)``,

    log(Phi(b) - Phi(a)) = log Phi(b) + log(1 - exp(log Phi(a) - log Phi(b))),

so nothing underflows even at ``t = 1e-6`` far from the box.  The per-axis derivatives
use the stable ratios ``A_u = phi(u)/D``, ``A_l = phi(l)/D`` (``D = Phi(u) - Phi(l)``),
obtained from the Mills ratio ``phi(b)/Phi(b) = sqrt(2/pi) / erfcx(-b/sqrt 2)``:

    d/dx log D   = (A_l - A_u) / sqrt(v)
    d2/dx2 log D = (l A_l - u A_u) / v - (d/dx log D)^2 .
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import erfcx, log_ndtr, ndtr

from ..grid import Grid
from .base import (
    Distribution,
    as_positive,
    as_weights,
    log1mexp,
    logsumexp,
    separable_sum,
)

_SQRT2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _mills(b: np.ndarray) -> np.ndarray:
    """``phi(b) / Phi(b)`` for any real ``b``, without underflow (erfcx for b < 0)."""
    neg = b < 0
    out = np.empty_like(b)
    out[neg] = _SQRT_2_OVER_PI / erfcx(-b[neg] / _SQRT2)
    bp = b[~neg]
    out[~neg] = np.exp(-0.5 * bp * bp - _LOG_SQRT_2PI) / ndtr(bp)
    return out


def interval_terms(u: np.ndarray, l: np.ndarray, derivatives: bool) -> tuple:
    """For ``l < u``: ``log D = log(Phi(u) - Phi(l))`` and, if ``derivatives``,
    ``A_u = phi(u)/D`` and ``A_l = phi(l)/D`` (see the module docstring)."""
    flip = (u + l) > 0
    b = np.where(flip, -l, u)
    a = np.where(flip, -u, l)
    log_b = log_ndtr(b)
    delta = log_ndtr(a) - log_b  # <= 0
    delta = np.minimum(delta, 0.0)
    log_d = log_b + log1mexp(delta)
    if not derivatives:
        return log_d, None, None
    with np.errstate(over="ignore", divide="ignore"):
        one_minus = -np.expm1(delta)
        a_b = _mills(b) / one_minus
        # phi(a)/D = phi(a)/Phi(b) / (1 - e^delta) = mills(a) e^delta / (1 - e^delta)
        a_a = _mills(a) * np.exp(delta) / one_minus
    a_u = np.where(flip, a_a, a_b)
    a_l = np.where(flip, a_b, a_a)
    return log_d, a_u, a_l


def _box_integral_factor(
    edges: np.ndarray, lo: float, hi: float, alpha: float, v: float
) -> np.ndarray:
    """Cell averages along one axis of ``[Phi(u) - Phi(l)] / (alpha L)``, i.e.
    ``(1/h) int_cell (1/(alpha L)) [Phi((alpha hi - x)/s) - Phi((alpha lo - x)/s)] dx``
    via ``int Phi = u Phi(u) + phi(u)``; at ``v = 0`` the exact overlap length."""
    h = edges[1:] - edges[:-1]
    a, b = alpha * lo, alpha * hi
    length = b - a
    if v == 0.0:
        overlap = np.clip(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0.0, None)
        return overlap / (length * h)
    s = math.sqrt(v)

    def F(w: np.ndarray) -> np.ndarray:
        # u Phi(u) + phi(u) >= 0; its left tail cancels, clipping removes round-off sign
        return np.maximum(w * ndtr(w) + np.exp(-0.5 * w * w - _LOG_SQRT_2PI), 0.0)

    centre = 0.5 * (a + b)
    mid = 0.5 * (edges[1:] + edges[:-1])
    # right of the centre: int [Phi((b - x)/s) - Phi((a - x)/s)] (both small far right);
    # left of it use Phi(-w) = 1 - Phi(w): int [Phi((x - a)/s) - Phi((x - b)/s)].
    right = s * ((F((b - edges[:-1]) / s) - F((b - edges[1:]) / s))
                 - (F((a - edges[:-1]) / s) - F((a - edges[1:]) / s)))
    left = s * ((F((edges[1:] - a) / s) - F((edges[:-1] - a) / s))
                - (F((edges[1:] - b) / s) - F((edges[:-1] - b) / s)))
    value = np.where(mid >= centre, right, left)
    return np.maximum(value, 0.0) / (length * h)


class BoxMixture(Distribution):
    """Mixture of uniform laws on boxes, ``mu = sum_k w_k U(prod_d [lo_kd, hi_kd])``.

    ``log p_t = logsumexp_k [log w_k + sum_d log D_kd - sum_d log(alpha L_kd)]``; the
    score, Hessian and divergence follow from the per-box ones (diagonal Hessians) by the
    mixture rule ``H = sum_k r_k (H_k + (s_k - s)(s_k - s)^T)``.

    Parameters
    ----------
    lows, highs : arrays, shape (K, n)
        Box corners with ``lows < highs`` componentwise (length units).
    weights : array, shape (K,), optional
        Nonnegative, summing to 1 (default uniform).
    """

    name = "box_mixture"

    def __init__(self, lows: Any, highs: Any, weights: Any = None) -> None:
        lo = np.asarray(lows, dtype=float)
        hi = np.asarray(highs, dtype=float)
        if lo.ndim == 1:
            lo, hi = lo[None, :], hi[None, :] if hi.ndim == 1 else hi
        if lo.ndim != 2 or lo.shape != hi.shape or lo.shape[1] < 1:
            raise ValueError(
                f"lows: expected shape (K, n) equal to that of highs, got {lo.shape} and "
                f"{hi.shape}"
            )
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ValueError("lows: box corners must be finite")
        if np.any(lo >= hi):
            raise ValueError(f"highs: expected low < high on every axis, got {lo.tolist()} "
                             f"and {hi.tolist()}")
        self.lows, self.highs = lo, hi
        self.ndim = lo.shape[1]
        self.weights = as_weights(weights, lo.shape[0])

    @property
    def volumes(self) -> np.ndarray:
        """Volume of each box, shape (K,)."""
        return np.prod(self.highs - self.lows, axis=1)

    def _evaluate(self, x: np.ndarray, alpha: float, v: float, mode: int) -> tuple:
        s = math.sqrt(v)
        xx = x[:, None, :]
        u = (alpha * self.highs[None] - xx) / s  # (N, K, n)
        l = (alpha * self.lows[None] - xx) / s
        log_d, a_u, a_l = interval_terms(u, l, derivatives=mode != 0)
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights) - np.log(alpha**self.ndim * self.volumes)
        log_k = log_w[None, :] + np.sum(log_d, axis=2)  # (N, K)
        logp = logsumexp(log_k, axis=1)
        if mode == 0:
            return logp, None, None, None
        r = np.exp(log_k - logp[:, None])  # responsibilities (N, K)
        g1 = (a_l - a_u) / s  # per-box per-axis score (N, K, n)
        score = np.einsum("nk,nkd->nd", r, g1)
        g2 = (l * a_l - u * a_u) / v - g1 * g1  # diagonal of the per-box Hessians
        div = hess = None
        # centred mixture rule sum_k r_k (H_k + (s_k - s)(s_k - s)^T): no cancellation
        dev = g1 - score[:, None, :]
        if mode & 2:
            div = np.einsum("nk,nk->n", r, np.sum(g2 + dev * dev, axis=2))
        if mode & 4:
            hess = np.einsum("nk,nkd,nke->nde", r, dev, dev)
            idx = np.arange(self.ndim)
            hess[:, idx, idx] += np.einsum("nk,nkd->nd", r, g2)
        return logp, score if mode & 1 else None, div, hess

    def _log_density_data(self, x: np.ndarray) -> np.ndarray:
        inside = np.all((x[:, None, :] >= self.lows) & (x[:, None, :] <= self.highs), axis=2)
        dens = inside @ (self.weights / self.volumes)
        with np.errstate(divide="ignore"):
            return np.log(dens)

    def _cell_average_exact(self, grid: Grid, alpha: float, v: float) -> np.ndarray:
        factors = [
            np.stack([_box_integral_factor(grid.edges[d], lo[d], hi[d], alpha, v)
                      for lo, hi in zip(self.lows, self.highs, strict=False)])
            for d in range(self.ndim)
        ]
        return separable_sum(factors, self.weights)

    def _bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        return self.lows.min(axis=0), self.highs.max(axis=0)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        comp = rng.choice(self.weights.shape[0], size=n, p=self.weights)
        u = rng.random((n, self.ndim))
        return self.lows[comp] + u * (self.highs - self.lows)[comp]

    def _distance(self, x: np.ndarray) -> np.ndarray:
        xx = x[:, None, :]
        gap = np.maximum(np.maximum(self.lows - xx, xx - self.highs), 0.0)
        return np.min(np.sqrt(np.sum(gap**2, axis=2)), axis=1)

    def _nearest(self, flat: np.ndarray) -> np.ndarray:
        proj = np.clip(flat[:, None, :], self.lows, self.highs)  # (N, K, n)
        best = np.argmin(np.sum((proj - flat[:, None, :]) ** 2, axis=2), axis=1)
        return proj[np.arange(flat.shape[0]), best]

    def _mean(self) -> np.ndarray:
        return self.weights @ (0.5 * (self.lows + self.highs))

    def _cov(self) -> np.ndarray:
        centres = 0.5 * (self.lows + self.highs)
        var = (self.highs - self.lows) ** 2 / 12.0
        second = np.einsum("k,ki,kj->ij", self.weights, centres, centres) + np.diag(
            self.weights @ var
        )
        mu = self._mean()
        return second - np.outer(mu, mu)

    def _params(self) -> dict[str, Any]:
        return {"lows": self.lows.tolist(), "highs": self.highs.tolist(),
                "weights": self.weights.tolist()}


class Box(BoxMixture):
    """Uniform law on the box ``prod_d [low_d, high_d]`` (a segment in 1-D).

    Parameters
    ----------
    low, high : float or array, shape (n,)
        Corners with ``low < high`` on every axis (length units).
    """

    name = "box"

    def __init__(self, low: Any, high: Any) -> None:
        lo = np.atleast_1d(np.asarray(low, dtype=float))
        hi = np.atleast_1d(np.asarray(high, dtype=float))
        if lo.ndim != 1 or lo.shape != hi.shape:
            raise ValueError(f"low: expected a vector of the shape of high, got {lo.shape} "
                             f"and {hi.shape}")
        if np.any(lo >= hi):
            raise ValueError(f"high: expected low < high on every axis, got low={lo.tolist()}"
                             f", high={hi.tolist()}")
        super().__init__(lo[None, :], hi[None, :])

    def _params(self) -> dict[str, Any]:
        return {"low": self.lows[0].tolist(), "high": self.highs[0].tolist()}


class Checkerboard(BoxMixture):
    """Deveney et al.'s 2-D checkerboard: the 8 squares ``(i, j)``, ``i + j`` even, of
    side ``0.25`` of the 4x4 board on ``[-0.5, 0.5]^2`` (``i`` counts columns from
    ``x = -0.5``, ``j`` rows from ``y = -0.5``; the square ``[-0.5, -0.25]^2`` is in),
    scaled by ``scale`` (default 6: squares of side 1.5 on ``[-3, 3]^2``), with equal
    weights 1/8."""

    name = "checkerboard"

    def __init__(self, scale: float = 6.0) -> None:
        self.scale = as_positive(scale, "scale")
        cells = [(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0]
        lows = np.array([[-0.5 + 0.25 * i, -0.5 + 0.25 * j] for i, j in cells]) * self.scale
        super().__init__(lows, lows + 0.25 * self.scale)

    def _params(self) -> dict[str, Any]:
        return {"scale": self.scale}

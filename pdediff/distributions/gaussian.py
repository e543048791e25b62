"""Gaussian mixtures and empirical measures (mixtures of point masses).

Under ``X_t = alpha_t X_0 + sigma_t Z`` a mixture ``sum_k w_k N(m_k, C_k)`` stays a
mixture, ``sum_k w_k N(alpha_t m_k, alpha_t^2 C_k + v_t I)`` with ``v_t = sigma_t^2 +
alpha_t^2 s^2`` (docs/theory, Conventions); a point mass is the case ``C_k = 0``.  The
log-density, score, divergence and Hessian come from one parallel numba kernel
(:func:`pdediff.distributions._kernels.mixture_kernel`) in log-sum-exp form.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from ..grid import Grid
from ._kernels import mixture_kernel
from .base import Distribution, as_points, as_weights, normal_cdf_difference, separable_sum

_EMPTY1 = np.empty(0)
_EMPTY2 = np.empty((0, 0))
_EMPTY3 = np.empty((0, 0, 0))


class GaussianMixture(Distribution):
    """``mu = sum_k w_k N(m_k, C_k)`` in any dimension ``n >= 1``.

    Parameters
    ----------
    means : array, shape (K, n)
        Component means (a 1-D array is one component).
    covs : float or array
        Covariances: a scalar (shared isotropic variance), shape (K,) isotropic
        variances ``C_k = c_k I``, shape (K, n) diagonals, or shape (K, n, n) full
        symmetric positive-definite matrices.  Units length^2.
    weights : array, shape (K,), optional
        Nonnegative, summing to 1 (default uniform).
    """

    name = "gaussian_mixture"
    regular_at_zero = True
    compact_data = False
    _chunked = False

    def __init__(self, means: Any, covs: Any, weights: Any = None) -> None:
        m = np.asarray(means, dtype=float)
        if m.ndim == 1:
            m = m[None, :]
        if m.ndim != 2 or m.shape[0] < 1 or m.shape[1] < 1:
            raise ValueError(f"means: expected shape (K, n), got {np.shape(means)}")
        if not np.all(np.isfinite(m)):
            raise ValueError("means: must be finite")
        self.means = m
        self.ndim = m.shape[1]
        self.weights = as_weights(weights, m.shape[0])
        self._set_covs(covs)

    # ----------------------------------------------------------------- covariances
    def _set_covs(self, covs: Any) -> None:
        k, n = self.means.shape
        c = np.asarray(covs, dtype=float)
        if not np.all(np.isfinite(c)):
            raise ValueError("covs: must be finite")
        if c.ndim == 0:
            c = np.full(k, float(c))
        if c.shape == (k,):
            if np.any(c <= 0):
                raise ValueError(f"covs: isotropic variances must be > 0 (SPD), got {c.tolist()}")
            self.cov_kind = "isotropic"
            full = c[:, None, None] * np.eye(n)
        elif c.shape == (k, n):
            if np.any(c <= 0):
                raise ValueError("covs: diagonal variances must be > 0 (SPD)")
            self.cov_kind = "diagonal"
            full = c[:, :, None] * np.eye(n)
        elif c.shape == (k, n, n):
            if not np.allclose(c, np.swapaxes(c, 1, 2), rtol=1e-12, atol=1e-14):
                raise ValueError("covs: full covariance matrices must be symmetric")
            try:
                np.linalg.cholesky(c)
            except np.linalg.LinAlgError as error:
                raise ValueError(
                    "covs: full covariance matrices must be positive definite"
                ) from error
            self.cov_kind = "full"
            full = 0.5 * (c + np.swapaxes(c, 1, 2))
        else:
            raise ValueError(
                f"covs: expected a scalar or shape ({k},), ({k}, {n}) or ({k}, {n}, {n}), "
                f"got {c.shape}"
            )
        self.covs = c
        self._full = full

    # ----------------------------------------------------------------- evaluation
    def _components(self, alpha: float, v: float) -> tuple[np.ndarray, ...]:
        """Means, precisions, traces, log-coefficients and isotropy flag of p_t."""
        k, n = self.means.shape
        means = np.ascontiguousarray(alpha * self.means)
        if self.cov_kind == "isotropic":
            var = alpha**2 * self._full[:, 0, 0] + v
            prec = np.ascontiguousarray((1.0 / var)[:, None, None])
            trace = n / var
            logdet = n * np.log(var)
            iso = True
        else:
            cov = alpha**2 * self._full + v * np.eye(n)
            chol = np.linalg.cholesky(cov)
            logdet = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
            prec = np.ascontiguousarray(np.linalg.inv(cov))
            prec = 0.5 * (prec + np.swapaxes(prec, 1, 2))
            trace = np.trace(prec, axis1=1, axis2=2).copy()
            iso = False
        with np.errstate(divide="ignore"):
            logc = np.log(self.weights) - 0.5 * n * math.log(2.0 * math.pi) - 0.5 * logdet
        return means, np.ascontiguousarray(prec), np.ascontiguousarray(trace), logc, iso

    def _evaluate(self, x: np.ndarray, alpha: float, v: float, mode: int) -> tuple:
        means, prec, trace, logc, iso = self._components(alpha, v)
        n_pts, n = x.shape
        logp = np.empty(n_pts)
        score = np.empty((n_pts, n)) if mode & 1 else _EMPTY2
        div = np.empty(n_pts) if mode & 2 else _EMPTY1
        hess = np.empty((n_pts, n, n)) if mode & 4 else _EMPTY3
        if n_pts:
            mixture_kernel(x, means, prec, trace, logc, iso, mode, logp, score, div, hess)
        return (
            logp,
            score if mode & 1 else None,
            div if mode & 2 else None,
            hess if mode & 4 else None,
        )

    def _cell_average_exact(self, grid: Grid, alpha: float, v: float) -> np.ndarray | None:
        # Diagonal covariances give products over axes of differences of normal CDFs.
        if self.cov_kind == "full":
            return None
        k, n = self.means.shape
        var = alpha**2 * (self._full[:, range(n), range(n)]) + v  # (K, n)
        if np.any(var == 0.0):
            return None
        factors = []
        for d in range(n):
            sd = np.sqrt(var[:, d])[:, None]
            z = (grid.edges[d][None, :] - alpha * self.means[:, d, None]) / sd
            factors.append(normal_cdf_difference(z[:, :-1], z[:, 1:]) / grid.spacing[d])
        return separable_sum(factors, self.weights)

    # ----------------------------------------------------------------- data law
    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        comp = rng.choice(self.weights.shape[0], size=n, p=self.weights)
        z = rng.standard_normal((n, self.ndim))
        chol = np.linalg.cholesky(self._full) if np.any(self._full) else self._full
        return self.means[comp] + np.einsum("nij,nj->ni", chol[comp], z)

    def _mean(self) -> np.ndarray:
        return self.weights @ self.means

    def _cov(self) -> np.ndarray:
        mu = self._mean()
        second = np.einsum("k,kij->ij", self.weights, self._full) + np.einsum(
            "k,ki,kj->ij", self.weights, self.means, self.means
        )
        return second - np.outer(mu, mu)

    def _params(self) -> dict[str, Any]:
        return {"means": self.means.tolist(), "covs": self.covs.tolist(),
                "weights": self.weights.tolist()}


class Points(GaussianMixture):
    """Empirical measure ``mu = sum_j w_j delta_{x_j}`` (a Gaussian mixture with zero
    covariance): ``p_t = sum_j w_j N(alpha_t x_j, v_t I)``, singular at ``t = 0``.

    Parameters
    ----------
    x : array, shape (K, n)
        The atoms (a 1-D array is one atom in ``n`` dimensions).
    weights : array, shape (K,), optional
        Nonnegative, summing to 1 (default uniform).
    """

    name = "points"
    regular_at_zero = False
    singular = True
    compact_data = True

    def __init__(self, x: Any, weights: Any = None) -> None:
        pts = np.asarray(x, dtype=float)
        if pts.ndim == 1:
            pts = pts[None, :]
        if pts.ndim != 2 or pts.shape[0] < 1 or pts.shape[1] < 1:
            raise ValueError(f"x: expected shape (K, n), got {np.shape(x)}")
        if not np.all(np.isfinite(pts)):
            raise ValueError("x: must be finite")
        self.means = pts
        self.ndim = pts.shape[1]
        self.weights = as_weights(weights, pts.shape[0])
        self.cov_kind = "isotropic"
        self.covs = np.zeros(pts.shape[0])
        self._full = np.zeros((pts.shape[0], self.ndim, self.ndim))
        self._tree: cKDTree | None = None

    @property
    def x(self) -> np.ndarray:
        """The atoms, shape (K, n)."""
        return self.means

    def nearest(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Distance to and index of the nearest atom, shapes ``x.shape[:-1]``."""
        pts = as_points(x, self.ndim)
        if self._tree is None:
            self._tree = cKDTree(self.means)
        dist, index = self._tree.query(pts.reshape(-1, self.ndim))
        return dist.reshape(pts.shape[:-1]), index.reshape(pts.shape[:-1])

    def _distance(self, x: np.ndarray) -> np.ndarray:
        return self.nearest(x)[0]

    def _nearest(self, x: np.ndarray) -> np.ndarray:
        return self.means[self.nearest(x)[1]]

    def _deposition_nodes(self, alpha: float, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        return alpha * self.means, self.weights

    def _bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        return self.means.min(axis=0), self.means.max(axis=0)

    def _sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.means[rng.choice(self.weights.shape[0], size=n, p=self.weights)]

    def _params(self) -> dict[str, Any]:
        return {"x": self.means.tolist(), "weights": self.weights.tolist()}


def point_mass(x0: Any) -> Points:
    """The point mass ``delta_{x0}``, ``x0`` of shape (n,); under any process
    ``p_t = N(alpha_t x0, sigma_t^2 I)`` (the heat kernel for :class:`HeatFlow`)."""
    x0 = np.atleast_1d(np.asarray(x0, dtype=float))
    if x0.ndim != 1:
        raise ValueError(f"x0: expected a point of shape (n,), got {x0.shape}")
    return Points(x0[None, :])

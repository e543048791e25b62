"""Kernel scores: the closed-form score of Gaussian-kernel-smoothed samples."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from .. import _validate
from ..grid import Grid
from ..processes import ForwardProcess

# Bound on the number of (point, component) pairs held at once by the mixture kernels,
# so memory stays O(10 MB) whatever the number of query points.
_CHUNK_PAIRS = 1 << 19


class _IsotropicMixture:
    """``p(x) = sum_k w_k N(x; c_k, v I)``, evaluated in the log domain.

    With posterior weights ``r_k(x) = w_k N(x; c_k, v) / p(x)``:

        grad log p  = (sum_k r_k c_k - x) / v
        Hess log p  = -I / v + Cov_r[c] / v^2
        Lap log p   = -n / v + tr Cov_r[c] / v^2

    The posterior covariance is formed from centred differences ``c_k - cbar`` so a
    single component gives exactly ``-I/v`` (the Li–Yau equality case).
    """

    def __init__(self, centers: np.ndarray, log_weights: np.ndarray, variance: float) -> None:
        self.centers = centers
        self.log_weights = log_weights
        self.variance = variance
        self.ndim = centers.shape[1]

    def _chunks(self, points: np.ndarray):
        size = max(1, _CHUNK_PAIRS // max(1, self.centers.shape[0] * self.ndim))
        for start in range(0, points.shape[0], size):
            yield slice(start, start + size)

    def _posterior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Differences ``x - c_k`` (m, K, n), weights ``r`` (m, K), log-sum (m,)."""
        diff = x[:, None, :] - self.centers[None, :, :]
        logits = self.log_weights - 0.5 * np.einsum("mkn,mkn->mk", diff, diff) / self.variance
        # Shift by the row maximum before exponentiating: equal logits then give
        # exactly equal weights, whereas exp(logits - logsumexp) would carry the
        # rounding of the (possibly huge, ~|x - c|^2 / v) log-sum into every weight.
        top = logits.max(axis=1)
        unnormalised = np.exp(logits - top[:, None])
        total = unnormalised.sum(axis=1)
        return diff, unnormalised / total[:, None], top + np.log(total)

    def evaluate(self, x: np.ndarray, what: str) -> np.ndarray:
        n = self.ndim
        points = x.reshape(-1, n)
        tail = {"log_density": (), "score": (n,), "divergence": (), "hessian": (n, n)}[what]
        out = np.empty((points.shape[0], *tail))
        v = self.variance
        for chunk in self._chunks(points):
            diff, r, lse = self._posterior(points[chunk])
            if what == "log_density":
                out[chunk] = lse - 0.5 * n * math.log(2.0 * math.pi * v)
                continue
            # sum_k r_k (c_k - x) = -sum_k r_k (x - c_k): no cancellation near a centre.
            mean_offset = -np.einsum("mk,mkn->mn", r, diff)
            if what == "score":
                out[chunk] = mean_offset / v
                continue
            centred = diff + mean_offset[:, None, :]  # = c_bar - c_k, up to sign
            if what == "divergence":
                spread = np.einsum("mk,mkn,mkn->m", r, centred, centred)
                out[chunk] = -n / v + spread / v**2
            else:
                cov = np.einsum("mk,mki,mkj->mij", r, centred, centred)
                out[chunk] = cov / v**2 - np.eye(n) / v
        return out.reshape(*x.shape[:-1], *tail)


class KernelScore:
    """Score of Gaussian-kernel-smoothed samples pushed through a forward process.

    With samples ``x_1..x_N`` and bandwidth ``h`` the data law is
    ``p_0 = (1/N) sum_i N(x_i, h^2 I)``, so (docs/theory, Conventions)

        p_t(x) = (1/N) sum_i N(x; alpha_t x_i, (alpha_t^2 h^2 + sigma_t^2) I)

    and ``score(x, t) = grad log p_t(x)`` exactly.  ``h = 0`` gives the empirical
    score (the score of the point cloud), which needs ``t > 0``.

    The score and log-density use the numba kernels of ``pdediff.distributions.Points``
    (speed); the divergence and Hessian use posterior covariances formed from
    centred differences, which keep full relative accuracy of the Li–Yau margin
    ``div s + n/sigma_t^2`` even when ``alpha_t^2 |x_i|^2 / v^2 >> n / v`` (small t).

    Parameters
    ----------
    samples : array (N, n) or (N,) for n = 1
        Data points, units of length.
    bandwidth : float >= 0
        Kernel standard deviation ``h`` (units of length).
    process : ForwardProcess
    """

    def __init__(self, samples: np.ndarray, bandwidth: float, process: ForwardProcess) -> None:
        samples = np.asarray(samples)
        if samples.ndim == 1:
            samples = samples[:, None]
        samples = _validate.points(samples, "samples", None)
        if samples.ndim != 2 or samples.shape[0] == 0 or samples.shape[1] not in (1, 2, 3):
            raise ValueError(
                f"samples: expected shape (N, n) with N >= 1 and n in 1..3, got {samples.shape}"
            )
        h = _validate.nonnegative(bandwidth, "bandwidth")
        self.samples = samples
        self.bandwidth = h
        self.process = _validate.process(process)
        self.ndim = samples.shape[1]
        self._log_weights = np.full(samples.shape[0], -math.log(samples.shape[0]))
        # Score and log-density go through the numba mixture kernels of
        # pdediff.distributions (4-6x faster than numpy; they are what samplers call).
        from ..distributions import Points

        self._points = Points(samples).smoothed(h)

    def variance(self, t: float) -> float:
        """Per-coordinate variance of each component, ``alpha_t^2 h^2 + sigma_t^2``."""
        t = _validate.forward_time(t, "t")
        alpha = float(self.process.alpha(t))
        return alpha**2 * self.bandwidth**2 + float(self.process.sigma2(t))

    def _mixture(self, t: float) -> _IsotropicMixture:
        v = self.variance(t)
        if not v > 0:
            raise ValueError(
                f"t: the kernel variance alpha_t^2 h^2 + sigma_t^2 is 0 at t={t!r}; "
                "need t > 0 or bandwidth > 0"
            )
        alpha = float(self.process.alpha(t))
        return _IsotropicMixture(alpha * self.samples, self._log_weights, v)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """``grad log p_t(x) = (sum_i r_i alpha_t x_i - x) / v``; ``x`` shape
        ``(..., n)``, returns ``(..., n)``."""
        x = _validate.points(x, "x", self.ndim)
        self._mixture(t)  # validates t and v > 0 with this class's messages
        return self._points.score(x, float(t), self.process)

    def divergence(self, x: np.ndarray, t: float) -> np.ndarray:
        """``Lap log p_t(x) = -n/v + tr Cov_r[alpha x_i] / v^2``, shape ``x.shape[:-1]``."""
        return self._mixture(t).evaluate(_validate.points(x, "x", self.ndim), "divergence")

    def log_density(self, x: np.ndarray, t: float) -> np.ndarray:
        """``log p_t(x)`` (normalised), shape ``x.shape[:-1]``."""
        x = _validate.points(x, "x", self.ndim)
        self._mixture(t)
        return self._points.log_density(x, float(t), self.process)

    def hessian(self, x: np.ndarray, t: float) -> np.ndarray:
        """``Hess log p_t(x) = -I/v + Cov_r[alpha x_i]/v^2``, shape ``(..., n, n)``."""
        return self._mixture(t).evaluate(_validate.points(x, "x", self.ndim), "hessian")

    def cell_average(self, grid: Grid, t: float) -> np.ndarray:
        """Exact cell averages of ``p_t`` on ``grid`` (shape ``grid.shape``): per
        component a product over axes of ``[Phi(b) - Phi(a)] / h_d`` with ``a, b`` the
        standardised cell edges; mass outside the box is not folded back."""
        if not isinstance(grid, Grid) or grid.ndim != self.ndim:
            raise ValueError(f"grid: expected a {self.ndim}-D pdediff Grid, got {grid!r}")
        mixture = self._mixture(t)
        s = math.sqrt(mixture.variance)
        total = np.zeros(grid.shape)
        for center in mixture.centers:
            factors = []
            for d in range(self.ndim):
                z = (grid.edges[d] - center[d]) / s
                # Difference of upper tails on the right half avoids 1 - 1 cancellation.
                lower = ndtr(z[1:]) - ndtr(z[:-1])
                upper = ndtr(-z[:-1]) - ndtr(-z[1:])
                factors.append(np.where(z[:-1] > 0, upper, lower) / grid.spacing[d])
            total += math.prod(np.ix_(*factors)) if self.ndim > 1 else factors[0]
        return total / mixture.centers.shape[0]

    def __repr__(self) -> str:
        return (
            f"KernelScore(N={self.samples.shape[0]}, n={self.ndim}, "
            f"bandwidth={self.bandwidth!r}, process={self.process!r})"
        )



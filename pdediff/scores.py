"""Score fields ``s(x, t) ~ grad log p_t(x)`` and the Fokker–Planck residual.

A *score* is a callable ``score(x, t)`` mapping points ``x`` of shape ``(..., n)`` at
forward time ``t`` to an array of the same shape; it may also offer
``score.divergence(x, t) -> x.shape[:-1]``.  This module provides

* :func:`exact` / :class:`ExactScore`: the exact score of a distribution pushed through
  a forward process (DESIGN section 1);
* :func:`grid_score` / :class:`GridScore`: the score of a forward grid solution
  (face differences of ``log p``, interpolated in ``x`` and ``t``);
* :class:`PerturbedScore`: an exact score plus a smooth gradient or divergence-free
  perturbation of known amplitude (an "approximate score" with closed-form error);
* :class:`KernelScore`: the score of Gaussian-kernel-smoothed samples pushed through
  the process (a closed-form isotropic Gaussian mixture);
* :func:`fp_residual` / :func:`fp_residual_score`: the Fokker–Planck residual
  ``R[phi]`` of DESIGN section 2 on the centres of a grid, and its gradient.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import ndtr

from .grid import Grid
from .processes import ForwardProcess

__all__ = [
    "ExactScore",
    "GridScore",
    "KernelScore",
    "PerturbedScore",
    "exact",
    "fp_residual",
    "fp_residual_score",
    "grid_score",
]

# Bound on the number of (point, component) pairs held at once by the mixture kernels,
# so memory stays O(10 MB) whatever the number of query points.
_CHUNK_PAIRS = 1 << 19


# ----------------------------------------------------------------------------- checks
def _check_process(process: Any, name: str = "process") -> ForwardProcess:
    if not isinstance(process, ForwardProcess):
        raise TypeError(f"{name}: expected a pdediff ForwardProcess, got {type(process).__name__}")
    return process


def _check_time(t: Any, name: str = "t", positive: bool = False) -> float:
    try:
        value = float(t)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name}: expected a real number, got {t!r}") from error
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name}: expected a finite forward time {bound}, got {t!r}")
    return value


def _check_points(x: Any, ndim: int | None, name: str = "x") -> np.ndarray:
    array = np.asarray(x)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a real array of points, got dtype {array.dtype}")
    array = array.astype(float, copy=False)
    if array.ndim == 0:
        raise ValueError(f"{name}: expected shape (..., n), got a scalar")
    if ndim is not None and array.shape[-1] != ndim:
        raise ValueError(f"{name}: expected last dimension {ndim}, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: contains NaN or inf")
    return array


# ------------------------------------------------------------------ exact scores
class ExactScore:
    """The exact score ``s(x, t) = grad log p_t(x)`` of ``dist`` pushed through
    ``process``, where ``p_t`` is the law of ``X_t = alpha_t X_0 + sigma_t Z``.

    Delegates to ``dist.score``, ``dist.score_divergence``, ``dist.log_density`` and
    ``dist.hessian`` (the ``pdediff.distributions`` protocol), adding argument checks.
    """

    def __init__(self, dist: Any, process: ForwardProcess) -> None:
        for method in ("score", "log_density"):
            if not callable(getattr(dist, method, None)):
                raise TypeError(f"dist: expected an object with a .{method}(x, t, process) method")
        self.dist = dist
        self.process = _check_process(process)
        self.ndim: int | None = getattr(dist, "ndim", None)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """``grad log p_t(x)``; ``x`` shape ``(..., n)``, returns shape ``(..., n)``."""
        x = _check_points(x, self.ndim)
        return np.asarray(self.dist.score(x, _check_time(t), self.process))

    def divergence(self, x: np.ndarray, t: float) -> np.ndarray:
        """``div s = Lap log p_t(x)``, shape ``x.shape[:-1]``."""
        x = _check_points(x, self.ndim)
        return np.asarray(self.dist.score_divergence(x, _check_time(t), self.process))

    def log_density(self, x: np.ndarray, t: float) -> np.ndarray:
        """``log p_t(x)``, shape ``x.shape[:-1]``."""
        x = _check_points(x, self.ndim)
        return np.asarray(self.dist.log_density(x, _check_time(t), self.process))

    def hessian(self, x: np.ndarray, t: float) -> np.ndarray:
        """``Hess log p_t(x)``, shape ``(..., n, n)``."""
        x = _check_points(x, self.ndim)
        return np.asarray(self.dist.hessian(x, _check_time(t), self.process))

    def __repr__(self) -> str:
        return f"ExactScore({self.dist!r}, {self.process!r})"


def exact(dist: Any, process: ForwardProcess) -> ExactScore:
    """The exact score ``grad log p_t`` of ``dist`` under ``process`` (see
    :class:`ExactScore`)."""
    return ExactScore(dist, process)


# ------------------------------------------------------- isotropic Gaussian mixtures
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
    ``p_0 = (1/N) sum_i N(x_i, h^2 I)``, so (DESIGN section 1)

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
        samples = _check_points(samples, None, "samples")
        if samples.ndim != 2 or samples.shape[0] == 0 or samples.shape[1] not in (1, 2, 3):
            raise ValueError(
                f"samples: expected shape (N, n) with N >= 1 and n in 1..3, got {samples.shape}"
            )
        try:
            h = float(bandwidth)
        except (TypeError, ValueError) as error:
            raise TypeError(f"bandwidth: expected a number >= 0, got {bandwidth!r}") from error
        if not math.isfinite(h) or h < 0:
            raise ValueError(f"bandwidth: expected a finite number >= 0, got {bandwidth!r}")
        self.samples = samples
        self.bandwidth = h
        self.process = _check_process(process)
        self.ndim = samples.shape[1]
        self._log_weights = np.full(samples.shape[0], -math.log(samples.shape[0]))
        # Score and log-density go through the numba mixture kernels of
        # pdediff.distributions (4-6x faster than numpy; they are what samplers call).
        from .distributions import Points

        self._points = Points(samples).smoothed(h)

    def variance(self, t: float) -> float:
        """Per-coordinate variance of each component, ``alpha_t^2 h^2 + sigma_t^2``."""
        t = _check_time(t)
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
        x = _check_points(x, self.ndim)
        self._mixture(t)  # validates t and v > 0 with this class's messages
        return self._points.score(x, float(t), self.process)

    def divergence(self, x: np.ndarray, t: float) -> np.ndarray:
        """``Lap log p_t(x) = -n/v + tr Cov_r[alpha x_i] / v^2``, shape ``x.shape[:-1]``."""
        return self._mixture(t).evaluate(_check_points(x, self.ndim), "divergence")

    def log_density(self, x: np.ndarray, t: float) -> np.ndarray:
        """``log p_t(x)`` (normalised), shape ``x.shape[:-1]``."""
        x = _check_points(x, self.ndim)
        self._mixture(t)
        return self._points.log_density(x, float(t), self.process)

    def hessian(self, x: np.ndarray, t: float) -> np.ndarray:
        """``Hess log p_t(x) = -I/v + Cov_r[alpha x_i]/v^2``, shape ``(..., n, n)``."""
        return self._mixture(t).evaluate(_check_points(x, self.ndim), "hessian")

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


# ------------------------------------------------------------- perturbed scores
class PerturbedScore:
    """An exact score plus a smooth perturbation of known form and amplitude.

    With the Gaussian bump ``b(x) = exp(-|x - c|^2 / (2 l^2))``:

    * ``kind="gradient"``:   ``s(x, t) = base(x, t) + A grad b(x)``, i.e. the score of
      the (unnormalised) log-density ``phi = log p_t + A b``;
      ``div s = div base + A Lap b``, ``Lap b = (|x - c|^2 / l^4 - n / l^2) b``.
    * ``kind="rotational"``: ``s = base + A curl(b u)`` with ``curl(b u) = grad b x u``
      (3-D, ``u`` = ``axis``, default ``e_z``) or ``(d_y b, -d_x b)`` (2-D); it is
      divergence free, so ``div s = div base``, and is not the gradient of anything.

    ``grad b = -(x - c) b / l^2`` has maximum norm ``e^{-1/2} / l``, so the pointwise
    score error is at most ``A e^{-1/2} / l``.  The perturbation is time independent.

    Parameters
    ----------
    base : score callable (with ``.divergence`` for :meth:`divergence`)
    amplitude : float ``A`` (units of log-density, i.e. dimensionless)
    kind : ``"gradient"`` or ``"rotational"`` (rotational needs n = 2 or 3)
    length_scale : float ``l > 0`` (units of length)
    center : array (n,) ``c``
    axis : array (3,), rotation axis ``u`` for n = 3 only
    """

    def __init__(
        self,
        base: Callable[[np.ndarray, float], np.ndarray],
        amplitude: float,
        kind: str = "gradient",
        length_scale: float = 1.0,
        center: np.ndarray | None = None,
        axis: np.ndarray | None = None,
    ) -> None:
        if not callable(base):
            raise TypeError(f"base: expected a score callable, got {type(base).__name__}")
        if kind not in ("gradient", "rotational"):
            raise ValueError(f"kind: expected 'gradient' or 'rotational', got {kind!r}")
        try:
            self.amplitude = float(amplitude)
            self.length_scale = float(length_scale)
        except (TypeError, ValueError) as error:
            raise TypeError("amplitude, length_scale: expected real numbers") from error
        if not math.isfinite(self.amplitude):
            raise ValueError(f"amplitude: expected a finite number, got {amplitude!r}")
        if not (math.isfinite(self.length_scale) and self.length_scale > 0):
            raise ValueError(f"length_scale: expected a positive number, got {length_scale!r}")
        ndim = getattr(base, "ndim", None)
        if center is None:
            if ndim is None:
                raise ValueError("center: required when base has no .ndim attribute")
            center = np.zeros(ndim)
        center = _check_points(np.atleast_1d(center), None, "center")
        if center.ndim != 1 or (ndim is not None and center.size != ndim):
            raise ValueError(f"center: expected shape ({ndim},), got {center.shape}")
        self.ndim = center.size
        if kind == "rotational" and self.ndim not in (2, 3):
            raise ValueError(f"kind: 'rotational' needs n = 2 or 3, got n = {self.ndim}")
        if axis is not None and self.ndim != 3:
            raise ValueError("axis: only used for n = 3")
        if self.ndim == 3:
            axis = np.array([0.0, 0.0, 1.0]) if axis is None else _check_points(axis, 3, "axis")
            if axis.shape != (3,):
                raise ValueError(f"axis: expected shape (3,), got {axis.shape}")
        self.axis = axis
        self.base = base
        self.kind = kind
        self.center = center

    def _bump(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = x - self.center
        return r, np.exp(-0.5 * np.sum(r * r, axis=-1) / self.length_scale**2)

    def perturbation(self, x: np.ndarray) -> np.ndarray:
        """The added field ``A grad b`` or ``A curl(b u)``, shape ``x.shape``."""
        x = _check_points(x, self.ndim)
        r, b = self._bump(x)
        grad_b = -r * (b / self.length_scale**2)[..., None]
        if self.kind == "gradient":
            field = grad_b
        elif self.ndim == 2:
            field = np.stack([grad_b[..., 1], -grad_b[..., 0]], axis=-1)
        else:
            field = np.cross(grad_b, self.axis)
        return self.amplitude * field

    def bump_log_density(self, x: np.ndarray) -> np.ndarray:
        """``A b(x)``: the added log-density of ``kind="gradient"``."""
        if self.kind != "gradient":
            raise ValueError("kind: the rotational perturbation is not a gradient")
        return self.amplitude * self._bump(_check_points(x, self.ndim))[1]

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """``base(x, t) + perturbation(x)``, shape ``x.shape``."""
        x = _check_points(x, self.ndim)
        return np.asarray(self.base(x, t)) + self.perturbation(x)

    def divergence(self, x: np.ndarray, t: float) -> np.ndarray:
        """``div base + A Lap b`` (gradient) or ``div base`` (rotational)."""
        if not callable(getattr(self.base, "divergence", None)):
            raise TypeError("base: has no .divergence(x, t) method")
        x = _check_points(x, self.ndim)
        out = np.asarray(self.base.divergence(x, t), dtype=float)
        if self.kind == "gradient":
            r, b = self._bump(x)
            l2 = self.length_scale**2
            out = out + self.amplitude * (np.sum(r * r, axis=-1) / l2**2 - self.ndim / l2) * b
        return out

    def log_density(self, x: np.ndarray, t: float) -> np.ndarray:
        """``phi = log p_t + A b`` (unnormalised), for ``kind="gradient"`` with a base
        that has ``.log_density``."""
        if not callable(getattr(self.base, "log_density", None)):
            raise TypeError("base: has no .log_density(x, t) method")
        return np.asarray(self.base.log_density(x, t)) + self.bump_log_density(x)

    def __repr__(self) -> str:
        return (
            f"PerturbedScore({self.base!r}, amplitude={self.amplitude!r}, kind={self.kind!r}, "
            f"length_scale={self.length_scale!r}, center={self.center.tolist()})"
        )


# ------------------------------------------------------------------ grid scores
def _multilinear(
    values: np.ndarray, node_low: np.ndarray, spacing: np.ndarray, points: np.ndarray
) -> np.ndarray:
    """Multilinear interpolation of ``values`` (nodes ``node_low + j * spacing``) at
    ``points`` (m, n); beyond the outermost nodes the value is held constant."""
    n = points.shape[1]
    index, frac = [], []
    for k in range(n):
        s = (points[:, k] - node_low[k]) / spacing[k]
        i0 = np.clip(np.floor(s).astype(np.int64), 0, values.shape[k] - 2)
        index.append(i0)
        frac.append(np.clip(s - i0, 0.0, 1.0))
    out = np.zeros(points.shape[0])
    for corner in itertools.product((0, 1), repeat=n):
        weight = np.ones(points.shape[0])
        for k, c in enumerate(corner):
            weight *= frac[k] if c else 1.0 - frac[k]
        out += weight * values[tuple(index[k] + corner[k] for k in range(n))]
    return out


class GridScore:
    """Score of a forward grid :class:`~pdediff.solution.Solution`.

    Let ``phi = log max(p, floor * max p)`` per snapshot.  Along axis ``d`` the score
    component lives on the faces normal to ``d``:

        s_d(face i+1/2) = (phi_{i+1} - phi_i) / h_d

    which is a second-order approximation of ``d_d log p`` at the face centre (the
    cell-average error ``O(h^2)`` of ``phi`` is smooth, so it cancels to ``O(h^2)`` in
    the difference).  Values at arbitrary ``x`` are multilinear in the staggered face
    grid of each component (second order), and linear in ``t`` between the two
    bracketing snapshots (error ``O(dt^2 d_t^2 s)``); ``t`` outside the stored range
    raises ``ValueError``.  Points outside the box get the value at the nearest
    boundary (constant extrapolation); periodic axes wrap.

    **Small densities.**  A face is *resolved* when both adjacent cells hold
    ``p >= floor * max p``.  Unresolved faces get the score of the Gaussian with the
    snapshot's mean ``m`` and covariance ``C``: ``s = -C^{-1} (x - m)``.  This is exact
    for Gaussian data under any linear process, has the right direction and growth
    far from compact data, and its error elsewhere is ``O(alpha_t^2 |Cov_0| /
    sigma_t^4 * |x - m|)`` (the Tweedie correction it ignores).  On a no-flux wall
    the face value is linearly extrapolated from the two nearest interior faces
    (resolved when both are).  :attr:`resolved` gives the per-snapshot masks.

    Parameters
    ----------
    solution : Solution with ``p`` of shape ``(nt, *grid.shape)``
    floor : float in (0, 1), relative density floor (default ``1e-10``)
    """

    def __init__(self, solution: Any, floor: float = 1e-10) -> None:
        for attr in ("t", "p", "grid", "process"):
            if not hasattr(solution, attr):
                raise TypeError(f"solution: expected a pdediff Solution (missing .{attr})")
        grid = solution.grid
        if not isinstance(grid, Grid):
            raise TypeError("solution: .grid must be a pdediff Grid")
        t = np.asarray(solution.t, dtype=float).reshape(-1)
        p = np.asarray(solution.p, dtype=float)
        if p.shape != (t.size, *grid.shape):
            raise ValueError(
                f"solution: p has shape {p.shape}, expected {(t.size, *grid.shape)}"
            )
        if not (np.all(np.isfinite(p)) and np.all(p >= 0)):
            raise ValueError("solution: p must be finite and nonnegative")
        if np.any(p.reshape(t.size, -1).max(axis=1) <= 0):
            raise ValueError("solution: every snapshot needs positive mass")
        if not (isinstance(floor, (int, float)) and 0 < floor < 1):
            raise ValueError(f"floor: expected a relative floor in (0, 1), got {floor!r}")
        order = np.argsort(t, kind="stable")
        if np.any(np.diff(t[order]) <= 0):
            raise ValueError("solution: snapshot times must be distinct")
        self.grid = grid
        self.process = solution.process
        self.floor = float(floor)
        self.t = t[order]
        self._p = p[order]
        self.ndim = grid.ndim
        self._faces: dict[int, list[np.ndarray]] = {}
        self._div: dict[int, np.ndarray] = {}
        self._resolved: dict[int, list[np.ndarray]] = {}

    # -- construction of the face fields --------------------------------------
    def _gaussian_fit(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grid = self.grid
        x = grid.points().reshape(-1, grid.ndim)
        w = p.reshape(-1) / p.sum()
        mean = w @ x
        centred = x - mean
        cov = (centred * w[:, None]).T @ centred
        # Cell-averaging adds h^2/12 per axis to the continuous covariance; keep the
        # raw covariance if the correction would leave it non-positive (unresolved).
        corrected = cov - np.diag(grid.spacing**2 / 12.0)
        for candidate in (corrected, cov):
            try:
                np.linalg.cholesky(candidate)
            except np.linalg.LinAlgError:
                continue
            return mean, np.linalg.inv(candidate)
        raise ValueError("solution: a snapshot has a degenerate covariance (a point mass?)")

    def _build(self, k: int) -> list[np.ndarray]:
        if k in self._faces:
            return self._faces[k]
        grid = self.grid
        p = self._p[k]
        threshold = self.floor * p.max()
        ok = p >= threshold
        phi = np.log(np.maximum(p, threshold))
        mean, precision = self._gaussian_fit(p)
        faces, resolved = [], []
        for d in range(grid.ndim):
            h = grid.spacing[d]
            a = np.moveaxis(phi, d, 0)
            okd = np.moveaxis(ok, d, 0)
            if grid.periodic[d]:
                nxt = np.roll(a, -1, axis=0)
                inner = (nxt - a) / h  # face i+1/2 for i = 0..N-1
                good = okd & np.roll(okd, -1, axis=0)
                face = np.concatenate([inner[-1:], inner], axis=0)
                mask = np.concatenate([good[-1:], good], axis=0)
            else:
                inner = (a[1:] - a[:-1]) / h
                good = okd[1:] & okd[:-1]
                first = 2.0 * inner[0] - inner[1]
                last = 2.0 * inner[-1] - inner[-2]
                face = np.concatenate([first[None], inner, last[None]], axis=0)
                mask = np.concatenate(
                    [(good[0] & good[1])[None], good, (good[-1] & good[-2])[None]], axis=0
                )
            face = np.moveaxis(face, 0, d)
            mask = np.moveaxis(mask, 0, d)
            if not mask.all():
                xf = grid.face_points(d)[~mask]
                face[~mask] = -((xf - mean) @ precision[d])
            faces.append(self._pad(face, d))
            resolved.append(mask)
        self._faces[k] = faces
        self._resolved[k] = resolved
        return faces

    def _pad(self, values: np.ndarray, d: int) -> np.ndarray:
        """Wrap-pad periodic cross axes so interpolation between the last and the
        first centre is the periodic one."""
        for k in range(self.grid.ndim):
            if k != d and self.grid.periodic[k]:
                values = np.concatenate(
                    [np.take(values, [-1], axis=k), values, np.take(values, [0], axis=k)], axis=k
                )
        return values

    def _node_low(self, d: int | None) -> np.ndarray:
        grid = self.grid
        low = grid.low + 0.5 * grid.spacing
        if d is not None:
            low[d] = grid.low[d]
        for k in range(grid.ndim):
            if k != d and grid.periodic[k]:
                low[k] -= grid.spacing[k]
        return low

    def resolved(self, index: int) -> list[np.ndarray]:
        """Per axis ``d``, the boolean mask of faces normal to ``d`` (shape of
        ``grid.face_points(d)[..., 0]``) computed from data in snapshot ``index``
        (sorted by time); ``False`` faces carry the Gaussian fallback."""
        self._build(index)
        return self._resolved[index]

    def _bracket(self, t: float) -> tuple[int, int, float]:
        t = _check_time(t)
        lo, hi = self.t[0], self.t[-1]
        tol = 1e-12 * max(abs(lo), abs(hi), 1.0)
        if t < lo - tol or t > hi + tol:
            raise ValueError(f"t: {t!r} is outside the stored range [{lo!r}, {hi!r}]")
        if self.t.size == 1:
            return 0, 0, 0.0
        k = int(np.clip(np.searchsorted(self.t, t, side="right") - 1, 0, self.t.size - 2))
        theta = float(np.clip((t - self.t[k]) / (self.t[k + 1] - self.t[k]), 0.0, 1.0))
        return k, k + 1, theta

    def _wrap(self, x: np.ndarray) -> np.ndarray:
        points = x.reshape(-1, self.ndim).copy()
        for k in range(self.ndim):
            if self.grid.periodic[k]:
                points[:, k] = self.grid.low[k] + np.mod(
                    points[:, k] - self.grid.low[k], self.grid.length[k]
                )
        return points

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Interpolated ``grad log p_t(x)``; ``x`` shape ``(..., n)``, returns the same."""
        x = _check_points(x, self.ndim)
        k0, k1, theta = self._bracket(t)
        points = self._wrap(x)
        out = np.zeros_like(points)
        for k, w in ((k0, 1.0 - theta), (k1, theta)):
            if w == 0.0:
                continue
            faces = self._build(k)
            for d in range(self.ndim):
                out[:, d] += w * _multilinear(
                    faces[d], self._node_low(d), self.grid.spacing, points
                )
        return out.reshape(x.shape)

    def divergence(self, x: np.ndarray, t: float) -> np.ndarray:
        """Discrete divergence of the face field, ``sum_d (s_d(i+1/2) - s_d(i-1/2))/h_d``
        (the 2n+1-point Laplacian of ``phi``, second order), multilinear from the
        cell centres and linear in ``t``; shape ``x.shape[:-1]``."""
        x = _check_points(x, self.ndim)
        k0, k1, theta = self._bracket(t)
        points = self._wrap(x)
        out = np.zeros(points.shape[0])
        for k, w in ((k0, 1.0 - theta), (k1, theta)):
            if w == 0.0:
                continue
            if k not in self._div:
                faces = self._build(k)
                div = np.zeros(self.grid.shape)
                for d in range(self.ndim):
                    f = faces[d]
                    for j in range(self.ndim):  # strip the periodic padding again
                        if j != d and self.grid.periodic[j]:
                            f = np.take(f, np.arange(1, f.shape[j] - 1), axis=j)
                    div += np.diff(f, axis=d) / self.grid.spacing[d]
                self._div[k] = self._pad(div, -1)
            out += w * _multilinear(self._div[k], self._node_low(None), self.grid.spacing, points)
        return out.reshape(x.shape[:-1])

    def __repr__(self) -> str:
        return f"GridScore(grid={self.grid!r}, nt={self.t.size}, floor={self.floor!r})"


def grid_score(solution: Any, floor: float = 1e-10) -> GridScore:
    """The score of a forward grid solution (see :class:`GridScore`)."""
    return GridScore(solution, floor=floor)


# The Fokker–Planck residual lives in pdediff.residual; kept here under its old names.
from .residual import fp_residual, fp_residual_score  # noqa: E402

"""How the reverse sampler evaluates a score: the generic path (any callable, on the
full particle array) and the fused path (the closed-form Gaussian-mixture scores of
pdediff, evaluated inside :func:`pdediff.particles._kernels.mixture_step`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..processes import ForwardProcess
from .noise import NormalStream

ScoreFunction = Callable[[np.ndarray, float], np.ndarray]


def kernel_array(a: np.ndarray) -> np.ndarray:
    """``a`` as a writeable C-contiguous float64 array: the one array type the
    kernels are compiled for, so no call triggers a new specialisation."""
    if a.dtype != np.float64 or not a.flags.c_contiguous or not a.flags.writeable:
        return np.array(a, dtype=np.float64, order="C")
    return a


class Evaluator:
    """Calls the score (and its divergence) on full (N, ndim) arrays, checks what
    comes back, and counts the calls."""

    def __init__(
        self, score: ScoreFunction, divergence: str, noise: NormalStream, n: int, d: int
    ) -> None:
        self.score = score
        self.divergence_mode = divergence
        self.noise = noise
        self.calls = 0
        self.probe = np.empty((n, d)) if divergence == "hutchinson" else None

    def __call__(self, x: np.ndarray, t: float, step: int) -> np.ndarray:
        s = np.asarray(self.score(x, t))
        self.calls += 1
        if s.shape != x.shape:
            raise ValueError(
                f"score: returned shape {s.shape} at t={t:.10g} (step {step}), expected {x.shape}"
            )
        return kernel_array(s)

    def _finite(self, s: np.ndarray, t: float, step: int) -> np.ndarray:
        if not np.all(np.isfinite(s)):
            raise ValueError(f"score: returned non-finite values at t={t:.10g} (step {step})")
        return s

    def divergence(self, x: np.ndarray, t: float, step: int) -> np.ndarray:
        """``div s(x, t)``, shape (N,)."""
        n, d = x.shape
        mode = self.divergence_mode
        if mode == "exact":
            div = np.asarray(self.score.divergence(x, t), dtype=np.float64)  # type: ignore[attr-defined]
            self.calls += 1
            if div.shape != (n,):
                raise ValueError(
                    f"score.divergence: returned shape {div.shape} at t={t:.10g} (step {step}), "
                    f"expected {(n,)}"
                )
            if not np.all(np.isfinite(div)):
                raise ValueError(
                    f"score.divergence: returned non-finite values at t={t:.10g} (step {step})"
                )
            return div
        # Central differences with the step cbrt(machine eps) * (1 + |x|_inf), the
        # usual balance of O(delta^2) truncation and O(eps/delta) rounding error.
        delta = np.cbrt(np.finfo(np.float64).eps) * (1.0 + np.max(np.abs(x), axis=1))
        if mode == "fd":
            div = np.zeros(n)
            shifted = x.copy()
            for j in range(d):
                shifted[:, j] = x[:, j] + delta
                plus = self._finite(self(shifted, t, step), t, step)[:, j]
                shifted[:, j] = x[:, j] - delta
                minus = self._finite(self(shifted, t, step), t, step)[:, j]
                shifted[:, j] = x[:, j]
                div += (plus - minus) / (2.0 * delta)
            return div
        # Hutchinson: div s = E[v . J v] for Rademacher v, with J v by central
        # differences; one probe per particle and stage.
        probe = self.probe
        assert probe is not None
        self.noise.fill(probe)
        np.sign(probe, out=probe)
        step_vec = delta[:, None] * probe
        plus = self._finite(self(x + step_vec, t, step), t, step)
        minus = self._finite(self(x - step_vec, t, step), t, step)
        return np.einsum("ij,ij->i", probe, plus - minus) / (2.0 * delta)


class MixtureStages:
    """Per-stage parameters of a Gaussian-mixture ``p_t`` for the fused kernel.

    ``p_t = sum_k w_k N(alpha_t m_k, alpha_t^2 C_k + v_t I)`` is the law of the data
    mixture under the forward process (docs/theory, "Equations"); :meth:`set` writes
    the means, precisions, log-coefficients and precision traces of stage ``j`` at
    time ``t``, computed by the distribution itself (the very numbers its own score
    kernel uses, so the fused and generic paths agree bit for bit).

    Parameters
    ----------
    dist : pdediff.distributions.GaussianMixture (or Points, smoothed or not)
    process : ForwardProcess
        The process of the score (which defines its ``p_t``).
    stages : int
        Runge–Kutta stages per step.
    fallback : callable ``t -> None``
        Called where ``p_t`` has no score (zero variance); it raises the score's own
        error.
    """

    def __init__(
        self, dist: Any, process: ForwardProcess, stages: int, fallback: Callable[[float], None]
    ) -> None:
        self.dist = dist
        self.process = process
        self.fallback = fallback
        K, n = dist.means.shape
        self.isotropic = dist.cov_kind == "isotropic"
        p = 1 if self.isotropic else n
        self.means = np.empty((stages, K, n))
        self.prec = np.empty((stages, K, p, p))
        self.logc = np.empty((stages, K))
        self.trace = np.empty((stages, K))
        self.alpha = self.variance = np.empty((0, stages))

    def schedule(self, stage_times: np.ndarray) -> None:
        """Tabulate ``alpha_t`` and ``v_t = sigma_t^2 + alpha_t^2 s^2`` (``s`` the
        distribution's smoothing) at every stage time, shape (n_steps, stages), in
        one vectorised call each."""
        self.alpha = np.asarray(self.process.alpha(stage_times), dtype=np.float64)
        sigma2 = np.asarray(self.process.sigma2(stage_times), dtype=np.float64)
        self.variance = sigma2 + self.alpha**2 * self.dist.smoothing**2

    def set(self, j: int, k: int, t: float) -> None:
        """Parameters of stage ``j`` of step ``k`` (forward time ``t``)."""
        alpha, v = float(self.alpha[k, j]), float(self.variance[k, j])
        if v == 0.0 and not self.dist.regular_at_zero:
            self.fallback(t)
            raise ValueError(f"t: the score has no value at t={t!r} (zero variance)")
        # The distribution's own (private) parameter routine: one formula for p_t.
        means, prec, trace, logc, _ = self.dist._components(alpha, v)
        self.means[j] = means
        self.prec[j] = prec
        self.logc[j] = logc
        self.trace[j] = trace


def mixture_stages(score: Any, ndim: int, stages: int) -> MixtureStages | None:
    """The fused-kernel parameters for ``score`` if it is one of pdediff's closed-form
    Gaussian-mixture scores of dimension ``ndim`` — an :class:`~pdediff.scores.ExactScore`
    of a :class:`~pdediff.distributions.GaussianMixture` (or ``Points``), or a
    :class:`~pdediff.scores.KernelScore` — with ``ndim <= 3``, else ``None``
    (generic path).  Exact types
    only: a subclass may change what ``__call__`` returns."""
    from ..distributions import GaussianMixture, Points
    from ..scores import ExactScore, KernelScore

    def fallback(t: float) -> None:
        score(np.zeros((1, ndim)), t)

    if type(score) is ExactScore and type(score.dist) in (GaussianMixture, Points):
        dist = score.dist
    elif type(score) is KernelScore:
        # KernelScore's own score is that of these smoothed points (same numbers).
        dist = Points(score.samples).smoothed(score.bandwidth)
    else:
        return None
    # The fused kernel keeps a particle's coordinates in registers: ndim <= 3.
    if dist.ndim != ndim or ndim > 3:
        return None
    return MixtureStages(dist, score.process, stages, fallback)

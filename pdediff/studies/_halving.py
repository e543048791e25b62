"""Step halving with common random numbers, for the particle studies.

A statistical check converges its time step before it tests an interval: the particle
sampler is run with ``steps`` and ``2 steps`` base steps from the *same* starting
points and, for the SDE, the *same* Brownian path (the coarse increments are sums of
pairs of fine ones).  The difference between the two runs is then the time-stepping
error alone, not sampling noise, and can be compared with the interval half-width
(docs/verification: step-halving change <= 1/5 of the half-width).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..particles import reverse as particles_reverse

#: the step-halving change must be at most this fraction of the interval half-width
HALVING_FRACTION = 0.2


def log_step_grid(T: float, t0: float, steps: int) -> np.ndarray:
    """The geometric step grid ``T = t_0 > t_1 > ... > t_steps = t0`` of
    :func:`pdediff.particles.reverse` with ``time_grid="log"`` (shape ``(steps + 1,)``)."""
    grid = np.geomspace(T, t0, steps + 1)
    grid[0], grid[-1] = T, t0
    return grid


def coupled_noise(T: float, t0: float, steps: int, n: int, ndim: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Standard normal increments for ``2 steps`` fine and ``steps`` coarse
    Euler–Maruyama steps on the log grid that share one Brownian path:

        Z_c[k] = (sqrt(|dt_2k|) Z[2k] + sqrt(|dt_2k+1|) Z[2k+1]) / sqrt(|dt_2k| + |dt_2k+1|)

    (``dt`` the fine steps).  Returns ``(fine, coarse)`` of shapes
    ``(2 steps, n, ndim)`` and ``(steps, n, ndim)``."""
    fine_grid = log_step_grid(T, t0, 2 * steps)
    dt = np.abs(np.diff(fine_grid))
    fine = rng.standard_normal((2 * steps, n, ndim))
    w0 = np.sqrt(dt[0::2] / (dt[0::2] + dt[1::2]))[:, None, None]
    w1 = np.sqrt(dt[1::2] / (dt[0::2] + dt[1::2]))[:, None, None]
    coarse = w0 * fine[0::2] + w1 * fine[1::2]
    return fine, coarse


def halving_pair(x_T: np.ndarray, process: Any, score: Any, t_eval: np.ndarray, eps: float,
                 steps: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """Particles of the reverse family at ``t_eval`` with ``steps`` and ``2 steps`` log
    steps, same ``x_T`` and (``eps > 0``) the same Brownian path.

    ``t_eval`` (decreasing, ``t_eval[0] = T``) must lie on the coarse step grid:
    ``len(t_eval) - 1`` divides ``steps`` and ``t_eval`` is geometric.  Returns
    ``(x_coarse, x_fine, fine_steps)``, positions of shape ``(nt, N, ndim)``."""
    t_eval = np.asarray(t_eval, dtype=float)
    T, t0 = float(t_eval[0]), float(t_eval[-1])
    if steps % (t_eval.size - 1) or not np.allclose(
            t_eval, np.geomspace(T, t0, t_eval.size), rtol=1e-12, atol=0):
        raise ValueError(f"t_eval: expected {t_eval.size} geometric times whose intervals "
                         f"divide steps={steps}")
    n, ndim = np.shape(x_T)
    out = []
    if eps > 0:
        fine_noise, coarse_noise = coupled_noise(T, t0, steps, n, ndim, rng)
        for count, noise in ((steps, coarse_noise), (2 * steps, fine_noise)):
            sol = particles_reverse(x_T, process, score, t_eval, eps=eps, steps=count,
                                    time_grid="log", noise=noise)
            out.append(sol.x)
    else:
        for count in (steps, 2 * steps):
            sol = particles_reverse(x_T, process, score, t_eval, eps=eps, steps=count,
                                    time_grid="log", seed=0)
            out.append(sol.x)
    return out[0], out[1], 2 * steps


def converged(change: float, half_width: float) -> bool:
    """Step-halving ``change`` at most :data:`HALVING_FRACTION` of ``half_width``."""
    return bool(math.isfinite(change) and abs(change) <= HALVING_FRACTION * half_width)

"""Exact sampling of the linear forward processes.

``X_t = alpha_t X_0 + sigma_t Z`` (docs/theory, "Equations"), and between two times
``s < t`` the Markov transition
``X_t = (alpha_t/alpha_s) X_s + sqrt(sigma_t^2 - (alpha_t/alpha_s)^2 sigma_s^2) Z``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .. import _validate
from ..processes import ForwardProcess
from .noise import NormalStream

__all__ = ["forward"]


def forward(
    x0: np.ndarray,
    process: ForwardProcess,
    t: float | np.ndarray,
    seed: int | np.random.SeedSequence | None = None,
    chunk_size: int = 65536,
    workers: int | None = None,
) -> np.ndarray:
    """Exact samples of the forward process started at ``x0``.

    For a float ``t``: ``X_t = alpha_t x0 + sigma_t Z``, ``Z ~ N(0, I)``.  For an
    increasing array of times ``t_0 < t_1 < ...`` the path is sampled with the exact
    Gaussian transitions between consecutive times (a valid Markov path),

        X_{t_{k+1}} = r X_{t_k} + sqrt(sigma_{t_{k+1}}^2 - r^2 sigma_{t_k}^2) Z_k,
        r = alpha_{t_{k+1}} / alpha_{t_k}

    starting from ``X_0 = x0`` at time 0.

    Parameters
    ----------
    x0 : array, shape (N, ndim)
        Starting points (data at ``t = 0``, units of the data).
    process : ForwardProcess
    t : float in [0, process.T], or 1-D array of strictly increasing such times
    seed : int >= 0, SeedSequence or None
        Root of the chunked normal streams (:mod:`pdediff.particles.noise`).
    chunk_size : int >= 1
        Particles per random stream.
    workers : int >= 1 or None
        Threads drawing random numbers (default ``numba.get_num_threads()``);
        results do not depend on it.

    Returns
    -------
    ndarray
        Shape (N, ndim) for a float ``t``, (nt, N, ndim) for an array.
    """
    process = _validate.process(process, "process")
    x = np.array(_validate.points(x0, "x0"), dtype=np.float64, order="C")
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"x0: expected shape (N, ndim) with N, ndim >= 1, got {x.shape}")
    n, d = x.shape
    scalar = np.ndim(t) == 0
    times = _validate.times(t, "t", increasing=True, T=process.T)
    chunk_size = _validate.positive_int(chunk_size, "chunk_size")
    n_workers = numba.get_num_threads() if workers is None else _validate.positive_int(
        workers, "workers"
    )
    log_alpha = np.atleast_1d(np.asarray(process.log_alpha(times), dtype=np.float64))
    sigma2 = np.atleast_1d(np.asarray(process.sigma2(times), dtype=np.float64))
    out = np.empty((times.size, n, d))
    z = np.empty((n, d))
    previous, previous_log_alpha, previous_sigma2 = x, 0.0, 0.0
    with NormalStream(seed, n, chunk_size, n_workers) as normals:
        for k in range(times.size):
            ratio = math.exp(log_alpha[k] - previous_log_alpha)
            # sigma_t^2 - r^2 sigma_s^2 = alpha_t^2 int_s^t g^2/alpha^2 >= 0; clip the
            # rounding error of the difference.
            variance = max(sigma2[k] - ratio**2 * previous_sigma2, 0.0)
            if variance > 0.0:
                normals.fill(z)
                np.multiply(z, math.sqrt(variance), out=out[k])
                out[k] += ratio * previous
            else:
                np.multiply(previous, ratio, out=out[k])
            previous, previous_log_alpha, previous_sigma2 = out[k], log_alpha[k], sigma2[k]
    return out[0] if scalar else out

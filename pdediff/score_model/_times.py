"""Training time laws: times uniform in ``tau = log sigma_t`` on ``[t_min, T]``."""

from __future__ import annotations

import numpy as np

from ..processes import ForwardProcess


def times_uniform_in_log_sigma(process: ForwardProcess, t_min: float, u: np.ndarray) -> np.ndarray:
    """Map ``u`` in [0, 1] to times on ``[t_min, T]`` linearly in ``tau = log sigma_t``
    (``tau`` inverted on an 8193-point monotone table of ``t``, piecewise linear):
    uniform ``u`` gives times uniform in ``log sigma_t``."""
    T = process.T
    grid = np.unique(np.concatenate([np.geomspace(t_min, T, 4097), np.linspace(t_min, T, 4096)]))
    tau = np.maximum.accumulate(0.5 * np.log(np.asarray(process.sigma2(grid), float)))
    keep = np.concatenate([[True], np.diff(tau) > 0])
    target = tau[0] + np.asarray(u, dtype=float) * (tau[-1] - tau[0])
    return np.clip(np.interp(target, tau[keep], grid[keep]), t_min, T)

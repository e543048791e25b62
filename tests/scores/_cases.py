"""Processes, mixtures and finite-difference helpers shared by the score tests."""

from __future__ import annotations

import numpy as np

from pdediff import OU, VE, VP, HeatFlow, SubVP
from pdediff.scores import (  # noqa: F401
    ExactScore,
    GridScore,
    KernelScore,
    PerturbedScore,
    exact,
    fp_residual,
    fp_residual_score,
    grid_score,
)

PROCESSES = {
    "heat": HeatFlow(kappa=0.5),
    "ou": OU(),
    "vp": VP(),
    "subvp": SubVP(),
    "ve": VE(sigma_min=0.01, sigma_max=5.0),
}


def slope(h: np.ndarray, err: np.ndarray) -> float:
    """Least-squares log-log slope of err against h (the observed order)."""
    return float(np.polyfit(np.log(h), np.log(err), 1)[0])


def mixture(ndim: int, process, bandwidth: float = 0.4) -> KernelScore:
    """A two- or three-component isotropic Gaussian mixture (exact closed form)."""
    means = np.array([[-0.8, 0.3, 0.1], [0.7, -0.4, 0.0], [0.2, 0.9, -0.5]])[:, :ndim]
    return KernelScore(means, bandwidth, process)


def fd_gradient(f, x: np.ndarray, delta: float) -> np.ndarray:
    n = x.shape[-1]
    return np.stack(
        [(f(x + delta * e) - f(x - delta * e)) / (2 * delta) for e in np.eye(n)], axis=-1
    )

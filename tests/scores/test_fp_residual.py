"""Tests of fp_residual / fp_residual_score (re-exported from pdediff.residual) against
closed forms and fitted convergence orders."""

from __future__ import annotations

import numpy as np
import pytest

from pdediff import Grid, HeatFlow
from pdediff.scores import (
    KernelScore,
    PerturbedScore,
    fp_residual,
    fp_residual_score,
)

from ._cases import PROCESSES, fd_gradient, mixture, slope

# -------------------------------------------------------------- Fokker–Planck residual
CASES = [
    ("heat", 1, 0.3), ("ou", 1, 0.5), ("vp", 1, 0.3), ("subvp", 1, 0.3), ("ve", 1, 0.4),
    ("heat", 2, 0.3), ("vp", 2, 0.3), ("ve", 2, 0.4),
]


@pytest.mark.parametrize("accuracy", [2, 4])
@pytest.mark.parametrize(("name", "ndim", "t"), CASES)
def test_fp_residual_of_exact_log_density_converges_at_stencil_order(name, ndim, t, accuracy):
    process = PROCESSES[name]
    score = mixture(ndim, process, bandwidth=0.4)
    sizes = (64, 128, 256) if ndim == 1 else (48, 96, 192)
    errors, hs = [], []
    for n in sizes:
        grid = Grid([(-3, 3)] * ndim, n)
        residual = fp_residual(score.log_density, process, grid, t, accuracy=accuracy)
        errors.append(np.abs(residual).max())
        hs.append(grid.spacing[0])
    order = slope(np.array(hs), np.array(errors))
    assert order >= accuracy - 0.3, (errors, order)


def perturbed_residual(score: KernelScore, pert: PerturbedScore, process, x, t):
    """Closed form of R[log p_t + A b] with R[log p_t] = 0 (time-independent bump):
    A (a x . grad b - D (Lap b + 2 s . grad b)) - D A^2 |grad b|^2."""
    a, diffusion = process.a(t), process.diffusion(t)
    grad_ab = pert.perturbation(x)
    r = x - pert.center
    l2 = pert.length_scale**2
    lap_ab = pert.bump_log_density(x) * (np.sum(r * r, -1) / l2**2 - x.shape[-1] / l2)
    s = score(x, t)
    return (a * np.sum(x * grad_ab, -1) - diffusion * (lap_ab + 2 * np.sum(s * grad_ab, -1))
            - diffusion * np.sum(grad_ab**2, -1))


@pytest.mark.parametrize(("name", "ndim"), [("vp", 1), ("heat", 2), ("ou", 2)])
def test_fp_residual_of_perturbed_log_density_matches_closed_form(name, ndim):
    process = PROCESSES[name]
    score = mixture(ndim, process)
    amplitude = 0.2
    pert = PerturbedScore(score, amplitude, "gradient", 0.6, center=np.full(ndim, 0.3))
    t = 0.3
    errors, hs = [], []
    for n in ((64, 128, 256) if ndim == 1 else (32, 64, 128)):
        grid = Grid([(-3, 3)] * ndim, n)
        residual = fp_residual(pert.log_density, process, grid, t)
        expected = perturbed_residual(score, pert, process, grid.points(), t)
        errors.append(np.abs(residual - expected).max())
        hs.append(grid.spacing[0])
    assert slope(np.array(hs), np.array(errors)) > 1.7
    # The residual is O(amplitude): clearly nonzero, far above the discretisation error.
    assert np.abs(expected).max() > 0.05 * amplitude
    assert np.abs(residual).max() > 20 * errors[-1]


def test_fp_residual_score_is_gradient_of_residual():
    process = PROCESSES["heat"]
    score = mixture(2, process)
    pert = PerturbedScore(score, 0.2, "gradient", 0.6, center=np.array([0.3, 0.3]))
    t = 0.3
    errors, hs = [], []
    for n in (32, 64, 128):
        grid = Grid([(-3, 3)] * 2, n)
        gradient = fp_residual_score(pert.log_density, process, grid, t)
        exact_gradient = fd_gradient(
            lambda y: perturbed_residual(score, pert, process, y, t), grid.points(), 1e-4
        )
        assert gradient.shape == (n, n, 2)
        errors.append(np.abs(gradient - exact_gradient).max())
        hs.append(grid.spacing[0])
    assert slope(np.array(hs), np.array(errors)) > 1.7


def test_fp_residual_rejects_bad_input():
    process = HeatFlow()
    grid = Grid([(-1, 1)], 8)
    score = mixture(1, process)
    with pytest.raises(ValueError, match="t"):
        fp_residual(score.log_density, process, grid, 0.0)
    with pytest.raises(ValueError, match="dt"):
        fp_residual(score.log_density, process, grid, 0.1, dt=0.1)
    with pytest.raises(ValueError, match="accuracy"):
        fp_residual(score.log_density, process, grid, 0.1, accuracy=3)
    with pytest.raises(TypeError, match="grid"):
        fp_residual(score.log_density, process, "grid", 0.1)
    with pytest.raises(ValueError, match="log_density"):
        fp_residual(lambda x, t: np.full(x.shape[:-1], np.nan), process, grid, 0.1)
    with pytest.raises(ValueError, match="log_density"):
        fp_residual(lambda x, t: np.zeros(3), process, grid, 0.1)

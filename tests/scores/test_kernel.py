"""Tests of pdediff.scores.kernel (KernelScore) against closed forms and fitted convergence orders."""

from __future__ import annotations

import numpy as np
import pytest

from pdediff import VP, Grid, HeatFlow
from pdediff.scores import (
    KernelScore,
)

from ._cases import PROCESSES, fd_gradient, mixture, slope


# --------------------------------------------------------------------- KernelScore
@pytest.mark.parametrize("name", sorted(PROCESSES))
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_kernel_score_single_sample_is_gaussian_score(name, ndim):
    process = PROCESSES[name]
    rng = np.random.default_rng(1)
    x0 = rng.normal(size=ndim)
    h, t = 0.3, 0.4
    score = KernelScore(x0[None, :], h, process)
    x = rng.normal(size=(7, ndim))
    alpha, sigma2 = process.alpha(t), process.sigma2(t)
    v = alpha**2 * h**2 + sigma2
    np.testing.assert_allclose(score(x, t), -(x - alpha * x0) / v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(score.divergence(x, t), -ndim / v, rtol=1e-12)
    expected_hessian = np.broadcast_to(-np.eye(ndim) / v, (7, ndim, ndim))
    np.testing.assert_allclose(score.hessian(x, t), expected_hessian)
    log_p = -0.5 * np.sum((x - alpha * x0) ** 2, -1) / v - 0.5 * ndim * np.log(2 * np.pi * v)
    np.testing.assert_allclose(score.log_density(x, t), log_p, rtol=1e-12)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_kernel_score_derivatives_match_finite_differences(ndim):
    """score = grad log p, Hess = grad score, div = tr Hess, to the FD error O(delta^2)."""
    score = mixture(ndim, VP(), bandwidth=0.2)
    t = 0.05
    x = np.random.default_rng(2).normal(scale=0.7, size=(20, ndim))
    errors = []
    for delta in (1e-2, 5e-3, 2.5e-3):
        fd = fd_gradient(lambda y: score.log_density(y, t), x, delta)
        errors.append(np.abs(fd - score(x, t)).max())
    assert slope(np.array([1e-2, 5e-3, 2.5e-3]), np.array(errors)) > 1.8
    hess = score.hessian(x, t)
    fd_hess = fd_gradient(lambda y: score(y, t), x, 1e-4)  # [..., i, j] = d_j s_i
    scale = np.abs(hess).max()
    np.testing.assert_allclose(fd_hess, hess, atol=1e-5 * scale)
    np.testing.assert_allclose(hess, np.swapaxes(hess, -1, -2), atol=1e-12 * scale)
    np.testing.assert_allclose(
        score.divergence(x, t), np.trace(hess, axis1=-2, axis2=-1), atol=1e-12 * scale
    )


def test_kernel_score_cell_average_mass_and_midpoint_order():
    score = mixture(2, HeatFlow(), bandwidth=0.3)
    t = 0.1
    errors, hs = [], []
    for n in (16, 32, 64):
        grid = Grid([(-5, 5), (-5, 5)], n)
        avg = score.cell_average(grid, t)
        assert grid.integrate(avg) == pytest.approx(1.0, abs=1e-9)  # tails are < 1e-9
        point = np.exp(score.log_density(grid.points(), t))
        errors.append(np.abs(avg - point).max())  # midpoint rule: O(h^2)
        hs.append(grid.spacing[0])
    assert slope(np.array(hs), np.array(errors)) > 1.8


def test_kernel_score_rejects_bad_input():
    with pytest.raises(ValueError, match="bandwidth"):
        KernelScore(np.zeros((2, 1)), -1.0, HeatFlow())
    with pytest.raises(ValueError, match="samples"):
        KernelScore(np.zeros((0, 2)), 0.1, HeatFlow())
    with pytest.raises(ValueError, match="samples"):
        KernelScore(np.array([[np.nan]]), 0.1, HeatFlow())
    with pytest.raises(TypeError, match="process"):
        KernelScore(np.zeros((2, 1)), 0.1, "heat")
    score = KernelScore(np.zeros((2, 2)), 0.0, HeatFlow())
    with pytest.raises(ValueError, match="t"):
        score(np.zeros((1, 2)), 0.0)
    with pytest.raises(ValueError, match="x"):
        score(np.zeros((1, 3)), 0.1)
    with pytest.raises(TypeError, match="x"):
        score(np.array([["a", "b"]]), 0.1)

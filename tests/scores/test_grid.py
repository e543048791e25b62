"""Tests of pdediff.scores.grid (GridScore) against closed forms and fitted convergence orders."""

from __future__ import annotations

import numpy as np
import pytest

from pdediff import OU, VP, Grid, HeatFlow, Solution
from pdediff.scores import (
    GridScore,
    KernelScore,
    grid_score,
)

from ._cases import mixture, slope


# ---------------------------------------------------------------------- GridScore
def snapshot_solution(score: KernelScore, grid: Grid, times) -> Solution:
    p = np.stack([score.cell_average(grid, t) for t in times])
    return Solution(t=np.asarray(times, float), p=p, grid=grid, process=score.process)


@pytest.mark.parametrize("ndim", [1, 2])
def test_grid_score_converges_at_second_order(ndim):
    process = HeatFlow()
    score = mixture(ndim, process, bandwidth=0.3)
    t = 0.2
    x = np.random.default_rng(6).uniform(-1.2, 1.2, size=(200, ndim))
    sizes = (32, 64, 128)
    errors, div_errors, hs = [], [], []
    for n in sizes:
        grid = Grid([(-5, 5)] * ndim, n)
        gs = grid_score(snapshot_solution(score, grid, [t]))
        errors.append(np.abs(gs(x, t) - score(x, t)).max())
        div_errors.append(np.abs(gs.divergence(x, t) - score.divergence(x, t)).max())
        hs.append(grid.spacing[0])
    order = slope(np.array(hs), np.array(errors))
    assert order > 1.7, (errors, order)
    assert slope(np.array(hs), np.array(div_errors)) > 1.7, div_errors


def test_grid_score_time_interpolation_is_second_order_in_dt():
    process = VP()
    score = mixture(1, process)
    grid = Grid([(-5, 5)], 400)
    x = np.linspace(-1.0, 1.0, 41)[:, None]
    errors, dts = [], []
    t_mid = 0.2
    for dt in (0.04, 0.02, 0.01):
        times = t_mid + dt * np.array([-1.5, -0.5, 0.5, 1.5])
        gs = GridScore(snapshot_solution(score, grid, times))
        # Difference with a reference using the exact snapshot at t_mid isolates the
        # time-interpolation error from the spatial one.
        ref = GridScore(snapshot_solution(score, grid, [t_mid]))
        errors.append(np.abs(gs(x, t_mid) - ref(x, t_mid)).max())
        dts.append(dt)
    assert slope(np.array(dts), np.array(errors)) > 1.8
    gs = GridScore(snapshot_solution(score, grid, [0.1, 0.2]))
    with pytest.raises(ValueError, match="outside"):
        gs(x, 0.25)
    with pytest.raises(ValueError, match="outside"):
        gs(x, 0.05)


def test_grid_score_floor_fallback_is_exact_for_gaussian_data():
    """Below the floor the Gaussian-moment fallback is the exact score of Gaussian
    data (up to the O(h^2) moment error), and never NaN."""
    process = OU()
    score = KernelScore(np.array([[0.3, -0.2]]), 0.5, process)
    t = 0.2
    grid = Grid([(-6, 6), (-6, 6)], 60)
    gs = GridScore(snapshot_solution(score, grid, [t]), floor=1e-6)
    resolved = gs.resolved(0)
    assert 0.05 < 1 - resolved[0].mean() < 0.9  # both branches are exercised
    far = grid.face_points(0)[~resolved[0]]
    values = gs(far, t)
    assert np.all(np.isfinite(values))
    np.testing.assert_allclose(values[:, 0], score(far, t)[:, 0], rtol=1e-3)


def test_grid_score_periodic_axis_wraps():
    process = HeatFlow()
    score = KernelScore(np.array([[0.0]]), 0.6, process)
    grid = Grid([(-np.pi, np.pi)], 64, bc="periodic")
    gs = GridScore(snapshot_solution(score, grid, [0.05]))
    x = np.array([[np.pi - 0.01], [-np.pi - 0.01], [3 * np.pi - 0.01]])
    values = gs(x, 0.05)
    np.testing.assert_allclose(values, values[[0, 0, 0]], rtol=1e-12)


def test_grid_score_rejects_bad_input():
    grid = Grid([(-1, 1)], 8)
    with pytest.raises(TypeError, match="solution"):
        GridScore(object())
    bad = Solution(t=np.array([0.1]), p=-np.ones((1, 8)), grid=grid, process=HeatFlow())
    with pytest.raises(ValueError, match="nonnegative"):
        GridScore(bad)
    good = Solution(t=np.array([0.1]), p=np.ones((1, 8)), grid=grid, process=HeatFlow())
    with pytest.raises(ValueError, match="floor"):
        GridScore(good, floor=2.0)
    spike = Solution(t=np.array([0.1]), p=np.eye(8)[3][None], grid=grid, process=HeatFlow())
    with pytest.raises(ValueError, match="degenerate"):
        GridScore(spike)(np.zeros((1, 1)), 0.1)

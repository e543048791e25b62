"""Uniform boxes and the checkerboard: closed forms, stability in the tails, exact cell
averages and the far-field limit of the score."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_ndtr, ndtr

from pdediff.distributions import Box, BoxMixture, Checkerboard
from pdediff.grid import Grid
from pdediff.processes import OU, VE, VP, HeatFlow, SubVP

from ._cases import PROCESSES

ALL_PROCESSES = [HeatFlow(), OU(), VP(), SubVP(), VE()]


@pytest.mark.parametrize("proc", sorted(PROCESSES))
def test_box_matches_direct_formula(proc):
    """The log-domain formula equals the linear-domain prod_d [Phi(u_d) - Phi(l_d)] /
    (alpha L_d) (evaluated on the small tail, Phi(-l) - Phi(-u) when l > 0, so that it
    does not cancel; values here stay far above underflow)."""
    box = Box([-1.0, 0.0, 0.5], [0.5, 2.0, 1.0])
    process, t = PROCESSES[proc]
    alpha, s = float(process.alpha(t)), float(process.sigma(t))
    x = np.random.default_rng(0).uniform(-1.5, 2.5, size=(40, 3))
    u = (alpha * box.highs[0] - x) / s
    l = (alpha * box.lows[0] - x) / s
    diff = np.where(l > 0, ndtr(-l) - ndtr(-u), ndtr(u) - ndtr(l))
    direct = np.sum(np.log(diff / (alpha * (box.highs[0] - box.lows[0]))), axis=1)
    assert np.allclose(box.log_density(x, t, process), direct, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("process", ALL_PROCESSES, ids=lambda p: p.name)
def test_box_tails_do_not_underflow(process):
    """At t = 1e-6, 10 units away, log p_t equals the one-sided tail log Phi(u) -
    log(alpha L) (the other CDF is smaller by far more than 1e-16) on both sides."""
    box = Box(-1.0, 1.0)
    t = 1e-6
    alpha, s = float(process.alpha(t)), float(process.sigma(t))
    for x in (11.0, -11.0, 3.0):
        u = (alpha - np.sign(x) * x) / s
        expected = log_ndtr(u) - np.log(2 * alpha)
        got = box.log_density(np.array([[x]]), t, process)[0]
        assert np.isfinite(got) and np.isclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("process", ALL_PROCESSES, ids=lambda p: p.name)
@pytest.mark.parametrize(
    "dist", [Box([-1.0, 0.0], [0.5, 2.0]), Checkerboard()], ids=["box", "checker"]
)
def test_far_field_score(dist, process):
    """As t -> 0, outside K: score -> -(x - alpha_t y)/sigma_t^2, y the nearest point of
    K to x / alpha_t (alpha_t y is the nearest point of alpha_t K; it differs from the
    projection of x by O(1 - alpha_t) = O(t)); the relative error is O(sigma_t^2 / d^2),
    so it shrinks like sigma_t^2."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-6, 6, size=(200, 2))
    d = dist.distance_to_support(x)
    x = x[d > 0.3]
    errors, variances = [], []
    for t in (1e-6, 1e-5, 1e-4):
        alpha, v = float(process.alpha(t)), float(process.sigma2(t))
        y = dist.nearest_point(x / alpha)
        limit = -(x - alpha * y) / v
        err = np.max(np.linalg.norm(dist.score(x, t, process) - limit, axis=1)
                     / np.linalg.norm(limit, axis=1))
        errors.append(err)
        variances.append(v)
    assert errors[0] < 1e-3
    slope = np.polyfit(np.log(variances), np.log(errors), 1)[0]
    assert 0.8 < slope < 1.2, errors


def test_box_t0_and_segments():
    box = Box([0.0, 0.0], [2.0, 0.5])
    inside = box.log_density(np.array([[1.0, 0.25], [0.0, 0.0]]))
    assert np.allclose(inside, -np.log(1.0))
    assert box.log_density(np.array([3.0, 0.0])) == -np.inf
    with pytest.raises(ValueError, match="t:"):
        box.score(np.array([1.0, 0.25]))


@pytest.mark.parametrize("t", [0.0, 1e-5, 0.02, 0.3])
def test_box_cell_average_exact(t):
    """Closed-form cell averages (int Phi = u Phi(u) + phi(u)) equal a dense
    Gauss–Legendre quadrature of the density, are >= 0, and sum to the mass of p_t
    inside the grid box (product of 1-D CDF integrals)."""
    box = Box([-0.73, -0.41], [0.52, 0.95])
    process = VP()
    grid = Grid([(-1.2, 1.0), (-0.9, 1.3)], (22, 26))
    avg = box.cell_average(grid, t, process)
    assert np.all(avg >= 0)
    if t == 0:
        # exact overlap fractions: total mass 1, and the expected value per cell corner
        assert abs(grid.integrate(avg) - 1.0) < 1e-13
        assert np.isclose(avg.max(), 1.0 / np.prod(box.highs - box.lows))
        return
    ref = box._quadrature_average(grid, lambda y: box.density(y, t, process), 16)
    if t >= 0.02:
        assert np.max(np.abs(avg - ref)) < 1e-9 * avg.max()
    alpha, s = float(process.alpha(t)), float(process.sigma(t))

    def axis_mass(lo, hi, a, b):
        def G(x, c):  # int_{-inf}^x Phi((x' - c)/s) dx' = s F((x - c)/s)
            w = (x - c) / s
            return s * (w * ndtr(w) + np.exp(-w * w / 2) / np.sqrt(2 * np.pi))
        return ((G(b, alpha * lo) - G(a, alpha * lo)) - (G(b, alpha * hi) - G(a, alpha * hi))) / (
            alpha * (hi - lo))

    mass = np.prod([axis_mass(box.lows[0, d], box.highs[0, d], *grid.bounds[d]) for d in range(2)])
    assert abs(grid.integrate(avg) - mass) < 1e-12


def test_box_cell_average_fast_256():
    import time

    board = Checkerboard()
    grid = Grid([(-4.0, 4.0), (-4.0, 4.0)], 256)
    start = time.perf_counter()
    avg = board.cell_average(grid, 0.01, VP())
    assert time.perf_counter() - start < 0.5
    assert abs(grid.integrate(avg) - 1.0) < 1e-10


def test_checkerboard_geometry():
    board = Checkerboard(scale=6.0)
    assert board.lows.shape == (8, 2)
    assert np.allclose(np.prod(board.highs - board.lows, axis=1), 1.5**2)
    # the squares tile half of [-3, 3]^2 without overlap
    grid = Grid([(-3.0, 3.0), (-3.0, 3.0)], 8)
    avg = board.cell_average(grid)
    assert np.allclose(np.unique(np.round(avg * 18, 12)), [0.0, 1.0])
    assert board.log_density(np.array([-2.9, -2.9])) == pytest.approx(-np.log(18.0))
    assert board.log_density(np.array([-2.9, -1.4])) == -np.inf
    x = board.sample(1000, np.random.default_rng(0))
    assert np.all(board.distance_to_support(x) == 0)
    assert np.isclose(board.distance_to_support(np.array([-4.0, -4.0])), np.sqrt(2))


def test_box_mixture_validation():
    with pytest.raises(ValueError, match="high"):
        Box([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="weights"):
        BoxMixture([[0.0], [2.0]], [[1.0], [3.0]], [0.7, 0.7])
    with pytest.raises(ValueError, match="scale"):
        Checkerboard(-1.0)

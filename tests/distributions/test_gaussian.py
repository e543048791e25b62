"""Gaussian mixtures and point masses against scipy and closed forms."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from pdediff.distributions import GaussianMixture, Points, point_mass
from pdediff.grid import Grid
from pdediff.processes import VE, VP, HeatFlow

from ._cases import PROCESSES


def _scipy_log_density(gm, x, alpha, v):
    terms = [
        np.log(w) + multivariate_normal(alpha * m, alpha**2 * c + v * np.eye(gm.ndim)).logpdf(x)
        for w, m, c in zip(gm.weights, gm.means, gm._full, strict=False)
    ]
    return logsumexp(np.stack(terms), axis=0)


@pytest.mark.parametrize("proc", sorted(PROCESSES))
@pytest.mark.parametrize(
    "covs",
    [np.array([0.2, 0.5, 0.1]), np.array([[0.2, 0.1, 0.3], [0.5, 0.5, 0.1], [0.1, 0.2, 0.3]]),
     "full"],
)
def test_mixture_matches_scipy(covs, proc):
    rng = np.random.default_rng(0)
    if isinstance(covs, str):
        a = rng.normal(size=(3, 3, 3))
        covs = np.einsum("kij,klj->kil", a, a) * 0.2 + 0.1 * np.eye(3)
    gm = GaussianMixture(rng.normal(size=(3, 3)), covs, [0.5, 0.3, 0.2])
    process, t = PROCESSES[proc]
    x = rng.normal(size=(50, 3)) * 2
    alpha, v = float(process.alpha(t)), float(process.sigma2(t))
    assert np.allclose(gm.log_density(x, t, process), _scipy_log_density(gm, x, alpha, v),
                       rtol=1e-12, atol=1e-12)
    # t = 0: the data density itself (regular, so the score exists too)
    assert np.allclose(gm.log_density(x), _scipy_log_density(gm, x, 1.0, 0.0), rtol=1e-12)
    assert np.all(np.isfinite(gm.score(x)))


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_point_mass_is_heat_kernel(ndim):
    """delta_{x0} under heat flow: N(x0, 2 kappa t I); score -(x - x0)/(2 kappa t),
    divergence exactly -n / (2 kappa t) (Li–Yau equality)."""
    x0 = np.arange(1.0, ndim + 1)
    heat = HeatFlow(kappa=0.7)
    dist = point_mass(x0)
    x = np.random.default_rng(1).normal(size=(20, ndim))
    for t in (1e-6, 0.01, 1.0):
        var = 2 * 0.7 * t
        expected = -0.5 * np.sum((x - x0) ** 2, axis=1) / var - 0.5 * ndim * np.log(2 * np.pi * var)
        assert np.allclose(dist.log_density(x, t, heat), expected, rtol=1e-13)
        assert np.allclose(dist.score(x, t, heat), -(x - x0) / var, rtol=1e-13)
        assert np.allclose(dist.score_divergence(x, t, heat), -ndim / var, rtol=1e-12)
        assert np.allclose(dist.hessian(x, t, heat), -np.eye(ndim) / var, rtol=1e-12)


def test_points_singular_at_zero():
    dist = Points([[0.0, 0.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="t: log p_t is singular at t=0"):
        dist.log_density([0.5, 0.5])
    with pytest.raises(ValueError, match="t:"):
        dist.score([0.5, 0.5], 0.0, VP())
    # a blur gives a density at t = 0: N(x_j, s^2 I) mixture
    blurred = dist.smoothed(0.3)
    x = np.array([[0.2, 0.1]])
    expected = np.log(0.5 * multivariate_normal([0, 0], 0.09).pdf(x)
                      + 0.5 * multivariate_normal([1, 0], 0.09).pdf(x))
    assert np.allclose(blurred.log_density(x), expected, rtol=1e-13)


@pytest.mark.parametrize("ve_t", [1e-6, 1e-3])
def test_points_far_field(ve_t):
    """As t -> 0 the score is -(x - alpha y*)/sigma^2 with y* the nearest atom."""
    rng = np.random.default_rng(2)
    atoms = rng.normal(size=(30, 2))
    dist = Points(atoms)
    process = VE()
    x = rng.normal(size=(40, 2)) * 5
    _, nearest = dist.nearest(x)
    v = float(process.sigma2(ve_t))
    expected = -(x - atoms[nearest]) / v
    assert np.allclose(dist.score(x, ve_t, process), expected, rtol=1e-6)
    assert np.allclose(dist.distance_to_support(x), np.linalg.norm(x - atoms[nearest], axis=1))


def test_cell_average_exact_diagonal():
    """Closed-form cell averages (products of normal-CDF differences) equal a
    high-order Gauss–Legendre quadrature of the density, and sum to the mass inside."""
    gm = GaussianMixture([[0.0, 0.5], [-1.0, 0.0]], [[0.3, 0.1], [0.2, 0.4]], [0.4, 0.6])
    process, t = PROCESSES["vp"]
    grid = Grid([(-2.0, 1.0), (-1.5, 2.5)], (24, 30))
    exact = gm.cell_average(grid, t, process)
    quad = gm._quadrature_average(grid, lambda y: gm.density(y, t, process), 12)
    assert np.max(np.abs(exact - quad)) < 1e-12 * np.max(exact)
    # the mass inside the box from the product of 1-D normal CDF differences
    from scipy.special import ndtr
    alpha, v = float(process.alpha(t)), float(process.sigma2(t))
    inside = 0.0
    for w, m, c in zip(gm.weights, gm.means, gm._full, strict=False):
        sd = np.sqrt(alpha**2 * np.diag(c) + v)
        lo, hi = grid.low, grid.high
        inside += w * np.prod(ndtr((hi - alpha * m) / sd) - ndtr((lo - alpha * m) / sd))
    assert abs(grid.integrate(exact) - inside) < 1e-13


def test_cell_average_full_covariance_quadrature_converges():
    """Without a closed form: Gauss–Legendre per cell; error decays like h^(2q)."""
    gm = GaussianMixture([[0.0, 0.0]], [[[0.3, 0.15], [0.15, 0.2]]])
    grid = Grid([(-2.0, 2.0), (-2.0, 2.0)], 16)
    ref = gm._quadrature_average(grid, gm.density, 16)
    errors = [np.max(np.abs(gm.cell_average(grid, quadrature=q) - ref)) for q in (2, 3, 4)]
    assert errors[2] < errors[1] < errors[0]
    assert errors[2] < 1e-6


def test_points_cell_average_deposition_conserves_mass_and_centre():
    rng = np.random.default_rng(3)
    atoms = rng.uniform(-1.0, 1.0, size=(50, 2))
    dist = Points(atoms)
    grid = Grid([(-2.0, 2.0), (-2.0, 2.0)], 20)
    avg = dist.cell_average(grid)
    assert abs(grid.integrate(avg) - 1.0) < 1e-13
    centres = grid.points()
    com = np.einsum("ij,ijd->d", avg, centres) * grid.cell_volume
    assert np.allclose(com, atoms.mean(axis=0), atol=1e-13)
    # atoms outside the grid box carry their mass away
    half = Points([[0.0, 0.0], [5.0, 0.0]]).cell_average(grid)
    assert abs(grid.integrate(half) - 0.5) < 1e-14
    # at t > 0: exact separable Gaussian cell averages
    process, t = PROCESSES["heat"]
    smooth = dist.cell_average(grid, t, process)
    quad = dist._quadrature_average(grid, lambda y: dist.density(y, t, process), 12)
    assert np.max(np.abs(smooth - quad)) < 1e-10 * np.max(smooth)


def test_cell_average_fast_256():
    gm = GaussianMixture(np.random.default_rng(4).normal(size=(10, 2)), 0.1)
    grid = Grid([(-4.0, 4.0), (-4.0, 4.0)], 256)
    gm.cell_average(grid, 0.1, VP())
    start = time.perf_counter()
    avg = gm.cell_average(grid, 0.1, VP())
    assert time.perf_counter() - start < 0.5
    assert avg.shape == (256, 256)


def test_kernel_matches_numpy_and_is_fast():
    """The numba kernel agrees with a direct numpy evaluation of the score and is
    several times faster on 2e5 points, 10 components (one thread)."""
    rng = np.random.default_rng(5)
    gm = GaussianMixture(rng.normal(size=(10, 2)), rng.uniform(0.05, 0.2, 10))
    process, t = VP(), 0.05
    x = rng.normal(size=(200_000, 2))
    gm.score(x[:10], t, process)
    start = time.perf_counter()
    fast = gm.score(x, t, process)
    numba_time = time.perf_counter() - start
    start = time.perf_counter()
    alpha, v = float(process.alpha(t)), float(process.sigma2(t))
    var = alpha**2 * gm._full[:, 0, 0] + v
    diff = x[:, None, :] - alpha * gm.means[None]
    logw = np.log(gm.weights) - np.log(2 * np.pi * var) - 0.5 * np.sum(diff**2, 2) / var
    r = np.exp(logw - logsumexp(logw, axis=1, keepdims=True))
    slow = -np.einsum("nk,nkd->nd", r, diff / var[None, :, None])
    numpy_time = time.perf_counter() - start
    assert np.allclose(fast, slow, rtol=1e-10, atol=1e-10)
    assert numba_time < numpy_time / 2, (numba_time, numpy_time)


def test_validation():
    with pytest.raises(ValueError, match="covs"):
        GaussianMixture([[0.0, 0.0]], [[[1.0, 2.0], [2.0, 1.0]]])
    with pytest.raises(ValueError, match="covs"):
        GaussianMixture([[0.0, 0.0]], [-1.0])
    with pytest.raises(ValueError, match="covs"):
        GaussianMixture([[0.0, 0.0]], [[[1.0, 0.5], [0.0, 1.0]]])
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture([[0.0], [1.0]], 1.0, [0.5, 0.6])
    with pytest.raises(ValueError, match="weights"):
        Points([[0.0], [1.0]], [1.5, -0.5])
    with pytest.raises(ValueError, match="x"):
        point_mass([0.0, 0.0]).log_density(np.zeros((3, 3)), 0.1, VP())

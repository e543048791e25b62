"""Balls, annuli, circles, spheres and rings: radial closed forms against brute-force
quadrature and Monte Carlo, accuracy of the radial Gauss–Legendre rule, far field."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from pdediff.distributions import Annulus, Ball, Box, BoxMixture, Circle, Rings, Sphere
from pdediff.grid import Grid
from pdediff.processes import OU, VE, VP, HeatFlow, SubVP

from ._cases import PROCESSES

ALL_PROCESSES = [HeatFlow(), OU(), VP(), SubVP(), VE()]


def _brute_disk(x, center, r1, r2, alpha, v, nr=200, nt=256):
    """log int over the annulus (polar Gauss–Legendre x periodic trapezoid) of
    N(x; alpha y, v I) / area: an independent evaluation of log p_t in 2-D."""
    g, w = np.polynomial.legendre.leggauss(nr)
    r = r1 + (r2 - r1) * (g + 1) / 2
    wr = w * (r2 - r1) / 2 * r
    th = 2 * np.pi * np.arange(nt) / nt
    pts = center + r[:, None, None] * np.stack([np.cos(th), np.sin(th)], -1)[None]  # (nr, nt, 2)
    d2 = np.sum((x[:, None, None, :] - alpha * pts[None]) ** 2, axis=-1)
    log_terms = (-d2 / (2 * v) - np.log(2 * np.pi * v) + np.log(wr)[None, :, None]
                 + np.log(2 * np.pi / nt))
    return logsumexp(log_terms.reshape(x.shape[0], -1), axis=1) - np.log(np.pi * (r2**2 - r1**2))


@pytest.mark.parametrize("proc", sorted(PROCESSES))
def test_annulus_2d_matches_brute_force(proc):
    process, t = PROCESSES[proc]
    dist = Annulus([0.2, -0.1], 0.4, 1.1)
    x = np.random.default_rng(0).uniform(-2, 2, size=(25, 2))
    alpha, v = float(process.alpha(t)), float(process.sigma2(t))
    brute = _brute_disk(x, dist.center, 0.4, 1.1, alpha, v)
    assert np.allclose(dist.log_density(x, t, process), brute, rtol=0, atol=1e-10)


def test_ball_3d_matches_monte_carlo():
    """p_t(x) = E_Y N(x; alpha Y, v I): Monte Carlo mean of 4e5 draws within 5 standard
    errors."""
    dist = Ball([0.1, 0.0, -0.2], 0.9)
    process, t = PROCESSES["ou"]
    alpha, v = float(process.alpha(t)), float(process.sigma2(t))
    y = dist.sample(400_000, np.random.default_rng(1))
    x = np.array([[0.0, 0.0, 0.0], [0.8, 0.3, 0.0], [1.5, -1.0, 0.5]])
    d2 = np.sum((x[:, None] - alpha * y[None]) ** 2, -1)
    kern = np.exp(-d2 / (2 * v)) / (2 * np.pi * v) ** 1.5
    mc, se = kern.mean(axis=1), kern.std(axis=1) / np.sqrt(y.shape[0])
    assert np.all(np.abs(dist.density(x, t, process) - mc) < 5 * se)


@pytest.mark.parametrize("dist", [Ball([0.0, 0.0], 1.0), Annulus([0.0, 0.0, 0.0], 0.5, 1.0)],
                         ids=["ball2", "annulus3"])
def test_radial_quadrature_accuracy(dist):
    """The default 4 x 16 radial rule agrees with a 16 x 48 rule to 1e-12 (log p) for
    t from 1e-6 to T, inside, near the edges and far outside: the stated accuracy."""
    fine = type(dist)(**{**dist._params(), "panels": 16, "nodes": 48})
    rng = np.random.default_rng(2)
    radii = np.concatenate([rng.uniform(0, 3, 30), [0.0, 0.5, 0.5 + 1e-4, 1.0, 1.0 - 1e-5, 12.0]])
    dirs = rng.normal(size=(radii.size, dist.ndim))
    x = radii[:, None] * dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    for process in ALL_PROCESSES:
        for t in np.geomspace(1e-6, process.T, 6):
            a, b = dist.log_density(x, t, process), fine.log_density(x, t, process)
            assert np.max(np.abs(a - b)) < 1e-12 * (1 + np.max(np.abs(b)))
            sa, sb = dist.score(x, t, process), fine.score(x, t, process)
            assert np.max(np.abs(sa - sb)) < 1e-9 * (1 + np.max(np.abs(sb)))


@pytest.mark.parametrize("proc", sorted(PROCESSES))
def test_circle_closed_form_vs_angular_quadrature(proc):
    """Circle: K_2 with I0 equals the periodic trapezoid rule (spectral) over the circle."""
    process, t = PROCESSES[proc]
    dist = Circle([0.3, -0.2], 1.2)
    alpha, v = float(process.alpha(t)), float(process.sigma2(t))
    x = np.random.default_rng(3).uniform(-2, 2, size=(20, 2))
    th = 2 * np.pi * np.arange(4096) / 4096
    pts = alpha * (dist.center + 1.2 * np.stack([np.cos(th), np.sin(th)], -1))
    d2 = np.sum((x[:, None] - pts[None]) ** 2, -1)
    brute = logsumexp(-d2 / (2 * v), axis=1) - np.log(4096) - np.log(2 * np.pi * v)
    assert np.allclose(dist.log_density(x, t, process), brute, rtol=0, atol=1e-11)


def test_sphere_closed_form_vs_quadrature():
    process, t = PROCESSES["heat"]
    dist = Sphere([0.0, 0.1, 0.0], 0.8)
    v = float(process.sigma2(t))
    mu, w = np.polynomial.legendre.leggauss(200)
    phi = 2 * np.pi * np.arange(400) / 400
    st = np.sqrt(1 - mu**2)
    pts = dist.center + 0.8 * np.stack(
        [np.outer(st, np.cos(phi)), np.outer(st, np.sin(phi)), np.outer(mu, np.ones(400))], -1
    ).reshape(-1, 3)
    log_w = np.log(np.outer(w / 2, np.full(400, 1 / 400)).ravel())
    x = np.random.default_rng(4).uniform(-1.5, 1.5, size=(10, 3))
    d2 = np.sum((x[:, None] - pts[None]) ** 2, -1)
    brute = logsumexp(log_w - d2 / (2 * v), axis=1) - 1.5 * np.log(2 * np.pi * v)
    assert np.allclose(dist.log_density(x, t, process), brute, rtol=0, atol=1e-10)


@pytest.mark.parametrize("process", ALL_PROCESSES, ids=lambda p: p.name)
def test_rings_are_blurred_circles(process):
    """Rings(radii, s) under a process = weighted circles with v = sigma_t^2 +
    alpha_t^2 s^2 (base-class smoothing); at t = 0 they have a density."""
    rings = Rings([1.3, 2.8], 0.2)
    t = 0.3 * process.T
    alpha, v = float(process.alpha(t)), float(process.sigma2(t))
    x = np.random.default_rng(5).uniform(-3, 3, size=(15, 2))
    v_eff = v + alpha**2 * 0.04
    parts = []
    for radius, w in zip(rings.radii, rings.weights, strict=False):
        th = 2 * np.pi * np.arange(2048) / 2048
        pts = alpha * radius * np.stack([np.cos(th), np.sin(th)], -1)
        d2 = np.sum((x[:, None] - pts[None]) ** 2, -1)
        parts.append(np.log(w) + logsumexp(-d2 / (2 * v_eff), axis=1) - np.log(2048))
    brute = logsumexp(np.stack(parts), axis=0) - np.log(2 * np.pi * v_eff)
    assert np.allclose(rings.log_density(x, t, process), brute, atol=1e-11)
    assert np.all(np.isfinite(rings.log_density(x)))
    assert np.allclose(rings.weights, np.array([1.3, 2.8]) / 4.1)
    assert not rings.is_compact
    circle = Circle([0.0, 0.0], 1.3).smoothed(0.2)
    single = Rings([1.3], 0.2)
    assert np.allclose(circle.score(x, t, process), single.score(x, t, process), rtol=1e-14)


@pytest.mark.parametrize("process", ALL_PROCESSES, ids=lambda p: p.name)
@pytest.mark.parametrize(
    "dist", [Ball([0.1, 0.0], 1.0), Annulus([0.0, 0.0, 0.0], 0.6, 1.0), Circle([0.0, 0.2], 1.0)],
    ids=["ball", "annulus3", "circle"])
def test_radial_far_field(dist, process):
    """As t -> 0 off K: score -> -(x - alpha y)/sigma^2, y the nearest point of K to
    x / alpha; the relative error decays like sigma_t^2 (fitted slope ~1) or faster."""
    rng = np.random.default_rng(6)
    dirs = rng.normal(size=(40, dist.ndim))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    radii = np.concatenate([rng.uniform(1.4, 10.0, 30), rng.uniform(0.0, 0.3, 10)])
    x = dist.center + radii[:, None] * dirs
    x = x[dist.distance_to_support(x) > 0.2]
    errors, variances = [], []
    for t in (1e-6, 1e-5, 1e-4):
        alpha, v = float(process.alpha(t)), float(process.sigma2(t))
        y = dist.nearest_point(x / alpha)
        limit = -(x - alpha * y) / v
        got = dist.score(x, t, process)
        errors.append(np.max(np.linalg.norm(got - limit, axis=1) / np.linalg.norm(limit, axis=1)))
        variances.append(v)
    assert errors[0] < 1e-3, errors
    assert np.polyfit(np.log(variances), np.log(errors), 1)[0] > 0.8, errors


def test_t0_behaviour():
    ball = Ball([0.0, 0.0], 2.0)
    assert np.isclose(ball.log_density(np.array([0.5, 0.5])), -np.log(4 * np.pi))
    assert ball.log_density(np.array([2.5, 0.0])) == -np.inf
    with pytest.raises(ValueError, match="t:"):
        ball.score(np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="t: log p_t is singular at t=0"):
        Circle([0.0, 0.0], 1.0).log_density(np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="t: log p_t is singular"):
        Sphere([0.0, 0.0, 0.0], 1.0).score(np.zeros(3), 0.0, VE())


def test_one_dimensional_balls_are_segments():
    seg = Ball([1.0], 0.5)
    assert isinstance(seg, Box) and np.allclose([seg.lows[0, 0], seg.highs[0, 0]], [0.5, 1.5])
    pair = Annulus([0.0], 0.5, 1.0)
    assert isinstance(pair, BoxMixture) and pair.lows.shape == (2, 1)
    assert np.isclose(pair.log_density(np.array([0.75])), -np.log(1.0))


def test_cell_averages():
    grid = Grid([(-1.5, 1.5), (-1.5, 1.5)], 48)
    circle = Circle([0.1, -0.2], 1.0)
    dep = circle.cell_average(grid)
    assert abs(grid.integrate(dep) - 1.0) < 1e-13
    com = np.einsum("ij,ijd->d", dep, grid.points()) * grid.cell_volume
    assert np.allclose(com, circle.center, atol=1e-13)
    ball = Ball([0.1, 0.0], 1.0)
    ind = ball.cell_average(grid)
    assert abs(grid.integrate(ind) - 1.0) < 1e-13
    interior = ball.distance_to_support(grid.points()) == 0
    assert np.allclose(ind[interior & (np.linalg.norm(grid.points() - ball.center, axis=-1) < 0.9)],
                       1 / np.pi, rtol=0.02)
    process, t = PROCESSES["vp"]
    smooth = ball.cell_average(grid, t, process, quadrature=4)
    ref = ball._quadrature_average(grid, lambda y: ball.density(y, t, process), 10)
    assert np.max(np.abs(smooth - ref)) < 1e-8 * np.max(ref)


def test_validation():
    with pytest.raises(ValueError, match="r_inner"):
        Annulus([0.0, 0.0], 1.0, 1.0)
    with pytest.raises(ValueError, match="radius"):
        Ball([0.0, 0.0], 0.0)
    with pytest.raises(ValueError, match="radius"):
        Circle([0.0, 0.0], -1.0)
    with pytest.raises(ValueError, match="center"):
        Circle([0.0, 0.0, 0.0], 1.0)
    with pytest.raises(ValueError, match="radii"):
        Rings([1.0, -2.0], 0.1)
    with pytest.raises(ValueError, match="spread"):
        Rings([1.0], -0.1)


@pytest.mark.parametrize(
    "dist",
    [Ball([0.1, 0.0], 1.0), Annulus([0.0, 0.0, 0.1], 0.4, 0.9), Annulus([0.0, 0.0], 0.5, 1.0),
     Circle([0.0, 0.3], 1.2), Sphere([0.0, 0.0, 0.0], 0.7), Rings([1.3, 2.8], 0.2)],
    ids=["ball2", "annulus3", "annulus2", "circle", "sphere", "rings"])
def test_numba_kernel_matches_numpy_reference(dist):
    """The numba radial kernel (Chebyshev Bessel fits) and the numpy/scipy implementation
    agree for t from 1e-6 to T under every process, including the centre rho = 0."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(60, dist.ndim)) * 2
    x[0] = dist.center
    x[1] = dist.center + 1e-9
    for process in ALL_PROCESSES:
        for t in np.geomspace(1e-6, process.T, 5):
            alpha = float(process.alpha(t))
            v = float(process.sigma2(t)) + alpha**2 * dist.smoothing**2
            fast = dist._evaluate(x, alpha, v, 7)
            ref = dist._evaluate_reference(x, alpha, v, 7)
            for a, b in zip(fast, ref, strict=True):
                assert np.max(np.abs(a - b)) <= 1e-11 * (1 + np.max(np.abs(b)))


def test_bessel_fits_match_scipy():
    from scipy.special import i0e, i1e

    from pdediff.distributions._kernels import _radial_functions
    from pdediff.distributions.radial import _ASYMPTOTIC_2, _CHEB, _SERIES_B, _Z_LARGE, _Z_SERIES

    z = np.concatenate([np.geomspace(1e-8, 1e12, 3000), np.linspace(0, 60, 3001)])
    got = np.array([_radial_functions(zz, 2, _CHEB, _SERIES_B[2], _ASYMPTOTIC_2, _Z_SERIES,
                                      _Z_LARGE[2]) for zz in z])
    # the fits are relative to 5e-15: absolute 5e-15 on log i0e
    assert np.allclose(got[:, 0], np.log(i0e(z)), rtol=0, atol=5e-15)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(z > 0, i1e(z) / i0e(z) / z, 0.5)
    assert np.allclose(got[:, 1], b, rtol=1e-13, atol=0)


@pytest.mark.parametrize("process", ALL_PROCESSES, ids=lambda p: p.name)
def test_ball_far_field_hessian(process):
    """Off a ball as t -> 0, log p_t ~ -(rho - alpha R)^2 / (2 v): Hessian eigenvalues
    -1/v (radial) and -(rho - alpha R)/(rho v) (tangential), to O(v / d^2) relative."""
    dist = Ball([0.0, 0.0], 1.0)
    x = np.array([[3.0, 0.0], [0.0, -1.5], [4.0, 4.0]])
    t = 1e-6
    alpha, v = float(process.alpha(t)), float(process.sigma2(t))
    eig = np.linalg.eigvalsh(dist.hessian(x, t, process))
    rho = np.linalg.norm(x, axis=1)
    assert np.allclose(eig[:, 0], -1.0 / v, rtol=1e-4)
    assert np.allclose(eig[:, 1], -(rho - alpha) / (rho * v), rtol=1e-4)


@pytest.mark.parametrize("dist", [Sphere([0.1, 0.0, -0.1], 0.8), Rings([0.5, 1.0], 0.0)],
                         ids=["sphere", "rings"])
def test_singular_deposition(dist):
    """t = 0 cell averages of singular laws: cloud-in-cell deposition of symmetric
    quadrature nodes conserves the mass and the centre of mass exactly."""
    grid = Grid([(-1.5, 1.5)] * dist.ndim, 12 if dist.ndim == 3 else 40)
    avg = dist.cell_average(grid)
    assert np.all(avg >= 0)
    assert abs(grid.integrate(avg) - 1.0) < 1e-13
    com = np.tensordot(avg, grid.points(), axes=dist.ndim) * grid.cell_volume
    assert np.allclose(com, dist.center, atol=1e-13)
    # second moment: the deposition adds at most h^2/4 per axis (linear hat functions)
    second = np.tensordot(avg, np.sum((grid.points() - dist.center) ** 2, axis=-1),
                          axes=dist.ndim) * grid.cell_volume
    exact = np.trace(dist.covariance())
    assert exact - 1e-12 <= second <= exact + dist.ndim * np.max(grid.spacing) ** 2 / 4

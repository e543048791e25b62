"""Tests of pdediff.theory: the docs/theory, Bounds bounds against closed forms, and the
grid margins against the exact ones under refinement."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import erfi

from pdediff import VP, Grid, HeatFlow
from pdediff.scores import KernelScore
from pdediff.theory import (
    concentration_bound,
    gaussian_kl,
    gaussian_lp_norm,
    grid_log_hessian,
    hamilton_margin,
    hamilton_margin_grid,
    li_yau_margin,
    li_yau_margin_grid,
    li_yau_upper_bound_margin,
    li_yau_upper_bound_margin_grid,
    lp_stability_bound,
    w2_gap_bound,
)
from tests.scores._cases import PROCESSES  # noqa: E402  (one table of test processes)

TIMES = (1e-3, 1e-2, 0.1, 0.5)

# Exact margins are a difference of terms of size n/sigma^2 and |tr Hess|; round-off
# in that difference is a few ulps of the larger, so 1e-8 of it leaves a wide margin
# against round-off while catching any real violation (which is O(1) relative).
REL_TOL = 1e-8


def slope(h, err) -> float:
    return float(np.polyfit(np.log(h), np.log(err), 1)[0])


def stand_in_cases(ndim: int) -> dict[str, KernelScore]:
    """Closed-form data laws built from KernelScore (isotropic Gaussian mixtures and
    point clouds), independent of pdediff.distributions."""
    rng = np.random.default_rng(ndim)
    centers = rng.uniform(-1, 1, size=(5, ndim))
    return {
        "points": centers,
        "point_mass": np.zeros((1, ndim)),
        "mixture": centers,
    }


def stand_in(name: str, centers: np.ndarray, process) -> KernelScore:
    return KernelScore(centers, 0.3 if name == "mixture" else 0.0, process)


def library_distributions(ndim: int) -> dict:
    """The pdediff.distributions data sets of this dimension that exist."""
    distributions = pytest.importorskip("pdediff.distributions")
    builders = {
        "GaussianMixture": lambda D: D.GaussianMixture(
            np.array([[-0.8, 0.3, 0.1], [0.7, -0.4, 0.0]])[:, :ndim],
            np.array([0.1, 0.3]),
        ),
        "Points": lambda D: D.Points(np.random.default_rng(0).uniform(-1, 1, (4, ndim))),
        "Box": lambda D: D.Box(-np.ones(ndim), np.ones(ndim)),
        "Ball": lambda D: D.Ball(np.zeros(ndim), 1.0),
        "Annulus": lambda D: D.Annulus(np.zeros(ndim), 0.5, 1.0),
        "Circle": lambda D: D.Circle(np.zeros(ndim), 1.0),
        "Rings": lambda D: D.Rings([0.5, 1.0], 0.1, center=np.zeros(ndim)),
        "Sphere": lambda D: D.Sphere(np.zeros(ndim), 1.0),
        "Checkerboard": lambda D: D.Checkerboard(),
    }
    out = {}
    for name, build in builders.items():
        if not hasattr(distributions, name):
            continue
        try:
            dist = build(distributions)
        except (TypeError, ValueError):
            continue  # not defined in this dimension
        if dist.ndim == ndim:
            out[name] = dist
    return out


def check_points(ndim: int, spread: float) -> np.ndarray:
    rng = np.random.default_rng(10 + ndim)
    return rng.uniform(-spread, spread, size=(400, ndim))


def relative_scale(hess: np.ndarray, ndim: int, sigma2: float) -> np.ndarray:
    return ndim / sigma2 + np.abs(np.trace(hess, axis1=-2, axis2=-1))


# ------------------------------------------------------------------ exact Li–Yau
@pytest.mark.parametrize("name", sorted(PROCESSES))
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_li_yau_and_hamilton_hold_for_stand_in_laws(name, ndim):
    process = PROCESSES[name]
    for case, centers in stand_in_cases(ndim).items():
        score = stand_in(case, centers, process)
        for t in TIMES:
            sigma2 = process.sigma2(t)
            x = check_points(ndim, 1.5 * process.alpha(t) + 3 * math.sqrt(sigma2))
            scale = relative_scale(score.hessian(x, t), ndim, sigma2)
            margin = li_yau_margin(score, process, x, t)
            assert np.all(margin >= -REL_TOL * scale), (case, t, margin.min())
            ham = hamilton_margin(score, process, x, t)
            assert np.all(ham >= -REL_TOL * scale), (case, t, ham.min())
            # The Li–Yau margin is the trace of the Hamilton matrix margin.
            assert np.all(margin >= ndim * ham - REL_TOL * scale)


@pytest.mark.parametrize("name", sorted(PROCESSES))
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_li_yau_holds_for_library_distributions(name, ndim):
    """Every pdediff.distributions data set: margins >= -tol, where tol is the
    round-off of the Tweedie form Hess = -I/v + alpha^2 Cov/v^2: its terms are as
    large as n/sigma^2 + alpha^2 R0^2/sigma^4 (R0 = data radius), and a
    non-centred covariance loses up to ~1e3 ulps of that."""
    process = PROCESSES[name]
    cases = library_distributions(ndim)
    if not cases:
        pytest.skip("no pdediff.distributions data set available in this dimension")
    rng = np.random.default_rng(7)
    violations = []
    for case, dist in cases.items():
        r0_sq = float(np.max(np.sum(dist.sample(2000, rng) ** 2, axis=-1)))
        for t in TIMES:
            sigma2, alpha2 = process.sigma2(t), process.alpha(t) ** 2
            x = check_points(ndim, 3.0 * process.alpha(t) + 3 * math.sqrt(sigma2))[:150]
            hess = dist.hessian(x, t, process)
            tol = REL_TOL * relative_scale(hess, ndim, sigma2) + 1e3 * np.finfo(float).eps * (
                ndim / sigma2 + alpha2 * r0_sq / sigma2**2
            )
            margin = li_yau_margin(dist, process, x, t)
            ham = hamilton_margin(dist, process, x, t)
            if np.any(margin < -tol) or np.any(ham < -tol):
                worst = float(min((margin / tol).min(), (ham / tol).min()))
                violations.append((case, name, t, worst))
    assert not violations, violations


@pytest.mark.parametrize("name", sorted(PROCESSES))
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_li_yau_is_sharp_for_a_point_mass(name, ndim):
    process = PROCESSES[name]
    score = KernelScore(np.full((1, ndim), 0.4), 0.0, process)
    for t in TIMES:
        x = check_points(ndim, 2.0)
        bound = ndim / process.sigma2(t)
        np.testing.assert_allclose(li_yau_margin(score, process, x, t) / bound, 0.0, atol=1e-12)
        np.testing.assert_allclose(hamilton_margin(score, process, x, t) * process.sigma2(t), 0.0,
                                   atol=1e-12)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_li_yau_margin_vanishes_in_the_far_field(ndim):
    """Far from a compact support the posterior of X_0 concentrates on the nearest
    point, so the relative margin decays to 0 (exponentially for a point cloud)."""
    process = HeatFlow()
    direction = np.ones(ndim) / math.sqrt(ndim)
    # Points whose projections on `direction` are 0.5 apart, with sideways offsets.
    offsets = np.random.default_rng(1).normal(scale=0.3, size=(4, ndim))
    offsets -= np.outer(offsets @ direction, direction)
    centers = np.outer([-1.0, -0.5, 0.0, 0.5], direction) + offsets
    score = KernelScore(centers, 0.0, process)
    t = 0.05
    sigma = process.sigma(t)
    distances = np.array([1.0, 2.0, 4.0, 8.0])
    x = (1.5 + distances[:, None] * sigma * 10) * direction
    relative = li_yau_margin(score, process, x, t) * sigma**2 / ndim
    assert np.all(np.diff(relative) < 0) or relative[-1] == 0.0
    assert relative[-1] < 1e-10
    assert relative[0] > relative[-1]


# ----------------------------------------------------------- upper bound (ball of radius R)
@pytest.mark.parametrize("name", sorted(PROCESSES))
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_upper_bound_holds_and_is_sharp_for_antipodal_points(name, ndim):
    process = PROCESSES[name]
    radius = 1.3
    rng = np.random.default_rng(2)
    inside = rng.normal(size=(8, ndim))
    inside *= radius * rng.uniform(0, 1, (8, 1)) / np.linalg.norm(inside, axis=1, keepdims=True)
    for t in TIMES:
        alpha2, sigma2 = process.alpha(t) ** 2, process.sigma2(t)
        level = abs(-1 / sigma2 + alpha2 * radius**2 / sigma2**2) + 1 / sigma2
        x = check_points(ndim, 2.0)
        margin = li_yau_upper_bound_margin(KernelScore(inside, 0.0, process), process, x, t, radius)
        assert np.all(margin >= -REL_TOL * level)
        # Two antipodal points +-R e_1: at x = 0 the posterior is 50/50, Cov = R^2 e1 e1^T,
        # so Hess log p_t = -I/sigma^2 + alpha^2 R^2 e1 e1^T / sigma^4: equality.
        antipodal = KernelScore(np.stack([radius * np.eye(ndim)[0], -radius * np.eye(ndim)[0]]),
                                0.0, process)
        sharp = li_yau_upper_bound_margin(antipodal, process, np.zeros((1, ndim)), t, radius)
        assert abs(sharp[0]) <= 1e-10 * level


# ------------------------------------------------------------------ grid margins
@pytest.mark.parametrize(("ndim", "sizes"), [(1, (32, 64, 128)), (2, (32, 64, 128))])
def test_grid_margins_converge_to_exact_at_second_order(ndim, sizes):
    process = HeatFlow()
    score = KernelScore(np.array([[-0.7, 0.2], [0.6, -0.3]])[:, :ndim], 0.3, process)
    t = 0.1
    errors = {"li_yau": [], "hamilton": [], "upper": []}
    hs, worst = [], []
    for n in sizes:
        grid = Grid([(-4, 4)] * ndim, n)
        p = score.cell_average(grid, t)
        x = grid.points()
        region = np.linalg.norm(x, axis=-1) < 1.5  # well inside every mask
        margin, mask = li_yau_margin_grid(p, grid, process, t)
        assert np.all(mask[region])
        exact = li_yau_margin(score, process, x, t)
        errors["li_yau"].append(np.abs(margin - exact)[region].max())
        worst.append(margin[mask].min())
        ham, mask_h = hamilton_margin_grid(p, grid, process, t)
        np.testing.assert_array_equal(mask_h, mask)
        errors["hamilton"].append(
            np.abs(ham - hamilton_margin(score, process, x, t))[region].max()
        )
        up, _ = li_yau_upper_bound_margin_grid(p, grid, process, t, radius=1.0)
        errors["upper"].append(
            np.abs(up - li_yau_upper_bound_margin(score, process, x, t, radius=1.0))[region].max()
        )
        hs.append(grid.spacing[0])
    for key, err in errors.items():
        assert slope(hs, err) > 1.8, (key, err)
    # The grid margin stays above -(measured discretisation error), which shrinks.
    assert all(w >= -e for w, e in zip(worst, errors["li_yau"], strict=True))


def test_grid_log_hessian_mask_covers_stencil_reach():
    grid = Grid([(-1, 1)], 20)
    p = np.ones(20)
    p[10] = 1e-30  # one unresolved cell
    _, mask = grid_log_hessian(p, grid, floor=1e-8)
    np.testing.assert_array_equal(np.flatnonzero(~mask), [9, 10, 11])
    p = np.ones(20)
    p[1] = 1e-30  # the one-sided wall stencil at cell 0 reaches cells 0..3
    _, mask = grid_log_hessian(p, grid, floor=1e-8)
    np.testing.assert_array_equal(np.flatnonzero(~mask), [0, 1, 2])


def test_grid_margin_rejects_bad_input():
    grid = Grid([(-1, 1)], 8)
    with pytest.raises(ValueError, match="p"):
        li_yau_margin_grid(np.ones(9), grid, HeatFlow(), 0.1)
    with pytest.raises(ValueError, match="p"):
        li_yau_margin_grid(-np.ones(8), grid, HeatFlow(), 0.1)
    with pytest.raises(ValueError, match="t"):
        li_yau_margin_grid(np.ones(8), grid, HeatFlow(), 0.0)
    with pytest.raises(ValueError, match="floor"):
        li_yau_margin_grid(np.ones(8), grid, HeatFlow(), 0.1, floor=0.0)
    with pytest.raises(ValueError, match="radius"):
        li_yau_upper_bound_margin_grid(np.ones(8), grid, HeatFlow(), 0.1, radius=-1.0)
    with pytest.raises(TypeError, match="process"):
        li_yau_margin_grid(np.ones(8), grid, "heat", 0.1)


def test_exact_margin_rejects_bad_input():
    process = HeatFlow()
    score = KernelScore(np.zeros((1, 2)), 0.0, process)
    with pytest.raises(ValueError, match="t"):
        li_yau_margin(score, process, np.zeros((1, 2)), 0.0)
    with pytest.raises(ValueError, match="x"):
        li_yau_margin(score, process, np.zeros((1, 3)), 0.1)
    with pytest.raises(ValueError, match="process"):
        li_yau_margin(score, VP(), np.zeros((1, 2)), 0.1)
    with pytest.raises(TypeError, match="dist"):
        hamilton_margin(object(), process, np.zeros((1, 2)), 0.1)


# ------------------------------------------------------------------ L^p stability
@pytest.mark.parametrize("p", [1.0, 1.5, 2.0, 4.0, math.inf])
@pytest.mark.parametrize("ndim", [1, 2])
def test_gaussian_lp_norm_matches_quadrature(p, ndim):
    variance = 0.3
    grid = Grid([(-5, 5)] * ndim, 401 if ndim == 1 else 201)  # odd: a centre at the peak
    x = grid.points()
    density = np.exp(-0.5 * np.sum(x**2, -1) / variance) / (2 * np.pi * variance) ** (ndim / 2)
    numeric = density.max() if math.isinf(p) else grid.integrate(density**p) ** (1 / p)
    assert numeric == pytest.approx(gaussian_lp_norm(variance, ndim, p), rel=1e-4)


@pytest.mark.parametrize("name", sorted(PROCESSES))
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, math.inf])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_lp_bound_is_sharp_for_point_mass_and_holds_for_gaussians(name, p, ndim):
    """With the exact score, q_t = p_t for every eps.  Point mass: ||p_t||_p =
    gaussian_lp_norm(sigma_t^2) gives equality at eps = 0; Gaussian data N(0, s^2 I)
    and eps = 1 stay below the bound."""
    process = PROCESSES[name]
    T = process.T
    t = np.array([1e-3, 1e-2, 0.1, 0.5]) * T
    exact_point = gaussian_lp_norm(process.sigma2(t), ndim, p)
    norm_T = gaussian_lp_norm(process.sigma2(T), ndim, p)
    bound0 = lp_stability_bound(p, 0.0, ndim, process, t, norm_T=norm_T)
    np.testing.assert_allclose(exact_point, bound0, rtol=1e-10)
    for eps in (0.0, 0.5, 1.0):
        bound = lp_stability_bound(p, eps, ndim, process, t, norm_T=norm_T)
        assert np.all(exact_point <= bound * (1 + 1e-10))
        s2 = 0.2
        var = process.alpha(t) ** 2 * s2 + process.sigma2(t)
        var_T = process.alpha(T) ** 2 * s2 + process.sigma2(T)
        gauss = gaussian_lp_norm(var, ndim, p)
        norm_g = gaussian_lp_norm(var_T, ndim, p)
        bound_g = lp_stability_bound(p, eps, ndim, process, t, norm_T=norm_g)
        assert np.all(gauss <= bound_g * (1 + 1e-10))
    if p == 1.0:
        np.testing.assert_allclose(bound0, 1.0)  # mass is conserved


def test_lp_stability_bound_rejects_bad_input():
    process = VP()
    with pytest.raises(ValueError, match="p"):
        lp_stability_bound(0.5, 0.0, 1, process, 0.5)
    with pytest.raises(ValueError, match="eps"):
        lp_stability_bound(2.0, -1.0, 1, process, 0.5)
    with pytest.raises(ValueError, match="n"):
        lp_stability_bound(2.0, 0.0, 0, process, 0.5)
    with pytest.raises(ValueError, match="t"):
        lp_stability_bound(2.0, 0.0, 1, process, 2.0)
    with pytest.raises(ValueError, match="t"):
        lp_stability_bound(2.0, 0.0, 1, process, 0.0)
    with pytest.raises(ValueError, match="variance"):
        gaussian_lp_norm(0.0, 1, 2.0)


# ------------------------------------------------------------------ concentration
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_concentration_bound_is_attained_by_the_gaussian_ode_case(ndim):
    """Heat flow, K = {0}, reverse ODE with the exact score -x/sigma_t^2: the flow is
    x_t = x_T sigma_t/sigma_T, so q_T = N(0, r sigma_T^2 I) gives E|X_t|^2 = n r
    sigma_t^2 while the bound is 2 n sigma_t^2 (r - 1 - ln r + ln 2): equal at r = 2,
    strictly above otherwise."""
    process = HeatFlow(kappa=0.5, T=1.0)
    t = np.array([1e-4, 1e-2, 0.5])
    sigma2_T = process.sigma2(1.0)
    for r in (0.5, 1.0, 2.0, 4.0):
        kl0 = gaussian_kl(np.zeros(ndim), r * sigma2_T, np.zeros(ndim), sigma2_T)
        assert kl0 == pytest.approx(0.5 * ndim * (r - 1 - math.log(r)), rel=1e-12)
        second_moment = ndim * r * process.sigma2(t)
        bound = concentration_bound(kl0, ndim, process, t)
        if r == 2.0:
            np.testing.assert_allclose(second_moment, bound, rtol=1e-12)
        else:
            assert np.all(second_moment < bound)
    assert concentration_bound(0.0, ndim, process, 0.0) == 0.0
    with pytest.raises(ValueError, match="kl0"):
        concentration_bound(-1.0, ndim, process, 0.1)


# ------------------------------------------------------------------ W2 gap
def test_w2_gap_bound_closed_forms_and_trapezoid_order():
    t = np.linspace(0.1, 1.0, 11)
    # L = 0, constant gap c: the bound is c (T - t0), exact for the trapezoid rule.
    assert w2_gap_bound(t, np.full(11, 0.3), np.zeros(11)) == pytest.approx(0.3 * 0.9, rel=1e-14)
    # Order is irrelevant.
    assert w2_gap_bound(t[::-1], np.full(11, 0.3), np.zeros(11)) == pytest.approx(0.27, rel=1e-14)
    # L(t) = 2 t on [0, 1], gap 1: int_0^1 e^{t^2} dt = sqrt(pi)/2 erfi(1).
    exact = math.sqrt(math.pi) / 2 * erfi(1.0)
    sizes = np.array([11, 21, 41, 81])
    errors = []
    for m in sizes:
        nodes = np.linspace(0.0, 1.0, m)
        errors.append(abs(w2_gap_bound(nodes, np.ones(m), 2 * nodes) - exact))
    assert slope(1.0 / (sizes - 1), errors) > 1.9
    # Constant L and c: c (e^{L (T - t0)} - 1) / L, up to the O(dt^2) quadrature error.
    nodes = np.linspace(0.0, 2.0, 2001)
    value = w2_gap_bound(nodes, np.full(2001, 0.5), np.full(2001, -1.5))
    assert value == pytest.approx(0.5 * (1 - math.exp(-3.0)) / 1.5, rel=1e-6)


def test_w2_gap_bound_rejects_bad_input():
    t = np.linspace(0, 1, 5)
    with pytest.raises(ValueError, match="gap_norm"):
        w2_gap_bound(t, -np.ones(5), np.zeros(5))
    with pytest.raises(ValueError, match="lipschitz"):
        w2_gap_bound(t, np.ones(5), np.zeros(4))
    with pytest.raises(ValueError, match="t"):
        w2_gap_bound(np.zeros(5), np.ones(5), np.zeros(5))
    with pytest.raises(ValueError, match="gap_norm"):
        w2_gap_bound(t, np.array([1, 1, np.nan, 1, 1]), np.zeros(5))

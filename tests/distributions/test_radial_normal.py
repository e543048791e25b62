"""RadialNormal (normally distributed radii, folded at 0): log p_t against brute-force
polar quadrature, the folded radius law against samples, t -> 0 limit, cell averages
against an independent marginal integral, the numba kernel against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.special import logsumexp, ndtr

from pdediff.distributions import RadialNormal
from pdediff.grid import Grid
from pdediff.processes import OU, VE, VP, HeatFlow, SubVP

CIRCLES2 = RadialNormal([1.3, 2.8], 0.2, [0.5, 0.5])
FOLDED = RadialNormal([0.3], 0.4)  # mass below 0 of N(0.3, 0.4^2): 23 %
LAWS = {"circles2": CIRCLES2, "folded": FOLDED,
        "offcentre": RadialNormal([0.8, 1.5], [0.3, 0.1], [0.7, 0.3], center=[0.4, -0.2])}


def _folded_density(dist, r):
    """f(r) written out directly from its definition (independent of the class)."""
    out = np.zeros_like(r)
    for mu, s, w in zip(dist.radii, dist.stds, dist.weights, strict=True):
        for sign in (1.0, -1.0):
            out += w * np.exp(-0.5 * ((r - sign * mu) / s) ** 2) / (s * math.sqrt(2 * math.pi))
    return out


def _brute_log_pt(dist, x, alpha, v, nr=2400, nt=768):
    """log of int_0^rmax f(r) (1/2pi) int N(x; alpha (c + r Theta), v I) dtheta dr by
    Gauss–Legendre in r and the periodic trapezoid in theta (converged to ~1e-13 for
    v >= 3e-3 on |x| <= 5: doubling nr and nt changes it by less)."""
    rmax = 8.0  # beyond every query point and every ring (the r-peak can lie past the ring)
    g, w = np.polynomial.legendre.leggauss(nr)
    r = rmax * (g + 1) / 2
    log_wr = np.log(w * rmax / 2 * _folded_density(dist, r))
    th = 2 * np.pi * np.arange(nt) / nt
    pts = dist.center + r[:, None, None] * np.stack([np.cos(th), np.sin(th)], -1)  # (nr, nt, 2)
    out = np.empty(x.shape[0])
    for i, xi in enumerate(x):
        d2 = np.sum((xi - alpha * pts) ** 2, axis=-1)
        terms = -d2 / (2 * v) - np.log(2 * np.pi * v) + log_wr[:, None] - np.log(nt)
        out[i] = logsumexp(terms)
    return out


_SLOW = pytest.mark.slow


@pytest.mark.parametrize("law", sorted(LAWS))
@pytest.mark.parametrize(("process", "t"), [
    (OU(), 0.3),
    pytest.param(OU(), 0.02, marks=_SLOW), pytest.param(OU(), 3.0, marks=_SLOW),
    pytest.param(VP(), 0.1, marks=_SLOW), pytest.param(VE(), 0.2, marks=_SLOW),
    pytest.param(HeatFlow(), 0.05, marks=_SLOW), pytest.param(SubVP(), 0.2, marks=_SLOW),
])
def test_log_density_matches_brute_force_quadrature(law, process, t):
    dist = LAWS[law]
    x = np.random.default_rng(1).uniform(-3.5, 3.5, size=(16, 2))
    x[0] = dist.center * float(process.alpha(t))  # the centre itself
    alpha, v = float(process.alpha(t)), float(process.sigma2(t))
    brute = _brute_log_pt(dist, x, alpha, v)
    got = dist.log_density(x, t, process)
    assert np.max(np.abs(got - brute)) < 1e-10


@pytest.mark.parametrize("law", sorted(LAWS))
def test_numba_kernel_matches_numpy_reference(law):
    dist = LAWS[law]
    x = np.random.default_rng(2).uniform(-4, 4, size=(40, 2))
    # (below t ~ 1e-4 the divergence and Hessian are differences of O(1/v) terms whose
    # sum is O(1/s^2): both implementations lose ~eps s^2/v there, see the next test)
    for t in (1e-4, 1e-3, 0.1, 2.0):
        alpha, v = float(OU().alpha(t)), float(OU().sigma2(t))
        fast = dist._evaluate(x, alpha, v, 7)
        ref = dist._evaluate_reference(x, alpha, v, 7)
        for a, b in zip(fast, ref, strict=True):
            assert np.allclose(a, b, rtol=1e-11, atol=1e-11 * np.max(np.abs(b)))


def _laplacian_log_p0(dist, x):
    """Lap log p_0 in 2-D from log p_0 = log f(rho) - log(2 pi rho):
    (log f)'' + (log f)' / rho (the 1/rho^2 terms cancel)."""
    rho = np.linalg.norm(x - dist.center, axis=1)
    m = np.concatenate([dist.radii, -dist.radii])
    s = np.concatenate([dist.stds, dist.stds])
    logits = np.log(np.concatenate([dist.weights, dist.weights])) - np.log(s) \
        - 0.5 * ((rho[:, None] - m) / s) ** 2
    r = np.exp(logits - logits.max(axis=1, keepdims=True))
    r /= r.sum(axis=1, keepdims=True)
    d1 = np.sum(r * (-(rho[:, None] - m) / s**2), axis=1)
    d2 = np.sum(r * ((rho[:, None] - m) ** 2 / s**4 - 1 / s**2), axis=1) - d1**2
    return d2 + d1 / rho


@pytest.mark.parametrize("law", sorted(LAWS))
def test_divergence_tends_to_the_data_laplacian_at_first_order(law):
    """As t -> 0, Lap log p_t -> Lap log p_0 (computed independently from f) with error
    O(t): fitted slope in [0.9, 1.1] over t = 1e-3 .. 1e-6, and error < 1e-2 x the
    scale max(|Lap log p_0|, 1) at t = 1e-6."""
    dist = LAWS[law]
    x = np.random.default_rng(2).uniform(-3, 3, size=(40, 2))
    ref = _laplacian_log_p0(dist, x)
    ts = np.array([1e-3, 1e-4, 1e-5, 1e-6])
    errs = np.array([np.max(np.abs(dist.score_divergence(x, t, OU()) - ref)
                            / np.maximum(np.abs(ref), 1.0)) for t in ts])
    slope = np.polyfit(np.log(ts), np.log(errs), 1)[0]
    assert 0.9 < slope < 1.1
    assert errs[-1] < 1e-2


def test_three_dimensional_law_matches_monte_carlo_average():
    """p_t(x) = E_Y N(x; alpha Y, v I) with Y drawn from the law (3-D): the sample mean
    over 2e5 draws agrees within 5 standard errors."""
    dist = RadialNormal([0.6, 1.0], [0.3, 0.15], [0.3, 0.7], center=[0.1, 0.0, 0.0])
    process, t = OU(), 0.4
    alpha, v = float(process.alpha(t)), float(process.sigma2(t))
    y = dist.sample(200_000, np.random.default_rng(3))
    x = np.array([[0.1, 0.0, 0.0], [0.8, 0.3, -0.2], [-1.5, 0.4, 0.9]])
    for xi, lp in zip(x, dist.log_density(x, t, process), strict=True):
        k = np.exp(-np.sum((xi - alpha * y) ** 2, axis=1) / (2 * v)) / (2 * np.pi * v) ** 1.5
        assert abs(k.mean() - math.exp(lp)) < 5 * k.std() / math.sqrt(k.size)


def test_sampled_radius_is_the_folded_normal_not_the_truncated_one():
    """The sampler draws r ~ N(mu, s^2) and reflects negative r through the centre.  On
    the binned radii of 4e5 draws, chi^2 against the folded law is of order the number
    of bins, against the normal truncated at 0 it is enormous."""
    n, edges = 400_000, np.linspace(0.0, 2.0, 21)
    radii = np.linalg.norm(FOLDED.sample(n, np.random.default_rng(4)), axis=1)
    counts = np.histogram(radii, np.append(edges, np.inf))[0]
    mu, s = 0.3, 0.4
    upper = np.append(edges[1:], np.inf)

    def folded(a, b):
        return ndtr((b - mu) / s) - ndtr((a - mu) / s) + ndtr((b + mu) / s) - ndtr((a + mu) / s)

    p_fold = folded(edges, upper)
    p_trunc = (ndtr((upper - mu) / s) - ndtr((edges - mu) / s)) / ndtr(mu / s)
    chi_fold = np.sum((counts - n * p_fold) ** 2 / (n * p_fold))
    chi_trunc = np.sum((counts - n * p_trunc) ** 2 / (n * p_trunc))
    assert chi_fold < 60  # 21 bins: P(chi^2_20 > 60) ~ 1e-5
    assert chi_trunc > 1e4
    # and the class's radial density is the folded one
    r = np.linspace(0, 3, 31)
    assert np.allclose(np.exp(FOLDED.radial_log_density(r)), _folded_density(FOLDED, r),
                       rtol=1e-13, atol=0)


def test_data_density_normalised_and_limit_t_to_zero():
    """int f = 1; log p_t -> log p_0 as t -> 0 at rate O(t) (fitted slope ~1)."""
    for dist in LAWS.values():
        mass = integrate.quad(lambda r, d=dist: math.exp(d.radial_log_density(r)), 0, 10,
                              points=list(dist.radii), epsabs=1e-14)[0]
        assert abs(mass - 1) < 1e-12
    x = np.array([[1.1, 0.5], [0.0, 2.7], [-2.0, -2.0]])
    log_p0 = CIRCLES2.log_density(x)
    ts = np.array([1e-2, 1e-3, 1e-4])
    errs = [np.max(np.abs(CIRCLES2.log_density(x, t, OU()) - log_p0)) for t in ts]
    slope = np.polyfit(np.log(ts), np.log(errs), 1)[0]
    assert 0.9 < slope < 1.1


def _x_marginal(dist, a, b, alpha):
    """P(a < alpha X_1 < b) for the centred 2-D law at t = 0 (alpha = 1 here): int f(r)
    P(a < r cos Theta < b) dr, P = [arccos(a/r) - arccos(b/r)] / pi clipped; the r
    integral split at the kinks r = |a|, |b|."""
    def frac(r):
        lo = np.arccos(np.clip(a / (alpha * r), -1, 1))
        hi = np.arccos(np.clip(b / (alpha * r), -1, 1))
        return (lo - hi) / np.pi

    pts = sorted({abs(a), abs(b), *dist.radii.tolist()})
    return integrate.quad(lambda r: _folded_density(dist, np.array([r]))[0] * frac(r),
                          1e-12, 6.0, points=pts, epsabs=1e-15, limit=200)[0]


def test_cell_averages_mass_and_marginals_at_t0():
    """Cell averages at t = 0 sum to 1 on a box holding the law, and their column sums
    equal the x-marginal masses of the columns computed by an independent 1-D
    integral, to 1e-10."""
    grid = Grid([(-4.0, 4.0), (-4.0, 4.0)], (40, 40))
    cells = CIRCLES2.cell_average(grid)
    assert np.all(cells >= 0)
    assert abs(grid.integrate(cells) - 1.0) < 1e-10
    columns = cells.sum(axis=1) * grid.cell_volume
    edges = grid.edges[0]
    exact = np.array([_x_marginal(CIRCLES2, edges[i], edges[i + 1], 1.0) for i in range(40)])
    assert np.max(np.abs(columns - exact)) < 1e-10


@pytest.mark.parametrize("t", [1e-3, 0.1, 1.0])
def test_cell_averages_at_positive_t_integrate_to_the_box_mass(t):
    """Mass 1 to 1e-10 on a box holding the law (under OU less than 1e-13 of it lies
    outside [-6, 6]^2 for every t); at t >= 0.1 three cells against a 12^2
    Gauss–Legendre rule on the brute-force density."""
    grid = Grid([(-6.0, 6.0), (-6.0, 6.0)], (20, 20))
    cells = CIRCLES2.cell_average(grid, t, OU())
    assert np.all(cells >= 0)
    assert abs(grid.integrate(cells) - 1.0) < 1e-10
    if t < 0.1:  # the brute-force rule would need a finer angular grid than 512
        return
    g, w = np.polynomial.legendre.leggauss(12)
    alpha, v = float(OU().alpha(t)), float(OU().sigma2(t))
    for i, j in ((8, 10), (12, 12), (10, 5)):
        xs = grid.edges[0][i] + grid.spacing[0] * (g + 1) / 2
        ys = grid.edges[1][j] + grid.spacing[1] * (g + 1) / 2
        pts = np.stack(np.meshgrid(xs, ys, indexing="ij"), -1).reshape(-1, 2)
        dens = np.exp(_brute_log_pt(CIRCLES2, pts, alpha, v, nr=1200, nt=512)).reshape(12, 12)
        ref = (w / 2) @ dens @ (w / 2)
        assert abs(cells[i, j] - ref) <= 1e-9 * ref


def test_score_at_tiny_t_matches_finite_differences():
    """At t = 1e-5 the windows are ~sqrt(v) wide; the score still equals the central
    difference of log p_t (step 1e-6, error ~1e-7 relative)."""
    x = np.array([[1.25, 0.1], [0.3, 2.9], [-1.0, -1.0], [0.05, 0.0]])
    t, h = 1e-5, 1e-6
    score = CIRCLES2.score(x, t, OU())
    fd = np.stack([(CIRCLES2.log_density(x + h * e, t, OU())
                    - CIRCLES2.log_density(x - h * e, t, OU())) / (2 * h) for e in np.eye(2)], -1)
    assert np.allclose(score, fd, rtol=1e-6, atol=1e-6)


def test_validation():
    with pytest.raises(ValueError, match="radii"):
        RadialNormal([-1.0], 0.2)
    with pytest.raises(ValueError, match="stds"):
        RadialNormal([1.0], 0.0)
    with pytest.raises(ValueError, match="weights"):
        RadialNormal([1.0, 2.0], 0.2, [1.0])
    with pytest.raises(ValueError, match="center"):
        RadialNormal([1.0], 0.2, center=[0.0])
    with pytest.raises(ValueError, match="t > 0"):
        CIRCLES2.score(np.zeros((1, 2)))

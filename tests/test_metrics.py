"""Tests of pdediff.metrics against closed forms and fitted convergence orders."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtr, ndtri

from pdediff import Grid
from pdediff import metrics as M

# ----------------------------------------------------------------------- helpers


def gaussian_cells(grid: Grid, mean, std) -> np.ndarray:
    """Exact cell averages of the product Gaussian N(mean, diag(std^2)), normalised on
    the box (the truncated mass is far below every tolerance used here)."""
    mean = np.atleast_1d(np.asarray(mean, dtype=float))
    std = np.atleast_1d(np.asarray(std, dtype=float))
    field = np.ones(())
    for d in range(grid.ndim):
        edges = grid.edges[d]
        factor = np.diff(ndtr((edges - mean[d]) / std[d])) / grid.spacing[d]
        field = np.multiply.outer(field, factor)
    return grid.normalize(field)


def box_cells(grid: Grid, low: float, high: float) -> np.ndarray:
    """Uniform density on [low, high] (aligned with the grid edges)."""
    c = grid.centers[0]
    return grid.normalize(((c > low) & (c < high)).astype(float))


def kl_gauss_1d(m1, s1, m2, s2) -> float:
    return math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


# -------------------------------------------------------------------- lp / tv


def test_lp_norm_of_constant_is_exact():
    grid = Grid([(0.0, 2.0), (-1.0, 0.5)], (5, 7))
    field = np.full(grid.shape, -3.0)
    for r in (1, 1.5, 2, 7):
        assert M.lp_norm(field, grid, r) == pytest.approx(3.0 * grid.volume ** (1 / r), rel=1e-14)
    assert M.lp_norm(field, grid, np.inf) == 3.0


@pytest.mark.parametrize("r", [1.0, 2.0, 3.5])
def test_lp_norm_of_gaussian_converges_at_order_2(r):
    s = 0.6
    exact = (2 * math.pi * s**2) ** ((1 - r) / 2) / math.sqrt(r)
    exact = exact ** (1 / r)
    hs, errs = [], []
    for n in (24, 48, 96, 192):
        grid = Grid((-5.0, 5.0), n)
        hs.append(grid.spacing[0])
        errs.append(abs(M.lp_norm(gaussian_cells(grid, 0.1, s), grid, r) - exact))
    if r == 1.0:
        # ||p||_1 = 1 for cell averages exactly: nothing to converge.
        assert max(errs) < 1e-13
        return
    fit = M.observed_order(hs, errs)
    assert fit.ci[0] - 0.1 < 2.0 < fit.ci[1] + 0.1, fit


def test_lp_norm_large_order_does_not_overflow():
    grid = Grid((0.0, 1.0), 10)
    field = np.full(grid.shape, 1e200)
    assert M.lp_norm(field, grid, 500) == pytest.approx(1e200, rel=1e-12)


@pytest.mark.parametrize(
    ("box_a", "box_b"),
    [((0.0, 1.0), (0.5, 1.5)), ((0.0, 2.0), (1.5, 2.5)), ((-1.0, 0.0), (1.0, 2.0))],
)
def test_tv_of_two_boxes(box_a, box_b):
    # TV = 1 - int min(p, q) = 1 - overlap * min(1/La, 1/Lb)
    grid = Grid((-2.0, 3.0), 80)  # h = 1/16: every box end is an edge
    la, lb = box_a[1] - box_a[0], box_b[1] - box_b[0]
    overlap = max(0.0, min(box_a[1], box_b[1]) - max(box_a[0], box_b[0]))
    exact = 1.0 - overlap * min(1 / la, 1 / lb)
    p, q = box_cells(grid, *box_a), box_cells(grid, *box_b)
    assert M.tv(p, q, grid) == pytest.approx(exact, abs=1e-14)
    assert M.tv(q, p, grid) == pytest.approx(exact, abs=1e-14)


# ------------------------------------------------------------------ KL, entropy


def test_kl_of_gaussians_converges_at_order_2():
    m1, s1, m2, s2 = 0.3, 0.8, -0.2, 1.2
    exact = kl_gauss_1d(m1, s1, m2, s2)
    hs, errs = [], []
    for n in (20, 40, 80, 160):
        grid = Grid((-9.0, 9.0), n)
        p, q = gaussian_cells(grid, m1, s1), gaussian_cells(grid, m2, s2)
        hs.append(grid.spacing[0])
        errs.append(abs(M.kl(p, q, grid) - exact))
    fit = M.observed_order(hs, errs)
    assert fit.ci[0] - 0.1 < 2.0 < fit.ci[1] + 0.1, fit


def test_kl_of_2d_gaussians_is_sum_of_marginals():
    grid = Grid([(-8.0, 8.0), (-8.0, 8.0)], 128)
    p = gaussian_cells(grid, (0.0, 0.5), (1.0, 0.7))
    q = gaussian_cells(grid, (0.4, 0.0), (1.3, 1.0))
    exact = kl_gauss_1d(0.0, 1.0, 0.4, 1.3) + kl_gauss_1d(0.5, 0.7, 0.0, 1.0)
    assert M.kl(p, q, grid) == pytest.approx(exact, rel=2e-3)
    assert M.kl(p, p, grid) == 0.0


def test_kl_support_policy():
    grid = Grid((0.0, 4.0), 16)
    p = box_cells(grid, 0.0, 2.0)
    q = box_cells(grid, 1.0, 4.0)
    with pytest.raises(ValueError, match="q: is zero"):
        M.kl(p, q, grid)
    assert M.kl(p, q, grid, strict=False) == math.inf
    # 0 log 0 = 0: p vanishes where q does, so KL(q || p_wide) is finite.
    wide = box_cells(grid, 0.0, 4.0)
    assert M.kl(q, wide, grid) == pytest.approx(math.log(4.0 / 3.0), rel=1e-13)
    # The floor removes the singularity; the floored value is finite, and larger
    # floors can only lower it (q grows pointwise).
    small = M.kl(p, q, grid, floor=1e-12)
    large = M.kl(p, q, grid, floor=1e-3)
    assert math.isfinite(small) and large < small
    with pytest.raises(ValueError, match="floor"):
        M.kl(p, q, grid, floor=-1.0)


def test_entropy_of_gaussian_converges_at_order_2():
    s = np.array([0.7, 1.4])
    exact = float(np.sum(0.5 * np.log(2 * np.pi * np.e * s**2)))
    hs, errs = [], []
    for n in (16, 32, 64, 128):
        grid = Grid([(-8.0, 8.0), (-10.0, 10.0)], n)
        hs.append(grid.spacing[0])
        errs.append(abs(M.entropy(gaussian_cells(grid, (0.2, -0.1), s), grid) - exact))
    fit = M.observed_order(hs, errs)
    assert fit.ci[0] - 0.1 < 2.0 < fit.ci[1] + 0.1, fit


def test_entropy_of_box_is_log_length():
    grid = Grid((-1.0, 3.0), 64)
    assert M.entropy(box_cells(grid, 0.0, 2.5), grid) == pytest.approx(math.log(2.5), rel=1e-14)


# -------------------------------------------------------------------- histogram


def test_nearest_histogram_matches_histogramdd():
    rng = np.random.default_rng(1)
    grid = Grid([(-2.0, 2.0), (0.0, 3.0)], (8, 6))
    x = rng.uniform([-2.0, 0.0], [2.0, 3.0], size=(500, 2))
    w = rng.uniform(0.0, 2.0, size=500)
    counts, _ = np.histogramdd(x, bins=grid.edges, weights=w / w.sum())
    p = M.histogram(x, grid, w)
    np.testing.assert_allclose(p * grid.cell_volume, counts, rtol=1e-12, atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(
    ndim=st.integers(1, 3),
    n=st.integers(1, 60),
    seed=st.integers(0, 2**32 - 1),
    method=st.sampled_from(["nearest", "cic"]),
    periodic=st.booleans(),
)
def test_histogram_conserves_mass(ndim, n, seed, method, periodic):
    rng = np.random.default_rng(seed)
    grid = Grid([(-1.0, 1.0)] * ndim, 5, "periodic" if periodic else "noflux")
    x = rng.uniform(-3.0, 3.0, size=(n, ndim))  # many particles outside the box
    w = rng.exponential(size=n)
    p = M.histogram(x, grid, w, method=method)
    assert p.shape == grid.shape and np.all(p >= 0)
    assert abs(grid.integrate(p) - 1.0) < 1e-13


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("bc", ["noflux", "periodic"])
def test_cic_conserves_centre_of_mass(ndim, bc):
    rng = np.random.default_rng(ndim)
    grid = Grid([(0.0, 1.0), (-1.0, 1.0), (2.0, 2.5)][:ndim], (7, 9, 5)[:ndim], bc)
    # Between the first and last cell centres, where CIC is exactly linear.
    lo = grid.low + 0.5 * grid.spacing
    hi = grid.high - 0.5 * grid.spacing
    x = rng.uniform(lo, hi, size=(300, ndim))
    w = rng.uniform(0.5, 1.5, size=300)
    p = M.histogram(x, grid, w, method="cic")
    centre = np.tensordot(p * grid.cell_volume, grid.points(), axes=ndim)
    np.testing.assert_allclose(centre, (w / w.sum()) @ x, rtol=0, atol=1e-13)
    # Nearest-cell deposition does not conserve it: the test is discriminating.
    p0 = M.histogram(x, grid, w)
    centre0 = np.tensordot(p0 * grid.cell_volume, grid.points(), axes=ndim)
    assert np.max(np.abs(centre0 - (w / w.sum()) @ x)) > 1e-4


@pytest.mark.parametrize("method", ["nearest", "cic"])
def test_histogram_periodic_axes_wrap(method):
    grid = Grid([(0.0, 1.0), (0.0, 2.0)], (5, 4), ("periodic", "noflux"))
    rng = np.random.default_rng(3)
    x = rng.uniform([0.0, 0.0], [1.0, 2.0], size=(50, 2))
    shifted = x + np.array([3.0, 0.0])  # three periods along the periodic axis
    np.testing.assert_allclose(
        M.histogram(shifted, grid, method=method),
        M.histogram(x, grid, method=method),
        rtol=0,
        atol=1e-12,
    )


def test_histogram_outside_policy():
    grid = Grid((0.0, 1.0), 4)
    x = np.array([-0.5, 0.3, 1.7])
    p = M.histogram(x, grid)
    np.testing.assert_allclose(p * grid.cell_volume, [1 / 3, 1 / 3, 0.0, 1 / 3])
    with pytest.raises(ValueError, match="2 of 3 particles lie outside"):
        M.histogram(x, grid, outside="raise")
    with pytest.raises(ValueError, match="method"):
        M.histogram(x, grid, method="tsc")


# ------------------------------------------------------------------ 1-D transport


def _w2_to_exact_gaussian(grid: Grid, p: np.ndarray, m: float, s: float) -> float:
    """W2 between a grid density and N(m, s^2) from the quantile functions, with
    Gauss-Legendre quadrature on each linear piece of the grid quantile (the exact
    Gaussian quantile is smooth there)."""
    cum = np.concatenate(([0.0], np.cumsum(p * grid.cell_volume)))
    cum[-1] = 1.0
    nodes, weights = np.polynomial.legendre.leggauss(12)
    total = 0.0
    # The two tails beyond u in [1e-14, 1 - 1e-14] hold mass 2e-14 at distance < 20:
    # their share of W2^2 is below 1e-11, far under the errors measured (> 1e-7).
    for lo, hi in zip(np.maximum(cum[:-1], 1e-14), np.minimum(cum[1:], 1 - 1e-14), strict=True):
        if hi <= lo:
            continue
        u = lo + 0.5 * (hi - lo) * (nodes + 1.0)
        diff = M.quantile((p, grid), u) - (m + s * ndtri(u))
        total += 0.5 * (hi - lo) * np.sum(weights * diff**2)
    return math.sqrt(total)


def test_w2_grid_density_vs_exact_quantiles_is_order_2():
    m, s = 0.3, 0.9
    hs, errs, centre_errs = [], [], []
    for n in (20, 40, 80, 160):
        grid = Grid((-9.0, 9.0), n)
        p = gaussian_cells(grid, m, s)
        hs.append(grid.spacing[0])
        errs.append(_w2_to_exact_gaussian(grid, p, m, s))
        # The same density put at cell centres (particles): O(h) bias, for contrast.
        centres = (grid.centers[0], p * grid.cell_volume)
        exact_q = (m + s * ndtri((np.arange(20000) + 0.5) / 20000), None)
        centre_errs.append(M.w2(centres, exact_q))
    fit = M.observed_order(hs, errs)
    assert fit.ci[0] - 0.1 < 2.0 < fit.ci[1] + 0.1, fit
    assert M.observed_order(hs[:3], centre_errs[:3]).slope < 1.3


def test_w2_between_1d_gaussian_grid_densities_converges_at_order_2():
    (m1, s1), (m2, s2) = (0.0, 1.0), (1.5, 0.6)
    exact = math.hypot(m1 - m2, s1 - s2)
    hs, errs = [], []
    for n in (24, 48, 96, 192):
        grid = Grid((-9.0, 9.0), n)
        a = M.GridDensity(gaussian_cells(grid, m1, s1), grid)
        b = (gaussian_cells(grid, m2, s2), grid)
        hs.append(grid.spacing[0])
        errs.append(abs(M.w2(a, b) - exact))
    fit = M.observed_order(hs, errs)
    assert fit.ci[0] - 0.1 < 2.0 < fit.ci[1] + 0.1, fit


def test_w2_between_1d_gaussian_quantile_clouds_is_closed_form():
    # Particles at the exact quantiles (k + 1/2)/N: W2 between them is computed
    # exactly; it equals sqrt(dm^2 + ds^2 * E_N[z^2]) with the discrete second moment.
    n = 4000
    z = ndtri((np.arange(n) + 0.5) / n)
    (m1, s1), (m2, s2) = (0.2, 1.0), (-0.7, 2.5)
    got = M.w2(m1 + s1 * z[::-1], m2 + s2 * z)  # unsorted input on purpose
    assert got == pytest.approx(
        math.sqrt((m1 - m2) ** 2 + (s1 - s2) ** 2 * np.mean(z**2)), rel=1e-12
    )
    assert M.w2(m1 + s1 * z, m2 + s2 * z, squared=True) == pytest.approx(got**2, rel=1e-12)


def test_1d_equal_size_fast_path_matches_general_formula():
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=300), rng.exponential(size=300)
    # y twice is the same measure with 600 atoms: it takes the merged-quantile path.
    for distance in (M.w1, M.w2):
        assert distance(x, y) == pytest.approx(distance(x, np.concatenate([y, y])), rel=1e-12)


def test_w2_1d_samples_within_noise_floor():
    (m1, s1), (m2, s2) = (0.0, 1.0), (0.5, 1.5)
    exact = math.hypot(m1 - m2, s1 - s2)
    n = 5000
    rng = np.random.default_rng(7)
    est = M.w2(rng.normal(m1, s1, n), rng.normal(m2, s2, n))
    floor = M.noise_floor(lambda k, r: r.normal(0.0, s2, (k, 1)), n, repeats=20, seed=1)
    assert abs(est - exact) < floor.mean + 3 * floor.std


def _cdf_steps(x, w, grid_x):
    order = np.argsort(x)
    cum = np.concatenate(([0.0], np.cumsum(w[order])))
    return cum[np.searchsorted(x[order], grid_x, side="right")]


def test_w1_1d_equals_integral_of_cdf_difference_for_particles():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=37), rng.gamma(2.0, size=51)
    wx, wy = rng.uniform(size=37), rng.uniform(size=51)
    wx, wy = wx / wx.sum(), wy / wy.sum()
    # Both CDFs are step functions: the integral is a finite sum over merged jumps.
    pts = np.sort(np.concatenate([x, y]))
    diff = np.abs(_cdf_steps(x, wx, pts[:-1]) - _cdf_steps(y, wy, pts[:-1]))
    exact = float(np.sum(diff * np.diff(pts)))
    assert M.w1((x, wx), (y[:, None], wy)) == pytest.approx(exact, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(na=st.integers(1, 25), nb=st.integers(1, 25), seed=st.integers(0, 2**32 - 1))
def test_1d_quantile_formula_matches_linear_programme(na, nb, seed):
    # Independent oracle: the 1-D discrete OT problem solved as a linear programme.
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=na), rng.uniform(-1.0, 3.0, size=nb)
    wx, wy = rng.uniform(0.01, 1.0, size=na), rng.uniform(0.01, 1.0, size=nb)
    wx, wy = wx / wx.sum(), wy / wy.sum()
    cost2 = ot.emd2(wx, wy, (x[:, None] - y[None, :]) ** 2)
    cost1 = ot.emd2(wx, wy, np.abs(x[:, None] - y[None, :]))
    assert M.w2((x, wx), (y, wy), squared=True) == pytest.approx(cost2, rel=1e-9, abs=1e-12)
    assert M.w1((x, wx), (y, wy)) == pytest.approx(cost1, rel=1e-9, abs=1e-12)


def test_w1_1d_equals_integral_of_cdf_difference_for_grid_densities():
    ga, gb = Grid((-4.0, 4.0), 23), Grid((-3.0, 5.0), 31)
    pa, pb = gaussian_cells(ga, 0.0, 1.0), gaussian_cells(gb, 0.7, 0.8)
    rng = np.random.default_rng(2)
    x = rng.normal(0.3, 1.0, 40)
    # CDFs of grid densities are piecewise linear between edges: interpolate the
    # edge values; integrate |F_a - F_b| with a fine trapezoid rule (O(dx^2)).
    xs = np.linspace(-5.0, 6.0, 400_001)
    fa = np.interp(xs, ga.edges[0], np.concatenate(([0.0], np.cumsum(pa * ga.spacing[0]))))
    fb = np.interp(xs, gb.edges[0], np.concatenate(([0.0], np.cumsum(pb * gb.spacing[0]))))
    fx = _cdf_steps(x, np.full(40, 1 / 40), xs)
    for f1, f2, a, b in ((fa, fb, (pa, ga), (pb, gb)), (fa, fx, (pa, ga), x)):
        exact = np.trapezoid(np.abs(f1 - f2), xs)
        assert M.w1(a, b) == pytest.approx(exact, abs=2e-5)


def test_quantile_inverts_the_grid_cdf():
    grid = Grid((-3.0, 3.0), 12)
    p = gaussian_cells(grid, 0.0, 1.0)
    x = np.linspace(-2.9, 2.9, 101)
    cdf = np.interp(x, grid.edges[0], np.concatenate(([0.0], np.cumsum(p * grid.spacing[0]))))
    np.testing.assert_allclose(M.quantile((p, grid), cdf), x, atol=1e-12)
    # Empty cells make Q jump over them.
    q = box_cells(grid, -3.0, -1.0) * 0.5 + box_cells(grid, 1.0, 3.0) * 0.5
    assert M.quantile((q, grid), 0.5) == pytest.approx(-1.0)
    assert M.quantile((q, grid), 0.5 + 1e-12) == pytest.approx(1.0, abs=1e-9)


# ----------------------------------------------------------------- n-D transport


def _bures_diag(m1, s1, m2, s2) -> float:
    """W2 between N(m1, diag s1^2) and N(m2, diag s2^2) (commuting covariances)."""
    return math.sqrt(np.sum((np.subtract(m1, m2)) ** 2) + np.sum((np.subtract(s1, s2)) ** 2))


M1, S1, M2, S2 = (0.0, 0.5), (1.0, 0.7), (0.8, -0.3), (1.3, 1.0)


def test_w2_2d_gaussian_samples_within_noise_floor():
    n = 500
    rng = np.random.default_rng(5)
    x = rng.normal(M1, S1, size=(n, 2))
    y = rng.normal(M2, S2, size=(n, 2))
    exact = _bures_diag(M1, S1, M2, S2)
    floor = M.noise_floor(lambda k, r: r.normal(M2, S2, size=(k, 2)), n, repeats=8, seed=2)
    assert floor.mean > 0.05  # the noise is real at n = 500 in 2-D
    assert abs(M.w2(x, y) - exact) < floor.mean + 3 * floor.std


def test_w2_2d_gaussian_grid_densities_converge():
    exact = _bures_diag(M1, S1, M2, S2)
    hs, errs = [], []
    for n in (16, 24, 32):
        grid = Grid([(-6.0, 6.0), (-6.0, 6.0)], n)
        err = abs(
            M.w2((gaussian_cells(grid, M1, S1), grid), (gaussian_cells(grid, M2, S2), grid)) - exact
        )
        # Rigorous: |W2(a_h, b_h) - W2(a, b)| <= W2(a_h, a) + W2(b_h, b), and moving mass
        # to the cell centre costs at most E|x - c(x)|^2 <= ndim h^2 / 4 each.
        h = grid.spacing[0]
        assert err <= 2 * math.sqrt(2 * h**2 / 4)
        hs.append(h)
        errs.append(err)
    fit = M.observed_order(hs, errs)
    assert fit.slope > 1.5, fit


def test_w2_2d_binned_samples_within_noise_of_grid_value():
    # Nearest-cell binning of samples of a is an empirical measure of a_h (cell masses
    # at the centres), so |W2(H x, H y) - W2(a_h, b_h)| <= W2(H x, a_h) + W2(H y, b_h):
    # within the binned noise floor.  W2(a_h, b_h) -> Bures is tested above.
    grid = Grid([(-6.0, 6.0), (-6.0, 6.0)], 24)
    n = 20_000
    rng = np.random.default_rng(6)
    hx = M.histogram(rng.normal(M1, S1, size=(n, 2)), grid)
    hy = M.histogram(rng.normal(M2, S2, size=(n, 2)), grid)
    est = M.w2((hx, grid), (hy, grid))
    reference = M.w2((gaussian_cells(grid, M1, S1), grid), (gaussian_cells(grid, M2, S2), grid))

    def binned_w2(x, y):
        return M.w2((M.histogram(x, grid), grid), (M.histogram(y, grid), grid))

    floor = M.noise_floor(
        lambda k, r: r.normal(M2, S2, size=(k, 2)), n, binned_w2, repeats=6, seed=3
    )
    assert abs(est - reference) < floor.mean + 3 * floor.std


def test_w1_2d_translation_is_its_length():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(200, 2))
    shift = np.array([0.3, -0.4])
    # Translation by v: W1 = W2 = |v| (the identity shift is optimal).
    assert M.w1(x, x + shift) == pytest.approx(0.5, rel=1e-10)
    assert M.w2(x, x + shift) == pytest.approx(0.5, rel=1e-10)


def test_w2_3d_grid_density_vs_translated_support_is_the_shift():
    # A measure and its translate by v: the shift is the optimal map, W2 = W1 = |v|.
    grid = Grid([(-1.0, 1.0)] * 3, 6)
    p = gaussian_cells(grid, (0.0, 0.0, 0.0), (0.4, 0.5, 0.6))
    v = np.array([0.1, -0.2, 0.05])
    shifted = (grid.points().reshape(-1, 3) + v, (p * grid.cell_volume).ravel())
    assert M.w2((p, grid), shifted) == pytest.approx(np.linalg.norm(v), rel=1e-9)
    assert M.w2(shifted, (p, grid)) == pytest.approx(np.linalg.norm(v), rel=1e-9)
    assert M.w1((p, grid), shifted) == pytest.approx(np.linalg.norm(v), rel=1e-9)


def test_emd_guards():
    x = np.zeros((30, 2))
    y = np.ones((10, 2))
    with pytest.raises(ValueError, match="max_points"):
        M.w2(x, y, max_points=20)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(60, 2)), rng.normal(size=(60, 2))
    with pytest.raises(RuntimeError, match="max_iter_reached"):
        M.w2(a, b, num_itermax=3)
    with pytest.raises(ValueError, match="dimension"):
        M.w2(x, np.zeros((4, 3)))


def test_sliced_w2():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(300, 2))
    v = np.array([1.0, 2.0])
    # Translation: SW2^2 = E[(theta . v)^2] = |v|^2 / ndim; MC error ~ 1/sqrt(n_proj).
    got = M.sliced_w2(x, x + v, n_projections=4000, seed=3, squared=True)
    assert got == pytest.approx(np.sum(v**2) / 2, rel=0.05)
    assert M.sliced_w2(x, x + v, 50, seed=4) == M.sliced_w2(x, x + v, 50, seed=4)
    y = rng.normal(0.3, 1.2, size=(300, 2))
    assert M.sliced_w2(x, y, 200, seed=0) <= M.w2(x, y)
    grid = Grid((-5.0, 5.0), 40)
    p = gaussian_cells(grid, 0.0, 1.0)
    assert M.sliced_w2((p, grid), x[:, 0], 7, 0) == M.w2((p, grid), x[:, 0])


# ----------------------------------------------------------------- noise floor


def test_noise_floor_decays_like_inverse_sqrt_n_for_w1():
    # In 1-D, E W1(mu_n, mu'_n) ~ c n^(-1/2) for laws with finite J1 (the Gaussian).
    ns = [100, 400, 1600, 6400]
    means = [M.noise_floor(lambda k, r: r.normal(size=k), n, "w1", 30, seed=n).mean for n in ns]
    fit = M.fit_rate(ns, means)
    assert fit.ci[0] - 0.05 < -0.5 < fit.ci[1] + 0.05, fit


def test_noise_floor_is_reproducible_and_accepts_sample_objects():
    class Law:
        def sample(self, n, rng):
            return rng.uniform(size=(n, 2))

    a = M.noise_floor(Law(), 50, "sliced_w2", repeats=4, seed=8)
    b = M.noise_floor(Law(), 50, "sliced_w2", repeats=4, seed=8)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.values.shape == (4,) and a.std > 0 and a.metric == "sliced_w2"
    with pytest.raises(TypeError, match="sampler_or_distribution"):
        M.noise_floor(3, 10)
    with pytest.raises(ValueError, match="metric"):
        M.noise_floor(Law(), 10, metric="w3")


# ------------------------------------------------------------------ statistics


def test_distance_statistics_closed_form():
    d = np.arange(1, 101, dtype=float)
    stats = M.distance_statistics(np.random.default_rng(0).permutation(d))
    assert stats["mean"] == pytest.approx(50.5)
    assert stats["rms"] == pytest.approx(math.sqrt(101 * 201 / 6))
    assert (stats["median"], stats["q90"], stats["q99"], stats["max"]) == (50, 90, 99, 100)


def test_distance_statistics_weights_equal_replication():
    rng = np.random.default_rng(1)
    d = rng.uniform(size=30)
    k = rng.integers(0, 4, size=30)
    k[0] = 1
    weighted = M.distance_statistics(d, weights=k.astype(float))
    replicated = M.distance_statistics(np.repeat(d, k))
    for key, value in replicated.items():
        assert weighted[key] == pytest.approx(value, rel=1e-12), key


def test_distance_statistics_grid_version():
    # Distance to K = {0} in 1-D for a Gaussian: E d^2 = s^2 in the limit h -> 0.
    grid = Grid((-8.0, 8.0), 800)
    s = 1.3
    p = gaussian_cells(grid, 0.0, s)
    stats = M.distance_statistics(np.abs(grid.centers[0]), weights=p * grid.cell_volume)
    assert stats["rms"] == pytest.approx(s, rel=1e-3)
    assert stats["mean"] == pytest.approx(s * math.sqrt(2 / math.pi), rel=1e-3)
    assert stats["median"] == pytest.approx(s * ndtri(0.75), abs=grid.spacing[0])
    with pytest.raises(ValueError, match="weights"):
        M.distance_statistics(np.abs(grid.centers[0]), weights=p[:-1])


# ---------------------------------------------------------------------- fit_rate


def _noisy_power_law(seed: int, slope: float = -0.5, n: int = 8, noise: float = 0.1):
    rng = np.random.default_rng(seed)
    t = np.geomspace(1e-3, 1.0, n)
    return t, 2.0 * t**slope * np.exp(noise * rng.standard_normal(n))


def test_fit_rate_exact_power_law():
    t = np.geomspace(0.01, 1.0, 6)
    fit = M.fit_rate(t, 3.0 * t**1.7)
    assert fit.slope == pytest.approx(1.7, abs=1e-12)
    assert fit.intercept == pytest.approx(math.log(3.0), abs=1e-12)
    assert fit.r2 == pytest.approx(1.0) and fit.stderr < 1e-12


def test_fit_rate_recovers_noisy_slope():
    fit = M.fit_rate(*_noisy_power_law(0))
    assert fit.ci[0] < -0.5 < fit.ci[1]
    assert fit.ci[1] - fit.ci[0] < 0.2 and 0.9 < fit.r2 <= 1.0


def test_fit_rate_confidence_interval_coverage():
    # With i.i.d. Gaussian log-noise the Student-t interval is exact: coverage ~ 95%;
    # the binomial std over 200 seeds is 1.5%.
    covered = [
        fit.ci[0] < -0.5 < fit.ci[1]
        for fit in (M.fit_rate(*_noisy_power_law(s, n=5, noise=0.5)) for s in range(200))
    ]
    assert 0.90 <= np.mean(covered) <= 0.99
    # A normal (z) interval would under-cover with 3 degrees of freedom: the t matters.
    narrow = [M.fit_rate(*_noisy_power_law(s, n=5, noise=0.5), confidence=0.80) for s in range(200)]
    assert np.mean([f.ci[0] < -0.5 < f.ci[1] for f in narrow]) < np.mean(covered)


@pytest.mark.parametrize(
    ("t", "y", "match"),
    [
        ([1.0, 2.0, 3.0], [1.0, 0.0, 2.0], "y: expected positive"),
        ([1.0, -2.0, 3.0], [1.0, 1.0, 2.0], "t: expected positive"),
        ([1.0, 2.0], [1.0, 2.0], "at least 3"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], "y: expected the shape"),
        ([2.0, 2.0, 2.0], [1.0, 2.0, 3.0], "distinct"),
        ([1.0, 2.0, np.nan], [1.0, 2.0, 3.0], "t: contains NaN"),
    ],
)
def test_fit_rate_bad_input(t, y, match):
    with pytest.raises(ValueError, match=match):
        M.fit_rate(t, y)


def test_observed_order_names_its_arguments():
    with pytest.raises(ValueError, match="err: expected positive"):
        M.observed_order([0.1, 0.05, 0.025], [1e-2, 0.0, 1e-4])
    with pytest.raises(ValueError, match="confidence"):
        M.fit_rate([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], confidence=1.0)


# ------------------------------------------------------------------- bad input


@settings(max_examples=30, deadline=None)
@given(n=st.integers(3, 12), extra=st.integers(1, 3))
def test_shape_mismatch_raises_naming_argument(n, extra):
    grid = Grid((0.0, 1.0), n)
    good = np.ones(n)
    bad = np.ones(n + extra)
    for call, name in [
        (lambda: M.tv(good, bad, grid), "q"),
        (lambda: M.kl(bad, good, grid), "p"),
        (lambda: M.entropy(bad, grid), "p"),
        (lambda: M.lp_norm(bad, grid, 2), "p"),
        (lambda: M.w2((bad, grid), good), "a"),
    ]:
        with pytest.raises(ValueError, match=f"^{name}"):
            call()


@settings(max_examples=30, deadline=None)
@given(value=st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not v >= 1))
def test_lp_norm_order_below_one_or_nan_raises(value):
    grid = Grid((0.0, 1.0), 4)
    with pytest.raises(ValueError, match="order"):
        M.lp_norm(np.ones(4), grid, value)


def test_bad_densities_and_clouds():
    grid = Grid((0.0, 1.0), 4)
    with pytest.raises(ValueError, match="grid.normalize"):
        M.GridDensity(np.full(4, 2.0), grid)
    with pytest.raises(ValueError, match="nonnegative"):
        M.tv(np.array([2.0, 2.0, 1.0, -1.0]), np.ones(4), grid)
    with pytest.raises(ValueError, match="NaN"):
        M.entropy(np.array([np.nan, 1, 1, 1.0]), grid)
    with pytest.raises(TypeError, match="order"):
        M.lp_norm(np.ones(4), grid, "2")
    with pytest.raises(ValueError, match="b: particle positions contain NaN"):
        M.w1(np.zeros(3), np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match=r"a\[1\]: weights must be nonnegative"):
        M.w2((np.zeros(3), np.array([1.0, -1.0, 1.0])), np.zeros(2))
    with pytest.raises(TypeError, match="a: got a Grid alone"):
        M.w2(grid, np.zeros(2))
    with pytest.raises(ValueError, match="x: expected 2 coordinates"):
        M.histogram(np.zeros((3, 1)), Grid([(0.0, 1.0), (0.0, 1.0)], 4))
    with pytest.raises(ValueError, match="u: expected probabilities"):
        M.quantile((np.ones(4), grid), 1.5)

"""pdediff.metrics.transport against closed forms and fitted convergence orders."""

from __future__ import annotations

import math

import numpy as np
import ot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtri

from pdediff import Grid
from pdediff import metrics as M

from ._helpers import box_cells, gaussian_cells


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

"""pdediff.metrics.densities against closed forms and fitted convergence orders."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdediff import Grid
from pdediff import metrics as M

from ._helpers import box_cells, gaussian_cells, kl_gauss_1d


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
    with pytest.raises(ValueError, match="b: contains NaN"):
        M.w1(np.zeros(3), np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match=r"a\[1\]: weights must be nonnegative"):
        M.w2((np.zeros(3), np.array([1.0, -1.0, 1.0])), np.zeros(2))
    with pytest.raises(TypeError, match="a: got a Grid alone"):
        M.w2(grid, np.zeros(2))
    with pytest.raises(ValueError, match="x: expected 2 coordinates"):
        M.histogram(np.zeros((3, 1)), Grid([(0.0, 1.0), (0.0, 1.0)], 4))
    with pytest.raises(ValueError, match="u: expected probabilities"):
        M.quantile((np.ones(4), grid), 1.5)

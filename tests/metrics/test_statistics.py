"""pdediff.metrics.statistics: rate fits, orders, distance statistics, bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import ndtri

from pdediff import Grid
from pdediff import metrics as M

from ._helpers import gaussian_cells


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


def test_bootstrap_mean_interval_and_reproducibility():
    data = np.random.default_rng(0).standard_normal(400)
    first = M.bootstrap(np.mean, data, np.random.default_rng(1), repeats=300)
    again = M.bootstrap(np.mean, data, np.random.default_rng(1), repeats=300)
    np.testing.assert_array_equal(first.replicates, again.replicates)
    assert first.estimate == data.mean()
    # the bootstrap sd of a mean is the standard error s/sqrt(N), to sampling error
    assert first.sd == pytest.approx(data.std(ddof=1) / 20.0, rel=0.15)
    assert first.low < first.estimate < first.high


def test_bootstrap_resamples_along_axis_jointly():
    data = np.tile(np.arange(10.0), (3, 1))  # the same samples at 3 "times"
    boot = M.bootstrap(lambda v: float(np.ptp(v.mean(axis=1))), data,
                       np.random.default_rng(2), repeats=50)
    assert np.all(boot.replicates == 0.0)  # same resampling at every time
    with pytest.raises(ValueError, match="data"):
        M.bootstrap(np.mean, [1.0], np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        M.bootstrap(np.mean, [1.0, 2.0], 3)

"""Bad input raises ValueError/TypeError naming the argument (property-based where the
input space is large)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdediff.distributions import (
    Annulus,
    Ball,
    Box,
    Circle,
    GaussianMixture,
    Points,
    Rings,
    distribution_from_dict,
)
from pdediff.grid import Grid
from pdediff.processes import VP

finite = st.floats(-1e3, 1e3, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=2, max_size=6))
def test_weights_must_sum_to_one(raw):
    w = np.array(raw)
    k = w.size
    if abs(w.sum() - 1.0) <= 1e-10:
        GaussianMixture(np.zeros((k, 1)), 1.0, w)
        return
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture(np.zeros((k, 1)), 1.0, w)
    with pytest.raises(ValueError, match="weights"):
        Points(np.zeros((k, 2)), w)


@settings(max_examples=40, deadline=None)
@given(st.floats(-5, 5), st.floats(-5, 5))
def test_weights_nonnegative(a, b):
    w = np.array([a, 1.0 - a, b - b])
    if a < 0 or a > 1:
        with pytest.raises(ValueError, match="weights"):
            Points(np.zeros((3, 1)), w)


@settings(max_examples=40, deadline=None)
@given(finite, finite, finite)
def test_covariance_must_be_spd(a, b, c):
    cov = np.array([[[a, b], [b, c]]])
    spd = a > 0 and a * c - b * b > 1e-9 * max(1.0, a * c)
    if spd:
        GaussianMixture([[0.0, 0.0]], cov)
    elif a <= 0 or a * c - b * b < 0:
        with pytest.raises(ValueError, match="covs"):
            GaussianMixture([[0.0, 0.0]], cov)


@settings(max_examples=40, deadline=None)
@given(finite, finite)
def test_box_needs_low_below_high(lo, hi):
    if lo < hi:
        assert Box(lo, hi).ndim == 1
    else:
        with pytest.raises(ValueError, match="high"):
            Box([0.0, lo], [1.0, hi])


@settings(max_examples=40, deadline=None)
@given(st.floats(-3, 3), st.floats(-3, 3))
def test_radii(r_in, r_out):
    if 0 <= r_in < r_out:
        Annulus([0.0, 0.0], r_in, r_out)
    else:
        with pytest.raises(ValueError, match="r_inner|r_outer"):
            Annulus([0.0, 0.0], r_in, r_out)
    if r_out <= 0:
        with pytest.raises(ValueError, match="radius"):
            Ball([0.0, 0.0, 0.0], r_out)
        with pytest.raises(ValueError, match="radius"):
            Circle([0.0, 0.0], r_out)


@pytest.mark.parametrize("dist", [Box([0.0, 0.0], [1.0, 1.0]), Points([[0.0, 0.0]]),
                                  Circle([0.0, 0.0], 1.0), Ball([0.0, 0.0], 1.0)],
                         ids=["box", "points", "circle", "ball"])
def test_evaluation_arguments(dist):
    process = VP()
    good = np.zeros((4, 2))
    with pytest.raises(ValueError, match="x: expected shape"):
        dist.log_density(np.zeros((4, 3)), 0.1, process)
    with pytest.raises(ValueError, match="x: contains NaN"):
        dist.score(np.array([[np.nan, 0.0]]), 0.1, process)
    with pytest.raises(TypeError, match="x: expected a real array"):
        dist.score(np.array([["a", "b"]]), 0.1, process)
    with pytest.raises(ValueError, match="t: expected a finite forward time"):
        dist.log_density(good, -0.1, process)
    with pytest.raises(ValueError, match="t:"):
        dist.score(good, np.nan, process)
    for error in (TypeError, ValueError):
        with pytest.raises(error, match="process: expected a pdediff.processes.ForwardProcess"):
            dist.score(good, 0.1, "vp")
    with pytest.raises(ValueError, match="process: a ForwardProcess is required"):
        dist.score(good, 0.1)
    with pytest.raises(ValueError, match="grid: expected a 2-D grid"):
        dist.cell_average(Grid((0.0, 1.0), 8), 0.1, process)
    with pytest.raises(TypeError, match="grid"):
        dist.cell_average(np.zeros((8, 8)), 0.1, process)
    with pytest.raises(TypeError, match="rng"):
        dist.sample(3, 0)
    with pytest.raises(ValueError, match="n:"):
        dist.sample(-1, np.random.default_rng(0))


def test_from_dict_and_smoothing_validation():
    with pytest.raises(ValueError, match="name"):
        distribution_from_dict({"name": "nope"})
    with pytest.raises(ValueError, match="smoothing"):
        Box(0.0, 1.0).smoothed(-1.0)
    with pytest.raises(ValueError, match="spread"):
        Rings([1.0], float("nan"))

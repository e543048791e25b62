"""The paper's data laws (blob, circles2, checker): parameters as stated, moments of
samples against the law's closed-form moments, cell averages of mass 1, exact p_t."""

from __future__ import annotations

import numpy as np
import pytest

from pdediff.distributions import (
    PAPER_LAWS,
    Checkerboard,
    GaussianMixture,
    RadialNormal,
    paper_law,
)
from pdediff.grid import Grid
from pdediff.processes import OU

# closed-form second moments written from the definitions (not from the classes)
BLOB_VAR = 0.65**2 * (0.2 + 48 / 9)  # per axis: 0.2 * 0.65^2 + mean of (0.65 m_x)^2
CIRCLES2_R2 = 0.5 * (1.3**2 + 0.2**2) + 0.5 * (2.8**2 + 0.2**2)  # E|Y|^2
CHECKER_COV = np.array([[3.0, 0.5625], [0.5625, 3.0]])  # x-marginal U[-3, 3]; colour (i+j even)


def test_parameters_are_the_papers():
    blob = paper_law("blob")
    assert isinstance(blob, GaussianMixture)
    expected = 0.65 * np.array([(2, 2), (2, -2), (-2, 2), (-2, -2), (0, 0), (4, 0), (-4, 0),
                                (0, 4), (0, -4)], dtype=float)
    assert sorted(map(tuple, blob.means)) == sorted(map(tuple, expected))
    assert np.allclose(blob.weights, 1 / 9)
    assert np.allclose(blob.covariance(), BLOB_VAR * np.eye(2), rtol=1e-14)
    rings = paper_law("circles2")
    assert isinstance(rings, RadialNormal)
    assert rings.radii.tolist() == [1.3, 2.8] and rings.stds.tolist() == [0.2, 0.2]
    assert rings.weights.tolist() == [0.5, 0.5]
    checker = paper_law("checker")
    assert isinstance(checker, Checkerboard)
    lows = sorted(map(tuple, np.round(checker.lows, 12)))
    assert lows == sorted((-3 + 1.5 * i, -3 + 1.5 * j) for i in range(4) for j in range(4)
                          if (i + j) % 2 == 0)
    assert np.allclose(checker.highs - checker.lows, 1.5)
    # the colour: the bottom-left square is in, its right neighbour is out
    assert checker.log_density(np.array([[-2.9, -2.9]]))[0] > -np.inf
    assert checker.log_density(np.array([[-1.4, -2.9]]))[0] == -np.inf


@pytest.mark.parametrize("name", PAPER_LAWS)
def test_sample_moments_match_the_law(name):
    """Mean and covariance of 2e5 seeded samples within 5 standard errors of the closed
    forms above; same seed, same bits."""
    law = paper_law(name)
    n = 200_000
    y = law.sample(n, np.random.default_rng(11))
    assert np.array_equal(y, law.sample(n, np.random.default_rng(11)))
    cov = {"blob": BLOB_VAR * np.eye(2), "circles2": CIRCLES2_R2 / 2 * np.eye(2),
           "checker": CHECKER_COV}[name]
    assert np.allclose(law.covariance(), cov, rtol=1e-12, atol=1e-14)
    se_mean = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(y.mean(axis=0)) < 5 * se_mean)
    sample_cov = np.cov(y.T)
    fourth = np.mean((y - y.mean(axis=0)) ** 4, axis=0)
    se_var = np.sqrt((fourth - np.diag(sample_cov) ** 2) / n)
    assert np.all(np.abs(np.diag(sample_cov) - np.diag(cov)) < 5 * se_var)
    se_cross = np.sqrt(np.mean((y[:, 0] * y[:, 1]) ** 2) / n)
    assert abs(sample_cov[0, 1] - cov[0, 1]) < 5 * se_cross


@pytest.mark.parametrize("name", PAPER_LAWS)
@pytest.mark.parametrize("t", [0.0, 0.5])
def test_cell_averages_carry_unit_mass(name, t):
    """On the box [-6, 6]^2 (the laws and their OU push-forwards hold < 1e-12 mass
    outside) the cell averages sum to 1 and are nonnegative."""
    grid = Grid([(-6.0, 6.0), (-6.0, 6.0)], (24, 24))
    cells = paper_law(name).cell_average(grid, t, OU() if t else None)
    assert np.all(cells >= 0)
    assert abs(grid.integrate(cells) - 1.0) < 1e-10


@pytest.mark.parametrize("name", PAPER_LAWS)
def test_score_is_gradient_of_log_density_at_paper_times(name):
    """At t = 1e-4 (the evaluation script's t_min) and t = 1: score = central
    difference of log p_t, to the difference's error."""
    law = paper_law(name)
    x = np.random.default_rng(5).uniform(-3.5, 3.5, size=(20, 2))
    for t, h in ((1e-4, 1e-6), (1.0, 1e-5)):
        s = law.score(x, t, OU())
        fd = np.stack([(law.log_density(x + h * e, t, OU()) - law.log_density(x - h * e, t, OU()))
                       / (2 * h) for e in np.eye(2)], axis=-1)
        assert np.allclose(s, fd, rtol=1e-6, atol=1e-6 * np.max(np.abs(s)))


def test_bad_name():
    with pytest.raises(ValueError, match="name"):
        paper_law("moons")

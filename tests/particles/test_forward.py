"""Tests of pdediff.particles.forward: exact samples and Markov paths of the
forward process against their closed-form moments and covariances."""

from __future__ import annotations

import numpy as np
import pytest

from pdediff.particles import forward
from pdediff.processes import VP


def test_forward_moments_and_markov_path():
    """From a point x0: X_t ~ N(alpha_t x0, sigma_t^2 I) and, along the path,
    Cov(X_s, X_t) = (alpha_t / alpha_s) sigma_s^2 (5 standard errors)."""
    process = VP()
    n = 40_000
    x0 = np.tile([1.0, -2.0], (n, 1))
    t = np.array([0.05, 0.3, 1.0])
    path = forward(x0, process, t, seed=8)
    assert path.shape == (3, n, 2)
    for k, tk in enumerate(t):
        mean, var = process.alpha(tk) * x0[0], process.sigma2(tk)
        np.testing.assert_array_less(np.abs(path[k].mean(axis=0) - mean), 5 * np.sqrt(var / n))
        np.testing.assert_array_less(np.abs(path[k].var(axis=0) - var), 5 * var * np.sqrt(2 / n))
    for i, j in [(0, 1), (1, 2), (0, 2)]:
        s_i, s_j = process.sigma2(t[i]), process.sigma2(t[j])
        cov = process.alpha(t[j]) / process.alpha(t[i]) * s_i
        centred_i = path[i, :, 0] - path[i, :, 0].mean()
        centred_j = path[j, :, 0] - path[j, :, 0].mean()
        sample_cov = np.mean(centred_i * centred_j)
        assert abs(sample_cov - cov) < 5 * np.sqrt((s_i * s_j + cov**2) / n)

    path = forward(x0[:10], process, [0.0, 0.3], seed=8)
    np.testing.assert_array_equal(path[0], x0[:10])
    single = forward(x0[:10], process, 0.3, seed=8)
    assert single.shape == (10, 2)
    np.testing.assert_array_equal(forward(x0[:10], process, 0.0, seed=1), x0[:10])
    np.testing.assert_array_equal(single, forward(x0[:10], process, 0.3, seed=8, workers=2))




@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"t": [0.5, 0.2]}, ValueError, "t"),
        ({"t": -1.0}, ValueError, "t"),
        ({"t": 1.5}, ValueError, "horizon"),
        ({"t": "0.5"}, TypeError, "t"),
        ({"x0": np.zeros((2, 2, 2))}, ValueError, "x0"),
        ({"chunk_size": -3}, ValueError, "chunk_size"),
        ({"process": None}, TypeError, "process"),
    ],
)
def test_forward_validation(kwargs, error, match):
    args = {"x0": np.zeros((5, 2)), "process": VP(), "t": 0.5, "seed": 0}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        forward(**args)


def test_forward_is_thread_count_independent_and_seeded():
    """The draws come from the chunked streams: fixed (seed, chunk_size) fixes the
    samples whatever the number of drawing threads; another seed changes them."""
    x0 = np.zeros((300, 2))
    a = forward(x0, VP(), [0.2, 0.7], seed=5, chunk_size=64, workers=1)
    b = forward(x0, VP(), [0.2, 0.7], seed=5, chunk_size=64, workers=3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, forward(x0, VP(), [0.2, 0.7], seed=6, chunk_size=64))

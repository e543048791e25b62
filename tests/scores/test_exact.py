"""Tests of pdediff.scores.exact (ExactScore) against closed forms and fitted convergence orders."""

from __future__ import annotations

import numpy as np
import pytest

from pdediff import OU, VP
from pdediff.scores import (
    ExactScore,
    KernelScore,
    exact,
)


# ---------------------------------------------------------------------- ExactScore
class _StandIn:
    """A distributions-protocol object built from a mixture (the real classes live
    in pdediff.distributions)."""

    def __init__(self, means, bandwidth):
        self.means, self.bandwidth, self.ndim = np.asarray(means), bandwidth, len(means[0])

    def _k(self, process):
        return KernelScore(self.means, self.bandwidth, process)

    def score(self, x, t, process):
        return self._k(process)(x, t)

    def score_divergence(self, x, t, process):
        return self._k(process).divergence(x, t)

    def log_density(self, x, t, process):
        return self._k(process).log_density(x, t)

    def hessian(self, x, t, process):
        return self._k(process).hessian(x, t)


def test_exact_score_delegates_and_checks():
    dist = _StandIn([[0.0, 1.0], [1.0, 0.0]], 0.2)
    process = OU()
    score = exact(dist, process)
    assert isinstance(score, ExactScore)
    reference = KernelScore(dist.means, 0.2, process)
    x = np.random.default_rng(3).normal(size=(4, 2))
    for method in ("log_density", "hessian", "divergence"):
        np.testing.assert_array_equal(
            getattr(score, method)(x, 0.3), getattr(reference, method)(x, 0.3)
        )
    np.testing.assert_array_equal(score(x, 0.3), reference(x, 0.3))
    with pytest.raises(ValueError, match="x"):
        score(np.zeros((2, 3)), 0.3)
    with pytest.raises(ValueError, match="t"):
        score(x, -1.0)
    with pytest.raises(TypeError, match="dist"):
        exact(object(), process)


def test_exact_score_with_distributions_module():
    distributions = pytest.importorskip("pdediff.distributions")
    if not hasattr(distributions, "GaussianMixture"):
        pytest.skip("pdediff.distributions.GaussianMixture not written yet")
    means = np.array([[-0.8, 0.3], [0.7, -0.4]])
    dist = distributions.GaussianMixture(means, [0.16 * np.eye(2)] * 2, [0.5, 0.5])
    process = VP()
    x = np.random.default_rng(4).normal(size=(6, 2))
    reference = KernelScore(means, 0.4, process)
    np.testing.assert_allclose(exact(dist, process)(x, 0.2), reference(x, 0.2), rtol=1e-10)

"""Tests of pdediff.scores.perturbed (PerturbedScore) against closed forms and fitted convergence orders."""

from __future__ import annotations

import numpy as np
import pytest

from pdediff import HeatFlow
from pdediff.scores import (
    PerturbedScore,
)

from ._cases import fd_gradient, mixture, slope


# ------------------------------------------------------------------ PerturbedScore
@pytest.mark.parametrize(("kind", "ndim"), [("gradient", 1), ("gradient", 2), ("gradient", 3),
                                            ("rotational", 2), ("rotational", 3)])
def test_perturbed_score_divergence_and_amplitude(kind, ndim):
    base = mixture(ndim, HeatFlow())
    amplitude, ell = 0.3, 0.5
    score = PerturbedScore(base, amplitude, kind, ell, center=np.full(ndim, 0.2))
    t = 0.2
    x = np.random.default_rng(5).normal(size=(50, ndim))
    # Divergence against a central FD of the field, converging at order 2.
    errors = []
    deltas = np.array([4e-3, 2e-3, 1e-3])
    for delta in deltas:
        jac = fd_gradient(lambda y: score(y, t), x, delta)
        errors.append(np.abs(np.trace(jac, axis1=-2, axis2=-1) - score.divergence(x, t)).max())
    assert slope(deltas, np.array(errors)) > 1.8
    pert = score.perturbation(x)
    np.testing.assert_allclose(score(x, t) - base(x, t), pert, atol=1e-14)
    # Peak norm of grad b is e^{-1/2}/l, attained at |x - c| = l (for the 3-D curl,
    # in the plane normal to the rotation axis e_z).
    directions = np.eye(ndim)[:2] if (kind, ndim) == ("rotational", 3) else np.eye(ndim)
    norms = np.linalg.norm(score.perturbation(score.center + ell * directions), axis=-1)
    np.testing.assert_allclose(norms, amplitude * np.exp(-0.5) / ell, rtol=1e-12)
    assert np.all(np.linalg.norm(pert, axis=-1) <= amplitude * np.exp(-0.5) / ell * (1 + 1e-12))
    if kind == "rotational":
        np.testing.assert_array_equal(score.divergence(x, t), base.divergence(x, t))
        np.testing.assert_allclose(np.sum(pert * (x - score.center), -1), 0.0, atol=1e-14)
    else:
        fd = fd_gradient(score.bump_log_density, x, 1e-4)
        np.testing.assert_allclose(fd, pert, atol=1e-7)


def test_perturbed_score_rejects_bad_input():
    base = mixture(1, HeatFlow())
    with pytest.raises(ValueError, match="kind"):
        PerturbedScore(base, 0.1, "rotational")
    with pytest.raises(ValueError, match="kind"):
        PerturbedScore(base, 0.1, "curl")
    with pytest.raises(ValueError, match="length_scale"):
        PerturbedScore(base, 0.1, length_scale=0.0)
    with pytest.raises(ValueError, match="center"):
        PerturbedScore(base, 0.1, center=[0.0, 1.0])
    with pytest.raises(ValueError, match="amplitude"):
        PerturbedScore(base, float("nan"))
    with pytest.raises(ValueError, match="kind"):
        PerturbedScore(mixture(2, HeatFlow()), 0.1, "rotational").bump_log_density(np.zeros(2))

"""Tests of pdediff.particles._kernels: one compiled specialisation per kernel, the
fused Gaussian-mixture step against the generic path (same bits), and the
finite-range counts."""

from __future__ import annotations

import numpy as np
import pytest

from pdediff.distributions import GaussianMixture, Points
from pdediff.particles import _kernels, reverse
from pdediff.processes import OU, VP
from pdediff.scores import ExactScore, KernelScore, exact

COVS_FULL = np.array([[[0.2, 0.05], [0.05, 0.1]], [[0.1, -0.03], [-0.03, 0.3]], [[0.05, 0.0], [0.0, 0.05]]])
MEANS = np.array([[-1.0, 0.0], [1.0, 0.5], [0.0, -1.5]])
WEIGHTS = np.array([0.3, 0.5, 0.2])


def _fused_scores(process):
    samples = np.random.default_rng(3).standard_normal((25, 2))
    return {
        "full": exact(GaussianMixture(MEANS, COVS_FULL, WEIGHTS), process),
        "diagonal": exact(GaussianMixture(MEANS, [[0.1, 0.2], [0.3, 0.1], [0.2, 0.2]], WEIGHTS), process),
        "isotropic": exact(GaussianMixture(MEANS, [0.1, 0.2, 0.3], WEIGHTS), process),
        "points": exact(Points(MEANS, WEIGHTS), process),
        "kernel": KernelScore(samples, 0.3, process),
        "kernel-empirical": KernelScore(samples, 0.0, process),
        # Two identical components: the largest term is tied at every point (both
        # weights are exp(0) = 1 in the generic path; the fused one skips one exp).
        "tied": exact(GaussianMixture(np.repeat(MEANS[:1], 2, axis=0), [0.2, 0.2], [0.5, 0.5]),
                      process),
        "single": exact(GaussianMixture(MEANS[:1], COVS_FULL[:1]), process),
    }


SETTINGS = {
    "em": {"eps": 1.0},
    "em-half": {"eps": 0.5},
    "heun": {"eps": 0.0},
    "rk4": {"eps": 0.0, "method": "rk4", "time_grid": "log"},
    "heun-logq": {"eps": 0.0, "track_log_density": True},
    "em-langevin": {"eps": 1.0, "corrector": "langevin"},
}


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_fused_path_gives_the_generic_bits(setting):
    """For every fused score type and scheme the fused kernel returns the particles
    of the generic path bit for bit (same arithmetic, same noise).  The tracked log q
    agrees to 1e-12 relative: the generic path sums the stages with a BLAS product
    and KernelScore.divergence uses centred differences (another, equivalent
    formula) instead of the mixture kernel's."""
    process = VP()
    x_T = np.random.default_rng(0).standard_normal((500, 2))
    for name, score in _fused_scores(process).items():
        common = dict(steps=12, seed=4, chunk_size=64, **SETTINGS[setting])
        fused = reverse(x_T, process, score, [1.0, 0.4, 0.02], **common)
        generic = reverse(x_T, process, score, [1.0, 0.4, 0.02], fused=False, **common)
        assert fused.metadata["fused"] and not generic.metadata["fused"], name
        assert fused.metadata["n_score_calls"] == generic.metadata["n_score_calls"]
        np.testing.assert_array_equal(fused.x, generic.x, err_msg=name)
        # The particles moved: the comparison is not of two copies of x_T.
        assert np.max(np.abs(fused.x[-1] - x_T)) > 0.1
        if fused.log_q is not None:
            np.testing.assert_allclose(fused.log_q, generic.log_q, rtol=1e-12, atol=0, err_msg=name)


def test_only_pdediff_mixture_scores_are_fused():
    process = VP()
    mixture = GaussianMixture(MEANS, COVS_FULL, WEIGHTS)

    class Subclass(ExactScore):
        pass

    x_T = np.zeros((10, 2))
    cases = {
        "exact": (exact(mixture, process), True),
        "subclass": (Subclass(mixture, process), False),
        "callable": (lambda x, t: mixture.score(x, t, process), False),
    }
    for name, (score, want) in cases.items():
        sol = reverse(x_T, process, score, [1.0, 0.1], steps=3, seed=0)
        assert sol.metadata["fused"] is want, name
    # Past 3-D the fused kernel does not apply.
    four = exact(GaussianMixture(np.zeros((2, 4)), [0.5, 1.0]), process)
    sol = reverse(np.zeros((10, 4)), process, four, [1.0, 0.1], steps=3, seed=0)
    assert sol.metadata["fused"] is False
    # Hutchinson or finite-difference divergences need score calls: generic path.
    sol = reverse(x_T, process, exact(mixture, process), [1.0, 0.1], eps=0.0, steps=3,
                  track_log_density=True, divergence="fd")
    assert sol.metadata["fused"] is False
    # A 2-D score given 1-D particles is not fused (and raises the score's own error).
    with pytest.raises(ValueError, match="x"):
        reverse(np.zeros((10, 1)), process, exact(mixture, process), [1.0, 0.1], steps=3)


def test_fused_points_score_at_zero_variance_raises_the_score_error():
    """Points have no score at t = 0 (sigma_0 = 0): the fused path raises the
    distribution's own error, like the generic path (Heun evaluates at t0 = 0)."""
    process = VP()
    score = exact(Points(MEANS), process)
    for fused in (True, False):
        with pytest.raises(ValueError, match="singular at t=0"):
            reverse(np.zeros((5, 2)), process, score, [1.0, 0.0], eps=0.0, steps=3, fused=fused)
    with pytest.raises(ValueError, match="kernel variance"):
        reverse(np.zeros((5, 2)), process, KernelScore(MEANS, 0.0, process), [1.0, 0.0],
                eps=0.0, steps=3)


def test_range_counts():
    """combine and mixture_step count particles that are NaN or beyond
    sqrt(max float64) after the update, and no others."""
    x = np.array([[1.0, 2.0], [np.nan, 0.0], [1e300, 0.0], [_kernels.RANGE_LIMIT, 0.0]])
    k = np.zeros((1, 4, 2))
    out = np.empty_like(x)
    assert _kernels.combine(x, k, np.ones(1), -0.1, x, 0.0, out) == 2
    # One component at the origin with unit precision: s = -x, velocity ax x + bs s.
    means = np.zeros((1, 1, 2))
    prec = np.ones((1, 1, 1, 1))
    logc, trace = np.zeros((1, 1)), np.full((1, 1), 2.0)
    args = (np.zeros((1, 1)), np.ones(1), np.zeros(1), np.ones(1), means, prec, logc, trace, True)
    finite = np.array([[1.0, 2.0], [3.0, -1.0]])
    out = np.empty_like(finite)
    e = np.zeros(1)
    assert _kernels.mixture_step(finite, -0.1, *args, finite, 0.0, e, e, False, e, out) == 0
    # x + h (-x) = 0.9 x: the fused step is the closed form.
    np.testing.assert_array_equal(out, finite + -0.1 * (-finite))
    huge = np.array([[1e160, 0.0], [1.0, 1.0]])
    assert _kernels.mixture_step(huge, -0.1, *args, huge, 0.0, e, e, False, e, out) == 1


def test_kernels_compile_once():
    """Repeated calls with other sizes, dimensions, methods, score output types
    (float32, read-only, Fortran order) and fused mixtures (isotropic or full, any
    number of components, with or without log q) reuse one compiled specialisation
    per kernel."""
    process = OU(T=1.0)
    scores = [
        lambda x, t: -x,
        lambda x, t: (-x).astype(np.float32),
        lambda x, t: np.broadcast_to(np.float64(0.5), x.shape),
        lambda x, t: np.asfortranarray(-x),
    ]
    for d, score in zip([1, 2, 3, 2], scores, strict=True):
        x_T = np.ones((37, d))
        reverse(x_T, process, score, [1.0, 0.1], steps=3, seed=0, corrector="langevin")
        reverse(x_T, process, score, [1.0, 0.1], eps=0.0, method="rk4", steps=3)
    mixtures = [
        GaussianMixture(np.zeros((1, 1)), 0.5),
        GaussianMixture(MEANS, COVS_FULL, WEIGHTS),
        GaussianMixture(np.zeros((4, 3)), np.ones((4, 3))),
    ]
    for mixture in mixtures:
        x_T = np.ones((41, mixture.ndim))
        score = exact(mixture, process)
        assert reverse(x_T, process, score, [1.0, 0.1], steps=3, seed=0).metadata["fused"]
        reverse(x_T, process, score, [1.0, 0.1], eps=0.0, steps=3, track_log_density=True)
        reverse(x_T, process, score, [1.0, 0.1], eps=0.0, method="rk4", steps=3)
    for kernel in (_kernels.velocity, _kernels.combine, _kernels.row_norms):
        assert len(kernel.signatures) == 1, (kernel, kernel.signatures)
    # Two fused entry points (Euler–Maruyama; every other scheme), each compiled
    # once, and both used above.
    for kernel in _kernels.FUSED_KERNELS:
        assert len(kernel.signatures) == 1, (kernel, kernel.signatures)

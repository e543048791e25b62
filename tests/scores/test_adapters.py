"""from_jax / from_torch: a Gaussian's exact log-density or score written as a JAX
function and as a torch module agrees with pdediff's exact score, divergence,
log-density and Fokker–Planck residual to round-off; input never written; chunked
evaluation equals one batch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pdediff import OU, Grid
from pdediff.distributions import GaussianMixture
from pdediff.residual import fp_residual
from pdediff.scores import exact, from_jax, from_torch

PROCESS = OU()
MEAN = np.array([0.3, -0.2])
VAR = np.array([0.5, 0.1])
EXACT = exact(GaussianMixture([MEAN], [VAR]), PROCESS)
X = np.random.default_rng(0).normal(size=(7, 3, 2))
T = 0.3
# round-off scale: the quantities are O(10), computed in float64
TOL = 1e-12


def _jax_laws():
    jnp = pytest.importorskip("jax.numpy")

    def variance(t):
        a = jnp.exp(-t)
        return a, a**2 * VAR + 0.5 * (1.0 - jnp.exp(-2.0 * t))

    def log_density(x, t):
        a, v = variance(t)
        return -0.5 * jnp.sum((x - a * MEAN) ** 2 / v) - 0.5 * jnp.sum(jnp.log(2 * jnp.pi * v))

    def score(x, t):
        a, v = variance(t)
        return -(x - a * MEAN) / v

    return score, log_density


def _torch_laws():
    torch = pytest.importorskip("torch")
    mean, var = torch.tensor(MEAN), torch.tensor(VAR)

    def variance(t):
        a = torch.exp(-t)
        return a, a**2 * var + 0.5 * (1.0 - torch.exp(-2.0 * t))

    class LogDensity(torch.nn.Module):
        def __init__(self):
            super().__init__()
            # a parameter, to exercise functional_call (the value is the mean's shift 0)
            self.shift = torch.nn.Parameter(torch.zeros(2, dtype=torch.float32))

        def forward(self, x, t):
            a, v = variance(t)
            d = x - a * mean - self.shift
            return -0.5 * torch.sum(d**2 / v) - 0.5 * torch.sum(torch.log(2 * math.pi * v))

    class Score(torch.nn.Module):
        def forward(self, x, t):
            a, v = variance(t)
            return -(x - a * mean) / v

    return Score(), LogDensity()


def _adapters():
    out = {}
    try:
        score, log_density = _jax_laws()
        out["jax-score"] = from_jax(score, chunk=5)
        out["jax-logdensity"] = from_jax(log_density, kind="log_density", chunk=4)
    except pytest.skip.Exception:
        pass
    try:
        score, log_density = _torch_laws()
        out["torch-score"] = from_torch(score, chunk=5)
        out["torch-logdensity"] = from_torch(log_density, kind="log_density", chunk=4)
    except pytest.skip.Exception:
        pass
    return out


ADAPTERS = _adapters()
NAMES = sorted(ADAPTERS)


@pytest.mark.parametrize("name", NAMES)
def test_score_and_divergence_agree_with_the_exact_gaussian(name):
    adapted = ADAPTERS[name]
    for t in (1e-3, T, 2.0):
        assert np.max(np.abs(adapted(X, t) - EXACT(X, t))) < TOL * 1e3 * (1 + 1 / t)
        div = adapted.divergence(X, t)
        assert div.shape == X.shape[:-1]
        assert np.max(np.abs(div - EXACT.divergence(X, t))) < TOL * 1e3 * (1 + 1 / t)
    # relative round-off at t = T
    ref = EXACT(X, T)
    assert np.max(np.abs(adapted(X, T) - ref)) < TOL * np.max(np.abs(ref))


@pytest.mark.parametrize("name", [n for n in NAMES if n.endswith("logdensity")])
def test_log_density_time_derivative_and_residual(name):
    adapted = ADAPTERS[name]
    assert np.max(np.abs(adapted.log_density(X, T) - EXACT.log_density(X, T))) < TOL * 10
    # d_t phi against a 4th-order central difference of the exact log-density
    h = 1e-3
    fd = (-EXACT.log_density(X, T + 2 * h) + 8 * EXACT.log_density(X, T + h)
          - 8 * EXACT.log_density(X, T - h) + EXACT.log_density(X, T - 2 * h)) / (12 * h)
    assert np.max(np.abs(adapted.dt_log_density(X, T) - fd)) < 1e-8  # FD error ~ h^4
    # exact log p_t: the residual vanishes to round-off (a wrong d_t, grad or Laplacian
    # would leave O(1))
    assert np.max(np.abs(adapted.fp_residual(PROCESS, X, T))) < 1e-11
    # and the grid residual of pdediff.residual runs on it: phi is quadratic in x, so
    # the centred stencils are exact and only the round-off of its d_t quotient is left
    grid = Grid([(-2.0, 2.0), (-2.0, 2.0)], (16, 16))
    assert np.max(np.abs(fp_residual(adapted.log_density, PROCESS, grid, T))) < 1e-9


@pytest.mark.parametrize("name", NAMES)
def test_input_not_mutated_and_chunking_equals_one_batch(name):
    adapted = ADAPTERS[name]
    x = X.copy()
    x.setflags(write=False)  # any write raises
    chunked = adapted(x, T)
    assert np.array_equal(x, X)
    whole = type(adapted)(adapted._evaluators, adapted.kind, adapted.backend, 10_000, None)
    np.testing.assert_array_equal(chunked, whole(x, T))
    np.testing.assert_array_equal(adapted.divergence(x, T), whole.divergence(x, T))


@pytest.mark.parametrize("name", NAMES)
def test_per_point_times(name):
    adapted = ADAPTERS[name]
    times = np.linspace(0.1, 1.0, 21).reshape(7, 3)
    got = adapted(X, times)
    for i in range(7):
        for j in range(3):
            ref = EXACT(X[i, j][None], float(times[i, j]))[0]
            assert np.max(np.abs(got[i, j] - ref)) < 1e-11


@pytest.mark.parametrize("name", NAMES)
def test_drives_the_particle_sampler_with_log_q_tracking(name):
    """particles.reverse with the adapter (its autodiff divergence) gives the same paths
    and log q as with the exact score, to round-off accumulated over the steps."""
    from pdediff.particles import reverse

    adapted = ADAPTERS[name]
    x_T = np.random.default_rng(1).normal(size=(50, 2)) * math.sqrt(0.5)
    t_eval = np.array([PROCESS.T, 0.1])
    kw = dict(eps=0.0, steps=20, seed=0, track_log_density=True)
    a = reverse(x_T, PROCESS, adapted, t_eval, **kw)
    b = reverse(x_T, PROCESS, EXACT, t_eval, **kw)
    assert np.max(np.abs(a.x - b.x)) < 1e-10
    assert np.max(np.abs(a.log_q - b.log_q)) < 1e-9


def test_bad_arguments():
    with pytest.raises(TypeError, match="fn"):
        from_jax(3)
    with pytest.raises(ValueError, match="kind"):
        from_jax(lambda x, t: x, kind="energy")
    with pytest.raises(TypeError, match="chunk"):
        from_jax(lambda x, t: x, chunk=1.5)
    adapted = from_jax(lambda x, t: -x, ndim=2)
    with pytest.raises(ValueError, match="x"):
        adapted(np.zeros((3, 3)), 0.1)
    with pytest.raises(ValueError, match="t"):
        adapted(np.zeros((3, 2)), np.ones(4))
    with pytest.raises(TypeError, match="log_density"):
        adapted.log_density(np.zeros((3, 2)), 0.1)

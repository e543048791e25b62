"""Properties every distribution must have, checked on every class, dimension and
process: derivatives against finite differences (with fitted orders), identities
between them, normalisation, stability at t -> 0, sampling and serialisation."""

from __future__ import annotations

import numpy as np
import pytest

from pdediff.distributions import distribution_from_dict
from pdediff.grid import Grid

from ._cases import CASES, PROCESSES, probe_points, scale

CASE_IDS = sorted(CASES)
PROC_IDS = sorted(PROCESSES)


def _fd_gradient(f, x, h):
    out = np.empty(x.shape)
    for d in range(x.shape[-1]):
        e = np.zeros(x.shape[-1])
        e[d] = h
        out[..., d] = (f(x + e) - f(x - e)) / (2 * h)
    return out


def _slope(hs, errors):
    return np.polyfit(np.log(hs), np.log(errors), 1)[0]


@pytest.mark.parametrize("proc", PROC_IDS)
@pytest.mark.parametrize("case", CASE_IDS)
def test_score_is_gradient_of_log_density(case, proc):
    """Central differences of log p_t converge to the score at order 2."""
    dist = CASES[case]
    process, t = PROCESSES[proc]
    x = probe_points(dist, 6, seed=1)
    alpha = float(process.alpha(t))
    sd = float(np.sqrt(process.sigma2(t) + alpha**2 * dist.smoothing**2))
    score = dist.score(x, t, process)
    hs = sd * np.array([0.04, 0.02, 0.01])
    errors = [np.max(np.abs(_fd_gradient(lambda y: dist.log_density(y, t, process), x, h) - score))
              for h in hs]
    # errors follow C h^2 until round-off (~1e-16 |log p| / h) takes over
    assert errors[-1] <= 1e-3 * (1 + np.max(np.abs(score)))
    if errors[0] > 1e-8 * (1 + np.max(np.abs(score))):
        assert 1.8 < _slope(hs, errors) < 2.2, errors


@pytest.mark.parametrize("proc", PROC_IDS)
@pytest.mark.parametrize("case", CASE_IDS)
def test_hessian_divergence_consistent(case, proc):
    """Hessian = Jacobian of the score (FD, order 2), divergence = trace of the Hessian,
    the Hessian is symmetric and obeys the Li–Yau bound Hess >= -I/v_t."""
    dist = CASES[case]
    process, t = PROCESSES[proc]
    x = probe_points(dist, 5, seed=2)
    hess = dist.hessian(x, t, process)
    div = dist.score_divergence(x, t, process)
    assert np.allclose(hess, np.swapaxes(hess, -1, -2), rtol=0, atol=1e-12 * np.max(np.abs(hess)))
    assert np.allclose(np.trace(hess, axis1=-2, axis2=-1), div, rtol=1e-9, atol=1e-9)
    alpha = float(process.alpha(t))
    v = float(process.sigma2(t)) + alpha**2 * dist.smoothing**2
    smallest = np.linalg.eigvalsh(hess)[..., 0]
    assert np.all(smallest >= -1.0 / v * (1 + 1e-9))
    sd = np.sqrt(v)
    n = dist.ndim
    hs = sd * np.array([0.04, 0.02, 0.01])
    errors = []
    for h in hs:
        jac = np.empty(hess.shape)
        for d in range(n):
            e = np.zeros(n)
            e[d] = h
            plus, minus = dist.score(x + e, t, process), dist.score(x - e, t, process)
            jac[..., :, d] = (plus - minus) / (2 * h)
        errors.append(np.max(np.abs(jac - hess)))
    assert errors[-1] <= 1e-3 * (1 + np.max(np.abs(hess)))
    if errors[0] > 1e-7 * (1 + np.max(np.abs(hess))):
        assert 1.8 < _slope(hs, errors) < 2.2, errors


@pytest.mark.parametrize("case", CASE_IDS)
def test_divergence_is_laplacian(case):
    """The divergence matches the 5-point (2n+1-point) Laplacian of log p_t, order 2."""
    dist = CASES[case]
    process, t = PROCESSES["vp"]
    x = probe_points(dist, 5, seed=3)
    div = dist.score_divergence(x, t, process)
    sd = float(np.sqrt(process.sigma2(t)))
    hs = sd * np.array([0.08, 0.04, 0.02])
    f0 = dist.log_density(x, t, process)
    errors = []
    for h in hs:
        lap = -2 * dist.ndim * f0
        for d in range(dist.ndim):
            e = np.zeros(dist.ndim)
            e[d] = h
            lap = lap + dist.log_density(x + e, t, process) + dist.log_density(x - e, t, process)
        errors.append(np.max(np.abs(lap / h**2 - div)))
    assert errors[-1] <= 1e-2 * (1 + np.max(np.abs(div)))
    if errors[0] > 1e-6 * (1 + np.max(np.abs(div))):
        assert 1.7 < _slope(hs, errors) < 2.3, errors


SLOW_3D = {"ball3", "annulus3"}  # ~1e6 points x 64 radial nodes


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW_3D else c for c in CASE_IDS]
)
def test_density_integrates_to_one(case):
    """exp(log p_t) integrates to 1 (Gauss–Legendre 4^n per cell on a grid holding
    all but < 1e-12 of the mass)."""
    dist = CASES[case]
    process, t = PROCESSES["heat"]
    sd = float(np.sqrt(process.sigma2(t) + dist.smoothing**2))
    centre = dist.mean(t, process)
    radius = np.sqrt(np.max(np.linalg.eigvalsh(dist.covariance()))) * 4 + 9 * sd
    if dist.is_compact or dist.singular:
        lo, hi = dist._bounding_box()
        half = np.max(np.maximum(np.abs(lo - centre), np.abs(hi - centre))) + 8 * sd
        radius = half
    # cells no wider than the narrowest feature of p_t (sd, or a component's sd)
    narrow = sd
    if hasattr(dist, "_full") and np.any(dist._full):
        narrow = np.sqrt(sd**2 + np.min(np.linalg.eigvalsh(dist._full)))
    cells = int(np.ceil(2 * radius / narrow))
    grid = Grid([(c - radius, c + radius) for c in centre], cells)
    avg = dist._quadrature_average(
        grid, lambda y: dist.density(y, t, process), 4
    )
    assert abs(grid.integrate(avg) - 1.0) < 1e-7


@pytest.mark.parametrize("proc", PROC_IDS)
@pytest.mark.parametrize("case", CASE_IDS)
def test_finite_from_tiny_t_to_T_far_away(case, proc):
    """log p_t, score, divergence and Hessian are finite for t in [1e-6, T], also 10
    units outside the support (no underflow to -inf, no NaN)."""
    dist = CASES[case]
    process, _ = PROCESSES[proc]
    x = np.concatenate([probe_points(dist, 4, seed=4),
                        dist.mean()[None, :] + (10 + 2 * scale(dist)) * np.eye(dist.ndim)[:1]])
    for t in np.geomspace(1e-6, process.T, 7):
        for values in (dist.log_density(x, t, process), dist.score(x, t, process),
                       dist.score_divergence(x, t, process), dist.hessian(x, t, process)):
            assert np.all(np.isfinite(values)), (t, values)


@pytest.mark.parametrize("case", CASE_IDS)
def test_sampling_moments(case):
    """Monte Carlo mean and covariance of sample() (at t = 0 and at t > 0) agree with
    mean()/covariance() within 5 standard errors; the draw is a function of the seed."""
    dist = CASES[case]
    process, t = PROCESSES["ou"]
    n = 40_000
    for tt, proc in ((0.0, None), (t, process)):
        x = dist.sample(n, np.random.default_rng(5), tt, proc)
        assert x.shape == (n, dist.ndim)
        mean, cov = dist.mean(tt, proc), dist.covariance(tt, proc)
        se = np.sqrt(np.diag(cov) / n)
        assert np.all(np.abs(x.mean(axis=0) - mean) < 5 * se + 1e-12)
        # standard error of a sample covariance entry <= sqrt(2/n) * sqrt(c_ii c_jj) (Gaussian
        # case; the laws here have lighter tails) -> use 6 of them
        bound = 6 * np.sqrt(2.0 / n) * np.sqrt(np.outer(np.diag(cov), np.diag(cov))) + 1e-12
        assert np.all(np.abs(np.cov(x.T).reshape(cov.shape) - cov) < bound)
    assert np.array_equal(dist.sample(10, np.random.default_rng(9)),
                          dist.sample(10, np.random.default_rng(9)))


@pytest.mark.parametrize("case", CASE_IDS)
def test_dict_round_trip(case):
    dist = CASES[case]
    again = distribution_from_dict(dist.to_dict())
    assert again == dist and type(again) is type(dist)
    process, t = PROCESSES["ve"]
    x = probe_points(dist, 3)
    assert np.array_equal(again.log_density(x, t, process), dist.log_density(x, t, process))


@pytest.mark.parametrize("case", CASE_IDS)
def test_shapes(case):
    """Leading axes of x are kept: (..., n) -> (...), (..., n), (..., n, n)."""
    dist = CASES[case]
    process, t = PROCESSES["vp"]
    n = dist.ndim
    x = probe_points(dist, 6).reshape(2, 3, n)
    assert dist.log_density(x, t, process).shape == (2, 3)
    assert dist.score(x, t, process).shape == (2, 3, n)
    assert dist.score_divergence(x, t, process).shape == (2, 3)
    assert dist.hessian(x, t, process).shape == (2, 3, n, n)
    assert dist.log_density(x[0, 0], t, process).shape == ()
    assert dist.distance_to_support(x).shape == (2, 3)


@pytest.mark.parametrize("case", CASE_IDS)
def test_distance_and_nearest_point(case):
    """distance_to_support is |x - nearest_point(x)|, zero on samples, and no other
    sampled point of the support is closer (compact laws); R^n supports give 0."""
    dist = CASES[case]
    x = probe_points(dist, 50, seed=8, spread=3.0)
    d = dist.distance_to_support(x)
    if not dist.is_compact:
        assert np.all(d == 0)
        with pytest.raises(ValueError, match="support"):
            dist.nearest_point(x)
        return
    y = dist.nearest_point(x)
    assert np.allclose(np.linalg.norm(x - y, axis=1), d, rtol=1e-12, atol=1e-12)
    assert np.allclose(dist.distance_to_support(y), 0.0, atol=1e-12)
    support = dist.sample(4000, np.random.default_rng(8))
    assert np.allclose(dist.distance_to_support(support), 0.0, atol=1e-12)
    brute = np.min(np.linalg.norm(x[:, None] - support[None], axis=-1), axis=1)
    assert np.all(d <= brute + 1e-12)


def test_kernels_compile_once():
    """Every class, dimension and evaluation mode reuses one compiled specialisation of
    each numba kernel (no recompilation on repeated calls)."""
    from pdediff.distributions._kernels import mixture_kernel, radial_kernel

    for dist in CASES.values():
        process, t = PROCESSES["ou"]
        x = probe_points(dist, 4)
        dist.log_density(x, t, process)
        dist.score(x, t, process)
        dist.hessian(x, t, process)
    assert len(mixture_kernel.signatures) == 1
    assert len(radial_kernel.signatures) == 1

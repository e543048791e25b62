"""Tests of pdediff.scores against closed forms and fitted convergence orders."""

from __future__ import annotations

import numpy as np
import pytest

from pdediff import OU, VE, VP, Grid, HeatFlow, Solution, SubVP
from pdediff.scores import (
    ExactScore,
    GridScore,
    KernelScore,
    PerturbedScore,
    exact,
    fp_residual,
    fp_residual_score,
    grid_score,
)

PROCESSES = {
    "heat": HeatFlow(kappa=0.5),
    "ou": OU(),
    "vp": VP(),
    "subvp": SubVP(),
    "ve": VE(sigma_min=0.01, sigma_max=5.0),
}


def slope(h: np.ndarray, err: np.ndarray) -> float:
    """Least-squares log-log slope of err against h (the observed order)."""
    return float(np.polyfit(np.log(h), np.log(err), 1)[0])


def mixture(ndim: int, process, bandwidth: float = 0.4) -> KernelScore:
    """A two- or three-component isotropic Gaussian mixture (exact closed form)."""
    means = np.array([[-0.8, 0.3, 0.1], [0.7, -0.4, 0.0], [0.2, 0.9, -0.5]])[:, :ndim]
    return KernelScore(means, bandwidth, process)


def fd_gradient(f, x: np.ndarray, delta: float) -> np.ndarray:
    n = x.shape[-1]
    return np.stack(
        [(f(x + delta * e) - f(x - delta * e)) / (2 * delta) for e in np.eye(n)], axis=-1
    )


# --------------------------------------------------------------------- KernelScore
@pytest.mark.parametrize("name", sorted(PROCESSES))
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_kernel_score_single_sample_is_gaussian_score(name, ndim):
    process = PROCESSES[name]
    rng = np.random.default_rng(1)
    x0 = rng.normal(size=ndim)
    h, t = 0.3, 0.4
    score = KernelScore(x0[None, :], h, process)
    x = rng.normal(size=(7, ndim))
    alpha, sigma2 = process.alpha(t), process.sigma2(t)
    v = alpha**2 * h**2 + sigma2
    np.testing.assert_allclose(score(x, t), -(x - alpha * x0) / v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(score.divergence(x, t), -ndim / v, rtol=1e-12)
    expected_hessian = np.broadcast_to(-np.eye(ndim) / v, (7, ndim, ndim))
    np.testing.assert_allclose(score.hessian(x, t), expected_hessian)
    log_p = -0.5 * np.sum((x - alpha * x0) ** 2, -1) / v - 0.5 * ndim * np.log(2 * np.pi * v)
    np.testing.assert_allclose(score.log_density(x, t), log_p, rtol=1e-12)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_kernel_score_derivatives_match_finite_differences(ndim):
    """score = grad log p, Hess = grad score, div = tr Hess, to the FD error O(delta^2)."""
    score = mixture(ndim, VP(), bandwidth=0.2)
    t = 0.05
    x = np.random.default_rng(2).normal(scale=0.7, size=(20, ndim))
    errors = []
    for delta in (1e-2, 5e-3, 2.5e-3):
        fd = fd_gradient(lambda y: score.log_density(y, t), x, delta)
        errors.append(np.abs(fd - score(x, t)).max())
    assert slope(np.array([1e-2, 5e-3, 2.5e-3]), np.array(errors)) > 1.8
    hess = score.hessian(x, t)
    fd_hess = fd_gradient(lambda y: score(y, t), x, 1e-4)  # [..., i, j] = d_j s_i
    scale = np.abs(hess).max()
    np.testing.assert_allclose(fd_hess, hess, atol=1e-5 * scale)
    np.testing.assert_allclose(hess, np.swapaxes(hess, -1, -2), atol=1e-12 * scale)
    np.testing.assert_allclose(
        score.divergence(x, t), np.trace(hess, axis1=-2, axis2=-1), atol=1e-12 * scale
    )


def test_kernel_score_cell_average_mass_and_midpoint_order():
    score = mixture(2, HeatFlow(), bandwidth=0.3)
    t = 0.1
    errors, hs = [], []
    for n in (16, 32, 64):
        grid = Grid([(-5, 5), (-5, 5)], n)
        avg = score.cell_average(grid, t)
        assert grid.integrate(avg) == pytest.approx(1.0, abs=1e-9)  # tails are < 1e-9
        point = np.exp(score.log_density(grid.points(), t))
        errors.append(np.abs(avg - point).max())  # midpoint rule: O(h^2)
        hs.append(grid.spacing[0])
    assert slope(np.array(hs), np.array(errors)) > 1.8


def test_kernel_score_rejects_bad_input():
    with pytest.raises(ValueError, match="bandwidth"):
        KernelScore(np.zeros((2, 1)), -1.0, HeatFlow())
    with pytest.raises(ValueError, match="samples"):
        KernelScore(np.zeros((0, 2)), 0.1, HeatFlow())
    with pytest.raises(ValueError, match="samples"):
        KernelScore(np.array([[np.nan]]), 0.1, HeatFlow())
    with pytest.raises(TypeError, match="process"):
        KernelScore(np.zeros((2, 1)), 0.1, "heat")
    score = KernelScore(np.zeros((2, 2)), 0.0, HeatFlow())
    with pytest.raises(ValueError, match="t"):
        score(np.zeros((1, 2)), 0.0)
    with pytest.raises(ValueError, match="x"):
        score(np.zeros((1, 3)), 0.1)
    with pytest.raises(TypeError, match="x"):
        score(np.array([["a", "b"]]), 0.1)


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


# ---------------------------------------------------------------------- GridScore
def snapshot_solution(score: KernelScore, grid: Grid, times) -> Solution:
    p = np.stack([score.cell_average(grid, t) for t in times])
    return Solution(t=np.asarray(times, float), p=p, grid=grid, process=score.process)


@pytest.mark.parametrize("ndim", [1, 2])
def test_grid_score_converges_at_second_order(ndim):
    process = HeatFlow()
    score = mixture(ndim, process, bandwidth=0.3)
    t = 0.2
    x = np.random.default_rng(6).uniform(-1.2, 1.2, size=(200, ndim))
    sizes = (32, 64, 128)
    errors, div_errors, hs = [], [], []
    for n in sizes:
        grid = Grid([(-5, 5)] * ndim, n)
        gs = grid_score(snapshot_solution(score, grid, [t]))
        errors.append(np.abs(gs(x, t) - score(x, t)).max())
        div_errors.append(np.abs(gs.divergence(x, t) - score.divergence(x, t)).max())
        hs.append(grid.spacing[0])
    order = slope(np.array(hs), np.array(errors))
    assert order > 1.7, (errors, order)
    assert slope(np.array(hs), np.array(div_errors)) > 1.7, div_errors


def test_grid_score_time_interpolation_is_second_order_in_dt():
    process = VP()
    score = mixture(1, process)
    grid = Grid([(-5, 5)], 400)
    x = np.linspace(-1.0, 1.0, 41)[:, None]
    errors, dts = [], []
    t_mid = 0.2
    for dt in (0.04, 0.02, 0.01):
        times = t_mid + dt * np.array([-1.5, -0.5, 0.5, 1.5])
        gs = GridScore(snapshot_solution(score, grid, times))
        # Difference with a reference using the exact snapshot at t_mid isolates the
        # time-interpolation error from the spatial one.
        ref = GridScore(snapshot_solution(score, grid, [t_mid]))
        errors.append(np.abs(gs(x, t_mid) - ref(x, t_mid)).max())
        dts.append(dt)
    assert slope(np.array(dts), np.array(errors)) > 1.8
    gs = GridScore(snapshot_solution(score, grid, [0.1, 0.2]))
    with pytest.raises(ValueError, match="outside"):
        gs(x, 0.25)
    with pytest.raises(ValueError, match="outside"):
        gs(x, 0.05)


def test_grid_score_floor_fallback_is_exact_for_gaussian_data():
    """Below the floor the Gaussian-moment fallback is the exact score of Gaussian
    data (up to the O(h^2) moment error), and never NaN."""
    process = OU()
    score = KernelScore(np.array([[0.3, -0.2]]), 0.5, process)
    t = 0.2
    grid = Grid([(-6, 6), (-6, 6)], 60)
    gs = GridScore(snapshot_solution(score, grid, [t]), floor=1e-6)
    resolved = gs.resolved(0)
    assert 0.05 < 1 - resolved[0].mean() < 0.9  # both branches are exercised
    far = grid.face_points(0)[~resolved[0]]
    values = gs(far, t)
    assert np.all(np.isfinite(values))
    np.testing.assert_allclose(values[:, 0], score(far, t)[:, 0], rtol=1e-3)


def test_grid_score_periodic_axis_wraps():
    process = HeatFlow()
    score = KernelScore(np.array([[0.0]]), 0.6, process)
    grid = Grid([(-np.pi, np.pi)], 64, bc="periodic")
    gs = GridScore(snapshot_solution(score, grid, [0.05]))
    x = np.array([[np.pi - 0.01], [-np.pi - 0.01], [3 * np.pi - 0.01]])
    values = gs(x, 0.05)
    np.testing.assert_allclose(values, values[[0, 0, 0]], rtol=1e-12)


def test_grid_score_rejects_bad_input():
    grid = Grid([(-1, 1)], 8)
    with pytest.raises(TypeError, match="solution"):
        GridScore(object())
    bad = Solution(t=np.array([0.1]), p=-np.ones((1, 8)), grid=grid, process=HeatFlow())
    with pytest.raises(ValueError, match="nonnegative"):
        GridScore(bad)
    good = Solution(t=np.array([0.1]), p=np.ones((1, 8)), grid=grid, process=HeatFlow())
    with pytest.raises(ValueError, match="floor"):
        GridScore(good, floor=2.0)
    spike = Solution(t=np.array([0.1]), p=np.eye(8)[3][None], grid=grid, process=HeatFlow())
    with pytest.raises(ValueError, match="degenerate"):
        GridScore(spike)(np.zeros((1, 1)), 0.1)


# -------------------------------------------------------------- Fokker–Planck residual
CASES = [
    ("heat", 1, 0.3), ("ou", 1, 0.5), ("vp", 1, 0.3), ("subvp", 1, 0.3), ("ve", 1, 0.4),
    ("heat", 2, 0.3), ("vp", 2, 0.3), ("ve", 2, 0.4),
]


@pytest.mark.parametrize("accuracy", [2, 4])
@pytest.mark.parametrize(("name", "ndim", "t"), CASES)
def test_fp_residual_of_exact_log_density_converges_at_stencil_order(name, ndim, t, accuracy):
    process = PROCESSES[name]
    score = mixture(ndim, process, bandwidth=0.4)
    sizes = (64, 128, 256) if ndim == 1 else (48, 96, 192)
    errors, hs = [], []
    for n in sizes:
        grid = Grid([(-3, 3)] * ndim, n)
        residual = fp_residual(score.log_density, process, grid, t, accuracy=accuracy)
        errors.append(np.abs(residual).max())
        hs.append(grid.spacing[0])
    order = slope(np.array(hs), np.array(errors))
    assert order >= accuracy - 0.3, (errors, order)


def perturbed_residual(score: KernelScore, pert: PerturbedScore, process, x, t):
    """Closed form of R[log p_t + A b] with R[log p_t] = 0 (time-independent bump):
    A (a x . grad b - D (Lap b + 2 s . grad b)) - D A^2 |grad b|^2."""
    a, diffusion = process.a(t), process.diffusion(t)
    grad_ab = pert.perturbation(x)
    r = x - pert.center
    l2 = pert.length_scale**2
    lap_ab = pert.bump_log_density(x) * (np.sum(r * r, -1) / l2**2 - x.shape[-1] / l2)
    s = score(x, t)
    return (a * np.sum(x * grad_ab, -1) - diffusion * (lap_ab + 2 * np.sum(s * grad_ab, -1))
            - diffusion * np.sum(grad_ab**2, -1))


@pytest.mark.parametrize(("name", "ndim"), [("vp", 1), ("heat", 2), ("ou", 2)])
def test_fp_residual_of_perturbed_log_density_matches_closed_form(name, ndim):
    process = PROCESSES[name]
    score = mixture(ndim, process)
    amplitude = 0.2
    pert = PerturbedScore(score, amplitude, "gradient", 0.6, center=np.full(ndim, 0.3))
    t = 0.3
    errors, hs = [], []
    for n in ((64, 128, 256) if ndim == 1 else (32, 64, 128)):
        grid = Grid([(-3, 3)] * ndim, n)
        residual = fp_residual(pert.log_density, process, grid, t)
        expected = perturbed_residual(score, pert, process, grid.points(), t)
        errors.append(np.abs(residual - expected).max())
        hs.append(grid.spacing[0])
    assert slope(np.array(hs), np.array(errors)) > 1.7
    # The residual is O(amplitude): clearly nonzero, far above the discretisation error.
    assert np.abs(expected).max() > 0.05 * amplitude
    assert np.abs(residual).max() > 20 * errors[-1]


def test_fp_residual_score_is_gradient_of_residual():
    process = PROCESSES["heat"]
    score = mixture(2, process)
    pert = PerturbedScore(score, 0.2, "gradient", 0.6, center=np.array([0.3, 0.3]))
    t = 0.3
    errors, hs = [], []
    for n in (32, 64, 128):
        grid = Grid([(-3, 3)] * 2, n)
        gradient = fp_residual_score(pert.log_density, process, grid, t)
        exact_gradient = fd_gradient(
            lambda y: perturbed_residual(score, pert, process, y, t), grid.points(), 1e-4
        )
        assert gradient.shape == (n, n, 2)
        errors.append(np.abs(gradient - exact_gradient).max())
        hs.append(grid.spacing[0])
    assert slope(np.array(hs), np.array(errors)) > 1.7


def test_fp_residual_rejects_bad_input():
    process = HeatFlow()
    grid = Grid([(-1, 1)], 8)
    score = mixture(1, process)
    with pytest.raises(ValueError, match="t"):
        fp_residual(score.log_density, process, grid, 0.0)
    with pytest.raises(ValueError, match="dt"):
        fp_residual(score.log_density, process, grid, 0.1, dt=0.1)
    with pytest.raises(ValueError, match="accuracy"):
        fp_residual(score.log_density, process, grid, 0.1, accuracy=3)
    with pytest.raises(TypeError, match="grid"):
        fp_residual(score.log_density, process, "grid", 0.1)
    with pytest.raises(ValueError, match="log_density"):
        fp_residual(lambda x, t: np.full(x.shape[:-1], np.nan), process, grid, 0.1)
    with pytest.raises(ValueError, match="log_density"):
        fp_residual(lambda x, t: np.zeros(3), process, grid, 0.1)

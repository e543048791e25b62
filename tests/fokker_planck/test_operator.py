"""The flux-form operator against findiff oracles, and its matrix form."""

import numpy as np
import pytest

import pdediff
from pdediff.distributions import GaussianMixture
from pdediff.fokker_planck import FluxOperator
from pdediff.fokker_planck._kernels import _bernoulli
from pdediff.fokker_planck.reference import reference_rhs
from pdediff.metrics import observed_order


def _operator_error(n, ndim, scheme, diffusion):
    """L1 error of the FV right-hand side on cell averages of a Gaussian against the
    findiff (acc=4) operator on point values, for the drift v = -0.8 x."""
    grid = pdediff.Grid([(-4.0, 4.0)] * ndim, n)
    law = GaussianMixture(np.full((1, ndim), 0.3), [0.6])
    cells = law.cell_average(grid)
    points = grid.points()
    values = np.exp(law.log_density(points, 0.0, pdediff.HeatFlow()))
    op = FluxOperator(grid, scheme)
    op.set_linear_velocity(-0.8)
    u3 = cells.reshape(op.shape3)
    op.rhs(u3, diffusion)
    fv = op.du.reshape(grid.shape)
    oracle = reference_rhs(values, grid, [-0.8 * points[..., d] for d in range(ndim)], diffusion, 4)
    inner = tuple(slice(2, -2) for _ in range(ndim))  # one-sided oracle stencils at walls
    # L1, not max: the van Leer limiter is first order in the O(h) cells at extrema.
    return float(np.sum(np.abs(fv - oracle)[inner]) * grid.cell_volume), float(grid.spacing[0])


@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("scheme, diffusion", [("scharfetter_gummel", 0.5), ("muscl", 0.5)])
def test_rhs_is_second_order_consistent(ndim, scheme, diffusion):
    sizes = [16, 32, 64] if ndim == 2 else [32, 64, 128, 256]
    errors, spacings = zip(*(_operator_error(n, ndim, scheme, diffusion) for n in sizes))
    fit = observed_order(spacings, errors)
    assert fit.slope >= 1.8, fit


@pytest.mark.parametrize("bc", ["noflux", "periodic"])
def test_matrix_matches_explicit_rhs_and_is_an_m_matrix_generator(bc):
    grid = pdediff.Grid([(-2, 2), (-1, 1)], (7, 5), bc=bc)
    op = FluxOperator(grid)
    rng = np.random.default_rng(3)
    for axis in range(2):
        op.velocity[axis][...] = rng.normal(size=op.face_shapes[axis])
    u = rng.random(grid.shape)
    op.rhs(u.reshape(op.shape3), 0.3)
    matrix = op.matrix(u.reshape(op.shape3), 0.3).toarray()
    np.testing.assert_allclose(matrix @ u.ravel(), op.du.ravel(), rtol=1e-12, atol=1e-12)
    off_diagonal = matrix - np.diag(np.diag(matrix))
    assert off_diagonal.min() >= 0.0
    np.testing.assert_allclose(matrix.sum(axis=0), 0.0, atol=1e-12)


def test_scharfetter_gummel_has_exact_discrete_equilibrium():
    """Constant velocity v and diffusion D: u_i proportional to exp(v x_i / D) is an
    exact steady state of the SG scheme on a no-flux grid (rhs zero to round-off)."""
    grid = pdediff.Grid([(0.0, 1.0)], 40)
    op = FluxOperator(grid)
    v, diffusion = 3.0, 0.4
    op.velocity[0][...] = v
    u = np.exp(v * grid.centers[0] / diffusion)
    op.rhs(u.reshape(op.shape3), diffusion)
    assert np.max(np.abs(op.du)) <= 1e-12 * np.max(u) / grid.spacing[0] ** 2


def test_bernoulli_function_is_accurate_near_zero_and_far():
    for z in [-1e-9, -1e-6, 1e-7, 1e-4, 0.3, -30.0, 50.0, 800.0, -800.0]:
        expected = 1.0 if z == 0 else z / np.expm1(z) if abs(z) < 700 else (0.0 if z > 0 else -z)
        assert _bernoulli(z) == pytest.approx(expected, rel=1e-12)


def test_periodic_fluxes_conserve_mass_with_discontinuous_velocity():
    grid = pdediff.Grid([(0, 1)], 16, bc="periodic")
    op = FluxOperator(grid)
    op.set_linear_velocity(2.0)  # v = 2x jumps at the periodic wall
    u = np.random.default_rng(0).random(grid.shape)
    op.rhs(u.reshape(op.shape3), 0.1)
    assert abs(op.du.sum()) <= 1e-13 * np.abs(op.du).sum()


def test_unknown_scheme():
    with pytest.raises(ValueError, match="scheme"):
        FluxOperator(pdediff.Grid([(0, 1)], 8), "central")

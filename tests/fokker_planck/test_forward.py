"""Forward solver against closed forms: orders in space and time, mass, positivity."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pdediff
from pdediff.distributions import Box, GaussianMixture
from pdediff.fokker_planck import SolverError, solve_forward
from pdediff.fokker_planck import _kernels as kernels
from pdediff.metrics import observed_order
from tests.fokker_planck._helpers import BrokenProcess

LAW_1D = GaussianMixture([[-0.8], [1.0]], [0.3, 0.5], [0.4, 0.6])
LAW_2D = GaussianMixture([[-0.6, 0.2], [0.9, -0.4]], [[0.3, 0.5], [0.4, 0.25]], [0.5, 0.5])


def _l1_error(law, grid, process, t, **options):
    p0 = law.cell_average(grid)
    solution = solve_forward(p0, grid, process, [0.0, t], **options)
    exact = law.cell_average(grid, t, process)
    return grid.integrate(np.abs(solution.p[-1] - exact)), solution


@pytest.mark.parametrize(
    "process", [pdediff.HeatFlow(0.5), pdediff.OU(1.0, 1.0)], ids=["heat", "ou"]
)
@pytest.mark.parametrize("ndim, sizes", [(1, [32, 64, 128]), (2, [16, 32, 64])])
def test_spatial_order(process, ndim, sizes):
    law = LAW_1D if ndim == 1 else LAW_2D
    errors, spacings = [], []
    for n in sizes:
        grid = pdediff.Grid([(-5.0, 5.0)] * ndim, n)
        error, _ = _l1_error(law, grid, process, 0.4, rtol=1e-8)
        errors.append(error)
        spacings.append(grid.spacing[0])
    assert observed_order(spacings, errors).slope >= 1.8


@pytest.mark.parametrize(
    "process", [pdediff.VP(), pdediff.SubVP(), pdediff.VE(0.01, 2.0)], ids=["vp", "subvp", "ve"]
)
def test_other_processes_converge(process):
    errors, spacings = [], []
    for n in [40, 80, 160]:
        grid = pdediff.Grid([(-6.0, 6.0)], n)
        error, _ = _l1_error(LAW_1D, grid, process, 0.5, rtol=1e-8)
        errors.append(error)
        spacings.append(grid.spacing[0])
    assert observed_order(spacings, errors).slope >= 1.8


def test_box_erf_solution_converges_at_second_order():
    box = Box([-1.0], [1.0])
    errors, spacings = [], []
    for n in [40, 80, 160]:
        grid = pdediff.Grid([(-5.0, 5.0)], n)
        error, solution = _l1_error(box, grid, pdediff.HeatFlow(0.5), 0.1, rtol=1e-8)
        assert solution.metadata["min_density"] >= 0.0
        errors.append(error)
        spacings.append(grid.spacing[0])
    assert observed_order(spacings, errors).slope >= 1.8


@pytest.mark.parametrize(
    "method, order",
    [("euler", 1.0), ("ssprk2", 2.0), ("ssprk3", 3.0), ("backward_euler", 1.0)],
)
@pytest.mark.parametrize("process", [pdediff.HeatFlow(0.5), pdediff.VP()], ids=["heat", "vp"])
def test_temporal_order_of_each_integrator(method, order, process):
    """Same grid, fixed steps, against a fine-step SSPRK3 reference: only the time
    error remains."""
    grid = pdediff.Grid([(-4.0, 4.0)], 32)
    p0 = LAW_1D.cell_average(grid)
    T = 0.3
    reference = solve_forward(p0, grid, process, [0.0, T], method="ssprk3", dt=T / 2400).p[-1]
    errors, steps = [], []
    for n in [60, 120, 240]:
        solution = solve_forward(p0, grid, process, [0.0, T], method=method, dt=T / n)
        errors.append(grid.integrate(np.abs(solution.p[-1] - reference)))
        steps.append(T / n)
    slope = observed_order(steps, errors).slope
    assert abs(slope - order) <= 0.15, (slope, errors)


def test_mass_conserved_to_roundoff_after_1000_steps():
    grid = pdediff.Grid([(-4.0, 4.0), (-4.0, 4.0)], 32, bc=["noflux", "periodic"])
    p0 = LAW_2D.cell_average(grid)
    p0 = p0 / grid.integrate(p0)
    solution = solve_forward(p0, grid, pdediff.OU(), [0.0, 0.5, 1.0], method="ssprk3", dt=1e-3)
    assert solution.metadata["n_steps"] == 1000
    assert solution.metadata["max_mass_error"] <= 1e-12
    np.testing.assert_allclose(solution.mass, 1.0, rtol=1e-12, atol=0)


@pytest.mark.parametrize("method", ["auto", "ssprk3", "backward_euler", "euler"])
@pytest.mark.parametrize("scheme", ["scharfetter_gummel", "muscl"])
def test_density_never_negative(method, scheme):
    """Discontinuous data with empty regions: every step keeps p >= 0."""
    grid = pdediff.Grid([(-3.0, 3.0), (-3.0, 3.0)], 24)
    p0 = Box([-1.0, 0.0], [0.0, 2.0]).cell_average(grid)
    solution = solve_forward(
        p0, grid, pdediff.VP(), np.linspace(0, 0.3, 4), method=method, scheme=scheme
    )
    assert solution.metadata["min_density"] >= 0.0
    assert solution.p.min() >= 0.0
    assert solution.metadata["max_mass_error"] <= 1e-12


def test_three_dimensional_gaussian():
    law = GaussianMixture([[0.3, -0.2, 0.1]], [[0.4, 0.3, 0.5]])
    errors, spacings = [], []
    for n in [14, 20, 28]:
        grid = pdediff.Grid([(-3.5, 3.5)] * 3, n)
        error, solution = _l1_error(law, grid, pdediff.OU(), 0.3, rtol=1e-7)
        errors.append(error)
        spacings.append(grid.spacing[0])
    assert observed_order(spacings, errors).slope >= 1.8


def test_periodic_heat_matches_periodised_kernel():
    """On a torus of length L the heat solution is the sum over images x + k L."""
    length = 2.0
    grid = pdediff.Grid([(0.0, length)], 64, bc="periodic")
    images = np.arange(-4, 5)
    law = GaussianMixture((0.4 + images * length)[:, None], [0.05] * images.size)
    kappa, t = 0.5, 0.3
    p0 = law.cell_average(grid) * images.size
    solution = solve_forward(p0, grid, pdediff.HeatFlow(kappa), [0.0, t], rtol=1e-8)
    exact = law.cell_average(grid, t, pdediff.HeatFlow(kappa)) * images.size
    error = grid.integrate(np.abs(solution.p[-1] - exact))
    # Second-order scheme at h = 1/32: the error is a few h^2 / 100.
    assert error < 5e-4
    coarse = pdediff.Grid([(0.0, length)], 32, bc="periodic")
    coarse_solution = solve_forward(
        law.cell_average(coarse) * images.size, coarse, pdediff.HeatFlow(kappa), [0.0, t],
        rtol=1e-8,
    )
    coarse_exact = law.cell_average(coarse, t, pdediff.HeatFlow(kappa)) * images.size
    coarse_error = coarse.integrate(np.abs(coarse_solution.p[-1] - coarse_exact))
    assert np.log2(coarse_error / error) >= 1.8


def test_auto_switches_to_implicit_when_stiff_and_stays_accurate():
    grid = pdediff.Grid([(-5.0, 5.0)], 400)
    p0 = LAW_1D.cell_average(grid)
    # The horizon must cover t_eval (times past process.T are refused).
    process = pdediff.HeatFlow(0.5, T=2.0)
    solution = solve_forward(p0, grid, process, [0.0, 2.0], method="auto", rtol=1e-3)
    assert solution.metadata["n_implicit"] > 0
    exact = LAW_1D.cell_average(grid, 2.0, process)
    assert grid.integrate(np.abs(solution.p[-1] - exact)) < 1e-2
    explicit = solve_forward(p0, grid, process, [0.0, 2.0], method="ssprk3", rtol=1e-3)
    assert solution.metadata["n_steps"] < explicit.metadata["n_steps"] / 3


def test_repeated_solves_do_not_recompile():
    grid = pdediff.Grid([(-3.0, 3.0)], 16)
    p0 = LAW_1D.cell_average(grid)
    solve_forward(p0, grid, pdediff.OU(), [0.0, 0.1])
    before = {k.__name__: len(k.signatures) for k in (kernels.face_coefficients, kernels.stage)}
    solve_forward(p0 * 2, grid, pdediff.VP(), [0.0, 0.2], method="backward_euler")
    after = {k.__name__: len(k.signatures) for k in (kernels.face_coefficients, kernels.stage)}
    assert before == after



def test_nan_during_solve_stops_with_time_and_step():
    grid = pdediff.Grid([(-3.0, 3.0)], 16)
    with pytest.raises(SolverError, match=r"t=0\.0.*step \d+"):
        solve_forward(LAW_1D.cell_average(grid), grid, BrokenProcess(), [0.0, 0.1], method="ssprk3")


def test_fixed_dt_beyond_positivity_limit_is_an_error():
    grid = pdediff.Grid([(-3.0, 3.0)], 64)
    with pytest.raises(SolverError, match="positivity"):
        solve_forward(LAW_1D.cell_average(grid), grid, pdediff.HeatFlow(), [0, 0.1], dt=0.05,
                      method="ssprk3")


GRID = pdediff.Grid([(-2.0, 2.0)], 8)
GOOD = np.ones(8) / 4.0


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"p0": -GOOD}, "p0"),
        ({"p0": np.where(np.arange(8) == 3, np.nan, GOOD)}, "p0"),
        ({"p0": np.ones(9)}, "p0"),
        ({"p0": np.ones((8, 1))}, "p0"),
        ({"t_eval": [0.0, 0.2, 0.1]}, "t_eval"),
        ({"t_eval": [0.1]}, "t_eval"),
        ({"t_eval": [-0.1, 0.1]}, "t_eval"),
        ({"method": "rk45"}, "method"),
        ({"scheme": "central"}, "scheme"),
        ({"dt": -1.0}, "dt"),
        ({"rtol": 2.0}, "rtol"),
        ({"grid": "grid"}, "grid"),
        ({"process": "heat"}, "process"),
    ],
)
def test_bad_input_names_argument(kwargs, name):
    arguments = {"p0": GOOD, "grid": GRID, "process": pdediff.HeatFlow(), "t_eval": [0.0, 0.1]}
    arguments.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=name):
        solve_forward(**arguments)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 10, allow_nan=False), min_size=2, max_size=6))
def test_non_increasing_times_rejected(times):
    if np.all(np.diff(times) > 0):
        return
    with pytest.raises(ValueError, match="t_eval"):
        solve_forward(GOOD, GRID, pdediff.HeatFlow(), times)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 7), st.floats(-1e300, -1e-300))
def test_any_negative_cell_rejected(index, value):
    p0 = GOOD.copy()
    p0[index] = value
    with pytest.raises(ValueError, match="p0"):
        solve_forward(p0, GRID, pdediff.HeatFlow(), [0.0, 0.1])

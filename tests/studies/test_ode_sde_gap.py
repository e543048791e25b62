"""Tests of the ODE–SDE gap study (DESIGN 3.5) and its bound machinery."""

import h5py
import numpy as np
import pytest

from pdediff.distributions import GaussianMixture
from pdediff.grid import Grid
from pdediff.metrics import GridDensity, observed_order, w2
from pdediff.processes import OU
from pdediff.scores import PerturbedScore, exact
from pdediff.studies.ode_sde_gap import (
    TabulatedScore,
    gap_bound,
    ode_sde_pair,
    prior_cells,
    score_gap_and_lipschitz,
)

PROCESS = OU(1.0, 1.0, T=2.0)
MIXTURE = GaussianMixture([[-0.8, -0.5], [0.7, 0.6]], [0.15, 0.2], [0.4, 0.6])


def _gaussian_cells(grid, variance):
    x = grid.points()
    return np.exp(-0.5 * np.sum(x**2, axis=-1) / variance)


# ------------------------------------------------------------ bound machinery (fast)
def test_gap_and_lipschitz_are_exact_for_gaussian_and_linear_fields():
    # log q is quadratic and s is linear: second-order differences are exact, so both
    # pieces must match their closed forms to round-off.
    grid = Grid([(-3.0, 3.0)] * 2, 24)
    v, shift, t = 0.5, np.array([0.3, -0.4]), 0.7
    q = _gaussian_cells(grid, v)
    score = -grid.points() / v + shift
    gap, l_box, l_mass = score_gap_and_lipschitz(q, grid, PROCESS, score, t)
    g2, a = PROCESS.g2(t), PROCESS.a(t)
    assert gap == pytest.approx(0.5 * g2 * np.linalg.norm(shift), rel=1e-9)
    assert l_box == pytest.approx(-a - 0.5 * g2 / v, rel=1e-9)
    assert l_mass == pytest.approx(l_box, rel=1e-9)
    # symmetric part of a non-symmetric linear field: lambda_max of [[m1, m12], [m12, m2]]
    m = np.array([[-1.0, 0.8], [-0.2, 0.5]])
    score = grid.points() @ m.T
    _, l_box, _ = score_gap_and_lipschitz(q, grid, PROCESS, score, t)
    lam = np.linalg.eigvalsh(0.5 * (m + m.T)).max()
    assert l_box == pytest.approx(-a + 0.5 * g2 * lam, rel=1e-9)


def test_gap_bound_matches_closed_form_for_constant_integrand():
    # constant gap G and Lipschitz L: int_{t0}^{T} G exp(L (t - t0)) dt = G (e^{L(T-t0)} - 1)/L
    grid = Grid([(-3.0, 3.0)] * 2, 16)
    v, shift = 0.5, np.array([0.2, 0.1])
    q = _gaussian_cells(grid, v)
    times = np.linspace(PROCESS.T, 0.1, 400)
    out = gap_bound(times, np.broadcast_to(q, (times.size, *q.shape)), grid, PROCESS,
                    lambda x, t: -x / v + shift)
    G = 0.5 * np.linalg.norm(shift)
    L = 1.0 - 0.5 / v
    expected = G * (PROCESS.T - 0.1) if L == 0 else G * np.expm1(L * (PROCESS.T - 0.1)) / L
    assert out["bound_box"] == pytest.approx(expected, rel=1e-4)
    assert np.allclose(out["gap_norm"], G) and np.allclose(out["lipschitz_box"], L)


def test_score_gap_rejects_bad_input():
    grid = Grid([(-1.0, 1.0)] * 2, 8)
    q = np.ones(grid.shape)
    with pytest.raises(ValueError, match="score_cells"):
        score_gap_and_lipschitz(q, grid, PROCESS, np.zeros((8, 8, 3)), 1.0)
    with pytest.raises(ValueError, match="q"):
        score_gap_and_lipschitz(-q, grid, PROCESS, np.zeros((8, 8, 2)), 1.0)
    with pytest.raises(ValueError, match="grid"):
        score_gap_and_lipschitz(np.ones(8), Grid((-1.0, 1.0), 8), PROCESS, np.zeros((8, 2)), 1.0)


def test_tabulated_score_interpolates_in_log_t():
    points = Grid([(-1.0, 1.0)] * 2, 6).face_points(0)

    def linear_in_u(x, t):  # linear in u = log t: interpolation must be exact
        return x * np.log(t)

    table = TabulatedScore(linear_in_u, [points], 0.01, PROCESS.T, 16)
    for t in (0.013, 0.2, 1.7):
        assert np.allclose(table(points, t), linear_in_u(points, t), rtol=1e-10, atol=1e-12)
    other = points[:2]
    assert np.array_equal(table(other, 0.3), linear_in_u(other, 0.3))  # passed through
    assert table.interpolation_error() < 1e-10
    # smooth in u: the linear-interpolation error is sup (du^2 / 8) |f''| = 9 du^2 / 8 for
    # f = sin(3u) (relative to max|x| = 1), reached at the midpoints; fitted order 2
    def curved(x, t):
        return x * np.sin(3.0 * np.log(t))

    nodes = np.array([9, 17, 33, 65])
    errors, spacings = [], []
    for n in nodes:
        table = TabulatedScore(curved, [points], 0.01, PROCESS.T, int(n))
        spacings.append(np.max(np.diff(table.u)))
        errors.append(table.interpolation_error(samples=int(n)))
        assert errors[-1] <= 9.0 / 8.0 * spacings[-1] ** 2 * (1 + 1e-6)
    fit = observed_order(np.array(spacings), np.array(errors))
    assert abs(fit.slope - 2.0) < 0.1, (fit, errors)
    score = exact(MIXTURE, PROCESS)
    with pytest.raises(ValueError, match="t_min"):
        TabulatedScore(score, [points], 0.0, 1.0, 4)
    with pytest.raises(ValueError, match="nodes"):
        TabulatedScore(score, [points], 0.1, 1.0, 1)


def test_tabulated_exact_ou_score_converges_at_second_order_up_to_T():
    # the exact OU score depends on alpha_t = sqrt(1 - 2 sigma_t^2): smooth in log t,
    # not in log sigma_t near T.  The interpolation error must fall at order 2.
    points = Grid([(-3.5, 3.5)] * 2, 16).face_points(0)
    process = OU(1.0, 1.0, T=10.0)
    score = exact(MIXTURE, process)
    spacings, errors = [], []
    for n in (32, 64, 128):
        table = TabulatedScore(score, [points], 1e-3, process.T, n)
        spacings.append(np.max(np.diff(table.u)))
        errors.append(table.interpolation_error(samples=n))
    fit = observed_order(np.array(spacings), np.array(errors))
    assert fit.slope > 1.8, (fit, errors)


# ------------------------------------------------- exact and perturbed scores on grids
def _pair(score, cells, t0=0.1):
    grid = Grid([(-3.0, 3.0)] * 2, cells)
    return grid, ode_sde_pair(score, grid, PROCESS, t0, bound_times=16, rtol=1e-4,
                              table_nodes=96, full_w2=False)


def test_exact_score_closes_gap_under_refinement_and_perturbation_opens_bounded_gap():
    score = exact(MIXTURE, PROCESS)
    gaps = []
    for cells in (16, 32):
        grid, pair = _pair(score, cells)
        gaps.append(w2(GridDensity(pair["q_ode"], grid), GridDensity(pair["q_sde"], grid)))
        assert pair["mass_error"] < 1e-8
    # ODE and SDE differ only by discretisation: W2 shrinks under refinement.  W2 of an
    # O(h) L1 error moved over O(1) distances is O(h^(1/2)); measured 0.104 -> 0.080
    # -> 0.058 on 16^2, 32^2, 64^2 (order ~0.4), so one doubling must gain > 15 %.
    assert gaps[1] < 0.85 * gaps[0], gaps
    perturbed = PerturbedScore(score, amplitude=0.8, kind="gradient", length_scale=0.6,
                               center=[0.3, -0.2])
    grid, pair = _pair(perturbed, 32)
    gap = w2(GridDensity(pair["q_ode"], grid), GridDensity(pair["q_sde"], grid))
    assert gap > 3 * gaps[1], (gap, gaps)  # a real gap, well above discretisation
    assert gap <= pair["bound"]["bound_box"], (gap, pair["bound"]["bound_box"])
    # q_T is the renormalised prior and the bound's integrand is resolved in time
    assert grid.integrate(prior_cells(grid, PROCESS)) == pytest.approx(1.0)
    assert pair["interpolation_error"] < 1e-3


# -------------------------------------------------------------------- the study itself
def test_quick_study(tmp_path):
    from pdediff.studies import run_study

    summary = run_study("ode_sde_gap", quick=True, out=tmp_path, progress=False)
    checks = {check.name: check for check in summary["checks"]}
    assert set(checks) == {"gap_bound_holds", "gap_shrinks_with_w_R",
                           "ode_data_improves_moderate_w_R", "grid_matches_particles"}
    assert checks["gap_bound_holds"].passed, summary["table"]
    assert checks["gap_shrinks_with_w_R"].passed, summary["table"]
    assert checks["grid_matches_particles"].passed, summary["table"]
    rows = summary["rows"]
    datasets = ("mixture", "rings", "checkerboard")
    assert [r["dataset"] for r in rows] == [d for d in datasets for _ in range(4)]
    for name in datasets:  # monotone in w_R = 0, 0.1, 1, 10
        gaps = [r["w2sq_ode_sde"] for r in rows if r["dataset"] == name]
        assert gaps == sorted(gaps, reverse=True), (name, gaps)
    assert summary["fit"].slope > 0
    with h5py.File(tmp_path / "ode_sde_gap.h5") as file:
        assert file.attrs["quick"]
        for name in datasets:
            case = file[f"results/{name}/wR10"]
            assert case["q_ode"].shape == (32, 32) and case["q_sde"].shape == (32, 32)
            # scalars are attributes, arrays datasets (pdediff.io.write_tree)
            for key in ("w2sq_ode_sde", "w2sq_ode_data", "w2sq_sde_data", "residual", "dsm",
                        "bound_box", "bound_mass"):
                assert np.isfinite(case.attrs[key]), key
            for key in ("gap_norm", "lipschitz_box", "lipschitz_mass", "t"):
                assert case[f"bound/{key}"].shape == (24,), key
                assert np.all(np.isfinite(case[f"bound/{key}"][()])), key
            for eps in ("eps0", "eps1"):
                check = case[f"particles/{eps}"].attrs
                assert check["w2sq_floor"] > 0 and check["particles"] == 40_000
            # the floor solves tabulate the exact score; the model score is called directly
            assert file[f"results/{name}/exact_score"].attrs["interpolation_error"] < 1e-3
            assert file[f"results/{name}/data"].shape == (32, 32)
        assert np.isfinite(file["results/fit_w2_vs_residual"].attrs["slope"])
        assert set(file["checks"]) == set(checks)
    for name in ("ode_sde_gap", "ode_sde_gap_scatter"):
        assert (tmp_path / "figures" / f"{name}.png").exists()
        assert (tmp_path / "figures" / f"{name}.pdf").exists()

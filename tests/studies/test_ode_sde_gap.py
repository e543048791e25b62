"""Tests of the ODE-SDE gap study: bound machinery, the paper binning, the paper sampler,
the Richardson analysis, the verdict logic and a tiny end-to-end run."""

import dataclasses
import math

import h5py
import numpy as np
import pytest

from pdediff.distributions import GaussianMixture
from pdediff.grid import Grid
from pdediff.processes import OU
from pdediff.studies import harness
from pdediff.studies.ode_sde_gap import (
    PAPER_W2SQ,
    Settings,
    bin_masses,
    bin_particles,
    checks,
    gap_bound,
    paper_sampler,
    richardson,
    score_gap_and_lipschitz,
    solver_grid,
)
from pdediff.studies.ode_sde_gap._evaluation import node_grid, node_index
from tests.studies._figures import assert_clean

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




# ------------------------------------------------------------------ paper binning
def test_nearest_node_rule_matches_brute_force_and_folds_outside():
    rng = np.random.default_rng(0)
    nodes, half = 9, 3.5
    x = rng.uniform(-6.0, 6.0, size=(4000, 2))
    centres = np.linspace(-half, half, nodes)
    # brute force: nearest node per axis after clipping to the node range (the fold)
    brute = np.argmin(np.abs(np.clip(x, -half, half)[..., None] - centres), axis=-1)
    assert np.array_equal(node_index(x, nodes, half), brute)
    mass, folded = bin_particles(x, nodes, half)
    assert mass.sum() == pytest.approx(1.0, abs=1e-12)
    edge = half + 0.5 * (centres[1] - centres[0])
    assert folded == pytest.approx(np.mean(np.any(np.abs(x) > edge, axis=1)))
    # indexing [ix, iy]: a point near (+3.5, -3.5) lands at [nodes-1, 0]
    one, _ = bin_particles(np.array([[3.4, -3.4]]), nodes, half)
    assert one[nodes - 1, 0] == 1.0


@pytest.mark.parametrize("factor", [1, 2, 3])
def test_grid_binning_conserves_mass_and_agrees_with_nearest_node_of_cell_centres(factor):
    nodes, half = 7, 3.5
    grid, pad = solver_grid(nodes, half, factor, 5.25)
    # node-cell faces lie on solver faces, the box reaches the padding
    edges = grid.edges[0] if hasattr(grid, "edges") else np.linspace(*grid.bounds[0],
                                                                     grid.shape[0] + 1)
    node_faces = node_grid(nodes, half).bounds[0]
    assert np.isclose(edges[pad], node_faces[0]) and np.isclose(edges[pad + factor * nodes],
                                                                 node_faces[1])
    assert grid.bounds[0][1] >= 5.25 - 1e-12
    cells = np.random.default_rng(1).random(grid.shape)
    cells /= cells.sum()
    mass, folded = bin_masses(cells, pad, factor, nodes)
    assert mass.sum() == pytest.approx(1.0, rel=1e-13)
    inner = cells[pad:pad + factor * nodes, pad:pad + factor * nodes].sum()
    assert folded == pytest.approx(1.0 - inner, rel=1e-12)
    # same answer as binning every cell's mass at its centre by the nearest-node rule
    centres = grid.points().reshape(-1, 2)
    k = node_index(centres, nodes, half)
    expected = np.zeros((nodes, nodes))
    np.add.at(expected, (k[:, 0], k[:, 1]), cells.ravel())
    assert np.allclose(mass, expected, atol=1e-15)


def test_binning_rejects_a_grid_that_does_not_cover_the_nodes():
    with pytest.raises(ValueError, match="cell_mass"):
        bin_masses(np.ones((10, 10)), 2, 2, 5)


# ------------------------------------------------------------------ the paper's sampler
def test_paper_sampler_keeps_the_prior_for_the_ode_exactly_and_for_the_sde_closely():
    process = OU(1.0, 1.0, T=10.0)
    variance = process.prior_variance()
    prior_score = lambda x, t: -x / variance  # noqa: E731  (the prior is stationary)
    rng = np.random.default_rng(3)
    x_T = rng.normal(0.0, math.sqrt(variance), size=(20_000, 2))
    ode = paper_sampler(prior_score, process, x_T, 0.0, rng)
    # Euler on x' = x (1 - 1/(2 variance)) with variance ~ 1/2: the drift vanishes
    assert np.allclose(ode, x_T, atol=1e-8)
    sde = paper_sampler(prior_score, process, x_T, 1.0, rng)
    # per-step variance change dt^2/2 over 890 steps, sampling error 0.5 sqrt(2/4e4)
    assert np.var(sde) == pytest.approx(variance, abs=0.02)
    with pytest.raises(ValueError, match="process"):
        paper_sampler(prior_score, OU(1.0, 1.0, T=2.0), x_T, 0.0, rng)


def test_paper_sampler_last_sde_step_is_noise_free():
    process = OU(1.0, 1.0, T=10.0)
    zero = lambda x, t: np.zeros_like(x)  # noqa: E731
    x_T = np.zeros((3, 2))
    calls = []

    class Recorder:
        def standard_normal(self, shape):
            calls.append(shape)
            return np.zeros(shape)

    paper_sampler(zero, process, x_T, 1.0, Recorder())
    assert len(calls) == 790 + 100 - 1


# ------------------------------------------------------------------ Richardson
def test_richardson_recovers_order_and_limit_and_refuses_non_monotone_sequences():
    h = np.array([0.4, 0.2, 0.1])
    fit = richardson(h, 0.3 + 2.0 * h**1.5)
    assert fit["order"] == pytest.approx(1.5, rel=1e-6)
    assert fit["extrapolated"] == pytest.approx(0.3, rel=1e-8)
    h3 = np.array([0.3, 0.15, 0.1])  # unequal ratios
    fit = richardson(h3, 1.0 - h3**2)
    assert fit["order"] == pytest.approx(2.0, rel=1e-6)
    assert fit["extrapolated"] == pytest.approx(1.0, rel=1e-8)
    fit = richardson(h, np.array([1.0, 0.5, 0.7]))
    assert math.isnan(fit["order"]) and math.isnan(fit["extrapolated"])
    assert fit["change"] == pytest.approx(0.2)


# ------------------------------------------------------------------ verdict logic
def _row(model, data, w, seed, gap, ode_data, sde_data, measured=0.05, bound=1.0):
    q = {"w2sq_ode_sde": gap, "w2sq_ode_data": ode_data, "w2sq_sde_data": sde_data,
         "collapse_prior": 0.1, "collapse_gaussian": 0.1}
    return {"model": model, "data": data, "w": w, "seed": seed, **q,
            **{f"{k}_levels": np.array([v * 1.1, v * 1.01, v]) for k, v in q.items()},
            **{f"{k}_order": 2.0 for k in q}, **{f"{k}_extrapolated": v for k, v in q.items()},
            "bound_box": bound, "bound_measured_w2": measured,
            "sampler": {"w2sq_ode_grid": 1e-3, "w2sq_sde_grid": 1e-3, "floor_ode": 1e-3,
                        "floor_sde": 1e-3, "particles": 100}}


def _results(gaps, ode_data, sde_data, seeds=(0, 1), measured=0.05):
    """gaps etc.: {w: [value per seed]}; one data set, model mlp."""
    out = {}
    for w in gaps:
        for i, s in enumerate(seeds):
            out[f"mlp/blob/w={w:g}/seed={s}"] = _row("mlp", "blob", w, s, gaps[w][i],
                                                     ode_data[w][i], sde_data[w][i], measured)
    return out


SETTINGS = dataclasses.replace(Settings.quick(), models=("mlp",), data=("blob",))


def _verdicts(results):
    return {c.name: c.verdict.value for c in checks(results, SETTINGS)}


def test_checks_pass_fail_vacuous_and_observation_are_all_reachable():
    good = _results(gaps={0.0: [0.02, 0.021], 1.0: [0.01, 0.011], 10.0: [0.005, 0.0051]},
                    ode_data={0.0: [0.02, 0.021], 1.0: [0.01, 0.0101], 10.0: [0.03, 0.031]},
                    sde_data={0.0: [0.003, 0.0031], 1.0: [0.004, 0.004], 10.0: [0.02, 0.02]})
    v = _verdicts(good)
    assert v["gap_shrinks_mlp"] == v["ode_data_improves_mlp"] == v["sde_data_worsens_mlp"] == "PASS"
    assert v["gap_bound_mlp"] == "PASS"
    assert v["grid_convergence_mlp"] == v["paper_comparison"] == "OBSERVATION"
    # the same means, but the seeds scatter more than the difference: FAIL
    noisy = _results(gaps={0.0: [0.01, 0.03], 1.0: [0.01, 0.011], 10.0: [0.0, 0.01]},
                     ode_data={0.0: [0.0, 0.04], 1.0: [0.0, 0.02], 10.0: [0.03, 0.031]},
                     sde_data={0.0: [0.02, 0.02], 1.0: [0.004, 0.004], 10.0: [0.003, 0.003]})
    v = _verdicts(noisy)
    assert v["gap_shrinks_mlp"] == v["ode_data_improves_mlp"] == v["sde_data_worsens_mlp"] == "FAIL"
    # bound: violated -> FAIL, far below everywhere -> VACUOUS
    assert _verdicts(_results(**_same(), measured=2.0))["gap_bound_mlp"] == "FAIL"
    assert _verdicts(_results(**_same(), measured=1e-4))["gap_bound_mlp"] == "VACUOUS"


def _same():
    return {"gaps": {0.0: [0.02, 0.02], 10.0: [0.01, 0.01]},
            "ode_data": {0.0: [0.02, 0.02], 10.0: [0.01, 0.01]},
            "sde_data": {0.0: [0.02, 0.02], 10.0: [0.03, 0.03]}}


def test_spread_checks_fail_when_they_cannot_be_evaluated():
    one_seed = _results(gaps={0.0: [0.02], 10.0: [0.001]}, ode_data={0.0: [0.02], 10.0: [0.01]},
                        sde_data={0.0: [0.01], 10.0: [0.02]}, seeds=(0,))
    by_name = {c.name: c for c in checks(one_seed, SETTINGS)}
    assert by_name["gap_shrinks_mlp"].verdict.value == "FAIL"
    assert "cannot be evaluated" in by_name["gap_shrinks_mlp"].detail
    # (b) needs w = 0.1 or 1, which were not run
    assert "not run" in by_name["ode_data_improves_mlp"].detail
    # (c) needs no spread
    assert by_name["sde_data_worsens_mlp"].verdict.value == "PASS"


def test_paper_values_are_reference_data_of_the_published_table():
    assert len(PAPER_W2SQ) == 9 and all(set(v) == {0.0, 0.1, 1.0, 10.0} for v in PAPER_W2SQ.values())


# ------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_tiny_study_end_to_end(tmp_path, monkeypatch):
    settings = dataclasses.replace(
        Settings.quick(), models=("spline",), w_values=(0.0, 10.0), seeds_spline=2, nodes=6,
        levels=(1, 2, 3), particles=200, bound_cells=12, bound_times=6, table_nodes=12,
        spline_space=6, spline_time=4, spline_dsm=2_000, spline_collocation=500,
        spline_iterations=3, spline_data=2_000, eval_points=300, eval_times=3,
        model_root=str(tmp_path / "models"))
    summary = harness.run("ode_sde_gap", settings, out=tmp_path, progress=False)
    names = {c.name for c in summary.checks}
    assert {"gap_shrinks_spline", "gap_bound_spline", "paper_comparison"} <= names
    with h5py.File(tmp_path / "ode_sde_gap.h5") as file:
        row = file["results/spline/blob/w=10/seed=20261202"]
        assert row["ode"].shape == row["sde"].shape == (6, 6)
        assert float(np.sum(row["ode"][()])) == pytest.approx(1.0, abs=1e-9)
        assert file["results/truth/blob/mass"].shape == (6, 6)
        assert len(row["w2sq_ode_sde_levels"][()]) == 3
    assert (tmp_path / "figures" / "ode_sde_gap_spline.png").exists()
    assert (tmp_path / "figures" / "ode_sde_gap_table.md").exists()
    assert harness.plot("ode_sde_gap", out=tmp_path)
    assert_clean("ode_sde_gap", tmp_path, monkeypatch)


@pytest.mark.slow
def test_mlp_rows_come_from_the_model_cache(tmp_path):
    from pdediff.studies.ode_sde_gap._models import build_model, data_laws

    pytest.importorskip("jax")
    settings = dataclasses.replace(Settings.quick(), mlp_widths=(8,), train_iterations=(5, 3, 2),
                                   train_batch_dsm=64, train_batch_residual=32,
                                   model_root=str(tmp_path / "models"))
    law, process = data_laws()["blob"], OU(1.0, 1.0, T=10.0)
    model, first = build_model("mlp", law, process, 1.0, 7, settings)
    again, second = build_model("mlp", law, process, 1.0, 7, settings)
    assert first["status"] == "trained" and second["status"] == "hit"
    assert first["key"] == second["key"] and first["complete"]
    x = np.random.default_rng(0).normal(size=(5, 2))
    assert np.array_equal(model.score(x, 0.5), again.score(x, 0.5))
    other, third = build_model("mlp", law, process, 10.0, 7, settings)
    assert third["key"] != first["key"]


def test_truth_result_is_labelled(tmp_path):
    from pdediff.studies.ode_sde_gap import cases, compute

    from .._netcdf import tree_views

    settings = dataclasses.replace(Settings.quick(), data=("blob",), nodes=6, levels=(1, 2, 3),
                                   bound_cells=12, bound_times=6, table_nodes=12)
    case = next(c for c in cases(settings) if c.model == "truth")
    result = compute(case, settings)
    views = tree_views(result, tmp_path / "r.h5")
    root = views[""]
    assert root.mass.dims == root.ode.dims == ("x", "y")
    np.testing.assert_array_equal(root.x.values, node_grid(6, settings.half_width).centers[0])
    assert root.w2sq_ode_sde_levels.dims == ("h",)
    assert views["levels/m=1"].ode.dims == ("x", "y")

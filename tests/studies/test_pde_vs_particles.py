import h5py
import numpy as np
import pytest

from pdediff.studies import harness, pde_vs_particles
from pdediff.studies.harness import Verdict
from tests.studies._figures import assert_clean


def _result(w2, q95, change, half_width):
    return {"w2_grid_particles": w2, "null_q95": q95, "step_change": change,
            "null_half_width": half_width, "w2_grid_exact": 1e-4}


def test_check_fails_above_the_null_quantile_or_without_step_convergence():
    settings = pde_vs_particles.Settings.quick()
    good = {"1d/a/eps0": _result(0.01, 0.02, 1e-4, 0.005),
            "1d/a/eps1": _result(0.015, 0.02, 1e-4, 0.005)}
    (check,) = pde_vs_particles.checks(good, settings)
    assert check.verdict is Verdict.PASS and check.worst == pytest.approx(0.75)
    above = {**good, "2d/b/eps0": _result(0.021, 0.02, 1e-4, 0.005)}
    (check,) = pde_vs_particles.checks(above, settings)
    assert check.verdict is Verdict.FAIL and "2d/b/eps0" in check.detail
    # agreement holds but the time step moves W2 by more than 1/5 of the null half-width
    unconverged = {**good, "2d/b/eps1": _result(0.01, 0.02, 0.0011, 0.005)}
    (check,) = pde_vs_particles.checks(unconverged, settings)
    assert check.verdict is Verdict.FAIL and check.worst == pytest.approx(1.1)


def test_cases_and_datasets_are_validated():
    settings = pde_vs_particles.Settings.quick()
    keys = [c.key for c in pde_vs_particles.cases(settings)]
    assert len(keys) == 2 * 2 * len(settings.datasets) and len(set(keys)) == len(keys)
    with pytest.raises(ValueError, match="datasets"):
        pde_vs_particles.cases(pde_vs_particles.Settings(datasets=("cube",)))
    with pytest.raises(ValueError, match="ndim"):
        pde_vs_particles.datasets(3)


@pytest.mark.slow
def test_quick_study_runs_and_redraws(tmp_path, monkeypatch):
    summary = harness.run("pde_vs_particles", quick=True, out=tmp_path, progress=False)
    (check,) = summary.checks
    assert check.name == "grid_matches_particles"
    assert check.verdict in (Verdict.PASS, Verdict.FAIL)
    for key, r in summary.results.items():
        # the grid's own error is far below the particle noise, the density stays >= 0,
        # and the null is a real distribution (positive spread)
        assert r["w2_grid_exact"] < 0.5 * r["null_median"], key
        assert r["min_density"] >= 0.0, key
        assert r["null_half_width"] > 0 and r["null_w2"].size == summary.settings.null_repeats
        assert r["particle_steps"] == 2 * summary.settings.steps
    with h5py.File(tmp_path / "pde_vs_particles.h5") as file:
        assert file.attrs["study"] == "pde_vs_particles" and file.attrs["mode"] == "quick"
        assert file["checks/grid_matches_particles"].attrs["verdict"] == check.verdict.value
        assert file["results/1d/mixture/eps0/q_t0"].shape == (200,)
    (tmp_path / "figures" / "pde_vs_particles.png").unlink()
    paths = harness.plot("pde_vs_particles", out=tmp_path)
    assert (tmp_path / "figures" / "pde_vs_particles.png") in paths
    assert np.all([p.exists() for p in paths])
    assert_clean("pde_vs_particles", tmp_path, monkeypatch)


def test_results_are_labelled(tmp_path):
    import dataclasses

    from .._netcdf import tree_views

    settings = dataclasses.replace(pde_vs_particles.Settings.quick(), null_repeats=3)
    case = pde_vs_particles.cases(settings)[0]
    result = pde_vs_particles.compute(case, settings)
    root = tree_views(result, tmp_path / "r.h5")[""]
    space = ("x", "y")[: case.ndim]
    assert root.q_t0.dims == root.exact_t0.dims == space
    assert root.cloud.dims == ("particle", "component") and root.null_w2.dims == ("repeat",)
    np.testing.assert_array_equal(root.q_t0.values, result["q_t0"].values)

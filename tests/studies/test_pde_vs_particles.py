import h5py
import numpy as np

from pdediff.studies import run_study


def test_quick_study_grid_agrees_with_particles(tmp_path):
    summary = run_study("pde_vs_particles", quick=True, out=tmp_path, progress=False)
    (check,) = summary["checks"]
    assert check.passed, summary["table"]
    # Every case: both sides are within 3 noise floors, and the grid's own error
    # against the exact p_t0 is below the particle noise.
    for ndim, name, eps, distance, floor, discretisation, _passed in summary["rows"]:
        assert distance <= 3 * floor, (ndim, name, eps)
        assert discretisation < floor, (ndim, name, eps)
    with h5py.File(tmp_path / "pde_vs_particles.h5") as file:
        assert file["checks/grid_matches_particles"].attrs["passed"]
        case = file["results/1d/mixture/eps0"]
        assert case["q_t0"].shape == (200,)
        assert np.isfinite(case.attrs["w2_grid_particles"])
    assert (tmp_path / "figures" / "pde_vs_particles.png").exists()

import h5py
import numpy as np
import pytest

from pdediff import Grid, HeatFlow
from pdediff.distributions import Box, point_mass
from pdediff.studies import concentration, run_study


def test_grid_mean_d2_of_heat_kernel_is_n_sigma2():
    # E_{p_t}[d_K^2] for K = {0} is n sigma_t^2 = n 2 kappa t; cell averages add h^2/12
    # per axis, so the error must fall like h^2.
    process = HeatFlow(kappa=0.5, T=1.0)
    t = 0.1
    dist = point_mass([0.0, 0.0])
    errors, spacings = [], []
    for cells in (40, 80, 160):
        grid = Grid([(-3.0, 3.0)] * 2, cells)
        p = dist.cell_average(grid, t, process)[None]
        d2 = dist.distance_to_support(grid.points()) ** 2
        value = concentration.grid_mean_d2(p, d2, grid)[0]
        errors.append(abs(value - 2 * process.sigma2(t)))
        spacings.append(grid.spacing[0])
    slope = np.polyfit(np.log(spacings), np.log(errors), 1)[0]
    assert 1.8 < slope < 2.2


def test_initial_density_is_normalised_and_validated():
    process = HeatFlow(kappa=0.125, T=1.0)
    grid = Grid([(-2.5, 2.5)], 100)
    dist = Box([-0.5], [0.5])
    for init in concentration.INITS:
        q = concentration.initial_density(init, dist, grid, process)
        assert q.shape == grid.shape
        assert grid.integrate(q) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="init"):
        concentration.initial_density("gaussian", dist, grid, process)
    with pytest.raises(ValueError, match="codimension"):
        concentration.predicted_rate(-1)


def test_bootstrap_slope_sd_matches_sampling_spread():
    # d = sigma |Z| with an independent Z per particle and time: the slope's sampling
    # spread comes from the scatter of the per-time means; compare with independent
    # replications of the whole experiment.
    rng = np.random.default_rng(0)
    t = np.geomspace(1e-3, 1.0, 7)
    d2 = t[:, None] * rng.standard_normal((7, 400)) ** 2
    boot = concentration.bootstrap_slope_sd(t, d2, np.random.default_rng(1), repeats=400)
    lt = np.log(t) - np.log(t).mean()
    slopes = []
    for _ in range(400):
        y = 0.5 * np.log((t[:, None] * rng.standard_normal((7, 400)) ** 2).mean(axis=1))
        slopes.append(np.sum(lt * (y - y.mean())) / np.sum(lt * lt))
    assert boot == pytest.approx(np.std(slopes), rel=0.25)
    with pytest.raises(ValueError, match="values"):
        concentration.bootstrap_slope_sd(t, d2[:3], rng)
    with pytest.raises(ValueError, match="statistic"):
        concentration.bootstrap_slope_sd(t, d2, rng, statistic="median")


def test_quick_concentration_study(tmp_path):
    summary = run_study("concentration", quick=True, out=tmp_path, progress=False)
    checks = {c.name: c for c in summary["checks"]}
    assert set(checks) == {"bound_grid", "bound_particles", "grid_matches_exact_pT",
                           "rate_codim_ge1", "rate_interior_pT", "rate_at_least_half"}
    for check in checks.values():
        assert check.passed, summary["table"]
    # the bound of DESIGN 3.4 holds on the grid without needing the discretisation
    # tolerance, and with a real margin
    assert checks["bound_grid"].margin > 0.1
    rows = summary["rows"]
    for row in rows:
        if "slope" in row and row["codim"] >= 1:
            assert abs(row["slope"] - 0.5) < 0.02, row
        if "grid_excess_no_tol" in row:
            assert row["grid_excess_no_tol"] <= 0, row
    with h5py.File(tmp_path / "concentration.h5") as file:
        assert file.attrs["study"] == "concentration"
        assert file["checks/bound_grid"].attrs["passed"]
        grid = file["results/1d_segment/p_T_eps0/grid"]
        t, mean_d2, bound = grid["t"][()], grid["mean_d2"][()], grid["bound_d2"][()]
        assert t.shape == mean_d2.shape == bound.shape
        assert np.all(np.diff(t) < 0) and np.all(mean_d2 <= bound)
        exact = file["results/1d_segment/p_T_eps0/grid_exact"]
        assert np.all(exact["relerr_fine"][()][-3:] < exact["relerr_coarse"][()][-3:])
        part = file["results/2d_circle/uniform_eps1/particles"]
        assert part["rms"].shape == part["t"].shape
        assert part.attrs["n_particles"] >= 10_000
        assert part["t"][-1] == pytest.approx(1e-4)
    for name in ("concentration", "concentration_rates"):
        for ext in ("png", "pdf"):
            assert (tmp_path / "figures" / f"{name}.{ext}").exists()

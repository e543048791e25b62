"""The li_yau study on the harness: the independent Hessian route, refinement, files."""

import math

import numpy as np
import pytest

from pdediff.distributions import GaussianMixture
from pdediff.processes import VP
from pdediff.studies import harness
from pdediff.studies.harness import Verdict
from pdediff.studies.li_yau import Settings, cases, fd_hessian
from tests.studies._figures import assert_clean

TINY = {"n_times": 3, "exact_points_1d": 16, "exact_points_2d": 9,
        "fd_steps": (0.2, 0.1, 0.05, 0.025, 0.0125), "data_1d": ("gaussian_mixture",),
        "data_2d": ("box",), "processes": ("vp",), "grid_cells_1d": 40, "grid_levels": 3,
        "grid_rtol": 1e-2, "grid_data_1d": ("gaussian_mixture",), "grid_data_2d": (),
        "grid_n_times": 3}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("li_yau")
    return out, harness.run("li_yau", quick=True, overrides=TINY, out=out, progress=False)


def test_fd_hessian_of_a_quadratic_is_exact():
    # log p of a Gaussian is quadratic: central differences are exact up to round-off,
    # including the mixed derivative.
    cov = np.array([[1.0, 0.3], [0.3, 0.5]])
    prec = np.linalg.inv(cov)

    def log_p(x):
        return -0.5 * np.einsum("...i,ij,...j->...", x, prec, x)

    x = np.random.default_rng(0).standard_normal((5, 2))
    hess, scale = fd_hessian(log_p, x, 1e-2)
    np.testing.assert_allclose(hess, np.broadcast_to(-prec, hess.shape), atol=1e-9)
    assert np.all(scale >= 1.0)


def test_fd_route_matches_tweedie_at_fourth_order():
    # Richardson-extrapolated differences of the exact log p_t approach the Tweedie
    # Hessian as h^4: the two routes are independent and agree.
    law = GaussianMixture([[-1.0], [0.8]], [0.05, 0.2], [0.4, 0.6])
    process, t = VP(), 0.05
    sigma = math.sqrt(process.sigma2(t))
    x = np.linspace(-1.2, 1.0, 7)[:, None]

    def log_p(y):
        return law.log_density(y, t, process)

    exact = law.hessian(x, t, process)
    errors = []
    for c in (0.2, 0.1, 0.05):
        coarse, _ = fd_hessian(log_p, x, c * sigma)
        fine, _ = fd_hessian(log_p, x, 0.5 * c * sigma)
        errors.append(np.abs((4 * fine - coarse) / 3 - exact).max() * sigma**2)
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 3.5), (errors, orders)


def test_tiny_run_layout_and_verdict_kinds(tiny):
    out, summary = tiny
    attrs, results, checks = harness.read_study(out / "li_yau.h5")
    assert attrs["parameters"]["fd_steps"] == [0.2, 0.1, 0.05, 0.025, 0.0125]
    assert [c.name for c in checks] == ["li_yau_exact", "li_yau_tweedie_route", "li_yau_grid"]
    exact = results["exact/1d/vp/gaussian_mixture"]
    assert exact["violation"].shape == (4, 3)
    np.testing.assert_array_equal(exact["steps"], [0.1, 0.05, 0.025, 0.0125])
    grid = [results[f"grid/1d/vp/gaussian_mixture/level{k}"] for k in range(3)]
    for r in grid[1:]:  # the start time is physical, not tied to h
        np.testing.assert_array_equal(r["t"], grid[0]["t"])
    assert [r["cells"] for r in grid] == [40, 80, 160]
    assert all(r["min_density"] >= 0.0 for r in grid)
    assert [len(c.refinement.h) for c in checks] == [4, 4, 3]
    # the two exact routes agree to fourth order even on this tiny setting
    assert checks[1].verdict is Verdict.PASS, checks[1].row()
    assert (out / "figures" / "li_yau_min_margin.png").exists()
    assert len(harness.plot("li_yau", out)) == 2  # no checkerboard: no map


def test_settings_are_validated():
    with pytest.raises(ValueError, match="fd_steps"):
        cases(Settings(fd_steps=(0.2, 0.1, 0.05)))
    with pytest.raises(ValueError, match="fd_steps"):
        cases(Settings(fd_steps=(0.2, 0.1, 0.04, 0.02)))
    with pytest.raises(ValueError, match="grid_levels"):
        cases(Settings(grid_levels=2))
    with pytest.raises(ValueError, match="processes"):
        cases(Settings(processes=("ou2",)))


def test_file_has_margins_over_step_and_time(tiny):
    from .._netcdf import open_every_group

    out, summary = tiny
    views = open_every_group(out / "li_yau.h5")
    key = next(k for k in summary.results if k.startswith("exact/"))
    case, result = views[f"results/{key}"], summary.results[key]
    assert case.li_yau_min.dims == ("steps", "t") and case.sigma.dims == ("t",)
    np.testing.assert_array_equal(case.steps.values, result["steps"])
    np.testing.assert_array_equal(case.t.values, result["t"])
    grid = views[f"results/{next(k for k in summary.results if k.startswith('grid/'))}"]
    assert grid.violation.dims == ("t",)


def test_figures_follow_the_figure_rules(tiny, monkeypatch):
    # colour bars on images, legends >= 8 pt, no code names as titles; redrawn from the file
    out = tiny[0]
    assert_clean("li_yau", out, monkeypatch)

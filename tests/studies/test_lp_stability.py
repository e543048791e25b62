"""The lp_stability study (DESIGN 3.2) in quick mode, plus its helpers."""

import math

import h5py
import numpy as np
import pytest

from pdediff import VP, Grid
from pdediff.studies import run_study
from pdediff.studies.lp_stability import (
    CHECK_NAMES,
    ORDERS,
    datasets,
    norm_ratios,
    stopping_time,
)
from pdediff.theory import gaussian_lp_norm


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("lp_stability")
    return out, run_study("lp_stability", quick=True, out=out, progress=False)


def test_every_check_passes(study):
    _, summary = study
    assert [check.name for check in summary["checks"]] == list(CHECK_NAMES)
    for check in summary["checks"]:
        assert check.passed, check.row()
        assert check.margin >= 0, check.row()


def test_h5_layout_and_mass_conservation(study):
    out, summary = study
    with h5py.File(out / "lp_stability.h5") as file:
        assert bool(file.attrs["quick"])
        for name in CHECK_NAMES:
            assert "passed" in file[f"checks/{name}"].attrs
        for dim in ("1d", "2d"):
            node = file[f"results/{dim}/point_mass"]
            nt = node["t"].shape[0]
            for eps in ("eps0", "eps1"):
                for key in ("p_T", "gaussian", "difference"):
                    for field in ("ratio", "ratio_coarse", "ratio_coarse_tight_rtol", "tolerance",
                                  "tolerance_space", "tolerance_time", "relative_margin"):
                        assert node[f"{eps}/{key}/{field}"].shape == (len(ORDERS), nt)
                    # The tolerance is a running maximum from T down to t0.
                    assert np.all(np.diff(node[f"{eps}/{key}/tolerance"][()], axis=1) >= 0)
                # p = 1 of a positive solution is its mass: conserved to round-off.
                for key in ("p_T", "gaussian"):
                    ratio = node[f"{eps}/{key}/ratio"][0]
                    assert np.max(np.abs(ratio - 1.0)) < 1e3 * np.finfo(float).eps
                # L^1 contraction of the signed difference.
                assert np.all(node[f"{eps}/difference/ratio"][0] <= 1.0 + node[
                    f"{eps}/difference/tolerance"][0])
    for stem in ("lp_stability", "lp_stability_difference"):
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{stem}.{ext}").exists()


def test_stored_bound_is_the_gaussian_norm_ratio_for_eps0(study):
    # For eps = 0 and a point mass q_t = N(alpha_t x0, sigma_t^2 I): the bound must equal
    # the closed-form Gaussian norm ratio (sharpness), independently of theory.py.
    out, _ = study
    process = VP()
    with h5py.File(out / "lp_stability.h5") as file:
        for dim, n in (("1d", 1), ("2d", 2)):
            node = file[f"results/{dim}/point_mass"]
            t = node["t"][()]
            bound = node["eps0/bound"][()]
            for row, order in enumerate(ORDERS):
                expected = gaussian_lp_norm(process.sigma2(t), n, order) / gaussian_lp_norm(
                    process.sigma2(process.T), n, order)
                np.testing.assert_allclose(bound[row], expected, rtol=1e-12)


def test_solver_tracks_exact_ratios_within_tolerance(study):
    # q_T = p_T: the grid ratios are those of exact cell averages up to the tolerance.
    out, _ = study
    with h5py.File(out / "lp_stability.h5") as file:
        for dim in ("1d", "2d"):
            for name, node in file[f"results/{dim}"].items():
                for eps in ("eps0", "eps1"):
                    entry = node[f"{eps}/p_T"]
                    error = entry["error_vs_exact"][()].max(axis=1)
                    assert np.all(error <= entry["tolerance"][()].max(axis=1)), (dim, name, eps)


def test_stopping_time_resolves_sigma():
    process = VP()
    t0 = stopping_time(process, 0.05)
    assert math.isclose(float(process.sigma(t0)), 0.15, rel_tol=1e-9)
    with pytest.raises(ValueError, match="h"):
        stopping_time(process, -1.0)
    with pytest.raises(ValueError, match="h"):
        stopping_time(process, 10.0)


def test_norm_ratios_of_gaussians_match_closed_form():
    grid = Grid([(-8.0, 8.0)], 1600)
    x = grid.centers[0]
    variances = np.array([1.0, 0.5, 0.25])
    fields = np.stack([np.exp(-x**2 / (2 * v)) / np.sqrt(2 * np.pi * v) for v in variances])
    ratios = norm_ratios(fields, grid)
    for row, order in enumerate(ORDERS):
        expected = gaussian_lp_norm(variances, 1, order) / gaussian_lp_norm(1.0, 1, order)
        # Midpoint sampling of a Gaussian: relative error O((h/sigma)^2) ~ 1e-4 here.
        np.testing.assert_allclose(ratios[row], expected, rtol=(grid.spacing[0] / 0.5) ** 2)
    with pytest.raises(ValueError, match="p"):
        norm_ratios(np.zeros((2, 1600)), grid)


def test_datasets_reject_bad_dimension():
    assert set(datasets(2)) >= {"point_mass", "circle", "box", "points", "gaussian_mixture"}
    with pytest.raises(ValueError, match="ndim"):
        datasets(3)

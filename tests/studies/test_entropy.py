"""The entropy study (DESIGN 3.3) in quick mode, plus its helpers."""

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from pdediff import OU, Grid
from pdediff.studies import run_study
from pdediff.studies.entropy import (
    CHECK_NAMES,
    EPS_SDE,
    STARTS,
    data_law,
    initial_density,
    kl_curve,
    max_rise,
)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("entropy")
    return out, run_study("entropy", quick=True, out=out, progress=False)


def test_every_check_passes(study):
    _, summary = study
    assert [check.name for check in summary["checks"]] == list(CHECK_NAMES)
    for check in summary["checks"]:
        assert check.passed, check.row()


def test_h5_layout_and_monotone_sde_curves(study):
    out, _ = study
    with h5py.File(out / "entropy.h5") as file:
        for name in CHECK_NAMES:
            assert "margin" in file[f"checks/{name}"].attrs
        for dim in ("1d", "2d"):
            for start in STARTS:
                node = file[f"results/{dim}/{start}"]
                nt = node["t"].shape[0]
                tol = node.attrs["tolerance"]
                assert tol == node["drift"][()][list(node["cells"][()]).index(
                    node.attrs["main_cells"])]
                assert node["kl_eps0"].shape == (nt,)
                for eps in EPS_SDE:
                    curve = node[f"kl_eps{eps:g}"][()]
                    assert curve.shape == (nt,)
                    assert np.all(curve >= 0)
                    assert max_rise(curve) <= tol, (dim, start, eps)
                    assert curve[-1] < curve[0] - tol, (dim, start, eps)
        # 1-D has >= 3 resolutions: the fitted drift order is stored and >= 1.
        for start in STARTS:
            order = file[f"results/1d/{start}/drift_order"]
            assert order.attrs["slope"] >= 1.0
    for stem in ("entropy", "entropy_drift"):
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{stem}.{ext}").exists()


def test_initial_kl_converges_to_continuum_value(study):
    # KL(N(0, sigma_T^2) || p_T) from the grid's cell averages approaches the continuum
    # integral (scipy quad on log-densities) under refinement.
    out, _ = study
    process = OU(rate=1.0, g=1.0, T=0.5)
    dist = data_law(1)
    v = process.prior_variance()

    def integrand(x):
        log_q = -x * x / (2 * v) - 0.5 * np.log(2 * np.pi * v)
        log_p = float(dist.log_density(np.array([[x]]), process.T, process)[0])
        return np.exp(log_q) * (log_q - log_p)

    continuum = quad(integrand, -12, 12, epsabs=1e-13, limit=200)[0]
    with h5py.File(out / "entropy.h5") as file:
        node = file["results/1d/prior"]
        errors = [abs(node[f"kl_eps0_n{n}"][0] - continuum) for n in node["cells"][()]]
    assert all(b < a for a, b in zip(errors, errors[1:])), errors


@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=30))
@settings(max_examples=60, deadline=None)
def test_max_rise_matches_brute_force(values):
    brute = max(0.0, max(values[j] - values[i] for i in range(len(values))
                         for j in range(i + 1, len(values))))
    assert max_rise(np.array(values)) == pytest.approx(brute, abs=1e-9)
    assert max_rise(np.sort(values)[::-1]) == 0.0


def test_helpers_reject_bad_input():
    process = OU(rate=1.0, g=1.0, T=0.5)
    grid = Grid([(-5.0, 5.0)], 50)
    with pytest.raises(ValueError, match="start"):
        initial_density("gaussian", grid, process, data_law(1))
    with pytest.raises(ValueError, match="ndim"):
        data_law(3)
    with pytest.raises(ValueError, match="values"):
        max_rise(np.array([1.0]))
    q = initial_density("prior", grid, process, data_law(1))[None]
    with pytest.raises(ValueError, match="q"):
        kl_curve(q - 1e-3 * q.max(), q, grid)
    assert kl_curve(q, q, grid)[0] == pytest.approx(0.0, abs=1e-15)

"""The entropy study on the harness: refinement at fixed times, helpers, verdict kinds."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from pdediff import OU, Grid
from pdediff.studies import harness
from pdediff.studies.entropy import (
    CHECK_NAMES,
    Settings,
    cases,
    data_law,
    initial_density,
    kl_curve,
    max_rise,
)
from pdediff.studies.harness import Verdict
from tests.studies._figures import assert_clean

TINY = {"cells_1d": (40, 80, 160), "n_times": 5, "eps_sde": (0.5, 2.0),
        "starts": ("prior",), "rtol": 1e-2}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("entropy")
    return out, harness.run("entropy", quick=True, overrides=TINY, out=out, progress=False)


def test_layout_refinement_and_verdict_kinds(tiny):
    out, summary = tiny
    attrs, results, checks = harness.read_study(out / "entropy.h5")
    assert attrs["parameters"]["cells_1d"] == [40, 80, 160]
    assert [c.name for c in checks] == list(CHECK_NAMES)
    assert [c.verdict for c in checks[2:]] == [Verdict.OBSERVATION] * 2
    assert checks[0].refinement.h == (1.0, 0.5, 0.25)
    rows = [results[f"1d/prior/eps0/n{n}"] for n in (40, 80, 160)]
    for r in rows[1:]:
        np.testing.assert_array_equal(r["t"], rows[0]["t"])  # t0 fixed, not tied to h
    np.testing.assert_allclose([r["rtol"] for r in rows], [1e-2, 2.5e-3, 6.25e-4])
    for key, r in results.items():
        assert r["min_density"] >= 0.0, key  # positivity is exact
        assert np.all(r["kl"] >= 0.0)
        assert r["rise"] == max_rise(r["kl"])
    assert len(harness.plot("entropy", out)) == 2


def test_initial_kl_converges_to_continuum_value(tiny):
    # KL(N(0, sigma_T^2) || p_T) from the grid's cell averages approaches the continuum
    # integral (scipy quad on log-densities) under refinement.
    out, _ = tiny
    _, results, _ = harness.read_study(out / "entropy.h5")
    process = OU(rate=1.0, g=1.0, T=0.5)
    dist = data_law(1)
    v = process.prior_variance()

    def integrand(x):
        log_q = -x * x / (2 * v) - 0.5 * np.log(2 * np.pi * v)
        log_p = float(dist.log_density(np.array([[x]]), process.T, process)[0])
        return np.exp(log_q) * (log_q - log_p)

    continuum = quad(integrand, -12, 12, epsabs=1e-13, limit=200)[0]
    errors = [abs(results[f"1d/prior/eps0/n{n}"]["kl"][0] - continuum) for n in (40, 80, 160)]
    assert all(b < a for a, b in zip(errors, errors[1:])), errors


def test_settings_are_validated():
    with pytest.raises(ValueError, match="cells_1d"):
        cases(Settings(cells_1d=(40, 80)))
    with pytest.raises(ValueError, match="cells_1d"):
        cases(Settings(cells_1d=(80, 40, 160)))
    with pytest.raises(ValueError, match="starts"):
        cases(Settings(starts=("nope",)))


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


@pytest.mark.slow
def test_quick_study_ode_drift_vanishes(tmp_path):
    # Conservation by the probability-flow ODE must be seen to converge at the quick
    # resolutions (fitted order's 95% interval above 0.5).
    summary = harness.run("entropy", quick=True, out=tmp_path, progress=False)
    drift = summary.checks[0]
    assert drift.verdict is Verdict.PASS and drift.refinement.low > 0.5, drift.row()


def test_file_has_time_series_over_t(tiny):
    from .._netcdf import open_every_group

    out, summary = tiny
    views = open_every_group(out / "entropy.h5")
    key = next(iter(summary.results))
    case = views[f"results/{key}"]
    assert case.kl.dims == ("t",) and case.kl.attrs["units"] == "nat"
    np.testing.assert_array_equal(case.t.values, summary.results[key]["t"])
    np.testing.assert_array_equal(case.kl.values, summary.results[key]["kl"])


def test_figures_follow_the_figure_rules(tiny, monkeypatch):
    # colour bars on images, legends >= 8 pt, no code names as titles; redrawn from the file
    out = tiny[0]
    assert_clean("entropy", out, monkeypatch)

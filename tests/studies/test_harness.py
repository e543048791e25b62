"""The study harness: verdict rules of the Check constructors, files, overrides,
figures redrawn from the file, and identical results from every executor."""

from __future__ import annotations

import math

import h5py
import numpy as np
import pytest

from pdediff.studies import harness
from pdediff.studies.harness import Check, Refinement, Verdict

TOY = "tests.studies._toy_study"


# ----------------------------------------------------------------------- verdict rules
def test_bound_pass_fail_vacuous():
    assert Check.bound("b", "s", [0.5, 0.9], 1.0).verdict is Verdict.PASS
    fail = Check.bound("b", "s", [0.5, 1.01], [1.0, 1.0])
    assert fail.verdict is Verdict.FAIL and fail.worst == pytest.approx(1.01)
    vac = Check.bound("b", "s", [1e-4, 5e-3], 1.0)
    assert vac.verdict is Verdict.VACUOUS and not vac.passed
    # just above the vacuous threshold is evidence
    assert Check.bound("b", "s", 1.01e-2, 1.0).verdict is Verdict.PASS


def test_bound_rejects_nonpositive_bound_and_nan():
    with pytest.raises(ValueError, match="bound"):
        Check.bound("b", "s", 0.1, 0.0)
    with pytest.raises(ValueError, match="measured"):
        Check.bound("b", "s", math.nan, 1.0)


def test_vanishing_fitted_order_decides():
    h = [0.1, 0.05, 0.025, 0.0125]
    good = Check.vanishing("v", "s", h, [1e-2 * x**2 / 0.01 for x in h])
    assert good.verdict is Verdict.PASS
    assert good.refinement.order == pytest.approx(2.0)
    assert good.refinement.low > 0.5
    flat = Check.vanishing("v", "s", h, [1.9e-5, 1.7e-5, 1.8e-5, 1.7e-5])  # issue item 1
    assert flat.verdict is Verdict.FAIL
    slow = Check.vanishing("v", "s", h, [1e-2 * (x / 0.1) ** 0.3 for x in h])
    assert slow.verdict is Verdict.FAIL and slow.refinement.order == pytest.approx(0.3)


def test_vanishing_noisy_order_fails_on_its_interval():
    # point estimate ~1 but the 95% interval reaches below 0.5
    h = [0.1, 0.05, 0.025]
    check = Check.vanishing("v", "s", h, [1e-2, 1e-2, 2.5e-3])
    assert check.refinement.order > 0.5 and check.refinement.low < 0.5
    assert check.verdict is Verdict.FAIL


def test_vanishing_zero_and_zero_tail():
    h = [0.1, 0.05, 0.025]
    assert Check.vanishing("v", "s", h, [0, 0, 0]).verdict is Verdict.PASS
    assert Check.vanishing("v", "s", h, [1e-3, 0, 0]).verdict is Verdict.PASS
    h4 = [0.1, 0.05, 0.025, 0.0125]
    assert Check.vanishing("v", "s", h4, [1e-3, 1e-4, 0, 0]).verdict is Verdict.PASS
    # one zero at the finest level is no evidence of vanishing (it may be a sign change)
    assert Check.vanishing("v", "s", h, [1e-3, 1e-4, 0]).verdict is Verdict.FAIL
    assert Check.vanishing("v", "s", h4, [3e-5, 3.1e-5, 1.1e-5, 0]).verdict is Verdict.FAIL
    # not decreasing before the zeros
    assert Check.vanishing("v", "s", h4, [1e-4, 2e-4, 0, 0]).verdict is Verdict.FAIL
    # a violation at the finest resolution cannot be excused by a zero at a coarser one
    assert Check.vanishing("v", "s", h, [0, 1e-4, 1e-4]).verdict is Verdict.FAIL
    assert Check.vanishing("v", "s", h, [0, 0, 0], ratio=1e-3).verdict is Verdict.VACUOUS


def test_vanishing_needs_three_resolutions():
    with pytest.raises(ValueError, match=">= 3"):
        Check.vanishing("v", "s", [0.1, 0.05], [1e-3, 1e-4])
    with pytest.raises(ValueError, match="violation"):
        Check.vanishing("v", "s", [0.1, 0.05, 0.02], [1e-3, -1e-4, 0])


def test_interval_sides():
    assert Check.interval("i", "s", 1.0, 0.6, 1.4, 0.5, "above").verdict is Verdict.PASS
    assert Check.interval("i", "s", 1.0, 0.4, 1.6, 0.5, "above").verdict is Verdict.FAIL
    assert Check.interval("i", "s", 0.3, 0.1, 0.4, 0.5, "below").verdict is Verdict.PASS
    assert Check.interval("i", "s", 0.5, 0.4, 0.6, 0.5, "contains").verdict is Verdict.PASS
    assert Check.interval("i", "s", 0.7, 0.6, 0.8, 0.5, "contains").verdict is Verdict.FAIL
    assert Check.interval("i", "s", math.nan, 0.6, 0.8, 0.5, "above").verdict is Verdict.FAIL
    with pytest.raises(ValueError, match="side"):
        Check.interval("i", "s", 1.0, 0.6, 1.4, 0.5, "sideways")


def test_observation_is_never_a_pass():
    check = Check.observation("o", "s", 3.0, "ordering")
    assert check.verdict is Verdict.OBSERVATION and not check.passed


def test_check_attrs_roundtrip():
    check = Check.vanishing("v", "s", [0.1, 0.05, 0.025], [1e-2, 2.5e-3, 6.25e-4], detail="d")
    again = Check.from_attrs(check.to_attrs())
    assert again == check
    assert isinstance(again.refinement, Refinement)


# ------------------------------------------------------------------- run, file, plot
def test_run_writes_file_with_settings_used(tmp_path):
    summary = harness.run(TOY, quick=True, out=tmp_path, progress=False,
                          overrides={"seeds": "4,5", "scale": "0.5", "flag": "true"})
    assert summary.settings.seeds == (4, 5) and summary.settings.flag is True
    attrs, results, checks = harness.read_study(tmp_path / "_toy_study.h5")
    assert attrs["parameters"] == {"n": 100, "seeds": [4, 5], "scale": 0.5, "label": "toy",
                                   "flag": True, "solve": False}
    assert attrs["mode"] == "custom" and attrs["study"] == "_toy_study"
    assert list(results) == ["seed/4", "seed/5"]
    expected = 0.5 * np.random.default_rng(4).standard_normal(100)
    np.testing.assert_array_equal(results["seed/4"]["x"], expected)
    assert [c.name for c in checks] == ["mean_small", "spread"]
    assert checks[1].verdict is Verdict.OBSERVATION
    assert "OBSERVATION 1" in summary.table


def test_overrides_are_validated(tmp_path):
    with pytest.raises(ValueError, match="unknown setting 'nn'"):
        harness.run(TOY, quick=True, out=tmp_path, progress=False, overrides={"nn": 3})
    with pytest.raises(ValueError, match="n: expected an int"):
        harness.run(TOY, quick=True, out=tmp_path, progress=False, overrides={"n": "x"})
    with pytest.raises(ValueError, match="--set"):
        harness.parse_overrides(["n"])


def test_plot_redraws_from_file_without_compute(tmp_path, monkeypatch):
    harness.run(TOY, quick=True, out=tmp_path, progress=False)
    figure = tmp_path / "figures" / "toy.png"
    figure.unlink()
    module = harness.load_study(TOY)

    def no_compute(case, settings):
        raise AssertionError("plot must not recompute")

    monkeypatch.setattr(module, "compute", no_compute)
    assert harness.plot(TOY, tmp_path) == [figure]
    assert figure.exists()


def test_file_is_atomic_on_failure(tmp_path, monkeypatch):
    harness.run(TOY, quick=True, out=tmp_path, progress=False)
    before = (tmp_path / "_toy_study.h5").read_bytes()
    module = harness.load_study(TOY)

    def broken(results, settings):
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "checks", broken)
    with pytest.raises(RuntimeError):
        harness.run(TOY, quick=True, out=tmp_path, progress=False, overrides={"n": 7})
    assert (tmp_path / "_toy_study.h5").read_bytes() == before
    with h5py.File(tmp_path / "_toy_study.h5") as file:
        assert file.attrs["mode"] == "quick"


def test_unknown_study_names_the_known_ones():
    with pytest.raises(ValueError, match="li_yau"):
        harness.load_study("nope")


# ------------------------------------------------------------------------- executors
def _results(path):
    return harness.read_study(path)[1]


def _assert_identical(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            _assert_identical(a[key], b[key])
        elif isinstance(a[key], np.ndarray):
            assert a[key].dtype == b[key].dtype
            assert a[key].tobytes() == b[key].tobytes(), key
        else:
            assert a[key] == b[key], key


@pytest.mark.slow
def test_serial_jobs_and_dask_give_identical_bits(tmp_path):
    distributed = pytest.importorskip("distributed")
    overrides = {"solve": True, "seeds": (1, 2, 3)}
    harness.run(TOY, quick=True, overrides=overrides, out=tmp_path / "serial", progress=False)
    with harness.process_executor(2) as pool:
        harness.run(TOY, quick=True, overrides=overrides, out=tmp_path / "jobs",
                    progress=False, executor=pool)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        client = harness.dask_executor(cluster.scheduler_address)
        try:
            threads = client.run(lambda: __import__("numba").get_num_threads())
            assert all(n == 1 for n in threads.values())  # 2 cores / 2 worker threads
            harness.run(TOY, quick=True, overrides=overrides, out=tmp_path / "dask",
                        progress=False, executor=client)
        finally:
            client.close()
    serial = _results(tmp_path / "serial" / "_toy_study.h5")
    assert "p" in serial["seed/1"]
    _assert_identical(serial, _results(tmp_path / "jobs" / "_toy_study.h5"))
    _assert_identical(serial, _results(tmp_path / "dask" / "_toy_study.h5"))


def test_process_executor_caps_worker_threads():
    import numba

    with harness.process_executor(2) as pool:
        threads = pool.submit(numba.get_num_threads).result()
    assert threads == max(1, len(__import__("os").sched_getaffinity(0)) // 2)
    with pytest.raises(ValueError, match="jobs"):
        harness.process_executor(0)


def test_study_file_opens_in_xarray_and_reads_back_unchanged(tmp_path):
    from pdediff.io import Labelled

    from .._netcdf import open_every_group

    summary = harness.run(TOY, quick=True, out=tmp_path, progress=False)
    views = open_every_group(tmp_path / "_toy_study.h5")
    assert {"", "results", "results/seed/1", "results/seed/1/nested", "checks",
            "checks/mean_small"} <= set(views)
    case = views["results/seed/1"]
    # unlabelled arrays: named index dimensions, long_name = the key
    assert case.x.dims == ("x_index0",) and case.x.attrs["long_name"] == "x"
    assert views["results/seed/1/nested"]["cumsum"].dims == ("cumsum_index0",)
    _, results, _ = harness.read_study(tmp_path / "_toy_study.h5")
    for key, value in summary.results.items():
        assert set(results[key]) == set(value) == {"x", "mean", "label", "nested"}
        assert results[key]["x"].tobytes() == value["x"].tobytes()
    # a labelled result reads back as the plain arrays it labels
    tree = {"t": Labelled(np.linspace(0, 1, 4), ("t",), long_name="time"),
            "u": Labelled(np.arange(4.0), ("t",), long_name="u")}
    back = harness._roundtrip(tree)
    assert set(back) == {"t", "u"} and back["u"].tobytes() == np.arange(4.0).tobytes()

"""The study commands: run with --set/--config, plot, report, the executor options."""

import argparse

import pytest

from pdediff.cli import main
from pdediff.studies import STUDIES, _executors, commands, harness

SMALL = ["--set", "cells_1d=20,40,80", "--set", "starts=prior", "--set", "eps_sde=0.5",
         "--set", "n_times=3", "--set", "rtol=0.01", "--quiet"]


def test_run_help_lists_every_study(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    for name in STUDIES:
        assert name in text
    for option in ("--quick", "--set", "--config", "--jobs", "--scheduler", "default"):
        assert option in text


def test_list_reads_descriptions_without_importing(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    assert "KL(q_t || p_t)" in text and "Li-Yau" in text


def test_run_set_config_plot_report(tmp_path, capsys):
    config = tmp_path / "entropy.toml"
    config.write_text('cells_1d = [20, 40, 80]\nstarts = ["prior"]\neps_sde = [0.5]\n'
                      'n_times = 4\nrtol = 0.02\n')
    # --set wins over --config
    assert main(["run", "entropy", "--config", str(config), "--set", "n_times=3",
                 "--set", "rtol=0.01", "--out", str(tmp_path), "--quiet"]) == 0
    assert "entropy_ode_drift_converges_1d" in capsys.readouterr().out
    attrs, _, _ = harness.read_study(tmp_path / "entropy.h5")
    assert attrs["parameters"]["cells_1d"] == [20, 40, 80]
    assert attrs["parameters"]["n_times"] == 3 and attrs["parameters"]["rtol"] == 0.01
    assert attrs["parameters"]["starts"] == ["prior"]
    figure = tmp_path / "figures" / "entropy.png"
    figure.unlink()
    assert main(["plot", "entropy", "--out", str(tmp_path)]) == 0
    assert figure.exists()
    assert main(["report", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "| entropy (custom) | entropy_ode_drift_converges_1d |" in text
    assert "OBSERVATION 1" in text


def test_run_rejects_unknown_setting(tmp_path, capsys):
    assert main(["run", "entropy", "--set", "cell=3", "--out", str(tmp_path)]) == 2
    assert "unknown setting 'cell'" in capsys.readouterr().err


def test_jobs_and_scheduler_are_exclusive():
    args = argparse.Namespace(jobs=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="--scheduler"):
        with commands._executor(args):
            pass


def test_plot_of_an_old_style_study_says_so(tmp_path, capsys):
    if harness.is_harness_study(harness.load_study("ode_sde_gap")):
        pytest.skip("ode_sde_gap is on the harness now")
    assert main(["plot", "ode_sde_gap", "--out", str(tmp_path)]) == 0
    assert "not on the harness" in capsys.readouterr().out


@pytest.mark.slow
def test_run_with_jobs_matches_serial(tmp_path):
    assert main(["run", "entropy", *SMALL, "--out", str(tmp_path / "a")]) == 0
    assert main(["run", "entropy", *SMALL, "--jobs", "2", "--out", str(tmp_path / "b")]) == 0
    a = harness.read_study(tmp_path / "a" / "entropy.h5")[1]
    b = harness.read_study(tmp_path / "b" / "entropy.h5")[1]
    assert a.keys() == b.keys()
    for key in a:
        assert a[key]["kl"].tobytes() == b[key]["kl"].tobytes(), key


def test_jobs_default_is_auto_and_bad_jobs_are_rejected(capsys):
    parser = __import__("pdediff.cli", fromlist=["build_parser"]).build_parser()
    assert parser.parse_args(["reproduce"]).jobs == "auto"
    assert parser.parse_args(["run", "entropy"]).jobs == "auto"
    assert _executors.resolve_jobs("auto") == len(__import__("os").sched_getaffinity(0))
    assert _executors.resolve_jobs("3") == 3
    for bad in ("0", "two", "-1"):
        with pytest.raises(SystemExit):
            parser.parse_args(["reproduce", "--jobs", bad])
        assert "--jobs" in capsys.readouterr().err


TOYS = ("tests.studies._toy_study", "tests.studies._toy_study_b")


def _toy_files(folder):
    return {name: harness.read_study(folder / f"{name.rsplit('.', 1)[-1]}.h5")
            for name in TOYS}


def test_reproduce_overlaps_studies_on_one_pool_with_identical_bits(tmp_path, monkeypatch,
                                                                    capsys):
    """Two studies through `pdediff reproduce --jobs 2` (every case of both submitted
    to one pool of two workers, the studies written as their cases come in) give the
    bits of `--jobs 1` (one study after the other, in this process); the per-study
    times are the wall spans, in the printout and the report."""
    from pdediff.studies import StudyEntry

    monkeypatch.setattr(commands, "STUDIES", {name: StudyEntry(name) for name in TOYS})
    assert main(["reproduce", "--quick", "--jobs", "1", "--quiet",
                 "--out", str(tmp_path / "serial")]) == 0
    serial_text = capsys.readouterr().out
    assert "studies overlapped" not in serial_text
    assert main(["reproduce", "--quick", "--jobs", "2", "--quiet",
                 "--out", str(tmp_path / "pool")]) == 0
    text = capsys.readouterr().out
    serial, pool = _toy_files(tmp_path / "serial"), _toy_files(tmp_path / "pool")
    for name in TOYS:
        (attrs_a, results_a, checks_a), (attrs_b, results_b, checks_b) = serial[name], pool[name]
        assert attrs_a["parameters"] == attrs_b["parameters"]
        assert list(results_a) == list(results_b) and len(results_a) >= 3
        for key in results_a:
            for field in ("x", "mean", "label"):
                a, b = results_a[key][field], results_b[key][field]
                assert (a.tobytes() == b.tobytes()) if hasattr(a, "tobytes") else a == b, key
        assert repr([c.to_attrs() for c in checks_a]) == repr([c.to_attrs() for c in checks_b])
        assert f"== {name}" in text and f"({name}: " in text
        assert attrs_b["elapsed_s"] > 0
    assert "studies overlapped" in text
    report = (tmp_path / "pool" / "report.md").read_text()
    assert "Time per study (wall span from its first case's start to its file write)" in report
    assert "_toy_study_b" in report and "overlapped on one pool" in report
    assert "Time inside each study's cases, summed over the workers" in report
    assert "s in its cases)" in text and "load average" in report

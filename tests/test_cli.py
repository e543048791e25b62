import argparse
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import pdediff
from pdediff.cli import PROCESS_PARAMETERS, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--ndim", "1", "--cells", "32", "--quiet"]


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert pdediff.__version__ in capsys.readouterr().out


@pytest.mark.parametrize("data", ["gaussian", "box", "mixture"])
def test_solve_writes_solution_and_figure(tmp_path, capsys, data):
    out = tmp_path / "run.h5"
    code = main(["solve", "--data", data, "--process", "heat", "--ndim", "1", "--cells", "64",
                 "--t-final", "0.2", "--out", str(out), "--quiet"])
    assert code == 0
    solution = pdediff.load(out)
    assert solution.p.shape == (5, 64)
    assert (tmp_path / "run.png").exists()
    text = capsys.readouterr().out
    assert "L1 error against the closed form" in text
    # The printed error is small: a second-order solver at h = 10/64.
    error = float(text.split("closed form at t=0.2: ")[1].split()[0])
    assert error < 5e-3


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


@pytest.mark.parametrize("command", ["solve", "info"])
def test_every_option_has_help_showing_its_default(command):
    parser = _subparser(command)
    text = parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{action.dest} has no help"
        if action.option_strings and action.default not in (None, False):
            assert f"(default: {action.default})" in " ".join(text.split()), action.dest
        if action.option_strings and action.default is None and action.dest != "file":
            assert "default" in action.help, action.dest


@pytest.mark.parametrize("process, option, value, attribute", [
    ("ou", "--rate", "2.5", "rate"), ("ou", "--g", "0.5", "g"), ("heat", "--kappa", "0.3", "kappa"),
    ("vp", "--beta-min", "0.2", "beta_min"), ("subvp", "--beta-max", "10", "beta_max"),
    ("ve", "--sigma-min", "0.02", "sigma_min"), ("ve", "--sigma-max", "5", "sigma_max"),
])
def test_process_parameters_reach_the_process(tmp_path, process, option, value, attribute):
    out = tmp_path / "p.h5"
    code = main(["solve", "--process", process, option, value, "--t-final", "0.05",
                 "--snapshots", "2", "--out", str(out), *SMALL])
    assert code == 0
    assert getattr(pdediff.load(out).process, attribute) == float(value)


def test_every_process_parameter_has_an_option():
    assert {o for o, _, _ in PROCESS_PARAMETERS.values()} == {
        "--rate", "--g", "--kappa", "--beta-min", "--beta-max", "--sigma-min", "--sigma-max"}


def one_line_error(capsys, argv, *fragments):
    try:
        code = main(argv)
    except SystemExit as error:  # argparse's own errors
        code = error.code
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_errors_are_one_line_naming_the_option(tmp_path, capsys):
    out = str(tmp_path / "x.h5")
    one_line_error(capsys, ["solve", "--cells", "2", "--out", out], "--cells", "at least 3")
    one_line_error(capsys, ["solve", "--process", "heat", "--rate", "2", "--out", out],
                   "--rate", "does not apply to --process heat")
    one_line_error(capsys, ["solve", "--rate", "-1", "--out", out], "--rate", "positive")
    one_line_error(capsys, ["solve", "--t-final", "0", "--out", out], "--t-final", "> 0")
    one_line_error(capsys, ["solve", "--t-final", "-1", "--out", out], "--t-final")
    one_line_error(capsys, ["solve", "--t-final", "20", "--out", out], "--t-final", "horizon")
    one_line_error(capsys, ["solve", "--cells", "x"], "--cells", "invalid int")
    one_line_error(capsys, ["solve", "--snapshots", "1", "--out", out], "--snapshots")
    one_line_error(capsys, ["solve", "--ndim", "3", "--cells", "100000", "--out", out],
                   "--cells", "bytes")
    assert not (tmp_path / "x.h5").exists()


def test_unwritable_out_is_a_clean_error(tmp_path, capsys):
    one_line_error(capsys, ["solve", "--out", "/proc/x/solve.h5", *SMALL], "--out", "/proc/x")
    one_line_error(capsys, ["solve", "--out", "/proc/x", *SMALL], "--out", "/proc/x")
    one_line_error(capsys, ["solve", "--out", str(tmp_path), *SMALL], "--out", "directory")


def test_info_prints_what_a_file_holds(tmp_path, capsys):
    out = tmp_path / "s.h5"
    assert main(["solve", "--process", "heat", "--t-final", "0.1", "--out", str(out), *SMALL]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Solution(")
    assert "p(t, x): float64 (5, 32)" in text and "cell_method: cell average" in text
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"\x00not hdf5" * 100)
    one_line_error(capsys, ["info", str(garbage)], "garbage.h5", "not a pdediff file")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as file:
        file["x"] = np.ones(3)
    one_line_error(capsys, ["info", str(other)], "other.h5", "not a pdediff file")
    one_line_error(capsys, ["info", str(tmp_path / "none.h5")], "none.h5")


AGG_SCRIPT = """
import os, matplotlib
from pdediff.cli import _use_agg_without_display as choose
backend = matplotlib.rcParams._get_backend_or_none
os.environ["DISPLAY"] = ":99"; choose(); print(backend())          # a display: untouched
del os.environ["DISPLAY"]; os.environ["MPLBACKEND"] = "pdf"; choose(); print(backend())
del os.environ["MPLBACKEND"]; choose(); print(backend())         # neither: Agg
"""


def test_agg_is_chosen_only_without_display():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND", "WAYLAND_DISPLAY")}
    env.update(PYTHONPATH=str(ROOT), NUMBA_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", AGG_SCRIPT], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert [w.lower() for w in result.stdout.split()] == ["none", "none", "agg"]


@pytest.mark.slow
def test_solve_uses_agg_only_without_display(tmp_path):
    script = (
        "import matplotlib, sys; from pdediff.cli import main; "
        f"main(['solve', '--process', 'heat', '--t-final', '0.1', '--out', {str(tmp_path / 's.h5')!r},"
        " '--ndim', '1', '--cells', '16', '--quiet']); print(matplotlib.get_backend())"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND", "WAYLAND_DISPLAY")}
    env.update(PYTHONPATH=str(ROOT), NUMBA_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].lower() == "agg"
    # An explicit choice wins.
    env["MPLBACKEND"] = "pdf"
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].lower() == "pdf"


def test_list_names_every_study(capsys):
    from pdediff.studies import STUDIES

    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for name in STUDIES:
        assert name in text


def test_report_on_empty_folder_lists_studies_as_not_run(tmp_path):
    assert main(["report", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "NOT RUN" in text
    with pytest.raises(FileNotFoundError):
        h5py.File(tmp_path / "li_yau.h5", "r")

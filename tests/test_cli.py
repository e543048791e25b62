import h5py
import pytest

import pdediff
from pdediff.cli import main


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


def test_solve_rejects_bad_arguments(tmp_path, capsys):
    code = main(["solve", "--ndim", "1", "--cells", "2", "--out", str(tmp_path / "x.h5"),
                 "--quiet"])
    assert code == 2
    assert "shape" in capsys.readouterr().err


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

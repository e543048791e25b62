"""The report counts the four verdicts separately and shows refinement evidence."""

from dataclasses import dataclass

from pdediff.report import read_checks, write_report
from pdediff.studies.common import Check as OldCheck
from pdediff.studies.common import write_study
from pdediff.studies.harness import Check, write_results


@dataclass(frozen=True)
class _Settings:
    n: int = 3


def _checks():
    return [
        Check.bound("holds", "a bound holds", 0.5, 1.0, figure="figures/a.png"),
        Check.bound("fails", "a bound fails", 2.0, 1.0, detail="real violation"),
        Check.bound("vacuous", "a loose bound", 1e-4, 1.0),
        Check.observation("seen", "an ordering", 0.3),
        Check.vanishing("shrinks", "a tolerance vanishes", [0.1, 0.05, 0.025],
                        [1e-2, 2.5e-3, 6.25e-4]),
    ]


def test_four_verdicts_counted_separately_with_refinement(tmp_path):
    write_results(tmp_path / "entropy.h5", "entropy", _Settings(), "quick",
                  {"a": {"values": [1.0, 2.0]}}, _checks(), 1.0)
    text = write_report(tmp_path, timings={"entropy": 1.5}).read_text()
    assert "| entropy (quick) | holds |" in text
    names = [line.split(" | ")[1] for line in text.splitlines() if line.startswith("| entropy")]
    assert names == [c.name for c in _checks()]  # the study's order, not HDF5's
    assert "**FAIL**" in text and "real violation" in text
    assert "Verdicts: PASS 2, FAIL 1, VACUOUS 1, OBSERVATION 1; studies not run: 6." in text
    assert "[a.png](figures/a.png)" in text
    assert "order 2 [2, 2]" in text and "0.025: 0.00063" in text
    assert "entropy 1.5 s" in text


def test_old_style_files_read_as_pass_fail(tmp_path):
    checks = [
        OldCheck("holds", "a bound holds", "x <= 1", worst=0.5, margin=0.5, passed=True),
        OldCheck("fails", "a bound fails", "y <= 1", worst=2.0, margin=-1.0, passed=False),
    ]
    write_study(tmp_path, "li_yau", {"n": 3}, {"values": [1.0, 2.0]}, checks, quick=False)
    _, rows = read_checks(tmp_path / "li_yau.h5")
    verdicts = {r["name"]: (r["verdict"], r["criterion"]) for r in rows}
    assert verdicts == {"holds": ("PASS", "x <= 1"), "fails": ("FAIL", "y <= 1")}
    text = write_report(tmp_path).read_text()
    assert "Verdicts: PASS 1, FAIL 1, VACUOUS 0, OBSERVATION 0" in text

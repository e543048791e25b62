from pdediff.report import write_report
from pdediff.studies import Check, write_study


def test_failing_checks_stay_failing(tmp_path):
    checks = [
        Check("holds", "a bound holds", "x <= 1", worst=0.5, margin=0.5, passed=True,
              figure="figures/a.png"),
        Check("fails", "a bound fails", "y <= 1", worst=2.0, margin=-1.0, passed=False,
              detail="real violation"),
    ]
    write_study(tmp_path, "entropy", {"n": 3}, {"values": [1.0, 2.0]}, checks, quick=True)
    text = write_report(tmp_path).read_text()
    assert "| entropy (quick) | holds |" in text
    assert "**FAIL**" in text and "real violation" in text
    assert "Checks passed: 1, failed: 1" in text
    assert "[a.png](figures/a.png)" in text

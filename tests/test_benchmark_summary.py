"""The performance tables of README.md and docs/performance_table.rst are the ones
benchmarks/summary.py writes from benchmarks/results/*.json (no hand-edited numbers)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_performance_tables_match_the_benchmark_results():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "summary.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_check_fails_on_a_stale_table(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import summary
    finally:
        sys.path.pop(0)
    readme = tmp_path / "README.md"
    readme.write_text(f"x\n{summary.START}\n| stale |\n{summary.END}\n")
    table = tmp_path / "performance_table.rst"
    table.write_text("stale\n")
    monkeypatch.setattr(summary, "README", readme)
    monkeypatch.setattr(summary, "DOCS_TABLE", table)
    monkeypatch.setattr(summary, "ROOT", tmp_path)
    monkeypatch.setattr(sys, "argv", ["summary.py", "--check"])
    assert summary.main() == 1
    monkeypatch.setattr(sys, "argv", ["summary.py"])
    assert summary.main() == 0
    monkeypatch.setattr(sys, "argv", ["summary.py", "--check"])
    assert summary.main() == 0
    assert summary.START in readme.read_text() and "forward.py" in readme.read_text()

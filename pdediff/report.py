"""The verification report: one row per check of every study, read from the
studies' HDF5 files (``out/NAME.h5``, group ``checks``) and written to
``out/report.md``.  A failing check stays in the report as failing; a study whose
file is missing is listed as not run."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import h5py

from .io import read_attrs
from .studies import STUDIES


def read_checks(path: Path) -> tuple[dict, list[dict]]:
    """Root attributes and the list of checks of one study file."""
    with h5py.File(path, "r") as file:
        attrs = read_attrs(file)
        checks = [read_attrs(file["checks"][name]) for name in file.get("checks", {})]
    return attrs, checks


def _number(value) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(value):
        return "nan"
    return f"{value:.4g}"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_report(out: Path = Path("data")) -> Path:
    """Write ``out/report.md`` (atomically) and return its path."""
    out = Path(out)
    lines = [
        "# pdediff verification report",
        "",
        "Every row is computed by `pdediff reproduce` (or `pdediff run NAME`) from the",
        "study's HDF5 file; `margin >= 0` means the statement holds on the computation.",
        "",
        "| study | check | statement | bound | worst measured | margin | result | figure |",
        "|---|---|---|---|---|---|---|---|",
    ]
    totals = {"pass": 0, "fail": 0, "missing": 0}
    for name in STUDIES:
        path = out / f"{name}.h5"
        if not path.exists():
            totals["missing"] += 1
            lines.append(f"| {name} | — | study not run | | | | NOT RUN | |")
            continue
        attrs, checks = read_checks(path)
        mode = " (quick)" if attrs.get("quick") else ""
        for check in checks:
            passed = bool(check.get("passed"))
            totals["pass" if passed else "fail"] += 1
            figure = check.get("figure", "")
            link = f"[{Path(figure).name}]({figure})" if figure else ""
            detail = check.get("detail", "")
            statement = check.get("statement", "") + (f" — {detail}" if detail else "")
            lines.append(
                f"| {name}{mode} | {_cell(check.get('name'))} | {_cell(statement)} | "
                f"{_cell(check.get('bound', ''))} | {_number(check.get('worst'))} | "
                f"{_number(check.get('margin'))} | {'PASS' if passed else '**FAIL**'} | {link} |"
            )
    lines += [
        "",
        f"Checks passed: {totals['pass']}, failed: {totals['fail']}, studies not run: "
        f"{totals['missing']}.",
        "",
    ]
    target = out / "report.md"
    out.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".report.md.", dir=out)
    with os.fdopen(handle, "w") as stream:
        stream.write("\n".join(lines))
    os.replace(tmp, target)
    return target

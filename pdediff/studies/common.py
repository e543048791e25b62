"""What every study shares: checks, output paths, HDF5 layout, the command line.

A study is a module ``pdediff.studies.NAME`` with

* ``DESCRIPTION``: one line for ``pdediff list``;
* ``run(quick: bool = False, out: Path = Path("data"), progress: bool = True) -> dict``:
  computes everything, writes ``out/NAME.h5`` (via :func:`write_study`) and figures
  under ``out/figures/`` (PNG and PDF), and returns a summary with at least
  ``"table"`` (printable text) and ``"checks"`` (a list of :class:`Check`);
* a thin script ``studies/NAME.py`` calling :func:`study_main`.

HDF5 layout of ``out/NAME.h5``: root attributes ``study``, ``quick``,
``pdediff_version`` and the parameters; group ``results`` with every number behind
the figures; group ``checks`` with one subgroup per :class:`Check` (its fields as
attributes).  ``pdediff report`` reads only the ``checks`` group.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .._version import __version__
from ..io import atomic_h5, write_attrs, write_tree


@dataclass
class Check:
    """One verified statement.

    ``statement``: the claim in words (docs/theory notation); ``bound``: the bound or
    target as text; ``worst``: the worst measured value; ``margin``: signed slack
    (>= 0 means the check holds, in the units stated in ``bound``); ``passed``;
    ``figure``: relative path of the figure that shows it; ``detail``: free text
    (e.g. which case was worst).
    """

    name: str
    statement: str
    bound: str
    worst: float
    margin: float
    passed: bool
    figure: str = ""
    detail: str = ""

    def row(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        return f"{status}  {self.name}: worst {self.worst:.4g}, margin {self.margin:.3g}  {self.detail}"


def figure_dir(out: Path) -> Path:
    path = Path(out) / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_study(
    out: Path,
    name: str,
    parameters: Mapping[str, Any],
    results: Mapping[str, Any],
    checks: Sequence[Check],
    quick: bool,
) -> Path:
    """Atomically write ``out/NAME.h5`` in the layout above."""
    path = Path(out) / f"{name}.h5"
    with atomic_h5(path) as file:
        write_attrs(file, {"study": name, "quick": bool(quick), "pdediff_version": __version__})
        write_attrs(file, dict(parameters))
        write_tree(file.create_group("results"), results)
        group = file.create_group("checks")
        for check in checks:
            values = asdict(check)
            for key in ("worst", "margin"):
                if not math.isfinite(values[key]):
                    values[key] = float("nan") if math.isnan(values[key]) else values[key]
            write_attrs(group.create_group(check.name), values)
    return path


def format_table(checks: Sequence[Check]) -> str:
    return "\n".join(check.row() for check in checks)


def study_main(run: Callable[..., dict], argv: Sequence[str] | None = None) -> int:
    """Command line shared by the ``studies/NAME.py`` scripts."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small, fast configuration")
    parser.add_argument("--out", default="data", help="output folder (default: data)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    summary = run(quick=args.quick, out=Path(args.out), progress=not args.quiet)
    print(summary.get("table", ""))
    return 0

"""The verification report: one row per check of every study, read from the
studies' HDF5 files (``out/NAME.h5``, group ``checks``) and written to
``out/report.md``.

The four verdicts (PASS, FAIL, VACUOUS, OBSERVATION; docs/verification) are counted
separately; a check whose tolerance had to vanish under refinement shows its fitted
order, 95 % interval and the violation at each resolution.  A failing check stays in
the report as failing; a study whose file is missing is listed as not run.  Files of
studies not yet on the harness (checks with ``passed`` only) are read as PASS/FAIL.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py

from .io import read_attrs
from .studies import STUDIES

VERDICTS = ("PASS", "FAIL", "VACUOUS", "OBSERVATION")


def read_checks(path: Path) -> tuple[dict, list[dict]]:
    """Root attributes and the checks of one study file, as dicts with a ``verdict``."""
    with h5py.File(path, "r") as file:
        attrs = read_attrs(file)
        # HDF5 lists groups alphabetically; harness files record the study's order.
        names = json.loads(attrs["check_names"]) if "check_names" in attrs else \
            list(file.get("checks", {}))
        checks = [read_attrs(file["checks"][name]) for name in names]
    for check in checks:
        if "verdict" not in check:
            check["verdict"] = "PASS" if check.get("passed") else "FAIL"
        if isinstance(check.get("refinement"), str):
            check["refinement"] = json.loads(check["refinement"])
        if not check.get("criterion"):
            check["criterion"] = check.get("bound", "")
    return attrs, checks


def _number(value) -> str:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(value):
        return "—"
    return f"{value:.4g}"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def refinement_text(ref: Mapping | None) -> str:
    """``order q [low, high]; h: violation ...`` for the report (empty without evidence)."""
    if not ref:
        return ""
    pairs = ", ".join(f"{h:.3g}: {v:.2g}" for h, v in zip(ref["h"], ref["violation"]))
    order = ref.get("order")
    if order is None or (isinstance(order, float) and math.isnan(order)):
        return f"violation by h {{{pairs}}}"
    return f"order {order:.3g} [{ref['low']:.3g}, {ref['high']:.3g}]; violation by h {{{pairs}}}"


def write_report(out: Path = Path("data"), timings: Mapping[str, float] | None = None,
                 total: float | None = None, overlapped: bool = False,
                 case_seconds: Mapping[str, float] | None = None,
                 load: Sequence[float] | None = None) -> Path:
    """Write ``out/report.md`` (atomically) and return its path.

    ``timings``: optional seconds per study (from ``pdediff reproduce``: each study's wall
    span from its first case's start to its file write), listed at the end with
    ``total`` (the command's wall time; default: the sum of the spans).  ``overlapped``:
    the studies shared one pool of workers, so their spans overlap and add up to more
    than the total.  ``case_seconds``: optional seconds spent inside each study's cases,
    summed over the workers (what a study costs when its span is shared).  ``load``:
    the 1-minute load average at the start and end of the run (``os.getloadavg``): on
    a machine shared with other work the times are longer."""
    out = Path(out)
    lines = [
        "# pdediff verification report",
        "",
        "Every row is computed by `pdediff reproduce` (or `pdediff run NAME`) from the",
        "study's HDF5 file. Verdicts (docs/verification): PASS (the criterion could have failed",
        "and did not), FAIL, VACUOUS (a bound that holds with measured/bound < 1e-2: no",
        "evidence), OBSERVATION (a measured property no theorem states; not judged).",
        "A discretisation tolerance is accepted only with its refinement evidence: the fitted",
        "order of the raw violation with its 95% interval, which must lie above 0.5.",
        "",
        "| study | check | statement | criterion | worst measured | margin | refinement | verdict "
        "| figure |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    totals = dict.fromkeys(VERDICTS, 0)
    missing = 0
    for name in STUDIES:
        path = out / f"{name}.h5"
        if not path.exists():
            missing += 1
            lines.append(f"| {name} | — | study not run | | | | | NOT RUN | |")
            continue
        attrs, checks = read_checks(path)
        mode = attrs.get("mode") or ("quick" if attrs.get("quick") else "")
        label = f"{name} ({mode})" if mode and mode != "full" else name
        for check in checks:
            verdict = str(check["verdict"])
            totals[verdict] = totals.get(verdict, 0) + 1
            figure = check.get("figure", "")
            link = f"[{Path(figure).name}]({figure})" if figure else ""
            detail = check.get("detail", "")
            statement = check.get("statement", "") + (f" — {detail}" if detail else "")
            shown = f"**{verdict}**" if verdict == "FAIL" else verdict
            lines.append(
                f"| {label} | {_cell(check.get('name'))} | {_cell(statement)} | "
                f"{_cell(check.get('criterion', ''))} | {_number(check.get('worst'))} | "
                f"{_number(check.get('margin'))} | {_cell(refinement_text(check.get('refinement')))}"
                f" | {shown} | {link} |"
            )
    lines += [
        "",
        "Verdicts: " + ", ".join(f"{k} {totals.get(k, 0)}" for k in VERDICTS)
        + f"; studies not run: {missing}.",
        "",
    ]
    if timings:
        total = sum(timings.values()) if total is None else float(total)
        lines += ["Time per study (wall span from its first case's start to its file write): "
                  + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
                  + f"; total {total:.1f} s"
                  + (f", load average {load[0]:.1f} at the start and {load[-1]:.1f} at the end"
                     if load else "")
                  + (" (the studies overlapped on one pool of workers: their spans add up to "
                     "more than the total)." if overlapped else "."), ""]
        if case_seconds:
            lines += ["Time inside each study's cases, summed over the workers: "
                      + ", ".join(f"{k} {v:.1f} s" for k, v in case_seconds.items()) + ".",
                      ""]
    target = out / "report.md"
    out.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".report.md.", dir=out)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; the report is for everyone to read
    with os.fdopen(handle, "w") as stream:
        stream.write("\n".join(lines))
    os.replace(tmp, target)
    return target

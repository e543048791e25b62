"""Redraw a study's figures from its file and audit each against the figure rules of
:func:`pdediff.plotting.figure_problems` (colour bars, >= 8 pt legends, human titles)."""

from __future__ import annotations

import time
from pathlib import Path

import pdediff.plotting as plotting
from pdediff.studies import harness

#: ``pdediff plot NAME`` must redraw a study in at most this many seconds (issue 11).
PLOT_SECONDS = 30.0


def audit(name: str, out: Path, monkeypatch) -> dict[str, list[str]]:
    """Redraw study ``name`` from ``out/NAME.h5`` (:func:`harness.plot`) and return, per
    figure file, the list of its problems; check names must not appear as titles.  The
    redraw must take at most :data:`PLOT_SECONDS` and write every figure it returns."""
    _, _, checks = harness.read_study(Path(out) / f"{name}.h5")
    names = [c.name for c in checks]
    found: dict[str, list[str]] = {}
    real = plotting.save_figure

    def save(figure, path, formats=("png",)):
        found[Path(path).with_suffix("").name] = plotting.figure_problems(figure, forbidden=names)
        return real(figure, path, formats)

    monkeypatch.setattr(plotting, "save_figure", save)
    start = time.perf_counter()
    paths = harness.plot(name, out)
    elapsed = time.perf_counter() - start
    assert elapsed <= PLOT_SECONDS, f"pdediff plot {name} took {elapsed:.1f} s"
    assert paths and all(Path(p).exists() for p in paths)
    assert found, f"{name}: no figure went through pdediff.plotting.save_figure"
    return found


def assert_clean(name: str, out: Path, monkeypatch) -> None:
    found = audit(name, out, monkeypatch)
    bad = {figure: problems for figure, problems in found.items() if problems}
    assert not bad, f"{name}: figures break the figure rules: {bad}"

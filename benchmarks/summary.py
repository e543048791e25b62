"""The performance tables of the docs and the README, written from the benchmark
results (``benchmarks/results/*.json``) and nothing else.

``docs/performance_table.rst`` (included by ``docs/performance.rst``) gets every
benchmark's headline numbers, its targets and the machine load under which it ran;
the README gets the short table between the markers
``<!-- performance:start -->`` and ``<!-- performance:end -->``.  Run after any
benchmark: ``python benchmarks/summary.py`` (``--check`` exits non-zero when a file is
out of date; ``tests/test_benchmark_summary.py`` runs that check).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DOCS_TABLE = ROOT / "docs" / "performance_table.rst"
README = ROOT / "README.md"
START, END = "<!-- performance:start -->", "<!-- performance:end -->"


def _load(name: str) -> dict:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _m(rate: float) -> str:
    """A rate in millions per second."""
    millions = rate / 1e6
    return f"{millions:.0f} M/s" if millions >= 100 else f"{millions:.3g} M/s"


def _load_text(environment: dict) -> str:
    before = environment.get("load_average_before")
    date = environment.get("date_utc", "?")
    return f"{date[:16]}, load {before[0]:.2g}" if before else date[:16]


def _flag(ok: bool) -> str:
    return "met" if ok else "**not met**"


def rows() -> list[tuple[str, str, str, str]]:
    """``(benchmark, problem, measured, targets)`` rows, from the JSON files only."""
    out = []
    forward = _load("forward")
    for case, c in forward.get("cases", {}).items():
        rates = c["point_updates_per_s"]
        measured = (f"Euler {_m(rates['pdediff_euler'])} = {c['euler_over_naive']:.2f}x the naive "
                    f"kernel ({_m(rates['naive_numba'])})")
        if "euler_over_pypde" in c:
            measured += f", {c['euler_over_pypde']:.2g}x py-pde ({_m(rates['py-pde'])})"
        if "lean_sg_numba" in rates:
            bits = ("same bits" if c.get("lean_sg_bits_equal_pdediff_euler") else
                    f"within {c.get('max_abs_difference_lean_sg_vs_euler', float('nan')):.1g}")
            measured += (f"; the same scheme as a lean kernel (no checks, {bits}) "
                         f"{_m(rates['lean_sg_numba'])}, copy floor {_m(rates['field_copy'])}")
        measured += (f"; SSPRK3 stage / Euler step {c['ssprk3_stage_time_over_euler_step']:.2f}")
        targets = ""
        if case == "512x2":
            targets = "; ".join(f"{k}: {_flag(v)}" for k, v in forward["targets_met"].items())
        cells = "x".join(str(n) for n in c["cells"])
        out.append((f"forward.py ({_load_text(forward['environment'])})",
                    f"OU Fokker–Planck, {cells}, {c['steps']} fixed steps", measured, targets))
    breakdown = _load("forward_breakdown")
    if breakdown:
        ratio = breakdown["naive_over_rung"]
        steps = ", ".join(f"{name} {us:.0f} µs ({ratio[name]:.2f}x)"
                          for name, us in breakdown["us_per_step"].items())
        out.append((f"forward_breakdown.py ({_load_text(breakdown['environment'])})",
                    "the 512² Euler step, from the lean kernel to solve_forward, one feature "
                    "per rung (speed relative to the naive kernel)", steps,
                    "every rung gives pdediff's bits: " + ("yes" if all(
                        v for k, v in breakdown["same_bits_as_pdediff"].items() if k != "naive")
                        else "**no**")))
    reverse = _load("reverse")
    if reverse.get("this"):
        this = reverse["this"]["steps_per_s"]
        measured = f"{this:.3g} SSPRK3 steps/s"
        if reverse.get("baseline"):
            measured += (f"; the code before the fused kernels, same run: "
                         f"{reverse['baseline']['steps_per_s']:.3g} steps/s "
                         f"({reverse['speedup_over_baseline']:.2f}x)")
        out.append((f"reverse.py ({_load_text(reverse['environment'])})",
                    "solve_reverse, exact 2-component mixture score, 512², eps = 1", measured,
                    f">= 2x the issue's 9.9 steps/s: {_flag(this >= 19.8)}"))
    families = reverse.get("families", {})
    for family, row in families.get("rows", {}).items():
        cells = "x".join(str(n) for n in families["problem"]["cells"])
        out.append((f"reverse.py families ({_load_text(families.get('environment', {}))})",
                    f"solve_reverse, {family}, {cells}, fused against generic face scores",
                    f"fused {row['fused_steps_per_s']:.3g} steps/s, generic "
                    f"{row['generic_steps_per_s']:.3g} ({row['speedup_fused_over_generic']:.2f}x)",
                    "bit-identical" if row["max_abs_difference"] == 0 else
                    f"max difference {row['max_abs_difference']:.2g}"))
    particles = _load("particles")
    if particles:
        rate = particles["particle_steps_per_second"]
        out.append((f"particles.py ({_load_text(particles)})",
                     "reverse SDE, 10^6 particles, 2-D 4-component mixture, Euler–Maruyama",
                     f"{_m(rate['pdediff'])} = {particles['pdediff_over_reference']:.2f}x the "
                     f"hand-written reference, {particles['pdediff_over_numpy']:.2g}x numpy",
                     "; ".join(f"{k}: {_flag(v)}" for k, v in particles["targets"].items())))
    spline = _load("score_model")
    if spline:
        out.append((f"score_model.py ({_load_text(spline)})",
                    "spline ScoreModel score at 10^6 2-D points",
                    f"{_m(spline['pdediff_points_per_second'])} points = "
                    f"{spline['speedup_vs_scipy']:.2g}x scipy NdBSpline", ""))
    mlp = _load("score_model_mlp")
    if mlp:
        out.append((f"score_model_mlp.py ({_load_text(mlp)})",
                    "paper MLP score on the 64² face points",
                    f"JAX jit {mlp['speedup_jit_vs_numpy']:.2g}x the same MLP in numpy", ""))
    return out


def rst_table() -> str:
    lines = [".. This file is written by benchmarks/summary.py from benchmarks/results/*.json;",
             "   do not edit by hand.", "", ".. list-table::", "   :header-rows: 1", "",
             "   * - benchmark (date, load average)", "     - problem", "     - measured",
             "     - targets"]
    for bench, problem, measured, targets in rows():
        lines += [f"   * - ``{bench.split(' ', 1)[0]}`` {bench.split(' ', 1)[1]}",
                  f"     - {problem}", f"     - {measured}", f"     - {targets or '--'}"]
    return "\n".join(lines) + "\n"


def readme_block() -> str:
    lines = [START, "", "| benchmark | problem | measured | targets |", "|---|---|---|---|"]
    for bench, problem, measured, targets in rows():
        if "families" in bench or "breakdown" in bench:
            continue
        lines.append(f"| `{bench}` | {problem} | {measured} | {targets or '–'} |")
    lines += ["", "Written by `benchmarks/summary.py` from `benchmarks/results/*.json`; details "
              "in [docs/performance.rst](docs/performance.rst).", "", END]
    return "\n".join(lines)


def readme_text(text: str) -> str:
    if START not in text or END not in text:
        raise ValueError(f"README.md: the markers {START} and {END} are missing")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + readme_block() + tail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="only check that the files are up to date (exit 1 if not)")
    args = parser.parse_args()
    targets = {DOCS_TABLE: rst_table(), README: readme_text(README.read_text())}
    stale = [path for path, text in targets.items()
             if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run python benchmarks/summary.py")
        return 1 if stale else 0
    for path in stale:
        path.write_text(targets[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Li–Yau / Hamilton margins over time (DESIGN section 3.1).

For each data set (1-D and 2-D) under heat flow and VP, at log-spaced forward times
``t in [1e-4, T]``:

* **exact**: the relative Li–Yau margin ``(Lap log p_t + n/sigma_t^2) sigma_t^2 / n``
  and Hamilton margin ``(lambda_min(Hess log p_t) + 1/sigma_t^2) sigma_t^2`` from the
  exact Hessians of :mod:`pdediff.distributions`, minimised over the centres of the
  study grid.  Pass: ``>= -tol`` with ``tol`` the round-off of the Tweedie form (as in
  ``tests/test_theory.py``).
* **grid**: the same margins of forward grid-solver snapshots
  (:func:`pdediff.fokker_planck.solve_forward` from exact cell averages at the first
  resolved time, ``sigma_t >= 2h``, stored at 6 log-spaced times up to T), by
  findiff on ``log p`` over cells with ``p >= 1e-4 max p`` (above the solver's
  absolute tolerance).  The allowed negative part is twice the discretisation error
  of the margin measured at the same time from exact cell averages (``max
  |margin(cell averages) - margin(exact)|`` over the mask), i.e. a tolerance coming
  from the scheme's error, which shrinks under refinement.

Writes ``OUT/li_yau.h5`` (every number behind the figures; parameters as attributes)
and ``OUT/figures/li_yau_min_margin.{png,pdf}``, ``OUT/figures/li_yau_map.{png,pdf}``,
prints a pass/fail table and returns a summary dict.

    python studies/li_yau.py --quick --out data     (or: pdediff run li_yau --quick)
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..distributions import (
    Annulus,
    Ball,
    Box,
    Checkerboard,
    Circle,
    GaussianMixture,
    Points,
    Rings,
)
from ..grid import Grid
from ..plotting import save_figure
from ..processes import VP, HeatFlow
from ..theory import hamilton_margin_grid, li_yau_margin_grid
from .common import Check, format_table, write_study

DESCRIPTION = "Li-Yau / Hamilton lower bounds on Lap log p_t and Hess log p_t (exact and grid)"

GRID_FLOOR = 1e-4
EXACT_REL_TOL = 1e-8
ROUNDOFF_ULPS = 1e3


def datasets(ndim: int) -> dict[str, Any]:
    """The data sets of the study in dimension ``ndim`` (1 or 2)."""
    rng = np.random.default_rng(20240503)
    if ndim == 1:
        return {
            "gaussian_mixture": GaussianMixture([[-1.0], [0.8]], [0.05, 0.2], [0.4, 0.6]),
            "points": Points(rng.uniform(-1.0, 1.0, size=(5, 1))),
            "box": Box([-1.0], [1.0]),
            "two_segments": Annulus([0.0], 0.5, 1.0),
        }
    return {
        "gaussian_mixture": GaussianMixture([[-1.0, 0.0], [0.8, 0.5]], [0.05, 0.2], [0.4, 0.6]),
        "points": Points(rng.uniform(-1.0, 1.0, size=(6, 2))),
        "box": Box([-1.0, -0.5], [1.0, 0.5]),
        "ball": Ball([0.0, 0.0], 1.0),
        "circle": Circle([0.0, 0.0], 1.0),
        "rings": Rings([0.6, 1.3], 0.05),
        "checkerboard": Checkerboard(scale=2.0),
    }


def processes() -> dict[str, Any]:
    return {"heat": HeatFlow(kappa=0.5, T=1.0), "vp": VP()}


def _relative_tolerance(hess: np.ndarray, ndim: int, sigma2: float, alpha2: float, r0_sq: float):
    """Round-off tolerance of the exact margins relative to ``n/sigma^2`` (see
    tests/test_theory.py): terms of the Tweedie form are as large as ``n/sigma^2 +
    alpha^2 R0^2 / sigma^4``."""
    scale = ndim / sigma2 + np.abs(np.trace(hess, axis1=-2, axis2=-1))
    big = ndim / sigma2 + alpha2 * r0_sq / sigma2**2
    tol = EXACT_REL_TOL * scale + ROUNDOFF_ULPS * np.finfo(float).eps * big
    return tol * sigma2 / ndim


def exact_margins(dist, process, points: np.ndarray, times: np.ndarray, r0_sq: float) -> dict:
    """Minimum relative Li–Yau and Hamilton margins over ``points`` at each time, and
    the minimum of margin / tolerance (``>= -1`` passes)."""
    ndim = points.shape[-1]
    out = {k: np.empty(times.size) for k in ("li_yau", "hamilton", "worst_over_tol")}
    for i, t in enumerate(times):
        sigma2, alpha2 = float(process.sigma2(t)), float(process.alpha(t)) ** 2
        hess = dist.hessian(points, t, process)
        li_yau = (np.trace(hess, axis1=-2, axis2=-1) + ndim / sigma2) * sigma2 / ndim
        hamilton = (np.linalg.eigvalsh(hess)[..., 0] + 1.0 / sigma2) * sigma2
        tol = _relative_tolerance(hess, ndim, sigma2, alpha2, r0_sq)
        out["li_yau"][i] = li_yau.min()
        out["hamilton"][i] = hamilton.min()
        out["worst_over_tol"][i] = min((li_yau / tol).min(), (hamilton * ndim / tol).min())
    return out


def resolved_start(process, h: float) -> float:
    """Smallest t with ``sigma_t >= 2 h`` (bisection; sigma_t is increasing)."""
    lo, hi = 0.0, process.T
    if math.sqrt(process.sigma2(hi)) < 2.0 * h:
        return math.nan
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if math.sqrt(process.sigma2(mid)) < 2.0 * h else (lo, mid)
    return hi


def grid_margins(dist, process, grid: Grid, n_times: int) -> dict:
    """Solver-snapshot margins at ``n_times`` log-spaced resolved times
    (``sigma_t >= 2 h`` up to ``T``)."""
    t_start = resolved_start(process, float(grid.spacing.max()))
    if not math.isfinite(t_start):
        return {}
    t_grid = np.geomspace(t_start, process.T, n_times)
    from pdediff.fokker_planck import solve_forward

    p0 = dist.cell_average(grid, float(t_grid[0]), process)
    tic = time.perf_counter()
    solution = solve_forward(p0, grid, process, t_grid)
    out = {"t": t_grid, "solver_wall_time": time.perf_counter() - tic,
           "li_yau": np.empty(n_times), "hamilton": np.empty(n_times),
           "tolerance": np.empty(n_times)}
    ndim = grid.ndim
    for j, t in enumerate(t_grid):
        sigma2 = float(process.sigma2(t))
        p = solution.p[j]
        li, mask = li_yau_margin_grid(p, grid, process, t, floor=GRID_FLOOR)
        ham, _ = hamilton_margin_grid(p, grid, process, t, floor=GRID_FLOOR)
        reference = dist.cell_average(grid, float(t), process)
        li_ref, mask_ref = li_yau_margin_grid(reference, grid, process, t, floor=GRID_FLOOR)
        both = mask & mask_ref
        exact_li = (np.trace(dist.hessian(grid.points()[both], t, process), axis1=-2, axis2=-1)
                    + ndim / sigma2)
        discretisation = np.abs(li_ref[both] - exact_li).max() * sigma2 / ndim
        out["li_yau"][j] = li[mask].min() * sigma2 / ndim
        out["hamilton"][j] = ham[mask].min() * sigma2
        out["tolerance"][j] = 2.0 * discretisation
    return out


def _box(dist, process_map: dict, rng: np.random.Generator) -> tuple[float, float]:
    samples = dist.sample(4000, rng)
    r0 = float(np.max(np.abs(samples)))
    r0_sq = float(np.max(np.sum(samples**2, axis=-1)))
    sigma_T = max(math.sqrt(p.sigma2(p.T)) for p in process_map.values())
    return r0 + 5.0 * sigma_T, r0_sq


def run(quick: bool = False, out: Path = Path("data"), progress: bool = True) -> dict:
    """Run the study; write ``out/li_yau.h5`` and figures; return the summary
    ``{"table": str, "checks": [...], "passed": bool, "rows": [...], "wall_time": s}``."""
    start = time.perf_counter()
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    nt = 8 if quick else 24
    cells = {1: 160 if quick else 640, 2: 48 if quick else 96}
    solver_cases_2d = ("gaussian_mixture", "checkerboard") if quick else None
    process_map = processes()
    rng = np.random.default_rng(1)
    tree: dict[str, Any] = {
        "description": "Li-Yau / Hamilton relative margins (>= 0 in theory), DESIGN 3.1",
        "quick": quick, "grid_floor": GRID_FLOOR, "exact_rel_tol": EXACT_REL_TOL,
        "roundoff_ulps": ROUNDOFF_ULPS, "n_times": nt,
    }
    rows = []
    map_data = None
    for ndim in (1, 2):
        for case, dist in datasets(ndim).items():
            half, r0_sq = _box(dist, process_map, rng)
            grid = Grid([(-half, half)] * ndim, cells[ndim])
            points = grid.points().reshape(-1, ndim)
            for pname, process in process_map.items():
                times = np.geomspace(1e-4, process.T, nt)
                exact = exact_margins(dist, process, points, times, r0_sq)
                run_solver = ndim == 1 or solver_cases_2d is None or case in solver_cases_2d
                grid_out = grid_margins(dist, process, grid, 6) if run_solver else {}
                key = f"{ndim}d/{pname}/{case}"
                node: dict[str, Any] = {
                    "t": times, "sigma": np.sqrt(process.sigma2(times)),
                    "exact_li_yau_min": exact["li_yau"], "exact_hamilton_min": exact["hamilton"],
                    "exact_worst_over_tol": exact["worst_over_tol"],
                    "data": str(dist), "process": str(process),
                    "grid_bounds": [-half, half], "grid_cells": cells[ndim],
                }
                exact_pass = bool(np.all(exact["worst_over_tol"] >= -1.0))
                grid_pass = None
                if grid_out:
                    node.update({
                        "grid_t": grid_out["t"],
                        "grid_li_yau_min": grid_out["li_yau"],
                        "grid_hamilton_min": grid_out["hamilton"],
                        "grid_tolerance": grid_out["tolerance"],
                        "solver_wall_time": grid_out["solver_wall_time"],
                    })
                    grid_pass = bool(np.all(grid_out["li_yau"] >= -grid_out["tolerance"]))
                tree.setdefault(f"{ndim}d", {}).setdefault(pname, {})[case] = node
                if progress and not quick:
                    print(f"  {key}: {time.perf_counter() - start:.0f} s", flush=True)
                worst = int(np.argmin(exact["li_yau"]))
                rows.append({
                    "case": key, "exact_min": float(exact["li_yau"][worst]),
                    "exact_t": float(times[worst]),
                    "exact_hamilton_min": float(exact["hamilton"].min()),
                    "exact_pass": exact_pass,
                    "grid_min": float(grid_out["li_yau"].min()) if grid_out else None,
                    "grid_slack": float(np.min(grid_out["li_yau"] + grid_out["tolerance"]))
                    if grid_out else None,
                    "exact_slack": float(1.0 + np.min(exact["worst_over_tol"])),
                    "grid_pass": grid_pass,
                })
                if ndim == 2 and case == "checkerboard" and pname == "heat":
                    t_map = float(times[nt // 2])
                    hess = dist.hessian(grid.points(), t_map, process)
                    sigma2 = float(process.sigma2(t_map))
                    field = (np.trace(hess, axis1=-2, axis2=-1) + 2 / sigma2) * sigma2 / 2
                    map_data = {"t": t_map, "x": grid.centers[0], "y": grid.centers[1],
                                "relative_margin": field}
    if map_data is not None:
        tree["map"] = map_data
    passed = all(r["exact_pass"] and r["grid_pass"] is not False for r in rows)
    tree["passed"] = passed
    _figures(tree, out / "figures")
    checks = _checks(rows)
    parameters = {key: tree.pop(key) for key in list(tree) if not isinstance(tree[key], dict)}
    wall = time.perf_counter() - start
    parameters["wall_time_s"] = wall
    write_study(out, "li_yau", parameters, tree, checks, quick)
    table = _table(rows, wall) + "\n" + format_table(checks)
    return {"table": table, "checks": checks, "passed": passed, "rows": rows, "wall_time": wall}


def _checks(rows: list[dict]) -> list[Check]:
    exact_worst = min(rows, key=lambda r: r["exact_slack"])
    grid_rows = [r for r in rows if r["grid_slack"] is not None]
    grid_worst = min(grid_rows, key=lambda r: r["grid_slack"])
    return [
        Check(
            name="li_yau_exact",
            statement="Lap log p_t >= -n/sigma_t^2 and Hess log p_t >= -I/sigma_t^2 for every "
            "data set x {heat, VP} x {1-D, 2-D}, exact log-densities",
            bound="relative margin (Lap log p + n/sigma^2) sigma^2/n >= -tol (round-off); "
            "margin in units of tol",
            worst=min(r["exact_min"] for r in rows),
            margin=exact_worst["exact_slack"],
            passed=all(r["exact_pass"] for r in rows),
            figure="figures/li_yau_min_margin.png",
            detail=f"tightest case {exact_worst['case']}",
        ),
        Check(
            name="li_yau_grid",
            statement="the same margin of forward grid-solver snapshots (findiff on log p)",
            bound="relative margin >= -2 x discretisation error of the margin (measured from "
            "exact cell averages at the same time)",
            worst=min(r["grid_min"] for r in grid_rows),
            margin=grid_worst["grid_slack"],
            passed=all(r["grid_pass"] for r in grid_rows),
            figure="figures/li_yau_min_margin.png",
            detail=f"tightest case {grid_worst['case']}",
        ),
    ]


def _table(rows: list[dict], wall: float) -> str:
    lines = [f"{'case':<28} {'min rel LY (exact)':>18} {'at t':>9} {'exact':>6} "
             f"{'min rel LY (grid)':>18} {'grid':>6}"]
    for r in rows:
        grid_min = "-" if r["grid_min"] is None else f"{r['grid_min']:.3e}"
        grid_ok = {None: "-", True: "PASS", False: "FAIL"}[r["grid_pass"]]
        lines.append(f"{r['case']:<28} {r['exact_min']:>18.3e} {r['exact_t']:>9.2e} "
                     f"{'PASS' if r['exact_pass'] else 'FAIL':>6} {grid_min:>18} {grid_ok:>6}")
    lines.append(f"li_yau: {len(rows)} cases in {wall:.1f} s")
    return "\n".join(lines)


def _figures(tree: dict, folder: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    for row, ndim in enumerate(("1d", "2d")):
        for col, pname in enumerate(("heat", "vp")):
            ax = axes[row, col]
            for case, node in tree[ndim][pname].items():
                line = ax.plot(node["t"], node["exact_li_yau_min"], label=case)[0]
                if "grid_li_yau_min" in node:
                    ax.plot(node["grid_t"], node["grid_li_yau_min"], "o", ms=3,
                            color=line.get_color())
            ax.set_xscale("log")
            ax.set_yscale("symlog", linthresh=1e-8)
            ax.axhline(0.0, color="k", lw=0.8)
            ax.set_title(f"{ndim} {pname}")
            ax.set_ylabel("min (Lap log p + n/sigma^2) sigma^2/n")
    for ax in axes[-1]:
        ax.set_xlabel("t")
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    fig.suptitle("Li-Yau relative margin: lines exact, dots grid solver")
    fig.tight_layout()
    save_figure(fig, folder / "li_yau_min_margin", formats=("png", "pdf"))
    if "map" in tree:
        m = tree["map"]
        fig, ax = plt.subplots(figsize=(5.5, 4.5))
        field = np.maximum(m["relative_margin"], 1e-16)
        mesh = ax.pcolormesh(m["x"], m["y"], np.log10(field).T, shading="auto")
        fig.colorbar(mesh, ax=ax, label="log10 relative Li-Yau margin")
        ax.set_aspect("equal")
        ax.set_title(f"checkerboard, heat flow, t = {m['t']:.3g}")
        fig.tight_layout()
        save_figure(fig, folder / "li_yau_map", formats=("png", "pdf"))

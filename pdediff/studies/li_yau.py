"""Li–Yau / Hamilton lower bounds on Lap log p_t and Hess log p_t (docs/theory, "Bounds").

For every ``p_t = law(alpha_t X_0 + sigma_t Z)``::

    Lap log p_t >= -n / sigma_t^2,        Hess log p_t >= -I / sigma_t^2,

i.e. the relative Li–Yau margin ``(Lap log p_t + n/sigma_t^2) sigma_t^2 / n`` and the
relative Hamilton margin ``(lambda_min(Hess log p_t) + 1/sigma_t^2) sigma_t^2`` are
``>= 0``.  Data sets in 1-D and 2-D under heat flow and VP, log-spaced forward times.

Checks (criteria fixed before the numbers; docs/verification):

* ``li_yau_exact`` -- at points drawn from ``p_t`` (seeded), the Hessian of the
  *exact* ``log p_t`` by an independent route:
  Richardson-extrapolated central differences ``(4 D(h/2) - D(h)) / 3`` of
  :meth:`Distribution.log_density` (not the Tweedie form, which implies the bound),
  with step ``h = c sigma_t`` for the steps ``c`` of the settings (each half the
  previous).  Raw violation at step ``c``: the negative part of either margin beyond
  the stencil's round-off bound ``22.7 n u (|log p| + 1) sigma_t^2 / h^2`` (``u = 64
  eps``: evaluation error of ``log p``), maximised over data, processes, points and
  times.  ``Check.vanishing`` over ``c``: PASS iff zero or vanishing with a fitted
  order whose 95 % interval lies above 0.5.
* ``li_yau_tweedie_route`` -- that route against the Tweedie value: the relative
  difference of the trace and of ``lambda_min`` beyond the two round-off bounds must
  vanish likewise as ``c -> 0``.
* ``li_yau_grid`` -- the Li–Yau margin of forward grid-solver snapshots (findiff on
  ``log p`` where ``p >= 1e-4 max p``), started from exact cell averages at the fixed
  time ``sigma_t = grid_sigma_start`` (never tied to ``h``), at ``grid_levels >= 3``
  resolutions with ``h`` halved and ``rtol`` quartered per level.  Raw violation: the
  negative part of the relative margin, maximised over cases and stored times.
  ``Check.vanishing``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
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
from ..io import Labelled
from ..processes import VP, HeatFlow
from ..theory import li_yau_margin_grid
from .harness import Check

DESCRIPTION = "Li-Yau / Hamilton lower bounds on Lap log p_t and Hess log p_t (exact and grid)"

GRID_FLOOR = 1e-4
#: Evaluation error of log p_t, in units of (|log p_t| + 1).
LOG_DENSITY_ULPS = 64.0
#: Sum of |coefficients| h^2 of the Richardson-extrapolated second difference.
RICHARDSON_STENCIL = (4.0 * 16.0 + 4.0) / 3.0
#: Round-off of the Tweedie-form Hessian (as in tests/test_theory.py).
TWEEDIE_ULPS = 1e3
FIGURE = "figures/li_yau_min_margin.png"
FIGURE_REFINE = "figures/li_yau_refinement.png"


@dataclass(frozen=True)
class Settings:
    """``n_times``: log-spaced forward times in ``[t_min, T]``; ``exact_points_1d``/
    ``_2d``: evaluation points, drawn from ``p_t`` at each time (``seed``);
    ``fd_steps``: finite-difference steps in units of ``sigma_t`` (each half the
    previous; one fewer Richardson levels); ``data_1d``,
    ``data_2d``: data sets (:func:`datasets`); ``grid_*``: the solver part (cells per
    axis at the coarsest level, levels, rtol at the coarsest level, noise level of the
    start time, stored times, data sets)."""

    n_times: int = 16
    t_min: float = 1e-4
    exact_points_1d: int = 256
    exact_points_2d: int = 400
    seed: int = 7
    fd_steps: tuple[float, ...] = (0.2, 0.1, 0.05, 0.025, 0.0125)
    data_1d: tuple[str, ...] = ("gaussian_mixture", "points", "box", "two_segments")
    data_2d: tuple[str, ...] = ("gaussian_mixture", "points", "box", "ball", "circle", "rings",
                                "checkerboard")
    processes: tuple[str, ...] = ("heat", "vp")
    grid_cells_1d: int = 160
    grid_cells_2d: int = 16
    grid_levels: int = 4
    grid_rtol: float = 1e-3
    grid_sigma_start: float = 0.3
    grid_n_times: int = 6
    grid_data_1d: tuple[str, ...] = ("gaussian_mixture", "points", "box", "two_segments")
    grid_data_2d: tuple[str, ...] = ("gaussian_mixture", "checkerboard")

    @classmethod
    def quick(cls) -> Settings:
        return cls(n_times=6, exact_points_1d=64, exact_points_2d=100,
                   fd_steps=(0.2, 0.1, 0.05, 0.025), data_2d=("gaussian_mixture", "box",
                                                              "checkerboard"),
                   grid_cells_1d=80, grid_levels=5, grid_rtol=1e-3,
                   grid_data_1d=("box",), grid_data_2d=())

    @classmethod
    def full(cls) -> Settings:
        return cls()


@dataclass(frozen=True)
class Case:
    kind: str  # "exact" or "grid"
    ndim: int
    process: str
    data: str
    level: int = 0

    @property
    def key(self) -> str:
        tail = f"/level{self.level}" if self.kind == "grid" else ""
        return f"{self.kind}/{self.ndim}d/{self.process}/{self.data}{tail}"


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
    if ndim != 2:
        raise ValueError(f"ndim: expected 1 or 2, got {ndim!r}")
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


def cases(settings: Settings) -> list[Case]:
    if len(settings.fd_steps) < 4:
        raise ValueError("fd_steps: need >= 4 steps (>= 3 Richardson levels)")
    steps = np.asarray(settings.fd_steps)
    if not np.allclose(steps[1:] / steps[:-1], 0.5, rtol=1e-12, atol=0):
        raise ValueError(f"fd_steps: each step must be half the previous, got {settings.fd_steps}")
    if settings.grid_levels < 3:
        raise ValueError(f"grid_levels: need >= 3 resolutions, got {settings.grid_levels}")
    known = processes()
    for name in settings.processes:
        if name not in known:
            raise ValueError(f"processes: unknown {name!r}; known: {sorted(known)}")
    out = []
    for kind, per_dim in (("exact", {1: settings.data_1d, 2: settings.data_2d}),
                          ("grid", {1: settings.grid_data_1d, 2: settings.grid_data_2d})):
        for ndim, names in per_dim.items():
            laws = datasets(ndim)
            for name in names:
                if name not in laws:
                    raise ValueError(f"data_{ndim}d: unknown data set {name!r}; known: "
                                     f"{sorted(laws)}")
                for pname in settings.processes:
                    levels = range(settings.grid_levels) if kind == "grid" else (0,)
                    out += [Case(kind, ndim, pname, name, level) for level in levels]
    return out


def _box(dist, ndim: int) -> tuple[float, float]:
    """Half-width of the study box (data radius + 5 sigma_T) and squared data radius."""
    samples = dist.sample(4000, np.random.default_rng(1))
    r0 = float(np.max(np.abs(samples)))
    r0_sq = float(np.max(np.sum(samples.reshape(-1, ndim) ** 2, axis=-1)))
    sigma_T = max(math.sqrt(p.sigma2(p.T)) for p in processes().values())
    return r0 + 5.0 * sigma_T, r0_sq


def fd_hessian(log_density, x: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Central second differences of ``log_density`` at ``x`` (shape ``(m, n)``) with
    step ``h``: ``D_ii = (f(x+h e_i) - 2 f(x) + f(x-h e_i)) / h^2``, ``D_ij = (f(++) -
    f(+-) - f(-+) + f(--)) / (4 h^2)``.  Returns ``(D, scale)``, shapes ``(m, n, n)``
    and ``(m,)``, ``scale = max |f| + 1`` over the stencil (for the round-off bound)."""
    m, n = x.shape
    f0 = log_density(x)
    hess = np.empty((m, n, n))
    scale = np.abs(f0) + 1.0
    eye = np.eye(n) * h
    for i in range(n):
        fp, fm = log_density(x + eye[i]), log_density(x - eye[i])
        hess[:, i, i] = (fp - 2.0 * f0 + fm) / h**2
        scale = np.maximum(scale, np.maximum(np.abs(fp), np.abs(fm)) + 1.0)
        for j in range(i):
            corners = [log_density(x + si * eye[i] + sj * eye[j])
                       for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
            hess[:, i, j] = hess[:, j, i] = (corners[0] - corners[1] - corners[2]
                                             + corners[3]) / (4.0 * h**2)
            for c in corners:
                scale = np.maximum(scale, np.abs(c) + 1.0)
    return hess, scale


def _margins(hess: np.ndarray, sigma2: float) -> tuple[np.ndarray, np.ndarray]:
    ndim = hess.shape[-1]
    li_yau = (np.trace(hess, axis1=-2, axis2=-1) + ndim / sigma2) * sigma2 / ndim
    hamilton = (np.linalg.eigvalsh(hess)[..., 0] + 1.0 / sigma2) * sigma2
    return li_yau, hamilton


def _compute_exact(case: Case, settings: Settings) -> dict:
    dist = datasets(case.ndim)[case.data]
    process = processes()[case.process]
    half, r0_sq = _box(dist, case.ndim)
    count = settings.exact_points_1d if case.ndim == 1 else settings.exact_points_2d
    rng = np.random.default_rng(settings.seed)
    times = np.geomspace(settings.t_min, process.T, settings.n_times)
    steps = np.asarray(settings.fd_steps, dtype=float)
    levels = steps.size - 1
    eps = np.finfo(float).eps
    out = {k: np.empty((levels, times.size)) for k in (
        "li_yau_min", "hamilton_min", "violation", "disagreement", "raw_disagreement",
        "roundoff")}
    out.update({k: np.empty(times.size) for k in ("tweedie_li_yau_min",
                                                  "tweedie_hamilton_min")})
    n = case.ndim
    for k, t in enumerate(times):
        sigma2 = float(process.sigma2(t))
        sigma = math.sqrt(sigma2)
        alpha2 = float(process.alpha(t)) ** 2
        # Where the mass of p_t is: x = alpha_t X_0 + sigma_t Z.  (Far in the tails log p
        # has curvature layers of width sigma^2/distance, below any step h ~ sigma.)
        points = (math.sqrt(alpha2) * dist.sample(count, rng).reshape(count, n)
                  + sigma * rng.standard_normal((count, n)))
        tweedie = dist.hessian(points, float(t), process)
        tw_ly, tw_ham = _margins(tweedie, sigma2)
        out["tweedie_li_yau_min"][k], out["tweedie_hamilton_min"][k] = tw_ly.min(), tw_ham.min()
        # Terms of the Tweedie form are as large as n/sigma^2 + alpha^2 R0^2/sigma^4.
        tw_bound = TWEEDIE_ULPS * eps * (n / sigma2 + alpha2 * r0_sq / sigma2**2) * sigma2

        def log_p(x, t=float(t)):
            return dist.log_density(x, t, process)

        diffs = [fd_hessian(log_p, points, c * sigma) for c in steps]
        for j in range(levels):
            h = steps[j + 1] * sigma
            hess = (4.0 * diffs[j + 1][0] - diffs[j][0]) / 3.0
            scale = np.maximum(diffs[j][1], diffs[j + 1][1])
            # Round-off of the extrapolated stencil, in relative-margin units.
            bound = RICHARDSON_STENCIL * n * LOG_DENSITY_ULPS * eps * scale * sigma2 / h**2
            ly, ham = _margins(hess, sigma2)
            out["roundoff"][j, k] = float(bound.max())
            out["li_yau_min"][j, k], out["hamilton_min"][j, k] = ly.min(), ham.min()
            out["violation"][j, k] = max(float(np.max(np.maximum(-ly - bound, 0.0))),
                                         float(np.max(np.maximum(-ham - bound, 0.0))))
            diff = np.maximum(np.abs(ly - tw_ly), np.abs(ham - tw_ham))
            out["raw_disagreement"][j, k] = float(diff.max())
            out["disagreement"][j, k] = float(np.max(np.maximum(diff - bound - tw_bound, 0.0)))
    out = {key: Labelled(value, ("steps", "t") if value.ndim == 2 else ("t",),
                         long_name=_EXACT_NAMES[key]) for key, value in out.items()}
    out.update({"t": Labelled(times, ("t",), long_name="time t"),
                "sigma": Labelled(np.sqrt(process.sigma2(times)), ("t",),
                                  long_name="sigma_t (noise scale of the forward process)"),
                "steps": Labelled(steps[1:], ("steps",),
                                  long_name="finest finite-difference step h / sigma_t of the "
                                            "Richardson pair"),
                "data": str(dist), "process": str(process),
                "half_width": half, "points": int(count)})
    if case.ndim == 2 and case.data == "checkerboard" and case.process == "heat":
        grid = Grid([(-half, half)] * 2, 48)
        t_map = float(times[times.size // 2])
        ly, _ = _margins(dist.hessian(grid.points(), t_map, process), float(process.sigma2(t_map)))
        out["map"] = {"t": t_map,
                      "x": Labelled(grid.centers[0], ("x",), long_name="cell-centre x"),
                      "y": Labelled(grid.centers[1], ("y",), long_name="cell-centre y"),
                      "relative_margin": Labelled(
                          ly, ("x", "y"), long_name="relative Li-Yau margin "
                          "(tr Hess log p_t + n / sigma_t^2) sigma_t^2 / n at the cell centres")}
    return out


# Descriptions of the per-(step, time) and per-time arrays of the exact cases.
_EXACT_NAMES = {
    "li_yau_min": "minimum relative Li-Yau margin over the sample points "
                  "(Richardson finite-difference Hessian)",
    "hamilton_min": "minimum relative Hamilton margin over the sample points "
                    "(Richardson finite-difference Hessian)",
    "violation": "negative part of the margins beyond their round-off bound",
    "disagreement": "disagreement with the Tweedie-Hessian margins beyond the round-off bounds",
    "raw_disagreement": "largest disagreement with the Tweedie-Hessian margins",
    "roundoff": "round-off bound of the finite-difference margins",
    "tweedie_li_yau_min": "minimum relative Li-Yau margin over the sample points (Tweedie "
                          "Hessian)",
    "tweedie_hamilton_min": "minimum relative Hamilton margin over the sample points (Tweedie "
                            "Hessian)",
}


def _compute_grid(case: Case, settings: Settings) -> dict:
    from ..fokker_planck import solve_forward

    dist = datasets(case.ndim)[case.data]
    process = processes()[case.process]
    half, _ = _box(dist, case.ndim)
    base = settings.grid_cells_1d if case.ndim == 1 else settings.grid_cells_2d
    grid = Grid([(-half, half)] * case.ndim, base * 2**case.level)
    rtol = settings.grid_rtol * 4.0**-case.level
    t_start = process.time_where_sigma(settings.grid_sigma_start)
    t_grid = np.geomspace(t_start, process.T, settings.grid_n_times)
    p0 = grid.normalize(dist.cell_average(grid, float(t_grid[0]), process))
    solution = solve_forward(p0, grid, process, t_grid, rtol=rtol)
    li_yau = np.empty(t_grid.size)
    for j, t in enumerate(t_grid):
        margin, mask = li_yau_margin_grid(solution.p[j], grid, process, float(t),
                                          floor=GRID_FLOOR)
        li_yau[j] = margin[mask].min() * float(process.sigma2(t)) / case.ndim
    return {"t": Labelled(t_grid, ("t",), long_name="time t"),
            "li_yau_min": Labelled(li_yau, ("t",), long_name="minimum relative Li-Yau margin "
                                   "of the grid solution (cells above the density floor)"),
            "violation": Labelled(np.maximum(-li_yau, 0.0), ("t",),
                                  long_name="negative part of the minimum relative Li-Yau "
                                            "margin"),
            "h": float(grid.spacing.max()), "h_relative": 2.0**-case.level, "rtol": rtol,
            "cells": int(grid.shape[0]), "min_density": float(solution.p.min())}


def compute(case: Case, settings: Settings) -> dict:
    if case.kind == "exact":
        return _compute_exact(case, settings)
    return _compute_grid(case, settings)


def _worst(results: dict, prefix: str, field: str) -> tuple[np.ndarray, list[str]]:
    """Per Richardson level: max of ``field`` over the exact cases, with the worst key."""
    rows = {k: r[field].max(axis=1) for k, r in results.items() if k.startswith(prefix)}
    table = np.array(list(rows.values()))
    keys = list(rows)
    return table.max(axis=0), [keys[i] for i in table.argmax(axis=0)]


def checks(results: dict[str, dict], settings: Settings) -> list[Check]:
    exact = {k: r for k, r in results.items() if k.startswith("exact/")}
    steps = np.asarray(next(iter(exact.values()))["steps"])
    violation, worst_v = _worst(exact, "exact/", "violation")
    disagreement, worst_d = _worst(exact, "exact/", "disagreement")
    raw = max(float(r["raw_disagreement"][-1].max()) for r in exact.values())
    tightest = min(exact, key=lambda k: float(exact[k]["li_yau_min"][-1].min()))
    allowance = max(float(r["roundoff"][-1].max()) for r in exact.values())
    out = [
        Check.vanishing(
            "li_yau_exact",
            "Lap log p_t >= -n/sigma_t^2 and Hess log p_t >= -I/sigma_t^2 for every data set "
            "x process x dimension, Hessian of the exact log p_t by Richardson-extrapolated "
            "finite differences (independent of the Tweedie identity)",
            steps, violation,
            criterion="negative part of either relative margin beyond the stencil round-off "
            "bound, max over cases/points/times, at each FD step c (h = c sigma_t): PASS iff "
            "zero or vanishing with fitted order whose 95% interval lies above 0.5",
            figure=FIGURE, detail=f"tightest margin "
            f"{float(exact[tightest]['li_yau_min'][-1].min()):.3g} in {tightest}; largest "
            f"round-off allowance at the finest step {allowance:.2g}; worst per step: "
            f"{', '.join(worst_v)}"),
        Check.vanishing(
            "li_yau_tweedie_route",
            "the finite-difference Hessian of log p_t agrees with the Tweedie form "
            "(trace and lambda_min, relative to 1/sigma_t^2)",
            steps, disagreement,
            criterion="|FD - Tweedie| relative margins beyond both round-off bounds, max over "
            "cases/points/times, vanishes as c -> 0 with fitted order whose 95% interval lies "
            "above 0.5",
            figure=FIGURE_REFINE, detail=f"raw max difference at the finest step {raw:.3g}; "
            f"worst per step: {', '.join(worst_d)}"),
    ]
    grid = {k: r for k, r in results.items() if k.startswith("grid/")}
    if grid:
        per_level: dict[float, tuple[float, str]] = {}
        for key, r in grid.items():
            h, v = float(r["h_relative"]), float(np.max(r["violation"]))
            if h not in per_level or v > per_level[h][0]:
                per_level[h] = (v, key)
        hs = sorted(per_level, reverse=True)
        lowest = min(grid, key=lambda k: float(grid[k]["li_yau_min"].min()))
        out.append(Check.vanishing(
            "li_yau_grid",
            "the Li-Yau margin of forward grid-solver snapshots (findiff on log p) is >= 0 up "
            "to a discretisation error that vanishes",
            hs, [per_level[h][0] for h in hs],
            criterion=f"negative part of the relative margin, max over cases and times, at "
            f"{settings.grid_levels} resolutions (h halved, rtol quartered; start fixed at "
            f"sigma = {settings.grid_sigma_start:g}): PASS iff zero or vanishing with fitted "
            "order whose 95% interval lies above 0.5",
            figure=FIGURE_REFINE,
            detail=f"lowest margin {float(grid[lowest]['li_yau_min'].min()):.3g} in {lowest}; "
            f"worst per level: {', '.join(per_level[h][1] for h in hs)}"))
    return out


def figures(results: dict[str, dict], folder: Path) -> list[Path]:
    from ..plotting import human, plt, save_figure, style

    folder = Path(folder)
    paths: list[Path] = []
    grid_finest: dict[str, dict] = {}
    for key, r in results.items():
        if key.startswith("grid/"):
            stem = key.rsplit("/", 1)[0].replace("grid/", "")
            if stem not in grid_finest or r["h_relative"] < grid_finest[stem]["h_relative"]:
                grid_finest[stem] = r
    margin_label = r"$\min_x\,(\Delta \log p_t + n/\sigma_t^2)\,\sigma_t^2/n$"
    with style():
        fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
        for row, ndim in enumerate(("1d", "2d")):
            for col, pname in enumerate(("heat", "vp")):
                ax = axes[row, col]
                for key, r in results.items():
                    if not key.startswith(f"exact/{ndim}/{pname}/"):
                        continue
                    case = key.rsplit("/", 1)[1]
                    line = ax.plot(r["t"], r["li_yau_min"][-1], label=human(case))[0]
                    ax.plot(r["t"], r["tweedie_li_yau_min"], ":", color=line.get_color())
                    g = grid_finest.get(f"{ndim}/{pname}/{case}")
                    if g is not None:
                        ax.plot(g["t"], g["li_yau_min"], "o", ms=3, color=line.get_color())
                ax.set_xscale("log")
                ax.set_yscale("symlog", linthresh=1e-8)
                ax.axhline(0.0, color="k", lw=0.8)
                ax.set_title(f"{human(ndim)}, {human(pname)}")
                ax.set_ylabel(margin_label)
                if ax.get_legend_handles_labels()[0]:
                    ax.legend()
        for ax in axes[-1]:
            ax.set_xlabel("time $t$")
        for ax in axes[0]:
            ax.set_xlabel("time $t$")
        fig.suptitle("Li\N{EN DASH}Yau relative margin (the bound: $\\geq 0$): lines finite "
                     "differences of the exact log density, dotted the Tweedie form, "
                     "dots the grid solver (finest)", fontsize=10, wrap=True)
        fig.tight_layout()
        paths += save_figure(fig, folder / "li_yau_min_margin", formats=("png",))

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        titles = {"violation": "Exact route: violation beyond round-off",
                  "raw_disagreement": "Exact route: |finite differences - Tweedie| (relative)"}
        ylabels = {"violation": "max negative part of the margin",
                   "raw_disagreement": "max relative disagreement"}
        for field, ax in zip(("violation", "raw_disagreement"), axes):
            for key, r in results.items():
                if key.startswith("exact/"):
                    value = np.asarray(r[field]).max(axis=1)
                    if np.any(value > 0):
                        ax.loglog(r["steps"], np.where(value > 0, value, np.nan), ".-", lw=0.8,
                                  label=human(key.split("/", 1)[1]))
            ax.set_xlabel(r"finite-difference step $/\,\sigma_t$")
            ax.set_ylabel(ylabels[field])
            ax.set_title(titles[field])
            if ax.get_legend_handles_labels()[0]:
                ax.legend(ncol=2)
        fig.tight_layout()
        paths += save_figure(fig, folder / "li_yau_refinement", formats=("png",))
        maps = [r["map"] for r in results.values() if "map" in r]
        if maps:
            m = maps[0]
            fig, ax = plt.subplots(figsize=(5.5, 4.5))
            field = np.maximum(m["relative_margin"], 1e-16)
            mesh = ax.pcolormesh(m["x"], m["y"], np.log10(field).T, shading="auto")
            fig.colorbar(mesh, ax=ax, label="$\\log_{10}$ relative Li\N{EN DASH}Yau margin")
            ax.set_aspect("equal")
            ax.set_xlabel("$x$")
            ax.set_ylabel("$y$")
            ax.set_title(f"Checkerboard, heat flow, $t = {m['t']:.3g}$ (Tweedie form)")
            fig.tight_layout()
            paths += save_figure(fig, folder / "li_yau_map", formats=("png",))
    return paths

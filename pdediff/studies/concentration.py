"""Concentration of the reverse dynamics onto the data support (DESIGN section 3.4).

Question: with the exact score, do reverse solutions started from *any* reasonable law
``q_T`` concentrate on ``K = supp p_0`` as ``t -> 0``, and how fast?  DESIGN 3.4 bounds

    E_{q_t}[d_K^2] <= 4 sigma_t^2 (KL0 + (n/2) ln 2),    KL0 = KL(q_T || p_T),

for the heat flow, so ``RMS d_K = (E d_K^2)^(1/2)`` decays at least like ``sigma_t ~
t^(1/2)``.  The study uses ``HeatFlow(kappa=1/8, T=1)`` (``sigma_t^2 = t/4``,
``alpha_t = 1``, so ``d_K`` is the distance to ``K`` itself and the bound applies as
written) with

* supports ``K``: points and a segment (1-D); points, a box, a circle and an annulus
  (2-D);
* reverse family ``eps in {0, 1}`` (probability-flow ODE, reverse SDE);
* initialisations ``q_T``: ``p_T`` itself, the process prior ``N(0, sigma_T^2 I)``,
  and the uniform law on the grid box ``[-L, L]^n``.

Each case is run on the grid (:func:`pdediff.fokker_planck.solve_reverse`,
``E_{q_t}[d_K^2] = sum_cells q d_K(centre)^2 dV``) at two resolutions ``h`` and
``2h``, and with ``>= 1e4`` particles (:func:`pdediff.particles.reverse`, log-spaced
steps down to ``t0 = 1e-4``).  ``KL0`` is computed on the fine grid from exact cell
averages of ``q_T`` and ``p_T``.

Rates.  The fitted log-log slope of ``RMS d_K`` against ``t`` is the measured rate.
The bound gives *at least* ``1/2``; the asymptotic rate depends on the codimension of
``K``: for points and the circle (codimension >= 1) the mass near ``K`` is a Gaussian
layer of width ``sigma_t`` so ``E d_K^2 ~ sigma_t^2`` (rate 1/2), while for sets with
interior (segment, box, annulus) only a boundary layer of mass ``~ sigma_t`` lies
outside ``K``, at distances ``~ sigma_t``, so ``E d_K^2 ~ sigma_t^3`` (rate 3/4).
The rate checks therefore compare the particle fit over the asymptotic window
``t in [1e-4, 1e-2]`` (``sigma_t <= 0.05``, a tenth of the smallest feature of ``K``)
with 1/2 or 3/4 according to the codimension; a CI that misses 1/2 for a set with
interior is the faster rate, not a violation of the bound.  The grid fits use the
window ``3 h <= sigma_t <= 0.15`` (below ``~h`` the grid has a resolution floor:
mass cannot concentrate within less than a cell), are reported, and are not checked
against the asymptotic rate because that window is pre-asymptotic on quick grids.

Bound checks.  At every output time: grid ``E d_K^2 <= bound + tol`` with ``tol =
|E_h - E_2h|`` (the discretisation error measured by the two resolutions); particles
``mean(d_K^2) <= bound + 3 SE`` (SE the Monte-Carlo standard error).  A failure is
reported as such, with whether it exceeds the discretisation/sampling tolerance.

Quick mode (``--quick``, ~20 s CPU) runs a subset: on the grid 1-D points (``p_T``,
SDE), the segment (``p_T`` ODE, uniform SDE) and the 2-D circle (uniform, SDE) at 160
and 48^2 cells; with 1e4 particles and 50 log-spaced steps the prior ODE (points,
circle) or the ``p_T`` SDE (sets with interior) and the uniform SDE for every support.
The full run does every (support, init, eps) case (the annulus, whose score costs ~10x,
on three grid cases and with 1e4 instead of 2e4 particles) at 640 and 80^2 cells with
160 steps.

    python studies/concentration.py --quick
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..distributions import Annulus, Box, Circle, Points, point_mass
from ..fokker_planck import solve_reverse
from ..grid import Grid
from ..metrics import fit_rate, kl
from ..particles import reverse as particles_reverse
from ..plotting import save_figure
from ..processes import HeatFlow
from ..scores import exact
from ..theory import concentration_bound
from .common import Check, figure_dir, format_table, write_study

DESCRIPTION = "sqrt(t) concentration of reverse dynamics onto supp p_0"
NAME = "concentration"

#: half-width L of the computational box [-L, L]^n (5 sigma_T beyond the supports)
HALF_WIDTH = 2.5
#: particle fit window (asymptotic regime: sigma_t <= 0.05)
PARTICLE_FIT = (1e-4, 1e-2)
#: grid fit window in sigma_t: from GRID_RESOLVED * h up to GRID_SIGMA_MAX
GRID_RESOLVED = 3.0
GRID_SIGMA_MAX = 0.15
INITS = ("p_T", "prior", "uniform")


@dataclass(frozen=True)
class Settings:
    """Resolution of one run (quick or full)."""

    cells: dict[int, int]
    n_particles: int
    particle_steps: int
    particle_t0: float
    n_times_particles: int
    n_times_grid: int
    grid_cases: tuple[tuple[str, str, float], ...] | None
    particle_cases: tuple[tuple[str, str, float], ...] | None
    rtol: float


def settings(quick: bool) -> Settings:
    """Quick: small grids, and a subset of (support, init, eps) cases chosen to keep
    every support and both members of the family in the 20 s budget; full: all."""
    if quick:
        grid_cases = tuple(
            [("1d_points", "p_T", 1.0), ("1d_segment", "p_T", 0.0),
             ("1d_segment", "uniform", 1.0)]
            + [("2d_circle", "uniform", 1.0)]
        )
        # codim >= 1: the ODE from the prior; interior sets: the SDE from p_T (exact rate
        # 3/4; Euler-Maruyama needs half the score calls of Heun); all: SDE from uniform
        particle_cases = tuple(
            [(k, "p_T", 1.0) if supports()[k][1] == 0 else (k, "prior", 0.0)
             for k in _SUPPORT_NAMES]
            + [(k, "uniform", 1.0) for k in _SUPPORT_NAMES]
        )
        return Settings({1: 160, 2: 48}, 10_000, 50, 1e-4, 25, 12, grid_cases,
                        particle_cases, 1e-3)
    # the annulus score (radial quadrature) costs ~10x the others per point: on the
    # grid it gets three of the six (init, eps) cases (each init, both eps)
    grid_cases = tuple(
        (k, init, eps) for k in _SUPPORT_NAMES for init in INITS for eps in (0.0, 1.0)
        if k != "2d_annulus" or (init, eps) in (("p_T", 1.0), ("prior", 0.0), ("uniform", 1.0))
    )
    return Settings({1: 640, 2: 80}, 20_000, 160, 1e-4, 33, 20, grid_cases, None, 1e-4)


def supports() -> dict[str, tuple[Any, int]]:
    """The data laws ``p_0`` by name ``"{n}d_{kind}"``, with the codimension of their
    support ``K`` in ``R^n`` (0 for sets with interior).  Box edges lie on cell faces
    of every grid used (multiples of ``5/32``)."""
    return {
        "1d_points": (Points([[-0.75], [0.0], [0.5]]), 1),
        "1d_segment": (Box([-0.5], [0.5]), 0),
        "2d_points": (Points([[-0.5, -0.5], [0.5, -0.25], [0.0, 0.5]]), 2),
        "2d_box": (Box([-0.625, -0.46875], [0.625, 0.46875]), 0),
        "2d_circle": (Circle([0.0, 0.0], 0.75), 1),
        # panels=1, nodes=12: relative score error <= 4e-4 at t >= 1e-4 against the
        # default 4 x 16 rule, and 4x cheaper (the radial quadrature dominates the cost)
        "2d_annulus": (Annulus([0.0, 0.0], 0.5, 0.875, panels=1, nodes=12), 0),
    }


_SUPPORT_NAMES = ("1d_points", "1d_segment", "2d_points", "2d_box", "2d_circle", "2d_annulus")


def predicted_rate(codimension: int) -> float:
    """Asymptotic log-log slope of ``RMS d_K`` against ``t``: ``1/2`` when ``K`` has
    codimension ``>= 1`` (``E d_K^2 ~ sigma_t^2``), ``3/4`` when ``K`` has interior
    (boundary layer: ``E d_K^2 ~ sigma_t^3``)."""
    if not isinstance(codimension, (int, np.integer)) or codimension < 0:
        raise ValueError(f"codimension: expected an int >= 0, got {codimension!r}")
    return 0.5 if codimension >= 1 else 0.75


def initial_density(init: str, dist: Any, grid: Grid, process: HeatFlow) -> np.ndarray:
    """Cell averages of ``q_T`` on ``grid`` (normalised to mass 1 in the box):
    ``"p_T"`` the exact ``p_T`` of ``dist``; ``"prior"`` ``N(0, sigma_T^2 I)``;
    ``"uniform"`` ``1 / |box|``.  Shape ``grid.shape``."""
    T = process.T
    if init == "p_T":
        q = dist.cell_average(grid, T, process)
    elif init == "prior":
        # the prior is the heat kernel from the origin (alpha_t = 1 for heat flow)
        q = point_mass(np.zeros(grid.ndim)).cell_average(grid, T, process)
    elif init == "uniform":
        q = np.full(grid.shape, 1.0 / grid.volume)
    else:
        raise ValueError(f"init: expected one of {INITS}, got {init!r}")
    return grid.normalize(q)


def initial_particles(init: str, dist: Any, n: int, process: HeatFlow, ndim: int,
                      rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of the same ``q_T`` as :func:`initial_density`, shape ``(n, ndim)``."""
    T = process.T
    if init == "p_T":
        return dist.sample(n, rng, T, process)
    if init == "prior":
        return math.sqrt(process.prior_variance()) * rng.standard_normal((n, ndim))
    if init == "uniform":
        return rng.uniform(-HALF_WIDTH, HALF_WIDTH, size=(n, ndim))
    raise ValueError(f"init: expected one of {INITS}, got {init!r}")


def grid_mean_d2(solution_p: np.ndarray, d2: np.ndarray, grid: Grid) -> np.ndarray:
    """``E_{q_t}[d_K^2] = sum_cells q d_K(centre)^2 dV / sum_cells q dV`` for each
    snapshot; ``solution_p`` shape ``(nt, *grid.shape)``, ``d2`` shape
    ``grid.shape`` (length^2).  Returns shape ``(nt,)`` (length^2)."""
    mass = grid.integrate(solution_p)
    return grid.integrate(solution_p * d2) / mass


def _grid_run(dist, process, score, init, eps, grid, t_eval, rtol):
    q_T = initial_density(init, dist, grid, process)
    tic = time.perf_counter()
    sol = solve_reverse(q_T, grid, process, score, t_eval, eps=eps, rtol=rtol)
    wall = time.perf_counter() - tic
    d2 = dist.distance_to_support(grid.points()) ** 2
    return grid_mean_d2(sol.p, d2, grid), wall


def _kl0(init, dist, grid, process):
    p_T = initial_density("p_T", dist, grid, process)
    q_T = initial_density(init, dist, grid, process)
    return max(kl(q_T, p_T, grid), 0.0)


def bootstrap_slope_sd(t: np.ndarray, values: np.ndarray, rng: np.random.Generator,
                       repeats: int = 200, statistic: str = "rms") -> float:
    """Bootstrap standard deviation of the least-squares log-log slope of a particle
    statistic against ``t``, over ``repeats`` resamplings with replacement of the ``N``
    particles (the same resampling at every time).

    ``statistic="rms"``: ``values`` are squared distances ``d^2`` and the fitted
    quantity is ``(mean_k d_k^2)^(1/2)`` (RMS ``d``); ``"mean"``: ``values`` are
    distances and the fitted quantity is ``mean_k d_k``.

    ``t``: shape ``(nt,)``, positive (times or any positive abscissa); ``values``: shape
    ``(nt, N)``, the same particles at each time.  Returns the slope's standard
    deviation (dimensionless).  The regression CI of :func:`pdediff.metrics.fit_rate`
    misses this sampling error, which is common to all times.
    """
    t = np.asarray(t, dtype=float)
    values = np.asarray(values, dtype=float)
    if t.ndim != 1 or values.ndim != 2 or values.shape[0] != t.shape[0]:
        raise ValueError(f"values: expected shape (len(t), N), got {values.shape} for t "
                         f"{t.shape}")
    if statistic not in ("rms", "mean"):
        raise ValueError(f"statistic: expected 'rms' or 'mean', got {statistic!r}")
    power = 0.5 if statistic == "rms" else 1.0
    n = values.shape[1]
    slopes = np.empty(repeats)
    lt = np.log(t) - np.log(t).mean()
    for r in range(repeats):
        ly = power * np.log(values[:, rng.integers(0, n, n)].mean(axis=1))
        slopes[r] = np.sum(lt * (ly - ly.mean())) / np.sum(lt * lt)
    return float(np.std(slopes, ddof=1))


def _fit(t, y, window):
    mask = (t >= window[0] * (1 - 1e-12)) & (t <= window[1] * (1 + 1e-12)) & (y > 0)
    if mask.sum() < 3:
        return None, mask
    return fit_rate(t[mask], y[mask]), mask


def run(quick: bool = False, out: Path = Path("data"), progress: bool = True) -> dict:
    """Run the concentration study (module docstring); write ``out/concentration.h5``
    and ``out/figures/concentration.{png,pdf}``, ``concentration_rates.{png,pdf}``.

    Returns ``{"table": str, "checks": [Check, ...], "rows": [...], "elapsed_s": s}``.
    """
    start = time.perf_counter()
    out = Path(out)
    cfg = settings(quick)
    process = HeatFlow(kappa=0.125, T=1.0)
    T = process.T
    support_map = supports()
    results: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    tasks = []
    for key in _SUPPORT_NAMES:
        for init in INITS:
            for eps in (0.0, 1.0):
                on_grid = cfg.grid_cases is None or (key, init, eps) in cfg.grid_cases
                on_particles = (cfg.particle_cases is None
                                or (key, init, eps) in cfg.particle_cases)
                if on_grid or on_particles:
                    tasks.append((key, init, eps, on_grid, on_particles))
    iterator = tasks
    if progress:
        from tqdm import tqdm

        iterator = tqdm(tasks, desc=NAME, leave=False)
    grids: dict[str, tuple[Grid, Grid]] = {}
    for key, init, eps, on_grid, on_particles in iterator:
        dist, codim = support_map[key]
        ndim = dist.ndim
        if key not in grids:
            n_cells = cfg.cells[ndim]
            grids[key] = (Grid([(-HALF_WIDTH, HALF_WIDTH)] * ndim, n_cells),
                          Grid([(-HALF_WIDTH, HALF_WIDTH)] * ndim, n_cells // 2))
        fine, coarse = grids[key]
        h = float(fine.spacing[0])
        score = exact(dist, process)
        kl0 = _kl0(init, dist, fine, process)
        case = f"{init}_eps{int(eps)}"
        node: dict[str, Any] = {"kl0": kl0, "eps": eps, "init": init, "codimension": codim,
                                "predicted_rate": predicted_rate(codim)}
        row: dict[str, Any] = {"support": key, "init": init, "eps": eps, "kl0": kl0,
                               "codim": codim}
        if on_grid:
            # stop where sigma_t = h: below it the grid cannot hold the concentration
            t_end = h**2 / (2 * process.kappa)
            t_grid = np.geomspace(T, t_end, cfg.n_times_grid)
            e_fine, wall_fine = _grid_run(dist, process, score, init, eps, fine, t_grid,
                                          cfg.rtol)
            e_coarse, wall_coarse = _grid_run(dist, process, score, init, eps, coarse,
                                              t_grid, cfg.rtol)
            bound = concentration_bound(kl0, ndim, process, t_grid)
            tol = np.abs(e_fine - e_coarse)
            if init == "p_T":
                # q_t = p_t exactly: the solver error of E d_K^2 against exact cell averages
                node["grid_exact"] = {
                    f"mean_d2_exact_{label}": np.array([
                        grid_mean_d2(dist.cell_average(g, float(t), process)[None], d2g, g)[0]
                        for t in t_grid])
                    for label, g, d2g in (
                        ("fine", fine, dist.distance_to_support(fine.points()) ** 2),
                        ("coarse", coarse, dist.distance_to_support(coarse.points()) ** 2))
                }
                err_f = np.abs(e_fine / node["grid_exact"]["mean_d2_exact_fine"] - 1)
                err_c = np.abs(e_coarse / node["grid_exact"]["mean_d2_exact_coarse"] - 1)
                node["grid_exact"]["relerr_fine"] = err_f
                node["grid_exact"]["relerr_coarse"] = err_c
                resolved = np.sqrt(process.sigma2(t_grid)) >= GRID_RESOLVED * h
                row["exact_err_fine"] = float(err_f[resolved].max())
                row["exact_err_coarse"] = float(err_c[resolved].max())
            sigma = np.sqrt(process.sigma2(t_grid))
            window = (float((GRID_RESOLVED * h) ** 2 / (2 * process.kappa)),
                      float(GRID_SIGMA_MAX**2 / (2 * process.kappa)))
            fit, mask = _fit(t_grid, np.sqrt(e_fine), window)
            fit_c, _ = _fit(t_grid, np.sqrt(e_coarse), window)
            node["grid"] = {
                "t": t_grid, "sigma": sigma, "mean_d2": e_fine, "mean_d2_coarse": e_coarse,
                "rms": np.sqrt(e_fine), "bound_d2": bound, "tolerance_d2": tol,
                "fit_mask": mask.astype(np.int8), "h": h, "h_coarse": 2 * h,
                "wall_time_s": wall_fine, "wall_time_coarse_s": wall_coarse,
                "slope": np.nan if fit is None else fit.slope,
                "slope_ci": np.full(2, np.nan) if fit is None else np.array(fit.ci),
                "slope_coarse": np.nan if fit_c is None else fit_c.slope,
            }
            row["grid_margin"] = float(np.min((bound + tol - e_fine) / bound))
            row["grid_excess_no_tol"] = float(np.max(e_fine - bound))
            row["grid_slope"] = node["grid"]["slope"]
        if on_particles:
            rng = np.random.default_rng([20240503, _SUPPORT_NAMES.index(key), INITS.index(init),
                                         int(eps)])
            # the annulus score costs ~10x: its particle count is capped at 1e4
            n_particles = cfg.n_particles if key != "2d_annulus" else min(cfg.n_particles,
                                                                          10_000)
            x_T = initial_particles(init, dist, n_particles, process, ndim, rng)
            t_part = np.geomspace(T, cfg.particle_t0, cfg.n_times_particles)
            seed = int(rng.integers(2**31))
            tic = time.perf_counter()
            sol = particles_reverse(x_T, process, score, t_part, eps=eps,
                                    steps=cfg.particle_steps, seed=seed, time_grid="log")
            wall = time.perf_counter() - tic
            d2 = dist.distance_to_support(sol.x) ** 2
            mean = d2.mean(axis=1)
            se = d2.std(axis=1, ddof=1) / math.sqrt(d2.shape[1])
            bound = concentration_bound(kl0, ndim, process, t_part)
            fit, mask = _fit(t_part, np.sqrt(mean), PARTICLE_FIT)
            # the lower decade alone: a slope that moves towards the target there is a
            # pre-asymptotic correction (e.g. curvature sigma_t^2 / R^2 for the circle)
            fit_low, _ = _fit(t_part, np.sqrt(mean), (PARTICLE_FIT[0], 10 * PARTICLE_FIT[0]))
            boot_sd = bootstrap_slope_sd(t_part[mask], d2[mask], rng) if fit else np.nan
            # the same particles with half the steps: the time-discretisation error of the
            # slope (a constant relative error per step on a log grid is a power of t)
            half_sol = particles_reverse(x_T, process, score, t_part, eps=eps,
                                         steps=cfg.particle_steps // 2, seed=seed,
                                         time_grid="log")
            mean_half = (dist.distance_to_support(half_sol.x) ** 2).mean(axis=1)
            fit_half, _ = _fit(t_part, np.sqrt(mean_half), PARTICLE_FIT)
            if fit is not None:
                # the regression CI sees only the scatter about the line; the particles are
                # the same at every t, so their sampling error is common to all points
                # and is added from the bootstrap
                half = math.hypot(0.5 * (fit.ci[1] - fit.ci[0]), 1.96 * boot_sd)
                ci = np.array([fit.slope - half, fit.slope + half])
                step_tol = abs(fit.slope - fit_half.slope)
            node["particles"] = {
                "t": t_part, "mean_d2": mean, "se_d2": se, "rms": np.sqrt(mean),
                "bound_d2": bound, "fit_mask": mask.astype(np.int8),
                "n_particles": n_particles, "steps": int(sol.metadata["n_steps"]),
                "seed": seed, "wall_time_s": wall,
                "slope": np.nan if fit is None else fit.slope,
                "slope_ci": np.full(2, np.nan) if fit is None else ci,
                "slope_ci_regression": np.full(2, np.nan) if fit is None else np.array(fit.ci),
                "slope_bootstrap_sd": boot_sd,
                "slope_half_steps": np.nan if fit is None else fit_half.slope,
                "slope_lower_decade": np.nan if fit_low is None else fit_low.slope,
                "slope_step_tolerance": np.nan if fit is None else step_tol,
                "mean_d2_half_steps": mean_half,
            }
            row["particle_margin"] = float(np.min((bound + 3 * se - mean) / bound))
            row["particle_excess_no_tol"] = float(np.max(mean - bound))
            row["slope"] = node["particles"]["slope"]
            row["slope_ci"] = tuple(node["particles"]["slope_ci"])
            row["step_tol"] = node["particles"]["slope_step_tolerance"]
            row["slope_low"] = node["particles"]["slope_lower_decade"]
        results.setdefault(key, {})[case] = node
        rows.append(row)

    checks = _checks(rows)
    figures = _figures(results, support_map, figure_dir(out))
    elapsed = time.perf_counter() - start
    parameters = {
        "process": repr(process), "kappa": process.kappa, "T": T, "half_width": HALF_WIDTH,
        "cells_1d": cfg.cells[1], "cells_2d": cfg.cells[2], "n_particles": cfg.n_particles,
        "particle_steps": cfg.particle_steps, "particle_t0": cfg.particle_t0,
        "particle_fit_window": list(PARTICLE_FIT), "grid_resolved_factor": GRID_RESOLVED,
        "grid_sigma_max": GRID_SIGMA_MAX, "rtol": cfg.rtol, "elapsed_s": elapsed,
        "figures": ", ".join(figures),
    }
    write_study(out, NAME, parameters, results, checks, quick)
    table = _table(rows) + "\n" + format_table(checks) + f"\n{NAME}: {elapsed:.1f} s"
    return {"table": table, "checks": checks, "rows": rows, "elapsed_s": elapsed}


def _checks(rows: list[dict]) -> list[Check]:
    figure = "figures/concentration.png"
    checks = []
    grid_rows = [r for r in rows if "grid_margin" in r]
    if grid_rows:
        worst = min(grid_rows, key=lambda r: r["grid_margin"])
        violated = [r for r in grid_rows if r["grid_excess_no_tol"] > 0]
        checks.append(Check(
            name="bound_grid",
            statement="grid reverse solutions with the exact score obey E_{q_t}[d_K^2] <= "
            "4 sigma_t^2 (KL0 + (n/2) ln 2) at every output time",
            bound="(bound + tol - E d_K^2) / bound >= 0, tol = |E_h - E_2h|",
            worst=worst["grid_margin"], margin=worst["grid_margin"],
            passed=worst["grid_margin"] >= 0, figure=figure,
            detail=(f"worst {worst['support']}/{worst['init']}/eps={worst['eps']:g}; "
                    f"{len(violated)} of {len(grid_rows)} cases exceed the bound without "
                    "the discretisation tolerance (cells at sigma_t ~ h)" if violated else
                    f"worst {worst['support']}/{worst['init']}/eps={worst['eps']:g}; no case "
                    "needs the tolerance"),
        ))
    part_rows = [r for r in rows if "particle_margin" in r]
    if part_rows:
        worst = min(part_rows, key=lambda r: r["particle_margin"])
        violated = [r for r in part_rows if r["particle_excess_no_tol"] > 0]
        checks.append(Check(
            name="bound_particles",
            statement="particle reverse ODE/SDE with the exact score obey E[d_K^2] <= "
            "4 sigma_t^2 (KL0 + (n/2) ln 2) at every output time down to t0",
            bound="(bound + 3 SE - mean d_K^2) / bound >= 0",
            worst=worst["particle_margin"], margin=worst["particle_margin"],
            passed=worst["particle_margin"] >= 0, figure=figure,
            detail=(f"worst {worst['support']}/{worst['init']}/eps={worst['eps']:g}; "
                    f"{len(violated)} cases exceed the bound by less than 3 SE"
                    if violated else
                    f"worst {worst['support']}/{worst['init']}/eps={worst['eps']:g}"),
        ))
    exact_rows = [r for r in rows if "exact_err_fine" in r]
    if exact_rows:
        worst = max(exact_rows, key=lambda r: r["exact_err_fine"])
        ratios = [r["exact_err_coarse"] / max(r["exact_err_fine"], 1e-300) for r in exact_rows]
        checks.append(Check(
            name="grid_matches_exact_pT",
            statement="from q_T = p_T the grid E_{q_t}[d_K^2] equals the exact E_{p_t}[d_K^2] "
            "(exact cell averages, same quadrature of d_K) up to a solver error that "
            "shrinks under refinement h -> h/2 (sigma_t >= 3h)",
            bound="relative error on h < relative error on 2h",
            worst=worst["exact_err_fine"], margin=float(min(ratios)) - 1.0,
            passed=min(ratios) > 1.0, figure="figures/concentration.png",
            detail=f"worst {worst['support']}/eps={worst['eps']:g}: rel. error "
            f"{worst['exact_err_fine']:.2e} (h), {worst['exact_err_coarse']:.2e} (2h); "
            f"error ratio 2h/h >= {min(ratios):.2f}",
        ))
    rates = "figures/concentration_rates.png"
    for label, codim_ok, target in (
        ("rate_codim_ge1", lambda r: r["codim"] >= 1, 0.5),
        ("rate_interior_pT", lambda r: r["codim"] == 0 and r["init"] == "p_T", 0.75),
    ):
        cases = [r for r in part_rows if codim_ok(r) and np.isfinite(r["slope"])]
        if not cases:
            continue
        # signed distance of the target inside the CI (>= 0: CI contains the target)
        margins = [min(target - r["slope_ci"][0], r["slope_ci"][1] - target) for r in cases]
        # failing only beyond the time-discretisation error measured with steps/2
        failing = [f"{r['support']}/{r['init']}/eps={r['eps']:g} "
                   f"[{r['slope_ci'][0]:.4f}, {r['slope_ci'][1]:.4f}] +- {r['step_tol']:.4f}"
                   f" (lower decade t <= 1e-3: {r['slope_low']:.4f})"
                   for r, m in zip(cases, margins, strict=True) if m + r["step_tol"] < 0]
        within_tol = sum(m < 0 <= m + r["step_tol"]
                         for r, m in zip(cases, margins, strict=True))
        widened = [m + r["step_tol"] for r, m in zip(cases, margins, strict=True)]
        i = int(np.argmin(widened))
        contains_half = sum(r["slope_ci"][0] <= 0.5 <= r["slope_ci"][1] for r in cases)
        kind = ("supports of codimension >= 1 (points, circle), every q_T" if target == 0.5
                else "supports with interior (segment, box, annulus) from q_T = p_T")
        checks.append(Check(
            name=label,
            statement=f"particle RMS d_K ~ t^slope over t in [1e-4, 1e-2] for {kind}: the "
            f"95% CI of the fitted slope (regression + particle bootstrap) contains "
            f"{target:g}",
            bound=f"CI +- step-halving error contains {target:g} (DESIGN 3.4: slope >= 1/2)",
            worst=float(cases[i]["slope"]), margin=float(widened[i]),
            passed=not failing, figure=rates,
            detail=(("failing: " + "; ".join(failing) + "; the bound on E d_K^2 itself "
                     "holds at every t (bound_particles): a finite-window (pre-asymptotic) "
                     "deviation of the rate, not a violation of DESIGN 3.4. ")
                    if failing else "")
            + (f"{within_tol} cases miss {target:g} by less than the time-discretisation "
               "error |slope(steps) - slope(steps/2)| (discretisation, not a violation). "
               if within_tol else "")
            + f"{len(cases)} cases, slopes {min(r['slope'] for r in cases):.3f}.."
            f"{max(r['slope'] for r in cases):.3f}; CI contains 1/2 in {contains_half}"
            + ("" if target == 0.5 else " (E d_K^2 ~ sigma^3 boundary layer: faster "
               "than the bound's 1/2, not a violation; other q_T give init-dependent "
               "rates >= 1/2, from the tail of q_T / p_T)"),
        ))
    at_least = [r for r in part_rows if np.isfinite(r["slope"])]
    if at_least:
        margins = [r["slope_ci"][1] + r["step_tol"] - 0.5 for r in at_least]
        i = int(np.argmin(margins))
        slowest = at_least[i]
        checks.append(Check(
            name="rate_at_least_half",
            statement="particle RMS d_K decays at least like t^(1/2) (DESIGN 3.4): upper "
            "end of the slope CI >= 1/2 for every case",
            bound="CI high + step-halving error - 1/2 >= 0", worst=float(slowest["slope"]),
            margin=float(margins[i]), passed=margins[i] >= 0, figure=rates,
            detail=f"slowest {slowest['support']}/{slowest['init']}/eps={slowest['eps']:g}"
            f" (lower decade t <= 1e-3: {slowest['slope_low']:.4f})"
            + ("; the bound on E d_K^2 itself holds at every t: a finite-window rate "
               "deviation, not a violation of DESIGN 3.4" if margins[i] < 0 else ""),
        ))
    return checks


def _table(rows: list[dict]) -> str:
    lines = [f"{'support':<12} {'init':<8} {'eps':>3} {'KL0':>7} {'slope (particles) 95% CI':>30}"
             f" {'grid slope':>10} {'bound margin grid/part':>23}"]
    for r in rows:
        slope = (f"{r['slope']:.3f} [{r['slope_ci'][0]:.3f}, {r['slope_ci'][1]:.3f}]"
                 if "slope" in r else "-")
        grid_slope = f"{r['grid_slope']:.3f}" if "grid_slope" in r else "-"
        gm = f"{r['grid_margin']:.3f}" if "grid_margin" in r else "-"
        pm = f"{r['particle_margin']:.3f}" if "particle_margin" in r else "-"
        lines.append(f"{r['support']:<12} {r['init']:<8} {r['eps']:>3g} {r['kl0']:>7.3f} "
                     f"{slope:>30} {grid_slope:>10} {gm + ' / ' + pm:>23}")
    return "\n".join(lines)


def _figures(results: dict, support_map: dict, folder: Path) -> list[str]:
    import matplotlib.pyplot as plt

    keys = [k for k in _SUPPORT_NAMES if k in results]
    ncol = 3
    nrow = math.ceil(len(keys) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.6 * nrow), squeeze=False)
    colors = {"p_T": "C0", "prior": "C1", "uniform": "C2"}
    for ax, key in zip(axes.ravel(), keys, strict=False):
        bounds_drawn = set()
        for node in results[key].values():
            init, eps = node["init"], node["eps"]
            color = colors[init]
            style = "-" if eps == 0 else "--"
            if "particles" in node:
                p = node["particles"]
                ax.plot(p["t"], p["rms"], style, color=color, lw=1.2)
                if init not in bounds_drawn:
                    ax.plot(p["t"], np.sqrt(p["bound_d2"]), ":", color=color, lw=1.0)
                    bounds_drawn.add(init)
            if "grid" in node:
                g = node["grid"]
                ax.plot(g["t"], g["rms"], "o" if eps == 0 else "s", color=color, ms=3.5,
                        mfc="none")
                if init not in bounds_drawn:
                    ax.plot(g["t"], np.sqrt(g["bound_d2"]), ":", color=color, lw=1.0)
                    bounds_drawn.add(init)
                t_res = (GRID_RESOLVED * g["h"]) ** 2 / (2 * 0.125)
                ax.axvline(t_res, color="0.6", lw=0.6)
        t_ref = np.array(PARTICLE_FIT)
        ax.plot(t_ref, 0.6 * np.sqrt(t_ref / t_ref[1]) * 0.05, "k-", lw=2, alpha=0.4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{key} (codim {support_map[key][1]})", fontsize=10)
        ax.set_xlabel("t")
        ax.set_ylabel("RMS d_K")
    for ax in axes.ravel()[len(keys):]:
        ax.axis("off")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, lw=2, label=f"q_T = {init}") for init, c in colors.items()]
    handles += [
        Line2D([], [], color="k", ls="-", label="particles, eps = 0 (ODE)"),
        Line2D([], [], color="k", ls="--", label="particles, eps = 1 (SDE)"),
        Line2D([], [], color="k", ls="", marker="o", mfc="none", label="grid, eps = 0"),
        Line2D([], [], color="k", ls="", marker="s", mfc="none", label="grid, eps = 1"),
        Line2D([], [], color="k", ls=":", label="sqrt(4 sigma_t^2 (KL0 + (n/2) ln 2))"),
        Line2D([], [], color="k", lw=2, alpha=0.4, label="slope 1/2"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=8,
               bbox_to_anchor=(0.5, -0.06))
    fig.suptitle("Concentration onto K (HeatFlow): RMS d_K; dotted sqrt(bound of DESIGN 3.4);"
                 " grey line sigma_t = 3h", fontsize=10)
    fig.tight_layout()
    written = [p.name for p in save_figure(fig, folder / "concentration", ("png", "pdf"))]

    fig, ax = plt.subplots(figsize=(8, 3.8))
    labels = []
    i = 0
    for key in keys:
        for case, node in results[key].items():
            if "particles" not in node or not np.isfinite(node["particles"]["slope"]):
                continue
            p = node["particles"]
            low, high = p["slope_ci"]
            tol = float(p["slope_step_tolerance"])
            ax.errorbar([i], [p["slope"]], yerr=[[p["slope"] - low + tol],
                                                 [high - p["slope"] + tol]],
                        fmt="none", color=colors[node["init"]], alpha=0.35, lw=4)
            ax.errorbar([i], [p["slope"]], yerr=[[p["slope"] - low], [high - p["slope"]]],
                        fmt="o", color=colors[node["init"]], capsize=3)
            labels.append(f"{key} {case}")
            i += 1
    ax.axhline(0.5, color="k", lw=0.8, label="1/2 (bound, codim >= 1)")
    ax.axhline(0.75, color="k", lw=0.8, ls="--", label="3/4 (sets with interior, q_T = p_T)")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=70, fontsize=6, ha="right")
    ax.set_ylabel("fitted slope of RMS d_K vs t")
    ax.set_title("particle fits over t in [1e-4, 1e-2]: 95% CI (bars) widened by the "
                 "step-halving error (shaded)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    written += [p.name for p in save_figure(fig, folder / "concentration_rates", ("png", "pdf"))]
    return written

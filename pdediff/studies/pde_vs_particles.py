"""Grid densities of the reverse family against particles.

Question: do the two independent computations of what the probability-flow ODE
(eps = 0) and the reverse SDE (eps = 1) generate — the finite-volume density
``q_t0`` of ``solve_reverse`` and the particle cloud of ``particles.reverse`` — agree?

Setting: OU forward process (rate 1, g 1), T = 3, exact scores of three data sets in
1-D and 2-D (a Gaussian mixture, a uniform box, three atoms), ``q_T = p_T`` on the
grid and exact samples of ``p_T`` for the particles, integrated down to ``t0``.

Measured per case: W2(grid q_t0, particles) against the particle noise floor (W2
between two independent exact samples of ``p_t0`` of the same size, mean over
repeats), and W2(grid q_t0, exact p_t0) (the grid's discretisation error).  In 2-D
both sides are binned on the same coarse grid (mass-conserving) before exact optimal
transport (POT), so the binning acts identically on the measurement and the floor.
The check: W2(grid, particles) <= 3 x noise floor for every case.
"""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..distributions import Box, GaussianMixture, Points
from ..fokker_planck import solve_reverse
from ..grid import Grid
from ..metrics import GridDensity, histogram, w2
from ..particles import forward, reverse
from ..plotting import save_figure
from ..processes import OU
from ..scores import exact
from .common import Check, figure_dir, format_table, write_study

DESCRIPTION = "grid densities of the reverse ODE/SDE against particles (W2 vs noise floor)"
NAME = "pde_vs_particles"


def _datasets(ndim: int) -> dict:
    if ndim == 1:
        return {
            "mixture": GaussianMixture([[-1.5], [1.0]], [0.1, 0.2], [0.4, 0.6]),
            "box": Box([-1.0], [1.5]),
            "points": Points([[-1.5], [0.0], [1.2]], [0.3, 0.3, 0.4]),
        }
    return {
        "mixture": GaussianMixture([[-1.2, -0.6], [1.0, 0.8]], [0.1, 0.15], [0.5, 0.5]),
        "box": Box([-1.0, -0.5], [1.0, 1.0]),
        "points": Points([[-1.2, -0.8], [0.0, 1.0], [1.2, -0.4]]),
    }


def _settings(quick: bool) -> dict:
    return {
        "T": 3.0,
        "t0": 0.1 if quick else 0.05,
        "cells_1d": 200 if quick else 400,
        "cells_2d": 48 if quick else 96,
        "half_width": 4.0,
        "particles_1d": 20_000 if quick else 200_000,
        "particles_2d": 4_000 if quick else 20_000,
        "bins_2d": 24 if quick else 32,
        "steps": 200 if quick else 1000,
        "floor_repeats": 3 if quick else 8,
        "rtol": 1e-4,
        "seed": 20261123,
    }


def _binned(density: np.ndarray, grid: Grid, bins: Grid) -> GridDensity:
    factor = grid.shape[0] // bins.shape[0]
    return GridDensity(grid.coarsen(density, factor), bins)


def _distance(a, b, ndim: int, grid: Grid, bins: Grid | None) -> float:
    """W2 between two objects each a grid density (array on ``grid``) or a cloud."""
    def prepare(item):
        if isinstance(item, np.ndarray) and item.shape == grid.shape:
            density = item / grid.integrate(item)
            return GridDensity(density, grid) if ndim == 1 else _binned(density, grid, bins)
        if ndim == 1:
            return item
        return GridDensity(histogram(item, bins), bins)

    return w2(prepare(a), prepare(b))


def run(quick: bool = False, out: Path = Path("data"), progress: bool = True) -> dict:
    settings = _settings(quick)
    process = OU(1.0, 1.0, T=settings["T"])
    T, t0 = settings["T"], settings["t0"]
    rng = np.random.default_rng(settings["seed"])
    results: dict = {}
    rows = []
    checks = []
    snapshots = {}
    start = time.perf_counter()
    for ndim in (1, 2):
        cells = settings["cells_1d"] if ndim == 1 else settings["cells_2d"]
        n_particles = settings["particles_1d"] if ndim == 1 else settings["particles_2d"]
        width = settings["half_width"]
        grid = Grid([(-width, width)] * ndim, cells)
        bins = Grid([(-width, width)] * ndim, settings["bins_2d"]) if ndim == 2 else None
        for name, law in _datasets(ndim).items():
            score = exact(law, process)
            q_T = law.cell_average(grid, T, process)
            q_T = q_T / grid.integrate(q_T)
            exact_t0 = law.cell_average(grid, t0, process)

            def sample_t0(n, generator, law=law):
                x0 = law.sample(n, generator)
                return forward(x0, process, t0, seed=int(generator.integers(2**32)))

            floors = [
                _distance(sample_t0(n_particles, rng), sample_t0(n_particles, rng), ndim, grid,
                          bins)
                for _ in range(settings["floor_repeats"])
            ]
            floor = float(np.mean(floors))
            for eps in (0.0, 1.0):
                key = f"{ndim}d/{name}/eps{eps:g}"
                grid_solution = solve_reverse(
                    q_T, grid, process, score, [T, t0], eps=eps, rtol=settings["rtol"]
                )
                q_t0 = grid_solution.p[-1]
                x_T = forward(law.sample(n_particles, rng), process, T,
                              seed=int(rng.integers(2**32)))
                cloud = reverse(
                    x_T, process, score, [T, t0], eps=eps, steps=settings["steps"],
                    seed=int(rng.integers(2**32)), time_grid="log",
                ).x[-1]
                distance = _distance(q_t0, cloud, ndim, grid, bins)
                discretisation = _distance(q_t0, exact_t0, ndim, grid, bins)
                passed = distance <= 3.0 * floor
                results[key] = {
                    "w2_grid_particles": distance,
                    "noise_floor": floor,
                    "noise_floor_samples": np.array(floors),
                    "w2_grid_exact": discretisation,
                    "grid_steps": grid_solution.metadata["n_steps"],
                    "grid_implicit_steps": grid_solution.metadata["n_implicit"],
                    "mass_error": grid_solution.metadata["max_mass_error"],
                    "q_t0": q_t0,
                }
                rows.append((ndim, name, eps, distance, floor, discretisation, passed))
                snapshots[key] = (grid, q_t0, cloud, exact_t0)
    elapsed = time.perf_counter() - start
    ratios = np.array([row[3] / row[4] for row in rows])
    worst = int(np.argmax(ratios))
    figures = figure_dir(out)
    figure_path = figures / NAME
    _plot(snapshots, figure_path)
    checks.append(Check(
        name="grid_matches_particles",
        statement="grid density q_t0 of the reverse family (eps in {0,1}) and the particle "
        "cloud agree: W2(grid, particles) <= 3 x particle noise floor",
        bound="ratio W2 / noise floor <= 3",
        worst=float(ratios[worst]),
        margin=float(3.0 - ratios[worst]),
        passed=bool(np.all(ratios <= 3.0)),
        figure=f"figures/{NAME}.png",
        detail=f"worst case {rows[worst][0]}-D {rows[worst][1]} eps={rows[worst][2]:g}",
    ))
    header = f"{'case':<22}{'W2(grid,part)':>14}{'noise floor':>13}{'ratio':>7}{'W2(grid,exact)':>16}"
    table_rows = [header] + [
        f"{f'{n}-D {name} eps={eps:g}':<22}{d:>14.4g}{f:>13.4g}{d / f:>7.2f}{e:>16.4g}"
        for n, name, eps, d, f, e, _ in rows
    ]
    table = "\n".join(table_rows) + "\n" + format_table(checks)
    parameters = {**settings, "process": "OU(rate=1, g=1)", "elapsed_s": elapsed}
    write_study(out, NAME, parameters, results, checks, quick)
    return {"table": table, "checks": checks, "rows": rows, "elapsed_s": elapsed}


def _plot(snapshots: dict, path: Path) -> None:
    keys_1d = [k for k in snapshots if k.startswith("1d")]
    keys_2d = [k for k in snapshots if k.startswith("2d")]
    figure, axes = plt.subplots(3, max(len(keys_1d), len(keys_2d)) // 1, figsize=(16, 8.5),
                                squeeze=False)
    for column, key in enumerate(keys_1d):
        grid, q, cloud, exact_density = snapshots[key]
        axis = axes[0, column]
        axis.plot(grid.centers[0], exact_density, "k-", lw=0.8, label="exact $p_{t_0}$")
        axis.plot(grid.centers[0], q, "C0--", label="grid")
        axis.hist(cloud[:, 0], bins=80, range=grid.bounds[0], density=True, alpha=0.4,
                  color="C1", label="particles")
        axis.set_title(key, fontsize=8)
        axis.set_xlim(-3.5, 3.5)
    axes[0, 0].legend(fontsize=7)
    for column, key in enumerate(keys_2d):
        grid, q, cloud, _ = snapshots[key]
        extent = (*grid.bounds[0], *grid.bounds[1])
        axes[1, column].imshow(q.T, origin="lower", extent=extent, cmap="viridis")
        axes[1, column].set_title(f"{key} grid", fontsize=8)
        axes[2, column].hist2d(cloud[:, 0], cloud[:, 1], bins=grid.shape[0] // 2,
                               range=[grid.bounds[0], grid.bounds[1]], cmap="viridis")
        axes[2, column].set_title(f"{key} particles", fontsize=8)
        for row in (1, 2):
            axes[row, column].set_xticks([])
            axes[row, column].set_yticks([])
    figure.suptitle("reverse family at $t_0$: grid (finite volume) vs particles", fontsize=10)
    save_figure(figure, path, formats=("png", "pdf"))

"""Forward Fokker–Planck stepping throughput: pdediff against py-pde.

The same problem in both: the 2-D OU Fokker–Planck equation

    d_t p = div(rate x p) + (g^2/2) Lap p,   rate = 1, g = 1,

on [-5, 5]^2 with 512 x 512 cells, no-flux walls, a Gaussian mixture start, a fixed
step dt (below both codes' explicit stability limits) and 200 explicit Euler steps.
py-pde runs its expression ``PDE`` (divergence and laplace terms) with the numba
backend and a stepper built once and reused; pdediff runs ``solve_forward`` with
``method="euler"`` (and, for reference, ``"ssprk3"``, three stages per step).

Reported: point-updates per second (cells x steps / second) of each, their ratio,
the first-call time (includes compilation or cache loading) and a second solve in the
same process (no recompilation for pdediff), and the max difference between the two
codes' results.  Writes ``benchmarks/results/forward.json``.

Run alone (parallel numba in two processes on 2 cores slows both): ``python
benchmarks/forward.py [--cells 512] [--steps 200]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import pdediff
from pdediff.distributions import GaussianMixture
from pdediff.fokker_planck import solve_forward


def pdediff_run(p0, grid, process, dt, steps, method):
    start = time.perf_counter()
    solution = solve_forward(p0, grid, process, [0.0, dt * steps], method=method, dt=dt)
    return time.perf_counter() - start, solution.p[-1], solution.metadata


def pypde_setup(p0, grid, rate, diffusion):
    import pde

    (low0, high0), (low1, high1) = grid.bounds
    cartesian = pde.CartesianGrid([(low0, high0), (low1, high1)], list(grid.shape))
    state = pde.ScalarField(cartesian, p0.copy())
    equation = pde.PDE(
        {"p": f"{rate} * (d_dx(x * p) + d_dy(y * p)) + {diffusion} * laplace(p)"},
        bc={"derivative": 0},
    )
    return pde, equation, state


def pypde_run(pde, equation, state, dt, steps, stepper=None):
    start = time.perf_counter()
    if stepper is None:
        solver = pde.ExplicitSolver(equation, backend="numba")
        stepper = solver.make_stepper(state, dt=dt)
    field = state.copy()
    stepper(field, 0.0, dt * steps - 0.5 * dt)
    return time.perf_counter() - start, field.data, stepper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=512)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "forward.json"))
    args = parser.parse_args()

    grid = pdediff.Grid([(-5.0, 5.0)] * 2, args.cells)
    process = pdediff.OU(rate=1.0, g=1.0)
    law = GaussianMixture([[-1.5, 0.0], [1.0, 1.0]], [0.3, 0.5])
    p0 = grid.normalize(law.cell_average(grid))
    h = grid.spacing[0]
    diffusion = 0.5
    dt = 0.2 * h**2 / (4 * diffusion)  # well inside both explicit limits
    updates = grid.size * args.steps

    results: dict = {
        "problem": {
            "equation": "d_t p = div(x p) + 0.5 Lap p (OU rate 1, g 1)",
            "cells": list(grid.shape), "steps": args.steps, "dt": dt, "bc": "noflux",
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "numba_threads": __import__("numba").get_num_threads()},
    }
    first, p_euler, _ = pdediff_run(p0, grid, process, dt, args.steps, "euler")
    second, p_euler, meta = pdediff_run(p0, grid, process, dt, args.steps, "euler")
    third, p_ssp, _ = pdediff_run(p0, grid, process, dt, args.steps, "ssprk3")
    results["pdediff"] = {
        "method": "euler (Scharfetter-Gummel fluxes)",
        "first_call_s": first, "second_solve_s": second,
        "point_updates_per_s": updates / second,
        "ssprk3_second_solve_s": third, "ssprk3_point_updates_per_s": updates / third,
        "max_mass_error": meta["max_mass_error"],
    }
    print(f"pdediff euler : first {first:.2f} s, second {second:.3f} s, "
          f"{updates / second / 1e6:.1f} M point-updates/s")
    print(f"pdediff ssprk3: {third:.3f} s, {updates / third / 1e6:.1f} M steps*cells/s")
    try:
        pde, equation, state = pypde_setup(p0, grid, 1.0, diffusion)
        pypde_first, p_pypde, stepper = pypde_run(pde, equation, state, dt, args.steps)
        pypde_second, p_pypde, _ = pypde_run(pde, equation, state, dt, args.steps, stepper)
        pypde_solve_s = None
        start = time.perf_counter()
        equation.solve(state, t_range=dt * args.steps, dt=dt, solver="explicit", tracker=None,
                       backend="numba")
        pypde_solve_s = time.perf_counter() - start
        results["py-pde"] = {
            "version": pde.__version__,
            "first_call_s": pypde_first, "second_solve_s": pypde_second,
            "point_updates_per_s": updates / pypde_second,
            "second_solve_via_PDE_solve_s": pypde_solve_s,
        }
        results["ratio_pdediff_over_pypde"] = pypde_second / second
        results["max_abs_difference"] = float(np.max(np.abs(p_pypde - p_euler)))
        results["max_density"] = float(np.max(p_euler))
        print(f"py-pde        : first {pypde_first:.2f} s, reused stepper {pypde_second:.3f} s, "
              f"{updates / pypde_second / 1e6:.1f} M point-updates/s; PDE.solve again "
              f"{pypde_solve_s:.2f} s")
        print(f"ratio (pdediff / py-pde throughput): {pypde_second / second:.1f}x; "
              f"max |difference| {results['max_abs_difference']:.2e} "
              f"(max p {results['max_density']:.3f})")
    except ImportError:
        results["py-pde"] = "not installed (pip install py-pde)"
        print("py-pde not installed: pip install py-pde")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

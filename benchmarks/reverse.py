"""Reverse-solver stepping throughput on a 512 x 512 grid: numba kernels against a
vectorised numpy implementation of the same Scharfetter–Gummel step.

Problem: the reverse SDE (eps = 1) density equation for the OU process with the exact
score of a 2-D Gaussian mixture, face velocities b = -a x + g^2 s(x, t) fixed at
t = 0.5 (the score evaluation is the same for both and excluded), q = p_t cell
averages; one explicit Euler step of the flux-form operator with Scharfetter–Gummel
fluxes, repeated ``--steps`` times.  Also reported: full ``solve_reverse`` steps per
second (including score evaluation on the faces each stage).  Writes
``benchmarks/results/reverse.json``.  Run alone (no other numba process).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

import pdediff
from pdediff.distributions import GaussianMixture
from pdediff.fokker_planck import FluxOperator, solve_reverse
from pdediff.scores import exact


def bernoulli(z: np.ndarray) -> np.ndarray:
    small = np.abs(z) < 1e-5
    safe = np.where(small, 1.0, z)
    return np.where(small, 1.0 - 0.5 * z + z * z / 12.0, safe / np.expm1(safe))


def numpy_step(u, velocities, diffusion, h, dt):
    """Forward Euler with SG fluxes, no-flux walls, in numpy (the baseline)."""
    du = np.zeros_like(u)
    for axis, (v, spacing) in enumerate(zip(velocities, h)):
        inner = [slice(None)] * u.ndim
        inner[axis] = slice(1, -1)
        v_inner = v[tuple(inner)]
        left = [slice(None)] * u.ndim
        right = [slice(None)] * u.ndim
        left[axis] = slice(0, -1)
        right[axis] = slice(1, None)
        peclet = v_inner * spacing / diffusion
        flux = diffusion / spacing * (bernoulli(-peclet) * u[tuple(left)]
                                       - bernoulli(peclet) * u[tuple(right)])
        pad = [(0, 0)] * u.ndim
        pad[axis] = (1, 1)
        full = np.pad(flux, pad)
        lo = [slice(None)] * u.ndim
        hi = [slice(None)] * u.ndim
        lo[axis] = slice(0, -1)
        hi[axis] = slice(1, None)
        du -= (full[tuple(hi)] - full[tuple(lo)]) / spacing
    return u + dt * du


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=512)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "reverse.json"))
    args = parser.parse_args()
    grid = pdediff.Grid([(-4.0, 4.0)] * 2, args.cells)
    process = pdediff.OU()
    law = GaussianMixture([[-1.0, -0.5], [1.0, 0.8]], [0.1, 0.2])
    score = exact(law, process)
    t = 0.5
    q = law.cell_average(grid, t, process)
    operator = FluxOperator(grid)
    g2 = process.g2(t)
    velocities = []
    for axis in range(2):
        points = grid.face_points(axis)
        v = -process.a(t) * points[..., axis] + g2 * score(points, t)[..., axis]
        operator.set_velocity(axis, v)
        velocities.append(v)
    diffusion = 0.5 * g2
    u3 = q.reshape(operator.shape3).copy()
    rate = operator.rhs(u3, diffusion)
    dt = 0.5 / rate

    def numba_steps(u):
        for _ in range(args.steps):
            operator.rhs(u, diffusion)
            u = u + dt * operator.du
        return u

    numba_steps(u3)  # compile / load cache
    start = time.perf_counter()
    u_numba = numba_steps(u3)
    numba_s = time.perf_counter() - start
    start = time.perf_counter()
    u_numpy = q.copy()
    for _ in range(args.steps):
        u_numpy = numpy_step(u_numpy, velocities, diffusion, grid.spacing, dt)
    numpy_s = time.perf_counter() - start
    difference = float(np.max(np.abs(u_numpy - u_numba.reshape(grid.shape))))
    updates = grid.size * args.steps

    solve_steps = 20
    t_end = t - solve_steps * dt * 0.9
    start = time.perf_counter()
    solution = solve_reverse(q, grid, process, score, [t, t_end], eps=1.0, method="ssprk3")
    solve_s = time.perf_counter() - start
    n_solve = solution.metadata["n_steps"]
    results = {
        "problem": {"cells": list(grid.shape), "steps": args.steps, "dt": dt, "eps": 1.0,
                    "process": "OU(1,1)", "score": "exact 2-component Gaussian mixture"},
        "cpus": os.cpu_count(),
        "numba_step_s": numba_s / args.steps,
        "numpy_step_s": numpy_s / args.steps,
        "numba_point_updates_per_s": updates / numba_s,
        "numpy_point_updates_per_s": updates / numpy_s,
        "ratio_numba_over_numpy": numpy_s / numba_s,
        "max_abs_difference": difference,
        "solve_reverse_ssprk3_steps_per_s": n_solve / solve_s,
        "solve_reverse_steps": n_solve,
    }
    print(json.dumps(results, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

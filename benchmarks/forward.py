"""Forward Fokker–Planck stepping throughput: pdediff against a naive one-pass numba
kernel and py-pde, on the same problem in the same process.

Problem: the OU Fokker–Planck equation

    d_t p = div(rate x p) + (g^2/2) Lap p,   rate = 1, g = 1,

on [-5, 5]^d with no-flux walls, a Gaussian mixture start and a fixed step
``dt = 0.2 h^2 / (2 d D)`` (inside every code's explicit limit), at 256^2, 512^2,
1024^2 and 96^3 cells.  Timed:

* pdediff ``solve_forward(method="euler", dt=dt)`` and ``method="ssprk3"`` (three
  fused stages per step; reported per stage): the compiled multi-step loop, one numba
  call for all steps;
* the same Euler solve through the per-step Python stepper
  (``StepperOptions(multistep=False)``, one numba call per stage), the path the loop
  replaced;
* a naive numba kernel (central fluxes ``v (u_L + u_R)/2 - D (u_R - u_L)/h``, one pass
  per step into a second array, ``parallel=True, fastmath=True``), the hand-written
  reference;
* a lean kernel of pdediff's own scheme (``lean_sg_steps``: the same 1-D
  Scharfetter–Gummel rates, positive form and summation order, hence the same bits,
  which the run checks; but no mass/minimum/finiteness/positivity reductions, no
  general SSP stage and no input validation): what those guarantees cost;
* a row-by-row copy of the field with the same threads (``copy_steps``), the memory
  floor of any one-pass stencil on these arrays (the fields of 256^2-512^2 stay in
  cache, so the 256 MB streaming copy is not their ceiling);
* py-pde's ``EulerSolver`` (numba backend), stepper built once and reused.

Every contender runs ``--repeats`` times, interleaved (the machine is shared), and the
best time is kept.  Ratios are throughput ratios (cells x steps / s).  A second,
single-threaded A/B (``numba.set_num_threads(1)``; loop against per-step Euler and
SSPRK3 at 512^2, interleaved, best of ``--repeats``) separates the loop's saving from
the thread count and the load.  The roofline
line gives the bytes each code moves per cell update (pdediff Euler: read u, write
u_new = 16 B; an SSPRK3 stage reads u and u0 and writes one array, 24 B, the first
stage 16 B) against the copy bandwidth measured in the same run, both the 256 MB
streaming copy and the in-cache copy of the field itself (``roofline.in_cache``).  Writes
``benchmarks/results/forward.json``.  Run alone: ``python benchmarks/forward.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import environment  # noqa: E402

import pdediff  # noqa: E402
from pdediff.distributions import GaussianMixture  # noqa: E402
from pdediff.fokker_planck import forward as forward_module  # noqa: E402
from pdediff.fokker_planck import solve_forward  # noqa: E402
from pdediff.fokker_planck.stepping import StepperOptions  # noqa: E402

RATE = 1.0
DIFFUSION = 0.5


@njit(parallel=True, fastmath=True, cache=True)
def naive_steps_2d(u, v, x0, x1, h, diffusion, dt, steps):  # pragma: no cover - compiled
    """``steps`` forward-Euler steps of ``div(x p) + D Lap p`` with central fluxes and
    no-flux walls, one pass per step; ``x0``/``x1`` are the face coordinates."""
    n0, n1 = u.shape
    c = diffusion / h
    for _ in range(steps):
        for i in prange(n0):
            for j in range(n1):
                ui = u[i, j]
                change = 0.0
                if i + 1 < n0:
                    change += -RATE * x0[i + 1] * 0.5 * (ui + u[i + 1, j]) - c * (u[i + 1, j] - ui)
                if i > 0:
                    change -= -RATE * x0[i] * 0.5 * (u[i - 1, j] + ui) - c * (ui - u[i - 1, j])
                if j + 1 < n1:
                    change += -RATE * x1[j + 1] * 0.5 * (ui + u[i, j + 1]) - c * (u[i, j + 1] - ui)
                if j > 0:
                    change -= -RATE * x1[j] * 0.5 * (u[i, j - 1] + ui) - c * (ui - u[i, j - 1])
                v[i, j] = ui - dt * change / h
        u, v = v, u
    return u


@njit(parallel=True, fastmath=True, cache=True)
def naive_steps_3d(u, v, x0, x1, x2, h, diffusion, dt, steps):  # pragma: no cover - compiled
    """The 3-D version of :func:`naive_steps_2d`."""
    n0, n1, n2 = u.shape
    c = diffusion / h
    for _ in range(steps):
        for i in prange(n0):
            for j in range(n1):
                for k in range(n2):
                    ui = u[i, j, k]
                    change = 0.0
                    if i + 1 < n0:
                        change += -RATE * x0[i + 1] * 0.5 * (ui + u[i + 1, j, k]) - c * (u[i + 1, j, k] - ui)
                    if i > 0:
                        change -= -RATE * x0[i] * 0.5 * (u[i - 1, j, k] + ui) - c * (ui - u[i - 1, j, k])
                    if j + 1 < n1:
                        change += -RATE * x1[j + 1] * 0.5 * (ui + u[i, j + 1, k]) - c * (u[i, j + 1, k] - ui)
                    if j > 0:
                        change -= -RATE * x1[j] * 0.5 * (u[i, j - 1, k] + ui) - c * (ui - u[i, j - 1, k])
                    if k + 1 < n2:
                        change += -RATE * x2[k + 1] * 0.5 * (ui + u[i, j, k + 1]) - c * (u[i, j, k + 1] - ui)
                    if k > 0:
                        change -= -RATE * x2[k] * 0.5 * (u[i, j, k - 1] + ui) - c * (ui - u[i, j, k - 1])
                    v[i, j, k] = ui - dt * change / h
        u, v = v, u
    return u


@njit(cache=True, error_model="numpy")
def _lean_value(ui, inflow_01, kout_01, b2_right, u_right, a2_left, u_left, kout_2, dt):
    """The Scharfetter–Gummel update of one cell in pdediff's positive form and
    summation order, from scalars only (so LLVM inlines it into a vectorised loop; a
    function taking arrays would put reference counting into the loop)."""
    kout = kout_01 + kout_2
    inflow = inflow_01 + (b2_right * u_right + a2_left * u_left)
    return ui * max(0.0, 1.0 - dt * kout) + dt * inflow


@njit(parallel=True, cache=True, error_model="numpy")
def lean_sg_steps(u, v, a0, b0, a1, b1, a2, b2, dt, steps):  # pragma: no cover - compiled
    """``steps`` forward-Euler steps of pdediff's Scharfetter–Gummel scheme, written
    lean: the same 1-D face rates, positive form and summation order (so the same
    bits in 2-D, where pdediff's middle-axis terms are exact zeros), but no
    reductions (mass, minimum, finiteness, positivity rate), no general SSP stage
    (``alpha u0 + beta (...)``), no validation, and the rates of the first two axes
    hoisted out of each row.  3-D arrays; a 2-D field is ``(n0, 1, n2)``, as in
    pdediff."""
    n0, n1, n2 = u.shape
    planar = n1 == 1
    for _ in range(steps):
        for i in prange(n0):
            im, ip = max(i - 1, 0), min(i + 1, n0 - 1)
            for j in range(n1):
                jm, jp = max(j - 1, 0), min(j + 1, n1 - 1)
                b0i, a0i, b1j, a1j = b0[i + 1], a0[i], b1[j + 1], a1[j]
                kout_01 = a0[i + 1] + b0[i]
                if not planar:
                    kout_01 = kout_01 + (a1[j + 1] + b1[j])
                if planar:
                    for k in range(1, n2 - 1):
                        v[i, j, k] = _lean_value(
                            u[i, j, k], b0i * u[ip, j, k] + a0i * u[im, j, k], kout_01,
                            b2[k + 1], u[i, j, k + 1], a2[k], u[i, j, k - 1], a2[k + 1] + b2[k],
                            dt)
                else:
                    for k in range(1, n2 - 1):
                        inflow_01 = ((b0i * u[ip, j, k] + a0i * u[im, j, k])
                                     + (b1j * u[i, jp, k] + a1j * u[i, jm, k]))
                        v[i, j, k] = _lean_value(
                            u[i, j, k], inflow_01, kout_01, b2[k + 1], u[i, j, k + 1], a2[k],
                            u[i, j, k - 1], a2[k + 1] + b2[k], dt)
                # The end cells: clamped neighbours (their wall rates are zero).
                for k in (0, n2 - 1):
                    km, kp = max(k - 1, 0), min(k + 1, n2 - 1)
                    inflow_01 = b0i * u[ip, j, k] + a0i * u[im, j, k]
                    if not planar:
                        inflow_01 = inflow_01 + (b1j * u[i, jp, k] + a1j * u[i, jm, k])
                    v[i, j, k] = _lean_value(u[i, j, k], inflow_01, kout_01, b2[k + 1],
                                             u[i, j, kp], a2[k], u[i, j, km],
                                             a2[k + 1] + b2[k], dt)
        u, v = v, u
    return u


@njit(parallel=True, cache=True)
def copy_steps(u, v, steps):  # pragma: no cover - compiled
    """``steps`` passes copying ``u`` into ``v`` row by row (2-D views), swapping them
    like a time step: the memory floor of a one-pass stencil on this field, with the
    same threads and one parallel region per pass."""
    rows, n = u.shape
    for _ in range(steps):
        for r in prange(rows):
            for k in range(n):
                v[r, k] = u[r, k]
        u, v = v, u
    return u


def lean_coefficients(grid):
    """pdediff's 1-D Scharfetter–Gummel rates of the OU drift, per 3-D position."""
    from pdediff.fokker_planck._kernels import SCHEME_SG, linear_face_coefficients

    a, g2 = pdediff.OU(RATE, 1.0).coefficients(0.0)
    shape3 = (grid.shape[0], 1, grid.shape[1]) if grid.ndim == 2 else tuple(grid.shape)
    edges = ([grid.edges[0], np.array([0.0, 1.0]), grid.edges[1]] if grid.ndim == 2
             else list(grid.edges))
    rates = []
    for position in range(3):
        coef_a = np.zeros(shape3[position] + 1)
        coef_b = np.zeros(shape3[position] + 1)
        if shape3[position] > 1:
            h = float(edges[position][1] - edges[position][0])
            linear_face_coefficients(np.asarray(edges[position], dtype=float), float(a),
                                     0.5 * float(g2), h, False, SCHEME_SG, coef_a, coef_b)
        rates += [coef_a, coef_b]
    return shape3, rates


def time_lean(grid, p0, dt, steps):
    shape3, rates = lean_coefficients(grid)
    u = p0.reshape(shape3).copy()
    v = np.empty_like(u)
    start = time.perf_counter()
    out = lean_sg_steps(u, v, *rates, dt, steps)
    return time.perf_counter() - start, out.reshape(grid.shape)


def time_copy(grid, p0, steps):
    u = p0.reshape(-1, grid.shape[-1]).copy()
    v = np.empty_like(u)
    start = time.perf_counter()
    copy_steps(u, v, steps)
    return time.perf_counter() - start


def problem(cells: int, ndim: int):
    grid = pdediff.Grid([(-5.0, 5.0)] * ndim, cells)
    means = [[-1.5, 0.0, 0.5][:ndim], [1.0, 1.0, -0.5][:ndim]]
    law = GaussianMixture(means, [0.3, 0.5])
    p0 = grid.normalize(law.cell_average(grid))
    h = float(grid.spacing[0])
    dt = 0.2 * h**2 / (2 * ndim * DIFFUSION)
    return grid, p0, dt


@contextlib.contextmanager
def per_step_path():
    """Within the block, ``solve_forward`` runs its fixed steps through the per-step
    Python stepper (``StepperOptions(multistep=False)``)."""
    original = forward_module.StepperOptions
    forward_module.StepperOptions = functools.partial(StepperOptions, multistep=False)
    try:
        yield
    finally:
        forward_module.StepperOptions = original


def time_pdediff(grid, p0, dt, steps, method, per_step=False):
    if per_step:
        with per_step_path():
            return time_pdediff(grid, p0, dt, steps, method)
    start = time.perf_counter()
    solution = solve_forward(p0, grid, pdediff.OU(RATE, 1.0), [0.0, dt * steps], method=method,
                             dt=dt)
    return time.perf_counter() - start, solution


def time_naive(grid, p0, dt, steps):
    u = p0.copy()
    v = np.empty_like(u)
    edges = [np.asarray(e, dtype=float) for e in grid.edges]
    h = float(grid.spacing[0])
    start = time.perf_counter()
    if grid.ndim == 2:
        out = naive_steps_2d(u, v, edges[0], edges[1], h, DIFFUSION, dt, steps)
    else:
        out = naive_steps_3d(u, v, edges[0], edges[1], edges[2], h, DIFFUSION, dt, steps)
    return time.perf_counter() - start, out


def pypde_stepper(grid, p0, dt):
    import pde

    cartesian = pde.CartesianGrid([tuple(b) for b in grid.bounds], list(grid.shape))
    state = pde.ScalarField(cartesian, p0.copy())
    names = "xyz"[: grid.ndim]
    drift = " + ".join(f"d_d{c}({c} * p)" for c in names)
    equation = pde.PDE({"p": f"{RATE} * ({drift}) + {DIFFUSION} * laplace(p)"},
                       bc={"derivative": 0})
    solver = pde.EulerSolver(equation, backend="numba")
    stepper = solver.make_stepper(state, dt=dt)
    return pde, state, stepper


def time_pypde(state, stepper, dt, steps):
    field = state.copy()
    start = time.perf_counter()
    stepper(field, 0.0, dt * steps - 0.5 * dt)
    return time.perf_counter() - start, field.data


def run_case(cells, ndim, steps, repeats, with_pypde):
    grid, p0, dt = problem(cells, ndim)
    updates = grid.size * steps
    # Warm-up: compile or load caches, build py-pde's stepper.
    time_pdediff(grid, p0, dt, 2, "euler")
    time_pdediff(grid, p0, dt, 2, "ssprk3")
    time_pdediff(grid, p0, dt, 2, "euler", per_step=True)
    time_naive(grid, p0, dt, 2)
    time_lean(grid, p0, dt, 2)
    time_copy(grid, p0, 2)
    pypde = None
    if with_pypde:
        try:
            pypde = pypde_stepper(grid, p0, dt)
            time_pypde(pypde[1], pypde[2], dt, 2)
        except ImportError:
            pypde = None
    best = {"euler": np.inf, "ssprk3": np.inf, "naive": np.inf, "py-pde": np.inf,
            "euler_per_step": np.inf, "lean_sg": np.inf, "copy": np.inf}
    for _ in range(repeats):
        seconds, euler = time_pdediff(grid, p0, dt, steps, "euler")
        best["euler"] = min(best["euler"], seconds)
        seconds, euler_per_step = time_pdediff(grid, p0, dt, steps, "euler", per_step=True)
        best["euler_per_step"] = min(best["euler_per_step"], seconds)
        if euler_per_step.p.tobytes() != euler.p.tobytes():
            raise AssertionError("compiled loop and per-step path differ")
        seconds, naive = time_naive(grid, p0, dt, steps)
        best["naive"] = min(best["naive"], seconds)
        seconds, lean = time_lean(grid, p0, dt, steps)
        best["lean_sg"] = min(best["lean_sg"], seconds)
        lean_equal = lean.tobytes() == euler.p[-1].tobytes()
        lean_difference = float(np.max(np.abs(lean - euler.p[-1])))
        best["copy"] = min(best["copy"], time_copy(grid, p0, steps))
        seconds, ssprk3 = time_pdediff(grid, p0, dt, steps, "ssprk3")
        best["ssprk3"] = min(best["ssprk3"], seconds)
        if pypde is not None:
            seconds, pypde_out = time_pypde(pypde[1], pypde[2], dt, steps)
            best["py-pde"] = min(best["py-pde"], seconds)
    euler_rate = updates / best["euler"]
    stage_rate = 3 * updates / best["ssprk3"]
    result = {
        "cells": list(grid.shape), "steps": steps, "dt": dt, "repeats": repeats,
        "best_s": {k: (v if np.isfinite(v) else None) for k, v in best.items()},
        "point_updates_per_s": {
            "pdediff_euler": euler_rate,
            "pdediff_ssprk3_stage": stage_rate,
            "naive_numba": updates / best["naive"],
            "pdediff_euler_per_step": updates / best["euler_per_step"],
            "lean_sg_numba": updates / best["lean_sg"],
            "field_copy": updates / best["copy"],
        },
        "euler_over_naive": best["naive"] / best["euler"],
        "euler_over_lean_sg": best["lean_sg"] / best["euler"],
        "lean_sg_over_naive": best["naive"] / best["lean_sg"],
        "lean_sg_bits_equal_pdediff_euler": lean_equal,
        "max_abs_difference_lean_sg_vs_euler": lean_difference,
        "euler_loop_over_per_step": best["euler_per_step"] / best["euler"],
        "ssprk3_stage_time_over_euler_step": (best["ssprk3"] / 3) / best["euler"],
        "euler_mass_error": euler.metadata["max_mass_error"],
        "euler_min_density": float(euler.p[-1].min()),
        "max_abs_difference_euler_vs_naive": float(np.max(np.abs(euler.p[-1] - naive))),
        "max_density": float(np.max(euler.p[-1])),
    }
    if pypde is not None:
        result["point_updates_per_s"]["py-pde"] = updates / best["py-pde"]
        result["euler_over_pypde"] = best["py-pde"] / best["euler"]
        result["max_abs_difference_euler_vs_pypde"] = float(np.max(np.abs(euler.p[-1] - pypde_out)))
    return result


def single_thread_ab(cells, ndim, steps, repeats):
    """Compiled loop against the per-step stepper with one numba thread, interleaved
    in this process (best of ``repeats``; ratios > 1: the loop is faster)."""
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        grid, p0, dt = problem(cells, ndim)
        best = {}
        for method in ("euler", "ssprk3"):
            for per_step in (False, True):
                time_pdediff(grid, p0, dt, 2, method, per_step)
        for _ in range(repeats):
            for method in ("euler", "ssprk3"):
                for per_step in (False, True):
                    key = f"{method}_{'per_step' if per_step else 'loop'}"
                    seconds = time_pdediff(grid, p0, dt, steps, method, per_step)[0]
                    best[key] = min(best.get(key, np.inf), seconds)
    finally:
        numba.set_num_threads(threads)
    return {
        "cells": list(grid.shape), "steps": steps, "repeats": repeats,
        "best_s": best,
        "us_per_step": {k: 1e6 * v / steps for k, v in best.items()},
        "euler_loop_over_per_step": best["euler_per_step"] / best["euler_loop"],
        "ssprk3_loop_over_per_step": best["ssprk3_per_step"] / best["ssprk3_loop"],
        "load_after": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="256x2,512x2,1024x2,96x3",
                        help="comma-separated CELLSxNDIM")
    parser.add_argument("--updates", type=float, default=5e7,
                        help="cell updates per timed run (sets the step count per case)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-pypde", action="store_true")
    parser.add_argument("--no-ab", action="store_true",
                        help="skip the single-thread loop vs per-step A/B at 512^2")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "forward.json"))
    args = parser.parse_args()
    load_before = os.getloadavg()
    bandwidth = environment.copy_bandwidth()
    cases = {}
    for case in args.cases.split(","):
        cells, ndim = (int(x) for x in case.split("x"))
        steps = max(10, int(args.updates / cells**ndim))
        result = run_case(cells, ndim, steps, args.repeats, not args.no_pypde)
        rates = result["point_updates_per_s"]
        # Two ceilings: the streaming copy of 256 MB (memory) and the copy of this
        # field with the same threads (the arrays of 256^2-512^2 stay in cache).
        in_cache = 16.0 * rates["field_copy"]
        result["roofline"] = {
            "pdediff_euler": environment.roofline(16.0, rates["pdediff_euler"], bandwidth),
            "pdediff_ssprk3_stage": environment.roofline(
                (16.0 + 24.0 + 24.0) / 3, rates["pdediff_ssprk3_stage"], bandwidth),
            "naive_numba": environment.roofline(16.0, rates["naive_numba"], bandwidth),
            "in_cache": {
                name: environment.roofline(16.0, rates[key], in_cache)
                for name, key in (("pdediff_euler", "pdediff_euler"),
                                  ("naive_numba", "naive_numba"),
                                  ("lean_sg_numba", "lean_sg_numba"))
            },
        }
        cases[case] = result
        print(case, json.dumps({k: result[k] for k in ("point_updates_per_s", "euler_over_naive",
                                                        "euler_over_lean_sg", "lean_sg_over_naive",
                                                        "euler_loop_over_per_step",
                                                        "ssprk3_stage_time_over_euler_step")}
                               | ({"euler_over_pypde": result["euler_over_pypde"]}
                                  if "euler_over_pypde" in result else {})), flush=True)
    ab = None
    if not args.no_ab:
        ab = single_thread_ab(512, 2, max(10, int(args.updates / 512**2)), args.repeats)
        print("1-thread A/B 512x2", json.dumps({k: ab[k] for k in (
            "us_per_step", "euler_loop_over_per_step", "ssprk3_loop_over_per_step")}), flush=True)
    targets = {}
    if "512x2" in cases:
        c = cases["512x2"]
        targets = {
            "euler_512^2_over_naive >= 1.0": c["euler_over_naive"] >= 1.0,
            "euler_512^2_over_pypde >= 10": c.get("euler_over_pypde", 0.0) >= 10.0,
            "ssprk3_stage_over_euler_step <= 1.3": c["ssprk3_stage_time_over_euler_step"] <= 1.3,
        }
    results = {
        "problem": "d_t p = div(x p) + 0.5 Lap p on [-5,5]^d, no-flux, fixed dt = 0.2 h^2/(2 d D)",
        "environment": environment.describe(load_before, os.getloadavg()),
        "numba_threads": numba.get_num_threads(),
        "cases": cases,
        "single_thread_loop_vs_per_step": ab,
        "targets_met": targets,
        "note": "machine shared with other jobs: best of interleaved repeats, ratios in one process",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(targets, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

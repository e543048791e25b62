"""Where pdediff's forward-Euler step loses against the lean kernel of its own scheme:
a staircase of kernels on the 2-D problem of ``forward.py``, each adding one thing
pdediff's fused stage does, timed interleaved in one process.

Rungs (every one gives pdediff's bits, which the run checks, except the naive kernel):

1. ``naive``: ``forward.py``'s central-flux kernel (the issue's reference);
2. ``lean``: ``forward.py``'s ``lean_sg_steps`` (one ``prange`` over rows, no checks);
3. ``blocks``: the same cell arithmetic over pdediff's work split (64 fixed reduction
   blocks of rows, grouped into one chunk per thread);
4. ``blocks_reductions``: + the sum and minimum (over IEEE bit patterns) of the new
   values, tallied in the cell loop as pdediff does (``_field_passes._tally``);
5. ``blocks_reductions_stage``: + the general SSP stage with run-time ``alpha``,
   ``beta``, ``u0`` and ``rhs_only`` (``out = alpha u0 + beta (u + dt L u)``);
6. ``pdediff_block``: pdediff's own ``_kernels._block`` (separable rows, end cells,
   every scheme and boundary) under the same minimal driver;
7. ``pdediff_multistep``: ``_multistep.linear_steps`` called directly with the
   operator's arrays (adds the per-stage checks and bookkeeping);
8. ``pdediff_solve``: ``solve_forward(..., method="euler", dt=dt)``.

Writes ``benchmarks/results/forward_breakdown.json`` (microseconds per step, ratios
to the naive kernel).  Run alone: ``python benchmarks/forward_breakdown.py``.
"""

from __future__ import annotations

import argparse
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

import forward  # noqa: E402
from environment import describe  # noqa: E402
from forward import _lean_value  # noqa: E402

from pdediff._field_passes import _tally  # noqa: E402
from pdediff.fokker_planck import _multistep  # noqa: E402
from pdediff.fokker_planck._kernels import _block  # noqa: E402
from pdediff.fokker_planck._reductions import stage_blocks, thread_chunk  # noqa: E402
from pdediff.fokker_planck.operator import FluxOperator  # noqa: E402


@njit(cache=True, error_model="numpy")
def _stage_value(value, u0i, alpha, beta, rhs_only, use_u0, inflow_minus_out):
    """pdediff's ``_update`` on a lean value (run-time flags, as in its stage)."""
    if rhs_only:
        return inflow_minus_out
    if use_u0:
        return alpha * u0i + beta * value
    return beta * value


@njit(cache=True, error_model="numpy")
def _rung_value(ui, u_ip, u_im, u_kp, u_km, u0i, b0i, a0i, kout_01, b2_right, a2_left, kout_2,
                dt, general, alpha, beta, rhs_only, use_u0):
    """One cell of rungs 3-5 (scalars only: inlined into the vectorised loop)."""
    value = _lean_value(ui, b0i * u_ip + a0i * u_im, kout_01, b2_right, u_kp, a2_left, u_km,
                        kout_2, dt)
    if general:
        value = _stage_value(value, u0i, alpha, beta, rhs_only, use_u0, value - ui)
    return value


@njit(cache=True, error_model="numpy")
def _planar_rows(u, u0, v, first, last, size, a0, b0, a2, b2, dt, reduce, general, alpha,
                 beta, rhs_only, partial):
    """Blocks ``first..last`` of a planar ``(n0, 1, n2)`` field: rungs 3-5."""
    n0, _, n2 = u.shape
    use_u0 = alpha != 0.0
    for block in range(first, last):
        block_total = 0.0
        block_smallest = np.iinfo(np.int64).max
        for i in range(block * size, min(n0, (block + 1) * size)):
            im, ip = max(i - 1, 0), min(i + 1, n0 - 1)
            b0i, a0i = b0[i + 1], a0[i]
            kout_01 = a0[i + 1] + b0[i]
            total = 0.0
            smallest = np.iinfo(np.int64).max
            # The interior in a loop with affine indices (it vectorises), then the two
            # end cells with clamped neighbours, as in pdediff's row kernel.
            for k in range(1, n2 - 1):
                value = _rung_value(u[i, 0, k], u[ip, 0, k], u[im, 0, k], u[i, 0, k + 1],
                                    u[i, 0, k - 1], u0[i, 0, k], b0i, a0i, kout_01, b2[k + 1],
                                    a2[k], a2[k + 1] + b2[k], dt, general, alpha, beta,
                                    rhs_only, use_u0)
                v[i, 0, k] = value
                if reduce:
                    total, smallest = _tally(total, smallest, value)
            for k in (0, n2 - 1):
                km, kp = max(k - 1, 0), min(k + 1, n2 - 1)
                value = _rung_value(u[i, 0, k], u[ip, 0, k], u[im, 0, k], u[i, 0, kp],
                                    u[i, 0, km], u0[i, 0, k], b0i, a0i, kout_01, b2[k + 1],
                                    a2[k], a2[k + 1] + b2[k], dt, general, alpha, beta,
                                    rhs_only, use_u0)
                v[i, 0, k] = value
                if reduce:
                    total, smallest = _tally(total, smallest, value)
            block_total += total
            block_smallest = min(block_smallest, smallest)
        partial[block, 2] = block_total
        partial[block, 1] = block_smallest


@njit(parallel=True, cache=True, error_model="numpy")
def planar_steps(u, v, a0, b0, a2, b2, dt, steps, threads, reduce, general, alpha, beta,
                 partial):  # pragma: no cover - compiled
    """``steps`` Euler steps over pdediff's block split (rungs 3-5)."""
    blocks, size, chunks = stage_blocks(u.shape, threads)
    rhs_only = steps < 0
    for _ in range(steps):
        for chunk in prange(chunks):
            first, last = thread_chunk(np.int64(chunk), chunks, blocks)
            # Literal flags, so that LLVM folds them into each inlined copy (run-time
            # flags would leave a branch in the cell loop).
            if general:
                _planar_rows(u, u, v, first, last, size, a0, b0, a2, b2, dt, True, True,
                             alpha, beta, rhs_only, partial)
            elif reduce:
                _planar_rows(u, u, v, first, last, size, a0, b0, a2, b2, dt, True, False,
                             alpha, beta, rhs_only, partial)
            else:
                _planar_rows(u, u, v, first, last, size, a0, b0, a2, b2, dt, False, False,
                             alpha, beta, rhs_only, partial)
        u, v = v, u
    return u


@njit(parallel=True, cache=True, error_model="numpy")
def block_steps(u, v, a1, b1, an, bn, dh, periodic, dt, steps, threads, alpha, beta,
                partial, partial_bits, rates):  # pragma: no cover - compiled
    """``steps`` Euler steps of pdediff's ``_block`` (rung 6), nothing else."""
    blocks, size, chunks = stage_blocks(u.shape, threads)
    separable = steps >= 0
    rhs_only = not separable
    for _ in range(steps):
        for chunk in prange(chunks):
            first, last = thread_chunk(np.int64(chunk), chunks, blocks)
            _block(u, u, v, rates, chunk, first, last, size, alpha, beta, dt, rhs_only,
                   separable, a1, b1, an, bn, dh, periodic, 0, 0.0, 0.0, 1.0, 0.0, rhs_only,
                   partial, partial_bits)
        u, v = v, u
    return u


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=512)
    parser.add_argument("--updates", type=float, default=5e7)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"
                                             / "forward_breakdown.json"))
    args = parser.parse_args()
    grid, p0, dt = forward.problem(args.cells, 2)
    steps = max(2, int(args.updates / grid.size))
    shape3, rates = forward.lean_coefficients(grid)
    a0, b0, _, _, a2, b2 = rates
    threads = numba.get_num_threads()
    partial = np.zeros((64, 4))
    op = FluxOperator(grid)
    start3 = p0.reshape(shape3)

    def planar(reduce, general):
        def run(n):
            u, v = start3.copy(), np.empty_like(start3)
            begin = time.perf_counter()
            out = planar_steps(u, v, a0, b0, a2, b2, dt, n, threads, reduce, general, 0.0,
                               1.0, partial)
            return time.perf_counter() - begin, out
        return run

    def pdediff_block(n):
        u, v = start3.copy(), np.empty_like(start3)
        begin = time.perf_counter()
        out = block_steps(u, v, op._a1t, op._b1t, op._ant, op._bnt, op._dh3, op.periodic3,
                          dt, n, threads, 0.0, 1.0, op._partial, op._partial_bits, op._rates)
        return time.perf_counter() - begin, out

    def pdediff_multistep(n):
        fields = [start3.copy()] + [np.empty_like(start3) for _ in range(3)]
        state = np.array([np.inf, 0.0, 0.0, 0.0, 0.0])
        begin = time.perf_counter()
        done, _, _, _ = _multistep.linear_steps(
            *fields, _multistep.EULER, np.full(n, dt), np.full(n, -forward.RATE),
            np.full(n, forward.DIFFUSION), op._edges1t, op.spacing3, op.periodic3,
            op._active3, op.scheme_id, op._a1t, op._b1t, op._ant, op._bnt, op._dh3, 1.0,
            op._partial, op._partial_bits, op._rates, state, threads)
        return time.perf_counter() - begin, fields[done % 2]

    def pdediff_solve(n):
        seconds, solution = forward.time_pdediff(grid, p0, dt, n, "euler")
        return seconds, solution.p[-1]

    # _block reads the operator's separable coefficients, as a solve prepares them.
    op.set_linear_velocity(-forward.RATE)
    op.prepare(forward.DIFFUSION)
    rungs = {
        "naive": lambda n: forward.time_naive(grid, p0, dt, n),
        "lean": lambda n: forward.time_lean(grid, p0, dt, n),
        "blocks": planar(False, False),
        "blocks_reductions": planar(True, False),
        "blocks_reductions_stage": planar(True, True),
        "pdediff_block": pdediff_block,
        "pdediff_multistep": pdediff_multistep,
        "pdediff_solve": pdediff_solve,
    }
    reference = pdediff_solve(3)[1].reshape(grid.shape).tobytes()
    same_bits = {}
    for name, run in rungs.items():
        same_bits[name] = np.asarray(run(3)[1]).reshape(grid.shape).tobytes() == reference
    if not all(same for name, same in same_bits.items() if name != "naive"):
        raise AssertionError(f"a rung does not give pdediff's bits: {same_bits}")
    load_before = os.getloadavg()
    best = dict.fromkeys(rungs, np.inf)
    for _ in range(args.repeats):
        for name, run in rungs.items():
            best[name] = min(best[name], run(steps)[0])
    load_after = os.getloadavg()
    us = {name: 1e6 * seconds / steps for name, seconds in best.items()}
    result = {
        "problem": f"{forward.__doc__.splitlines()[4].strip()}; 2-D, {args.cells}^2 cells, "
                   f"{steps} Euler steps, best of {args.repeats} interleaved repeats",
        "environment": describe(load_before, load_after),
        "us_per_step": us,
        "naive_over_rung": {name: best["naive"] / seconds for name, seconds in best.items()},
        "rung_over_previous": {
            name: best[name] / best[previous]
            for previous, name in zip(list(rungs)[1:], list(rungs)[2:])},
        "same_bits_as_pdediff": same_bits,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(args.out).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(json.dumps({"us_per_step": us, "naive_over_rung": result["naive_over_rung"]},
                     indent=1))


if __name__ == "__main__":
    main()

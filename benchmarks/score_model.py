"""Benchmark: the spline score model's compiled score versus scipy's tensor B-splines.

Problem: the score ``s_theta(x, t) = grad phi_ref + alpha_t^2 grad sum_jk theta_jk
B_j(x) T_k(tau(t))`` of a :class:`pdediff.score_model.ScoreModel` (OU(1, 1), T = 10,
box [-3.5, 3.5]^2, 14^2 cubic space splines x 6 time splines, the full-mode model of
the ``ode_sde_gap`` study, random parameters) at 10^6 points ~ N(0, I), one scalar
time per call, as the particle samplers and grid solvers call it.

* pdediff: ``model.score(x, t)`` (time sum contracted first, power-basis cell
  polynomials, numba kernel);
* baseline: ``scipy.interpolate.NdBSpline`` on the same knots and the contracted
  coefficients, two calls with ``nu = (1, 0)`` and ``(0, 1)``, plus the same
  reference-Gaussian term (numpy);
* also reported: pdediff's own per-point-time path (feature rows, used in training).

The results are checked to agree to 1e-10 relative.  Usage::

    python benchmarks/score_model.py [--points 1000000] [--repeats 5]

Writes ``benchmarks/results/score_model.json``.  Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
from environment import describe
from scipy.interpolate import NdBSpline

from pdediff.processes import OU
from pdediff.score_model import ScoreModel

RESULTS = Path(__file__).resolve().parent / "results" / "score_model.json"


def scipy_score(model: ScoreModel, x: np.ndarray, t: float) -> np.ndarray:
    """The model score through ``NdBSpline`` (same knots, coefficients contracted in t)."""
    k1 = model.degree + 1
    start, values, _ = model._time_features(np.array([t]))
    coefficients = (model.theta[:, start[0] + np.arange(k1)] @ values[0]).reshape(
        (model.n_space,) * model.ndim)
    degree = model.degree
    full = np.zeros((model.n_space + 2 * degree,) * model.ndim)
    full[(slice(degree, degree + model.n_space),) * model.ndim] = coefficients
    spline = NdBSpline(tuple(axis.knots for axis in model._space), full, degree, extrapolate=False)
    grad = np.stack([spline(x, nu=tuple(int(d == e) for d in range(model.ndim)))
                     for e in range(model.ndim)], axis=-1)
    grad = np.nan_to_num(grad, nan=0.0)  # the correction is zero outside the box
    alpha = math.exp(float(model.process.log_alpha(t)))
    variance = alpha**2 * model.reference_std**2 + float(model.process.sigma2(t))
    return grad - (x - alpha * model.reference_mean) / variance


def best_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    rng = np.random.default_rng(7)
    model = ScoreModel(OU(1.0, 1.0, T=10.0), n_space=14, n_time=6, t_min=1e-3,
                       reference_std=1.2)
    model.params = 0.3 * rng.standard_normal(model.n_params)
    x = rng.standard_normal((args.points, 2))
    times = (1e-3, 0.05, 1.0)

    error, m = 0.0, min(20_000, args.points)
    for t in times:  # same problem: the three evaluations agree
        fast, reference = model.score(x, t), scipy_score(model, x, t)
        rows = model.score(x[:m], np.full(m, t))
        scale = np.max(np.abs(reference))
        error = max(error, np.max(np.abs(fast - reference)) / scale,
                    np.max(np.abs(fast[:m] - rows)) / scale)
    assert error < 1e-10, error

    load_before = os.getloadavg()
    pdediff_time = best_time(lambda: [model.score(x, t) for t in times], args.repeats) / len(times)
    scipy_time = best_time(lambda: [scipy_score(model, x, t) for t in times], args.repeats) / len(times)
    sub = x[: min(100_000, args.points)]
    rows_time = best_time(lambda: model.score(sub, np.full(sub.shape[0], 0.05)), 2) * (
        args.points / sub.shape[0])
    load_after = os.getloadavg()

    result = {
        "problem": "score of a 14^2 x 6 cubic spline ScoreModel (OU(1,1), T=10) at "
        f"{args.points} 2-D points, one scalar time per call",
        "points": args.points,
        "pdediff_seconds_per_call": pdediff_time,
        "scipy_ndbspline_seconds_per_call": scipy_time,
        "pdediff_feature_rows_seconds_per_call": rows_time,
        "pdediff_points_per_second": args.points / pdediff_time,
        "scipy_points_per_second": args.points / scipy_time,
        "speedup_vs_scipy": scipy_time / pdediff_time,
        "speedup_vs_feature_rows": rows_time / pdediff_time,
        "max_relative_difference": error,
        **describe(load_before, load_after),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in result.items():
        print(f"{key:40s} {value:.4g}" if isinstance(value, float) else f"{key:40s} {value}")


if __name__ == "__main__":
    main()

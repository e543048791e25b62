"""Benchmark: the neural log-density model's jit-compiled score, and its training cost.

1. Score. Problem: ``s = grad_x phi_theta(t, x)`` of the paper's network
   (:class:`pdediff.score_model.MLPLogDensity`, widths (80, 80, 80), Softplus beta = 100,
   float32, random weights) at the face centres of the 64^2 grid on [-3.5, 3.5]^2 (both
   axes: 2 x 65 x 64 = 8320 points), one scalar time per call, as a grid solver calls
   it.  pdediff: ``model.score(x, t)`` (JAX, jit, vmapped reverse-mode gradient);
   baseline: the same network and its hand-written backward pass in plain numpy
   (float32, same weights).  Timings are interleaved (pdediff, numpy, pdediff, ...)
   and the best of ``--repeats`` is kept; the ratio is what the record is for.  The
   two agree to float32 round-off (checked; and to 1e-12 in float64).

2. Training cost (``--training``): seconds per Adam iteration of ``train_mlp``'s step
   (DSM + w R^2, w > 0, and DSM only) at the paper's batch sizes (2e5 DSM triples,
   5e4 residual points), at the quick size (2e3 / 1e3), and for a small (32, 32)
   network at 1e3 / 5e2, measured over a few
   iterations after compilation, extrapolated to 1k iterations and to the paper's
   100k-iteration schedule.

Usage::

    python benchmarks/score_model_mlp.py [--repeats 20] [--training] [--iterations 5]

Writes ``benchmarks/results/score_model_mlp.json`` (and
``score_model_mlp_training.json`` with ``--training``).  The machine's load average is
recorded: on the shared 2 cores the absolute numbers vary several-fold.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from environment import describe
from scipy.special import expit

from pdediff.grid import Grid
from pdediff.processes import OU
from pdediff.score_model import LossOptions, MLPLogDensity, TrainOptions

RESULTS = Path(__file__).resolve().parent / "results"


def numpy_score(weights: list[dict], x: np.ndarray, t: float, beta: float) -> np.ndarray:
    """``grad_x phi`` of the Softplus(beta) MLP in plain numpy: forward pass keeping the
    pre-activations, then the chain rule backwards (d softplus_beta / dz = expit(beta z))."""
    dtype = weights[0]["W"].dtype
    z = np.concatenate([np.full((x.shape[0], 1), t, dtype=dtype), x.astype(dtype)], axis=1)
    pre = []
    for layer in weights[:-1]:
        h = z @ layer["W"] + layer["b"]
        pre.append(h)
        z = np.logaddexp(0, beta * h) / beta
    grad = np.broadcast_to(weights[-1]["W"][:, 0], (x.shape[0], weights[-1]["W"].shape[0]))
    for layer, h in zip(weights[-2::-1], pre[::-1]):
        grad = (grad * expit(beta * h)) @ layer["W"].T
    return grad[:, 1:]


def face_points() -> np.ndarray:
    grid = Grid([(-3.5, 3.5), (-3.5, 3.5)], (64, 64))
    return np.concatenate([grid.face_points(axis).reshape(-1, 2) for axis in range(2)])


def bench_score(repeats: int) -> dict:
    x = face_points()
    model = MLPLogDensity(seed=3)
    weights = model.get_weights()
    times = (1e-3, 0.1, 2.0)
    error = 0.0
    for t in times:
        fast, slow = model.score(x, t), numpy_score(weights, x, t, model.beta)
        error = max(error, float(np.max(np.abs(fast - slow)) / np.max(np.abs(slow))))
    assert error < 1e-4, error
    double = MLPLogDensity(dtype="float64")
    w64 = [{k: v.astype(np.float64) for k, v in layer.items()} for layer in weights]
    double.set_weights(w64)
    error64 = max(float(np.max(np.abs(double.score(x, t) - numpy_score(w64, x, t, model.beta)))
                        / np.max(np.abs(numpy_score(w64, x, t, model.beta)))) for t in times)
    assert error64 < 1e-12, error64

    load_before = os.getloadavg()
    best_jax, best_numpy = float("inf"), float("inf")
    for _ in range(repeats):  # interleaved: both see the same machine state
        start = time.perf_counter()
        for t in times:
            model.score(x, t)
        best_jax = min(best_jax, (time.perf_counter() - start) / len(times))
        start = time.perf_counter()
        for t in times:
            numpy_score(weights, x, t, model.beta)
        best_numpy = min(best_numpy, (time.perf_counter() - start) / len(times))
    load_after = os.getloadavg()
    return {
        "problem": "grad_x phi of the paper's MLP (80,80,80, softplus beta=100, float32) at the "
        f"{x.shape[0]} face centres of the 64^2 grid on [-3.5,3.5]^2, one scalar time per call",
        "points": int(x.shape[0]),
        "jax_jit_seconds_per_call": best_jax,
        "numpy_seconds_per_call": best_numpy,
        "speedup_jit_vs_numpy": best_numpy / best_jax,
        "max_relative_difference_float32": error,
        "max_relative_difference_float64": error64,
        "repeats": repeats,
        **describe(load_before, load_after),
    }


def bench_training(iterations: int) -> dict:
    import jax

    from pdediff.distributions import GaussianMixture
    from pdediff.score_model.losses import sample_batch
    from pdediff.score_model.train import _compiled_steps, _optimizer

    law = GaussianMixture(0.65 * np.array([[2, 2], [2, -2], [-2, 2], [-2, -2], [0, 0], [4, 0], [-4, 0],
                                           [0, 4], [0, -4]], float), [0.2 * 0.65**2 * np.eye(2)] * 9)
    process = OU(1.0, 1.0, T=10.0)
    paper = TrainOptions()
    out = {}
    load_before = os.getloadavg()
    sizes = (("paper", (80, 80, 80), paper.batch_dsm, paper.batch_residual),
             ("quick", (80, 80, 80), 2_000, 1_000),
             ("small_net_quick", (32, 32), 1_000, 500))
    for label, widths, n_dsm, n_res in sizes:
        for w in (1.0, 0.0):
            model = MLPLogDensity(widths=widths)
            loss = LossOptions(residual_weight=w)
            step, _ = _compiled_steps(model.fn, w, paper.iterations, paper.learning_rates)
            state = _optimizer(paper.iterations, paper.learning_rates).init(model.params)
            params = model.params
            keys = ("t", "x", "target", "lam")
            sampling, stepping = [], []
            n = iterations if label == "paper" else 10 * iterations
            for i in range(n + 1):
                start = time.perf_counter()
                batch = sample_batch(law, process, loss, n_dsm, n_res if w > 0 else 0,
                                     np.random.default_rng([0, i]))
                batch = batch if w > 0 else {k: batch[k] for k in keys}
                middle = time.perf_counter()
                params, state, total, dsm, res = step(params, state, batch)
                jax.block_until_ready(total)
                end = time.perf_counter()
                if i > 0:  # iteration 0 compiles
                    sampling.append(middle - start)
                    stepping.append(end - middle)
            per = float(np.median(np.add(sampling, stepping)))
            out[f"{label}_w{'>0' if w > 0 else '=0'}"] = {
                "widths": list(widths), "batch_dsm": n_dsm, "batch_residual": n_res if w > 0 else 0,
                "iterations_timed": n,
                "seconds_per_iteration_median": per,
                "sampling_seconds_per_iteration_median": float(np.median(sampling)),
                "seconds_per_1k_iterations": 1000 * per,
                "hours_for_paper_schedule_100k": 100 * per * 1000 / 3600,
            }
    load_after = os.getloadavg()
    return {"problem": "one Adam step of train_mlp on the paper's MLP, blob data, OU(1,1) T=10",
            **out, **describe(load_before, load_after)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--training", action="store_true")
    parser.add_argument("--iterations", type=int, default=5)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs = [("score_model_mlp.json", lambda: bench_score(args.repeats))]
    if args.training:
        runs.append(("score_model_mlp_training.json", lambda: bench_training(args.iterations)))
    for name, run in runs:
        result = run()
        (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

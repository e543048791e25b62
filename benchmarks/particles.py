"""Benchmark: reverse-SDE particle sampler, pdediff versus plain vectorised numpy.

Problem: data law a 2-D Gaussian mixture (4 components, full covariances), VP
process, reverse SDE (eps = 1) from T = 1 down to t0 = 1e-3 with Euler–Maruyama,

    X <- X + h [a X - g^2 s(X, t)] + sqrt(g^2 |h|) Z,   h = -(T - t0)/steps,

started from the same prior samples X_T ~ N(0, sigma_T^2 I).  pdediff uses
``pdediff.particles.reverse`` with the exact score of
``pdediff.distributions.GaussianMixture`` (numba kernel); the baseline is the same
sampler written with numpy arrays (log-sum-exp mixture score with einsum,
``Generator.standard_normal`` for the noise).  Both runs are checked against each
other and against the exact mean and covariance of p_t0.

Usage::

    python benchmarks/particles.py                    # 10^6 particles, 1000 steps
    python benchmarks/particles.py --particles 100000 --steps 50   # quick run

Writes ``benchmarks/results/particles.json``.  Run it alone on the machine: parallel
numba kernels of two processes slow each other down (DESIGN section 6).
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

from pdediff.distributions import GaussianMixture
from pdediff.particles import reverse
from pdediff.processes import VP

RESULTS = Path(__file__).resolve().parent / "results" / "particles.json"

MEANS = np.array([[-2.0, 0.0], [2.0, 0.5], [0.0, 2.0], [0.5, -2.0]])
COVS = np.array(
    [
        [[0.10, 0.04], [0.04, 0.05]],
        [[0.05, -0.02], [-0.02, 0.08]],
        [[0.20, 0.00], [0.00, 0.03]],
        [[0.04, 0.01], [0.01, 0.12]],
    ]
)
WEIGHTS = np.array([0.2, 0.3, 0.25, 0.25])
T, T0 = 1.0, 1e-3


def numpy_mixture_score(x: np.ndarray, alpha: float, v: float) -> np.ndarray:
    """Score of sum_k w_k N(alpha m_k, alpha^2 C_k + v I) at x (N, 2), numpy only."""
    cov = alpha**2 * COVS + v * np.eye(2)
    prec = np.linalg.inv(cov)
    logdet = np.linalg.slogdet(cov)[1]
    diff = x[:, None, :] - alpha * MEANS[None, :, :]
    prec_diff = np.einsum("kij,nkj->nki", prec, diff)
    logits = np.log(WEIGHTS) - 0.5 * logdet - 0.5 * np.einsum("nki,nki->nk", diff, prec_diff)
    logits -= logits.max(axis=1, keepdims=True)
    r = np.exp(logits)
    r /= r.sum(axis=1, keepdims=True)
    return -np.einsum("nk,nki->ni", r, prec_diff)


def numpy_reverse_sde(x_T: np.ndarray, process: VP, steps: int, seed: int) -> np.ndarray:
    """Euler–Maruyama for dX = [a X - g^2 s] dt + g dW_bar from T down to t0."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(T, T0, steps + 1)
    x = x_T.copy()
    for k in range(steps):
        t, h = float(grid[k]), float(grid[k + 1] - grid[k])
        a, g2 = float(process.a(t)), float(process.g2(t))
        s = numpy_mixture_score(x, float(process.alpha(t)), float(process.sigma2(t)))
        x += h * (a * x - g2 * s) + math.sqrt(g2 * abs(h)) * rng.standard_normal(x.shape)
    return x


def moment_error(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> float:
    """Largest deviation of the sample mean and covariance entries from the exact
    ones, in units of their Monte Carlo standard errors."""
    n = x.shape[0]
    mean_se = np.sqrt(np.diag(cov) / n)
    centred = x - mean
    sample_cov = centred.T @ centred / n
    # Var of a product-moment estimate of C_ij for near-Gaussian data.
    cov_se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    return float(
        max(
            np.max(np.abs(x.mean(axis=0) - mean) / mean_se),
            np.max(np.abs(sample_cov - cov) / cov_se),
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--particles", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    process = VP()
    mixture = GaussianMixture(MEANS, COVS, WEIGHTS)

    def score(x: np.ndarray, t: float) -> np.ndarray:
        # The distribution's method directly: pdediff.scores.exact adds per-call
        # argument checks (~10% at 10^6 points) that are not part of the sampler.
        return mixture.score(x, t, process)

    rng = np.random.default_rng(args.seed)
    x_T = math.sqrt(process.prior_variance(T)) * rng.standard_normal((args.particles, 2))

    # Same problem: the two scores agree at the prior samples.
    check = x_T[:10_000]
    for t in (T, 0.1, T0):
        diff = np.max(
            np.abs(
                score(check, t)
                - numpy_mixture_score(check, float(process.alpha(t)), float(process.sigma2(t)))
            )
        )
        assert diff < 1e-8 * max(1.0, 1.0 / float(process.sigma2(t))), (t, diff)

    # Warm-up (numba compilation / cache load) outside the timed runs.
    reverse(x_T[:1000], process, score, [T, T0], steps=2, seed=0)

    load_before = os.getloadavg()
    start = time.perf_counter()
    sol = reverse(x_T, process, score, [T, T0], eps=1.0, steps=args.steps, seed=args.seed)
    pdediff_time = time.perf_counter() - start
    start = time.perf_counter()
    x_numpy = numpy_reverse_sde(x_T, process, args.steps, args.seed)
    numpy_time = time.perf_counter() - start
    load_after = os.getloadavg()

    mean, cov = mixture.mean(T0, process), mixture.covariance(T0, process)
    particle_steps = args.particles * args.steps
    result = {
        "problem": "reverse SDE (eps=1), Euler-Maruyama, VP, 2-D 4-component Gaussian mixture, "
        f"exact score, t from {T} to {T0}",
        "particles": args.particles,
        "steps": args.steps,
        "pdediff_seconds": pdediff_time,
        "numpy_seconds": numpy_time,
        "pdediff_particle_steps_per_second": particle_steps / pdediff_time,
        "numpy_particle_steps_per_second": particle_steps / numpy_time,
        "speedup": numpy_time / pdediff_time,
        "pdediff_moment_error_in_standard_errors": moment_error(sol.x[-1], mean, cov),
        "numpy_moment_error_in_standard_errors": moment_error(x_numpy, mean, cov),
        **describe(load_before, load_after),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    for key in (
        "pdediff_particle_steps_per_second",
        "numpy_particle_steps_per_second",
        "speedup",
        "pdediff_moment_error_in_standard_errors",
        "numpy_moment_error_in_standard_errors",
        "load_average_before",
    ):
        value = result[key]
        print(f"{key:45s} {value:.4g}" if isinstance(value, float) else f"{key:45s} {value}")


if __name__ == "__main__":
    main()

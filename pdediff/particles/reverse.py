"""Reverse-time particle sampler of the ODE/SDE family.

The family (docs/theory, "Equations"), ``eps >= 0`` (``eps = 0``: probability-flow
ODE, ``eps = 1``: reverse SDE), integrated in forward time ``t`` from ``T`` DOWN to
``t0 >= 0``, so every step has ``h = t_{k+1} - t_k < 0``:

    dX = [a X - ((1 + eps)/2) g^2 s(X, t)] dt + sqrt(eps) g dW_bar

With the exact score ``s = grad log p_t`` and ``X_T ~ p_T`` the particles have law
``p_t`` at every ``t`` and for every ``eps``.  Along a path of the ODE with velocity
``v = a x - (1/2) g^2 s`` the continuity equation gives
``d/dt log q(X_t, t) = -div v = -(n a - (1/2) g^2 div s)``.

Two evaluation paths give the same particles:

* generic: the score is called once per stage on the full (N, ndim) array and the
  stage velocities and updates are separate kernels;
* fused: for pdediff's closed-form Gaussian-mixture scores (``exact`` of a
  ``GaussianMixture`` or ``Points``, and ``KernelScore``), one kernel per step
  evaluates the score at every stage point and updates each particle in registers
  (no score or stage arrays).  Positions are bit-identical to the generic path (same
  operations in the same order, same noise); a tracked ``log q`` agrees to round-off
  (the stage sum is ordered differently, and ``KernelScore.divergence`` uses another
  but equivalent formula).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from tqdm import tqdm

from .. import _validate
from ..processes import ForwardProcess
from ..results import ParticleSolution
from . import _kernels
from ._scores import Evaluator, ScoreFunction, kernel_array, mixture_stages
from .noise import NormalStream

__all__ = ["ParticleRangeError", "ReverseOptions", "reverse", "sample_reverse"]

SeedLike = int | np.random.SeedSequence | None

# Draw Euler–Maruyama increments in the background while the kernels run (switch,
# for testing that it changes nothing but the speed).
_PREFETCH = True

METHODS = ("auto", "euler_maruyama", "heun", "rk4")
TIME_GRIDS = ("uniform", "log")
DIVERGENCES = ("auto", "exact", "fd", "hutchinson")
CORRECTORS = (None, "langevin")

# Butcher tableaux (c, A, b) of the explicit schemes.  Euler–Maruyama is the
# one-stage tableau plus the noise term.
_TABLEAUX: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {
    "euler_maruyama": (np.array([0.0]), np.zeros((1, 1)), np.array([1.0])),
    "heun": (
        np.array([0.0, 1.0]),
        np.array([[0.0, 0.0], [1.0, 0.0]]),
        np.array([0.5, 0.5]),
    ),
    "rk4": (
        np.array([0.0, 0.5, 0.5, 1.0]),
        np.array(
            [
                [0.0, 0.0, 0.0, 0.0],
                [0.5, 0.0, 0.0, 0.0],
                [0.0, 0.5, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.0],
            ]
        ),
        np.array([1.0, 2.0, 2.0, 1.0]) / 6.0,
    ),
}

# Weights (1, 0, ...) selecting stage 0, used by the corrector update.
_UNIT = {m: np.eye(1, m).reshape(m) for m in (1, 2, 4)}


class ParticleRangeError(ValueError):
    """Particles left the finite range (a position NaN, or ``|x_j|`` past
    ``sqrt(max float64)``, where ``|x|^2`` overflows): the steps were too large for
    the dynamics, not a fault of the score."""


@dataclass(frozen=True)
class ReverseOptions:
    """Settings of :func:`sample_reverse`, checked on construction.

    Attributes
    ----------
    eps : float >= 0
        Member of the family: 0 probability-flow ODE, 1 reverse SDE.
    method : "auto", "euler_maruyama", "heun" or "rk4"
        ``"auto"`` is Euler–Maruyama for ``eps > 0`` and Heun for ``eps = 0``.
    steps : int >= 1
        Base steps over ``[t0, T]``; output times off the base grid add steps.
    seed : int >= 0, SeedSequence or None
        Root of the chunked normal streams (:mod:`pdediff.particles.noise`); ``None``
        draws fresh entropy (recorded in ``metadata["seed_entropy"]``).
    track_log_density : bool
        Integrate ``log q`` along the ODE paths (needs ``eps = 0``, no corrector).
    corrector : None or "langevin"
        Langevin corrector (score_sde's predictor-corrector sampler).
    snr : float > 0
        Signal-to-noise ratio of the corrector.
    corrector_steps : int >= 1
    chunk_size : int >= 1
        Particles per random stream; fix it to reproduce results.
    progress : bool
        tqdm progress bar over the steps.
    time_grid : "uniform" or "log"
        Base steps uniform in ``t`` or geometric (needs ``t0 > 0``).
    divergence : "auto", "exact", "fd" or "hutchinson"
        How ``div s`` is computed for ``track_log_density`` (see :func:`reverse`).
    workers : int >= 1 or None
        Threads drawing random numbers (default ``numba.get_num_threads()``);
        results do not depend on it.
    fused : bool
        Use the fused score + update kernel when the score allows it (``False``
        forces the generic path; the particles are the same).
    """

    eps: float = 1.0
    method: str = "auto"
    steps: int = 1000
    seed: SeedLike = None
    track_log_density: bool = False
    corrector: str | None = None
    snr: float = 0.16
    corrector_steps: int = 1
    chunk_size: int = 65536
    progress: bool = False
    time_grid: str = "uniform"
    divergence: str = "auto"
    workers: int | None = None
    fused: bool = True

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        eps = _validate.eps(self.eps, "eps")
        put("eps", eps)
        method = _validate.choice(self.method, "method", METHODS)
        if method == "euler_maruyama" and eps == 0:
            raise ValueError(
                "method: 'euler_maruyama' needs eps > 0 (use 'heun' or 'rk4' for the ODE eps = 0)"
            )
        if method in ("heun", "rk4") and eps > 0:
            raise ValueError(
                f"method: {method!r} integrates the ODE and needs eps = 0; "
                f"use 'euler_maruyama' for eps = {eps!r}"
            )
        put("steps", _validate.positive_int(self.steps, "steps"))
        put("chunk_size", _validate.positive_int(self.chunk_size, "chunk_size"))
        put("corrector_steps", _validate.positive_int(self.corrector_steps, "corrector_steps"))
        if self.workers is not None:
            put("workers", _validate.positive_int(self.workers, "workers"))
        _validate.seed_sequence(self.seed, "seed")
        _validate.choice(self.corrector, "corrector", CORRECTORS)
        if self.corrector is not None:
            put("snr", _validate.positive(self.snr, "snr"))
        _validate.choice(self.time_grid, "time_grid", TIME_GRIDS)
        _validate.choice(self.divergence, "divergence", DIVERGENCES)
        for flag in ("track_log_density", "progress", "fused"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise TypeError(f"{flag}: expected a bool, got {getattr(self, flag)!r}")
        if self.track_log_density:
            if eps != 0:
                raise ValueError(
                    f"track_log_density: the log-density ODE holds for eps = 0 only, got eps={eps}"
                )
            if self.corrector is not None:
                raise ValueError("track_log_density: not available with a corrector")

    @property
    def scheme(self) -> str:
        """The method with ``"auto"`` resolved."""
        if self.method == "auto":
            return "euler_maruyama" if self.eps > 0 else "heun"
        return self.method


def _step_grid(t_eval: np.ndarray, steps: int, spacing: str) -> tuple[np.ndarray, np.ndarray]:
    """Decreasing step grid from T to t0 with ``steps`` base intervals (uniform in t,
    or geometric in t for ``"log"``), with every time of ``t_eval`` on it.  A base
    point within 1e-9 (T - t0) of an output time is moved onto it rather than
    creating a tiny extra step.  Returns the grid and the indices of ``t_eval``."""
    T, t0 = float(t_eval[0]), float(t_eval[-1])
    if spacing == "uniform":
        base = np.linspace(T, t0, steps + 1)
    else:
        if t0 <= 0.0:
            raise ValueError(f"time_grid: 'log' spacing needs t0 = t_eval[-1] > 0, got {t0!r}")
        base = np.geomspace(T, t0, steps + 1)
    base[0], base[-1] = T, t0
    tolerance = 1e-9 * (T - t0)
    extra = []
    snapped: set[int] = set()
    for te in t_eval[1:-1]:
        nearest = int(np.argmin(np.abs(base - te)))
        if abs(base[nearest] - te) <= tolerance and 0 < nearest < steps and nearest not in snapped:
            base[nearest] = te
            snapped.add(nearest)
        else:
            extra.append(te)
    grid = np.unique(np.concatenate([base, np.asarray(extra, dtype=np.float64)]))[::-1].copy()
    index = np.array([int(np.flatnonzero(grid == te)[0]) for te in t_eval])
    return grid, index


def _log_q_start(log_q_T: Any, x_T: np.ndarray, process: ForwardProcess, T: float) -> np.ndarray:
    n, d = x_T.shape
    if log_q_T is None:
        variance = process.prior_variance(T)
        return -0.5 * np.sum(x_T**2, axis=1) / variance - 0.5 * d * math.log(
            2.0 * math.pi * variance
        )
    values = log_q_T(x_T) if callable(log_q_T) else log_q_T
    values = _validate.real_array(values, "log_q_T", finite=False).reshape(-1).copy()
    if values.shape != (n,):
        raise ValueError(f"log_q_T: expected {n} values (one per particle), got {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("log_q_T: contains non-finite values")
    return values


def _range_error(bad: int, n: int, t: float, step: int) -> ParticleRangeError:
    return ParticleRangeError(
        f"particles left the finite range at t={t:.10g}, step {step}: steps too large? "
        f"({bad} of {n} particles non-finite or beyond |x_j| = {_kernels.RANGE_LIMIT:.3g}; "
        "use more steps or time_grid='log')"
    )


def _check_score(bad: int, t: float, step: int) -> None:
    if bad:
        raise ValueError(f"score: returned {bad} non-finite values at t={t:.10g} (step {step})")


def sample_reverse(
    x_T: np.ndarray,
    process: ForwardProcess,
    score: ScoreFunction,
    t_eval: np.ndarray,
    options: ReverseOptions | None = None,
    *,
    log_q_T: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
    noise: np.ndarray | None = None,
) -> ParticleSolution:
    """Integrate particles of the reverse-time family from ``T`` down to ``t0``.

    Solves, in forward time ``t`` decreasing from ``T = t_eval[0]`` to
    ``t0 = t_eval[-1]`` (docs/theory, "Equations"),

        dX = [a X - ((1 + eps)/2) g^2 s(X, t)] dt + sqrt(eps) g dW_bar

    with steps ``h = t_{k+1} - t_k < 0``.  Euler–Maruyama (``eps > 0``) evaluates the
    drift at ``t_k`` and adds ``sqrt(eps g(t_k)^2 |h|) Z``; Heun and RK4 (``eps = 0``)
    are the explicit Runge–Kutta schemes of orders 2 and 4 for the probability-flow
    ODE ``dX/dt = v = a X - (1/2) g^2 s``.  With ``track_log_density`` the
    log-density obeys ``d/dt log q(X_t, t) = -(n a - (1/2) g^2 div s)``, integrated
    with the same stages.  The Langevin corrector runs ``corrector_steps`` times
    before each predictor step: ``X <- X + delta s + sqrt(2 delta) Z`` with
    ``delta = 2 (snr |Z| / |s|)^2`` (norms per particle, averaged).

    Parameters
    ----------
    x_T : array, shape (N, ndim)
        Particles at ``t = T`` (units of the data), e.g. samples of ``p_T``.
    process : ForwardProcess
        Supplies ``a(t)``, ``g(t)^2`` and (default ``log_q_T``) ``sigma_T^2``.
    score : callable ``score(x, t) -> array of x.shape``
        The score field ``s(x, t)``; ``score.divergence(x, t) -> (N,)`` if present
        gives ``div s``.
    t_eval : array, shape (nt,), nt >= 2
        Output times, strictly decreasing, ``T = t_eval[0] <= process.T``,
        ``t0 = t_eval[-1] >= 0``.
    options : ReverseOptions
        Scheme, steps, seed and the rest (default ``ReverseOptions()``).
    log_q_T : array (N,), callable ``x -> (N,)`` or None
        ``log q(x_T, T)`` for ``track_log_density``; default ``log N(0, sigma_T^2 I)``.
    noise : array, shape (n_steps, N, ndim), or None
        Standard normal increments for the Euler–Maruyama steps instead of the seeded
        streams (common random numbers, e.g. for strong-error studies).

    Returns
    -------
    ParticleSolution
        ``t = t_eval``, ``x`` of shape (nt, N, ndim), ``log_q`` (nt, N) when tracked.

    Raises
    ------
    ParticleRangeError
        When particles leave the finite range (steps too large).
    ValueError
        When the score returns a wrong shape or non-finite values at finite points.
    """
    started = time.perf_counter()
    opt = ReverseOptions() if options is None else options
    if not isinstance(opt, ReverseOptions):
        raise TypeError(f"options: expected a ReverseOptions, got {type(opt).__name__}")
    process = _validate.process(process, "process")
    if not callable(score):
        raise TypeError(f"score: expected a callable score(x, t), got {score!r}")
    x = np.array(_validate.points(x_T, "x_T"), dtype=np.float64, order="C")
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"x_T: expected shape (N, ndim) with N, ndim >= 1, got {x.shape}")
    n, d = x.shape
    times = _validate.times(t_eval, "t_eval", increasing=False, minimum_count=2, T=process.T)
    eps, method = opt.eps, opt.scheme
    if log_q_T is not None and not opt.track_log_density:
        raise ValueError("log_q_T: only used with track_log_density=True")
    divergence = opt.divergence
    if opt.track_log_density:
        if divergence == "auto":
            divergence = "exact" if hasattr(score, "divergence") else "fd"
        if divergence == "exact" and not hasattr(score, "divergence"):
            raise ValueError("divergence: 'exact' needs a score with a .divergence(x, t) method")
    n_workers = numba.get_num_threads() if opt.workers is None else opt.workers
    T = float(times[0])

    grid, out_index = _step_grid(times, opt.steps, opt.time_grid)
    n_steps = grid.size - 1
    if noise is not None:
        if eps == 0:
            raise ValueError("noise: only used by Euler–Maruyama (eps > 0)")
        noise = _validate.real_array(noise, "noise")
        if noise.shape != (n_steps, n, d):
            raise ValueError(
                f"noise: expected shape (n_steps, N, ndim) = {(n_steps, n, d)}, got {noise.shape}"
            )

    c_nodes, a_matrix, b_weights = _TABLEAUX[method]
    stages = b_weights.size
    drift_coefficient = 0.5 * (1.0 + eps)
    track = opt.track_log_density
    # The schedule at every stage time, one vectorised call per coefficient.
    stage_t = np.empty((n_steps, stages))
    for k in range(n_steps):
        t_k, h = float(grid[k]), float(grid[k + 1] - grid[k])
        for j in range(stages):
            stage_t[k, j] = float(grid[k + 1]) if c_nodes[j] == 1.0 else t_k + float(c_nodes[j]) * h
    a_table = np.asarray(process.a(stage_t), dtype=np.float64)
    g2_table = np.asarray(process.g2(stage_t), dtype=np.float64)
    fused = None
    if opt.fused and (not track or divergence == "exact"):
        fused = mixture_stages(score, d, stages)
        if fused is not None:
            fused.schedule(stage_t)

    # Work arrays, allocated once per call.
    stage_k = np.zeros((stages, n, d)) if fused is None or opt.corrector else np.zeros((1, 1, d))
    stage_x = np.empty((n, d)) if fused is None else stage_k[0]
    z = np.empty((n, d))
    norms = np.empty(n)
    stage_div = np.empty((stages, n if track and fused is None else 1))
    ax, bs = np.empty(stages), np.empty(stages)
    dna, hg2 = np.empty(stages), np.empty(stages)
    xs = np.empty((times.size, n, d))
    xs[0] = x
    log_q = None
    current_log_q = np.zeros(1)
    if track:
        current_log_q = _log_q_start(log_q_T, x, process, T)
        log_q = np.empty((times.size, n))
        log_q[0] = current_log_q

    # Euler–Maruyama pre-generates the increments of step k + 1 in the background
    # while the kernels of step k run (double buffer).  With a corrector the draws
    # interleave with the corrector's, so they stay synchronous.
    prefetch = _PREFETCH and eps > 0 and noise is None and opt.corrector is None
    z_next = np.empty((n, d)) if prefetch else z
    with NormalStream(opt.seed, n, opt.chunk_size, n_workers, background=prefetch) as normals:
        evaluate = Evaluator(score, divergence, normals, n, d)
        fused_calls = 0
        next_output = 1
        pending = normals.submit(z_next) if prefetch else None
        for k in tqdm(range(n_steps), disable=not opt.progress, desc="reverse", unit="step"):
            t_k, t_next = float(grid[k]), float(grid[k + 1])
            h = t_next - t_k

            if opt.corrector == "langevin":
                for _ in range(opt.corrector_steps):
                    s = evaluate(x, t_k, k)
                    _check_score(_kernels.velocity(x, s, 0.0, 1.0, stage_k[0]), t_k, k)
                    normals.fill(z)
                    _kernels.row_norms(stage_k[0], norms)
                    grad_norm = float(np.mean(norms))
                    _kernels.row_norms(z, norms)
                    noise_norm = float(np.mean(norms))
                    if grad_norm == 0.0:
                        continue
                    delta = 2.0 * (opt.snr * noise_norm / grad_norm) ** 2
                    bad = _kernels.combine(
                        x, stage_k, _UNIT[stages], delta, z, math.sqrt(2.0 * delta), x
                    )
                    if bad:
                        raise _range_error(bad, n, t_k, k)

            for j in range(stages):
                t_j = float(stage_t[k, j])
                a_j, g2_j = float(a_table[k, j]), float(g2_table[k, j])
                ax[j], bs[j] = a_j, -drift_coefficient * g2_j
                dna[j], hg2[j] = d * a_j, 0.5 * g2_j
                if fused is not None:
                    fused.set(j, k, t_j)
                    continue
                if j == 0:
                    x_j = x
                else:
                    bad = _kernels.combine(x, stage_k, a_matrix[j], h, z, 0.0, stage_x)
                    if bad:
                        raise _range_error(bad, n, t_j, k)
                    x_j = stage_x
                s = evaluate(x_j, t_j, k)
                _check_score(_kernels.velocity(x_j, s, ax[j], bs[j], stage_k[j]), t_j, k)
                if track:
                    div_s = evaluate.divergence(x_j, t_j, k)
                    stage_div[j] = dna[j] - hg2[j] * div_s

            noise_scale = 0.0
            z_k = z
            if eps > 0:
                if pending is not None:
                    pending()
                    z, z_next = z_next, z
                    z_k = z
                    pending = normals.submit(z_next) if k + 1 < n_steps else None
                elif noise is None:
                    normals.fill(z)
                    z_k = z
                else:
                    z_k = kernel_array(noise[k])
                # c_0 = 0 in every tableau: stage 0 is at t_k.
                noise_scale = math.sqrt(eps * float(g2_table[k, 0]) * abs(h))
            if fused is not None:
                bad = _kernels.mixture_step(
                    x, h, a_matrix, b_weights, ax, bs, fused.means, fused.prec, fused.logc,
                    fused.trace, fused.isotropic, z_k, noise_scale, dna, hg2, track,
                    current_log_q, x,
                )
                fused_calls += stages * (2 if track else 1)
            else:
                bad = _kernels.combine(x, stage_k, b_weights, h, z_k, noise_scale, x)
                if track:
                    current_log_q -= h * (b_weights @ stage_div)
            if bad:
                raise _range_error(bad, n, t_next, k)

            if next_output < times.size and k + 1 == out_index[next_output]:
                xs[next_output] = x
                if log_q is not None:
                    log_q[next_output] = current_log_q
                next_output += 1

    metadata = {
        "direction": "reverse",
        "method": method,
        "eps": eps,
        "n_steps": int(n_steps),
        "steps": opt.steps,
        "time_grid": opt.time_grid,
        "corrector": opt.corrector,
        "snr": float(opt.snr) if opt.corrector is not None else None,
        "corrector_steps": opt.corrector_steps if opt.corrector is not None else 0,
        "chunk_size": opt.chunk_size,
        "seed_entropy": str(normals.entropy),
        "divergence": divergence if track else None,
        "n_score_calls": evaluate.calls + fused_calls,
        "fused": fused is not None,
        "wall_time": time.perf_counter() - started,
        "workers": n_workers,
        "numba_threads": numba.get_num_threads(),
        "noise_given": noise is not None,
    }
    return ParticleSolution(t=times, x=xs, process=process, log_q=log_q, metadata=metadata)


def reverse(
    x_T: np.ndarray,
    process: ForwardProcess,
    score: ScoreFunction,
    t_eval: np.ndarray,
    eps: float = 1.0,
    method: str = "auto",
    steps: int = 1000,
    seed: SeedLike = None,
    track_log_density: bool = False,
    log_q_T: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
    corrector: str | None = None,
    snr: float = 0.16,
    corrector_steps: int = 1,
    chunk_size: int = 65536,
    progress: bool = False,
    *,
    time_grid: str = "uniform",
    divergence: str = "auto",
    noise: np.ndarray | None = None,
    workers: int | None = None,
    fused: bool = True,
) -> ParticleSolution:
    """Reverse-family particles from ``T`` down to ``t0``: :func:`sample_reverse` with
    the settings given as keywords,

        dX = [a X - ((1 + eps)/2) g^2 s(X, t)] dt + sqrt(eps) g dW_bar.

    Parameters
    ----------
    x_T, process, score, t_eval, log_q_T, noise
        As for :func:`sample_reverse` (shapes (N, ndim), -, -, (nt,), (N,),
        (n_steps, N, ndim)).
    eps, method, steps, seed, track_log_density, corrector, snr, corrector_steps, \
chunk_size, progress, time_grid, divergence, workers, fused
        The fields of :class:`ReverseOptions`.  ``divergence``: ``"exact"`` uses
        ``score.divergence`` (``"auto"`` when present), ``"fd"`` central differences
        (``2 ndim`` score calls per stage, error ``O(delta^2)``,
        ``delta ~ 6e-6 (1 + |x|)``), ``"hutchinson"`` a one-probe Rademacher estimate
        (2 score calls per stage, unbiased, exact for a diagonal score Jacobian).

    Returns
    -------
    ParticleSolution
        ``t = t_eval``, ``x`` of shape (nt, N, ndim), ``log_q`` (nt, N) when tracked.
    """
    options = ReverseOptions(
        eps=eps, method=method, steps=steps, seed=seed, track_log_density=track_log_density,
        corrector=corrector, snr=snr, corrector_steps=corrector_steps, chunk_size=chunk_size,
        progress=progress, time_grid=time_grid, divergence=divergence, workers=workers,
        fused=fused,
    )
    return sample_reverse(x_T, process, score, t_eval, options, log_q_T=log_q_T, noise=noise)

"""Particle samplers: the reverse-time ODE/SDE family and exact forward sampling.

Reverse family (DESIGN section 2), ``eps >= 0`` (``eps = 0``: probability-flow ODE,
``eps = 1``: reverse SDE), integrated in forward time ``t`` from ``T`` DOWN to
``t0 >= 0``, so every step has ``h = t_{k+1} - t_k < 0``:

    dX = [a X - ((1 + eps)/2) g^2 s(X, t)] dt + sqrt(eps) g dW_bar

With the exact score ``s = grad log p_t`` and ``X_T ~ p_T`` the particles have law
``p_t`` at every ``t`` and for every ``eps``.

Along a path of the ODE (``eps = 0``) with velocity ``v = a x - (1/2) g^2 s`` the
continuity equation ``d_t q + div(v q) = 0`` gives

    d/dt log q(X_t, t) = -div v = -(n a - (1/2) g^2 div s)

which :func:`reverse` integrates with the same Runge–Kutta stages as the state when
``track_log_density=True``.

Exact forward sampling (DESIGN section 1): ``X_t = alpha_t X_0 + sigma_t Z``, and
between two times ``s < t`` the Markov transition
``X_t = (alpha_t/alpha_s) X_s + sqrt(sigma_t^2 - (alpha_t/alpha_s)^2 sigma_s^2) Z``.

Reproducibility: every random number (Brownian increments, corrector noise,
Hutchinson probes, forward noise) comes from per-chunk ``numpy.random.Generator``s
spawned from ``numpy.random.SeedSequence(seed)``, one per block of ``chunk_size``
consecutive particles.  The draws of a chunk depend only on the seed, the chunk index
and the order of the calls, never on the number of threads, so a fixed
``(seed, chunk_size)`` gives bit-identical particles with any thread count (provided
the score itself does not depend on it).  Changing ``chunk_size`` changes the streams
(and the particles).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np
from tqdm import tqdm

from .processes import ForwardProcess
from .results import ParticleSolution, load_particles

__all__ = ["ParticleSolution", "forward", "load_particles", "reverse"]

ScoreFunction = Callable[[np.ndarray, float], np.ndarray]
SeedLike = int | np.random.SeedSequence | None

# Draw Euler–Maruyama increments in the background while the score is evaluated
# (switch, for testing that it changes nothing but the speed).
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


# --------------------------------------------------------------------------- kernels
# One kernel per operation, generic in the number of particles, the dimension and the
# number of stages; all are elementwise per particle, so their results do not depend
# on the number of threads.


@numba.njit(parallel=True, cache=True)
def _velocity_kernel(x, s, ax, bs, out):  # pragma: no cover - compiled
    """out = ax * x + bs * s; returns the number of non-finite entries of s."""
    n, d = x.shape
    bad = 0
    for i in numba.prange(n):
        for j in range(d):
            value = s[i, j]
            if not np.isfinite(value):
                bad += 1
            out[i, j] = ax * x[i, j] + bs * value
    return bad


@numba.njit(parallel=True, cache=True)
def _combine_kernel(x, k, w, h, z, zc, out):  # pragma: no cover - compiled
    """out = x + h * sum_q w[q] k[q] + zc * z (out may alias x)."""
    n, d = x.shape
    m = w.shape[0]
    for i in numba.prange(n):
        for j in range(d):
            acc = 0.0
            for q in range(m):
                # Skipping zero weights keeps stages not yet computed (and their
                # possibly stale values) out of the sum.
                if w[q] != 0.0:
                    acc += w[q] * k[q, i, j]
            value = x[i, j] + h * acc
            if zc != 0.0:
                value += zc * z[i, j]
            out[i, j] = value


@numba.njit(parallel=True, cache=True)
def _row_norms_kernel(a, out):  # pragma: no cover - compiled
    """out[i] = |a[i, :]|_2."""
    n, d = a.shape
    for i in numba.prange(n):
        acc = 0.0
        for j in range(d):
            acc += a[i, j] * a[i, j]
        out[i] = math.sqrt(acc)


# --------------------------------------------------------------------------- noise
def _seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    if seed is None or isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed is not None and seed < 0:
            raise ValueError(f"seed: expected a nonnegative int, got {seed!r}")
        return np.random.SeedSequence(None if seed is None else int(seed))
    if isinstance(seed, np.random.SeedSequence):
        # A copy, so that spawning here does not advance the caller's sequence and
        # the same SeedSequence object always reproduces the same particles.
        return np.random.SeedSequence(
            seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size
        )
    raise TypeError(f"seed: expected an int, a numpy SeedSequence or None, got {seed!r}")


class _ChunkedNormals:
    """Standard normal draws for ``n`` particles from one Generator per chunk of
    ``chunk_size`` particles; chunks are filled concurrently by a thread pool
    (Generator fills release the GIL).  Each chunk's generator is used by one task
    at a time and in call order, so the draws do not depend on the scheduling."""

    def __init__(
        self,
        seed_seq: np.random.SeedSequence,
        n: int,
        chunk_size: int,
        workers: int,
        background: bool = False,
    ) -> None:
        self.bounds = [(lo, min(lo + chunk_size, n)) for lo in range(0, n, chunk_size)]
        self.generators = [
            np.random.Generator(np.random.PCG64(child))
            for child in seed_seq.spawn(len(self.bounds))
        ]
        workers = min(workers, len(self.bounds))
        # Background draws (overlapping the score evaluation) need a pool even for
        # one worker.
        use_pool = workers > 1 or background
        self.pool = ThreadPoolExecutor(max_workers=workers) if use_pool else None

    def _work(self, z: np.ndarray, index: int) -> None:
        lo, hi = self.bounds[index]
        self.generators[index].standard_normal(out=z[lo:hi])

    def fill(self, z: np.ndarray) -> None:
        """Overwrite ``z`` (shape (n, ndim), C-contiguous float64) with N(0, 1)."""
        if self.pool is None:
            for index in range(len(self.bounds)):
                self._work(z, index)
        else:
            list(self.pool.map(lambda index: self._work(z, index), range(len(self.bounds))))

    def submit(self, z: np.ndarray) -> Callable[[], None]:
        """Start filling ``z`` in the background; returns a function that waits for
        the fill to finish (and re-raises its errors)."""
        assert self.pool is not None
        futures = [self.pool.submit(self._work, z, i) for i in range(len(self.bounds))]

        def wait() -> None:
            for future in futures:
                future.result()

        return wait

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    def __enter__(self) -> _ChunkedNormals:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- results
# --------------------------------------------------------------------------- validation
def _points(x: Any, name: str) -> np.ndarray:
    try:
        array = np.array(x, dtype=np.float64, order="C")
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name}: expected a float array of shape (N, ndim)") from error
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"{name}: expected shape (N, ndim) with N, ndim >= 1, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: contains non-finite values")
    return array


def _kernel_array(a: np.ndarray) -> np.ndarray:
    """``a`` as a writeable C-contiguous float64 array: the one array type the
    kernels are compiled for, so no call triggers a new specialisation."""
    if a.dtype != np.float64 or not a.flags.c_contiguous or not a.flags.writeable:
        return np.array(a, dtype=np.float64, order="C")
    return a


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def _workers(workers: int | None) -> int:
    return numba.get_num_threads() if workers is None else _positive_int(workers, "workers")


def _reverse_times(t_eval: Any) -> np.ndarray:
    try:
        times = np.array(t_eval, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as error:
        raise TypeError("t_eval: expected a 1-D array of floats") from error
    if times.size < 2:
        raise ValueError(f"t_eval: expected at least 2 times (T, ..., t0), got {times.size}")
    if not np.all(np.isfinite(times)):
        raise ValueError("t_eval: contains non-finite values")
    if not np.all(np.diff(times) < 0):
        raise ValueError(f"t_eval: expected strictly decreasing times from T to t0, got {times}")
    if times[-1] < 0:
        raise ValueError(f"t_eval: the last time t0 must be >= 0, got {times[-1]!r}")
    return times


def _step_grid(t_eval: np.ndarray, steps: int, spacing: str) -> tuple[np.ndarray, np.ndarray]:
    """Decreasing step grid from T to t0 with ``steps`` base intervals (uniform in t,
    or geometric in t for ``"log"``), with every time of ``t_eval`` on it.  A base
    point within 1e-9 (T - t0) of an output time is moved onto it rather than
    creating a tiny extra step.  Returns the grid and the indices of ``t_eval``."""
    T, t0 = float(t_eval[0]), float(t_eval[-1])
    if spacing == "uniform":
        base = np.linspace(T, t0, steps + 1)
    elif spacing == "log":
        if t0 <= 0.0:
            raise ValueError(f"time_grid: 'log' spacing needs t0 = t_eval[-1] > 0, got {t0!r}")
        base = np.geomspace(T, t0, steps + 1)
    else:
        raise ValueError(f"time_grid: expected one of {TIME_GRIDS}, got {spacing!r}")
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


def _resolve_method(method: str, eps: float) -> str:
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if method == "auto":
        return "euler_maruyama" if eps > 0 else "heun"
    if method == "euler_maruyama" and eps == 0:
        raise ValueError(
            "method: 'euler_maruyama' needs eps > 0 (use 'heun' or 'rk4' for the ODE eps = 0)"
        )
    if method in ("heun", "rk4") and eps > 0:
        raise ValueError(
            f"method: {method!r} integrates the ODE and needs eps = 0; "
            f"use 'euler_maruyama' for eps = {eps!r}"
        )
    return method


class _Evaluator:
    """Calls the score (and its divergence) on full (N, ndim) arrays, checks what
    comes back, and counts the calls."""

    def __init__(
        self, score: ScoreFunction, divergence: str, noise: _ChunkedNormals, n: int, d: int
    ) -> None:
        self.score = score
        self.divergence_mode = divergence
        self.noise = noise
        self.calls = 0
        self.probe = np.empty((n, d)) if divergence == "hutchinson" else None

    def __call__(self, x: np.ndarray, t: float, step: int) -> np.ndarray:
        s = self.score(x, t)
        self.calls += 1
        s = np.asarray(s)
        if s.shape != x.shape:
            raise ValueError(
                f"score: returned shape {s.shape} at t={t:.10g} (step {step}), expected {x.shape}"
            )
        return _kernel_array(s)

    def _finite(self, s: np.ndarray, t: float, step: int) -> np.ndarray:
        if not np.all(np.isfinite(s)):
            raise ValueError(f"score: returned non-finite values at t={t:.10g} (step {step})")
        return s

    def divergence(self, x: np.ndarray, t: float, step: int) -> np.ndarray:
        """``div s(x, t)``, shape (N,)."""
        n, d = x.shape
        mode = self.divergence_mode
        if mode == "exact":
            div = np.asarray(self.score.divergence(x, t), dtype=np.float64)  # type: ignore[attr-defined]
            self.calls += 1
            if div.shape != (n,):
                raise ValueError(
                    f"score.divergence: returned shape {div.shape} at t={t:.10g} (step {step}), "
                    f"expected {(n,)}"
                )
            if not np.all(np.isfinite(div)):
                raise ValueError(
                    f"score.divergence: returned non-finite values at t={t:.10g} (step {step})"
                )
            return div
        # Central differences with the step cbrt(machine eps) * (1 + |x|_inf), the
        # usual balance of O(delta^2) truncation and O(eps/delta) rounding error.
        delta = np.cbrt(np.finfo(np.float64).eps) * (1.0 + np.max(np.abs(x), axis=1))
        if mode == "fd":
            div = np.zeros(n)
            shifted = x.copy()
            for j in range(d):
                shifted[:, j] = x[:, j] + delta
                plus = self._finite(self(shifted, t, step), t, step)[:, j]
                shifted[:, j] = x[:, j] - delta
                minus = self._finite(self(shifted, t, step), t, step)[:, j]
                shifted[:, j] = x[:, j]
                div += (plus - minus) / (2.0 * delta)
            return div
        # Hutchinson: div s = E[v . J v] for Rademacher v, with J v by central
        # differences; one probe per particle and stage.
        probe = self.probe
        assert probe is not None
        self.noise.fill(probe)
        np.sign(probe, out=probe)
        step_vec = delta[:, None] * probe
        plus = self._finite(self(x + step_vec, t, step), t, step)
        minus = self._finite(self(x - step_vec, t, step), t, step)
        return np.einsum("ij,ij->i", probe, plus - minus) / (2.0 * delta)


def _log_q_start(log_q_T: Any, x_T: np.ndarray, process: ForwardProcess, T: float) -> np.ndarray:
    n, d = x_T.shape
    if log_q_T is None:
        variance = process.prior_variance(T)
        return -0.5 * np.sum(x_T**2, axis=1) / variance - 0.5 * d * math.log(
            2.0 * math.pi * variance
        )
    values = log_q_T(x_T) if callable(log_q_T) else log_q_T
    values = np.array(values, dtype=np.float64).reshape(-1)
    if values.shape != (n,):
        raise ValueError(f"log_q_T: expected {n} values (one per particle), got {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("log_q_T: contains non-finite values")
    return values


# --------------------------------------------------------------------------- reverse
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
) -> ParticleSolution:
    """Integrate particles of the reverse-time family from ``T`` down to ``t0``.

    Solves, in forward time ``t`` decreasing from ``T = t_eval[0]`` to
    ``t0 = t_eval[-1]`` (DESIGN section 2),

        dX = [a X - ((1 + eps)/2) g^2 s(X, t)] dt + sqrt(eps) g dW_bar

    with steps ``h = t_{k+1} - t_k < 0``.  Euler–Maruyama (``eps > 0``) evaluates the
    drift at ``t_k`` and adds ``sqrt(eps g(t_k)^2 |h|) Z``; Heun and RK4 (``eps = 0``)
    are the classical explicit Runge–Kutta schemes of orders 2 and 4 for the
    probability-flow ODE ``dX/dt = v = a X - (1/2) g^2 s``.

    With ``track_log_density`` (ODE only) the log-density along each path obeys
    ``d/dt log q(X_t, t) = -div v = -(n a - (1/2) g^2 div s)`` (continuity equation
    ``d_t q + div(v q) = 0``) and is integrated with the same stages as ``X``.

    The Langevin corrector (``corrector="langevin"``, Song et al.'s score_sde
    predictor–corrector sampler) runs ``corrector_steps`` times before each predictor
    step at ``t_k``: ``X <- X + delta s(X, t_k) + sqrt(2 delta) Z`` with
    ``delta = 2 (snr |Z| / |s|)^2``, where ``|.|`` are the Euclidean norms per
    particle averaged over the particles (score_sde's ``alpha`` factor is 1 here).

    Parameters
    ----------
    x_T : array, shape (N, ndim)
        Particles at ``t = T`` (units of the data), e.g. samples of ``p_T``.
    process : ForwardProcess
        Supplies ``a(t)``, ``g(t)^2`` and (for the default ``log_q_T``) ``sigma_T^2``.
    score : callable ``score(x, t) -> array of x.shape``
        The score field ``s(x, t)``, called once per stage on the full (N, ndim)
        array.  If it has ``score.divergence(x, t) -> (N,)`` that gives ``div s``.
    t_eval : array, shape (nt,), nt >= 2
        Output times, strictly decreasing, ``t_eval[0] = T``, ``t_eval[-1] = t0 >= 0``.
    eps : float >= 0
        Member of the family: 0 probability-flow ODE, 1 reverse SDE.
    method : "auto", "euler_maruyama", "heun" or "rk4"
        ``"auto"`` is Euler–Maruyama for ``eps > 0`` and Heun for ``eps = 0``.
    steps : int >= 1
        Number of base steps over ``[t0, T]``; output times not on the base grid add
        steps (``metadata["n_steps"]`` is the count taken).
    seed : int, SeedSequence or None
        Seed of ``numpy.random.SeedSequence``; ``None`` draws fresh entropy (recorded
        in ``metadata["seed_entropy"]``).
    track_log_density : bool
        Integrate ``log q`` along the ODE paths (needs ``eps = 0``, no corrector).
    log_q_T : array (N,), callable ``x -> (N,)`` or None
        ``log q(x_T, T)``; default the log-density of ``N(0, sigma_T^2 I)``.
    corrector : None or "langevin"
    snr : float > 0
        Signal-to-noise ratio of the Langevin corrector.
    corrector_steps : int >= 1
    chunk_size : int >= 1
        Particles per random stream; fix it to reproduce results.
    progress : bool
        Show a tqdm progress bar over the steps.
    time_grid : "uniform" or "log"
        Base step grid uniform in ``t`` or geometric (``t0 > 0``), which refines
        towards ``t0`` where scores stiffen like ``1/sigma_t^2``.
    divergence : "auto", "exact", "fd" or "hutchinson"
        How ``div s`` is computed for ``track_log_density``: ``score.divergence``
        (``"auto"`` uses it when present), central differences (``2 ndim`` score calls
        per stage, error ``O(delta^2)``, ``delta ~ 6e-6 (1 + |x|)``), or a
        one-probe Rademacher Hutchinson estimate (2 score calls per stage, unbiased;
        exact when the Jacobian of ``s`` is diagonal), seeded from ``seed``.
    noise : array, shape (n_steps, N, ndim), or None
        Standard normal increments to use for the Euler–Maruyama steps instead of
        drawing them (common random numbers, e.g. for strong-error studies).
    workers : int or None
        Threads drawing random numbers; default ``numba.get_num_threads()``.
        Results do not depend on it.

    Returns
    -------
    ParticleSolution
        ``t = t_eval``, ``x`` of shape (nt, N, ndim), ``log_q`` (nt, N) when tracked.
    """
    started = time.perf_counter()
    if not isinstance(process, ForwardProcess):
        raise TypeError(f"process: expected a pdediff ForwardProcess, got {process!r}")
    if not callable(score):
        raise TypeError(f"score: expected a callable score(x, t), got {score!r}")
    x = _points(x_T, "x_T")
    n, d = x.shape
    times = _reverse_times(t_eval)
    try:
        eps = float(eps)
    except (TypeError, ValueError) as error:
        raise TypeError(f"eps: expected a float >= 0, got {eps!r}") from error
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps: expected a finite float >= 0, got {eps!r}")
    method = _resolve_method(method, eps)
    steps = _positive_int(steps, "steps")
    chunk_size = _positive_int(chunk_size, "chunk_size")
    corrector_steps = _positive_int(corrector_steps, "corrector_steps")
    n_workers = _workers(workers)
    if corrector not in CORRECTORS:
        raise ValueError(f"corrector: expected None or 'langevin', got {corrector!r}")
    if corrector is not None:
        snr = float(snr)
        if not math.isfinite(snr) or snr <= 0:
            raise ValueError(f"snr: expected a positive float, got {snr!r}")
    if log_q_T is not None and not track_log_density:
        raise ValueError("log_q_T: only used with track_log_density=True")
    if divergence not in DIVERGENCES:
        raise ValueError(f"divergence: expected one of {DIVERGENCES}, got {divergence!r}")
    if track_log_density:
        if eps != 0:
            raise ValueError(
                f"track_log_density: the log-density ODE holds for eps = 0 only, got eps={eps}"
            )
        if corrector is not None:
            raise ValueError("track_log_density: not available with a corrector")
        if divergence == "auto":
            divergence = "exact" if hasattr(score, "divergence") else "fd"
        if divergence == "exact" and not hasattr(score, "divergence"):
            raise ValueError("divergence: 'exact' needs a score with a .divergence(x, t) method")
    T = float(times[0])

    grid, out_index = _step_grid(times, steps, time_grid)
    n_steps = grid.size - 1
    if noise is not None:
        if eps == 0:
            raise ValueError("noise: only used by Euler–Maruyama (eps > 0)")
        noise = np.asarray(noise)
        if noise.shape != (n_steps, n, d):
            raise ValueError(
                f"noise: expected shape (n_steps, N, ndim) = {(n_steps, n, d)}, got {noise.shape}"
            )
        if not np.all(np.isfinite(noise)):
            raise ValueError("noise: contains non-finite values")

    c_nodes, a_matrix, b_weights = _TABLEAUX[method]
    stages = b_weights.size
    drift_coefficient = 0.5 * (1.0 + eps)
    seed_seq = _seed_sequence(seed)

    # Work arrays, allocated once per call.
    stage_k = np.zeros((stages, n, d))
    stage_x = np.empty((n, d))
    z = np.empty((n, d))
    norms = np.empty(n)
    stage_div = np.empty((stages, n))
    xs = np.empty((times.size, n, d))
    xs[0] = x
    log_q = None
    if track_log_density:
        current_log_q = _log_q_start(log_q_T, x, process, T)
        log_q = np.empty((times.size, n))
        log_q[0] = current_log_q

    # Plain Euler–Maruyama draws the increments of step k + 1 in the background while
    # the score of step k + 1 is evaluated (double buffer).  With a corrector the
    # draws interleave with the corrector's, so they stay synchronous.
    prefetch = _PREFETCH and eps > 0 and noise is None and corrector is None
    z_next = np.empty((n, d)) if prefetch else z
    with _ChunkedNormals(seed_seq, n, chunk_size, n_workers, background=prefetch) as normals:
        evaluate = _Evaluator(score, divergence, normals, n, d)
        next_output = 1
        pending = normals.submit(z_next) if prefetch else None
        for k in tqdm(range(n_steps), disable=not progress, desc="reverse", unit="step"):
            t_k, t_next = float(grid[k]), float(grid[k + 1])
            h = t_next - t_k

            if corrector == "langevin":
                for _ in range(corrector_steps):
                    s = evaluate(x, t_k, k)
                    _check(_velocity_kernel(x, s, 0.0, 1.0, stage_k[0]), t_k, k)
                    normals.fill(z)
                    _row_norms_kernel(stage_k[0], norms)
                    grad_norm = float(np.mean(norms))
                    _row_norms_kernel(z, norms)
                    noise_norm = float(np.mean(norms))
                    if grad_norm == 0.0:
                        continue
                    delta = 2.0 * (snr * noise_norm / grad_norm) ** 2
                    _combine_kernel(x, stage_k, _UNIT[stages], delta, z, math.sqrt(2.0 * delta), x)

            for j in range(stages):
                t_j = t_next if c_nodes[j] == 1.0 else t_k + float(c_nodes[j]) * h
                if j == 0:
                    x_j = x
                else:
                    _combine_kernel(x, stage_k, a_matrix[j], h, z, 0.0, stage_x)
                    x_j = stage_x
                s = evaluate(x_j, t_j, k)
                a_j, g2_j = float(process.a(t_j)), float(process.g2(t_j))
                bad = _velocity_kernel(x_j, s, a_j, -drift_coefficient * g2_j, stage_k[j])
                _check(bad, t_j, k)
                if track_log_density:
                    div_s = evaluate.divergence(x_j, t_j, k)
                    stage_div[j] = d * a_j - 0.5 * g2_j * div_s

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
                    z_k = _kernel_array(noise[k])
                noise_scale = math.sqrt(eps * float(process.g2(t_k)) * abs(h))
                _combine_kernel(x, stage_k, b_weights, h, z_k, noise_scale, x)
            else:
                _combine_kernel(x, stage_k, b_weights, h, z, 0.0, x)
            if track_log_density:
                current_log_q -= h * (b_weights @ stage_div)

            if next_output < times.size and k + 1 == out_index[next_output]:
                if not np.all(np.isfinite(x)):
                    raise ValueError(
                        f"reverse: particles became non-finite by t={t_next:.10g} (step {k}); "
                        "reduce the step size or use time_grid='log'"
                    )
                xs[next_output] = x
                if log_q is not None:
                    log_q[next_output] = current_log_q
                next_output += 1

    metadata = {
        "direction": "reverse",
        "method": method,
        "eps": eps,
        "n_steps": int(n_steps),
        "steps": steps,
        "time_grid": time_grid,
        "corrector": corrector,
        "snr": float(snr) if corrector is not None else None,
        "corrector_steps": corrector_steps if corrector is not None else 0,
        "chunk_size": chunk_size,
        "seed_entropy": str(seed_seq.entropy),
        "divergence": divergence if track_log_density else None,
        "n_score_calls": evaluate.calls,
        "wall_time": time.perf_counter() - started,
        "workers": n_workers,
        "numba_threads": numba.get_num_threads(),
        "noise_given": noise is not None,
    }
    return ParticleSolution(t=times, x=xs, process=process, log_q=log_q, metadata=metadata)


def _check(bad: int, t: float, step: int) -> None:
    if bad:
        raise ValueError(f"score: returned {bad} non-finite values at t={t:.10g} (step {step})")


# --------------------------------------------------------------------------- forward
def forward(
    x0: np.ndarray,
    process: ForwardProcess,
    t: float | np.ndarray,
    seed: SeedLike = None,
    chunk_size: int = 65536,
    workers: int | None = None,
) -> np.ndarray:
    """Exact samples of the forward process started at ``x0``.

    For a float ``t``: ``X_t = alpha_t x0 + sigma_t Z``, ``Z ~ N(0, I)``.  For an
    increasing array of times ``t_0 < t_1 < ...`` the path is sampled with the exact
    Gaussian transitions between consecutive times (a valid Markov path; DESIGN
    section 1):

        X_{t_{k+1}} = r X_{t_k} + sqrt(sigma_{t_{k+1}}^2 - r^2 sigma_{t_k}^2) Z_k,
        r = alpha_{t_{k+1}} / alpha_{t_k}

    starting from ``X_0 = x0`` at time 0.

    Parameters
    ----------
    x0 : array, shape (N, ndim)
        Starting points (data at ``t = 0``, units of the data).
    process : ForwardProcess
    t : float >= 0, or 1-D array of strictly increasing times >= 0
    seed : int, SeedSequence or None
        Seed of the per-chunk generators (see the module docstring).
    chunk_size : int
        Particles per random stream.
    workers : int or None
        Threads drawing random numbers; results do not depend on it.

    Returns
    -------
    ndarray
        Shape (N, ndim) for a float ``t``, (nt, N, ndim) for an array.
    """
    if not isinstance(process, ForwardProcess):
        raise TypeError(f"process: expected a pdediff ForwardProcess, got {process!r}")
    x = _points(x0, "x0")
    n, d = x.shape
    try:
        times = np.array(t, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"t: expected a float or a 1-D array of floats, got {t!r}") from error
    scalar = times.ndim == 0
    times = times.reshape(-1)
    if times.ndim != 1 or times.size < 1:
        raise ValueError(f"t: expected a float or a non-empty 1-D array, got shape {times.shape}")
    if not np.all(np.isfinite(times)) or np.any(times < 0):
        raise ValueError(f"t: expected finite times >= 0, got {t!r}")
    if np.any(np.diff(times) <= 0):
        raise ValueError(f"t: expected strictly increasing times, got {times}")
    chunk_size = _positive_int(chunk_size, "chunk_size")
    log_alpha = np.atleast_1d(np.asarray(process.log_alpha(times), dtype=np.float64))
    sigma2 = np.atleast_1d(np.asarray(process.sigma2(times), dtype=np.float64))
    out = np.empty((times.size, n, d))
    z = np.empty((n, d))
    previous, previous_log_alpha, previous_sigma2 = x, 0.0, 0.0
    with _ChunkedNormals(_seed_sequence(seed), n, chunk_size, _workers(workers)) as normals:
        for k in range(times.size):
            ratio = math.exp(log_alpha[k] - previous_log_alpha)
            # sigma_t^2 - r^2 sigma_s^2 = alpha_t^2 int_s^t g^2/alpha^2 >= 0; clip the
            # rounding error of the difference.
            variance = max(sigma2[k] - ratio**2 * previous_sigma2, 0.0)
            if variance > 0.0:
                normals.fill(z)
                np.multiply(z, math.sqrt(variance), out=out[k])
                out[k] += ratio * previous
            else:
                np.multiply(previous, ratio, out=out[k])
            previous, previous_log_alpha, previous_sigma2 = out[k], log_alpha[k], sigma2[k]
    return out[0] if scalar else out

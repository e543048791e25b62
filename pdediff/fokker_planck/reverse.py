"""Reverse-time score Fokker–Planck family on grids (DESIGN section 2)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..grid import Grid
from ..processes import ForwardProcess
from ..results import Solution
from .operator import SCHEMES, FluxOperator
from .stepping import Problem, StepperOptions, integrate
from .validation import check_process, check_times

Score = Callable[[np.ndarray, float], np.ndarray]


def reverse_velocity(
    process: ForwardProcess, score: Score, x: np.ndarray, t: float, eps: float
) -> np.ndarray:
    """The transport velocity of the reverse family in reverse time,

        b_eps(x, t) = -a(t) x + ((1 + eps) / 2) g(t)^2 s(x, t),

    for points ``x`` of shape ``(..., ndim)``; returns ``(..., ndim)``."""
    s = _evaluate_score(score, x, t)
    return -process.a(t) * x + 0.5 * (1.0 + eps) * process.g2(t) * s


def _evaluate_score(score: Score, x: np.ndarray, t: float) -> np.ndarray:
    s = np.asarray(score(x, t), dtype=float)
    if s.shape != x.shape:
        raise ValueError(
            f"score: expected an array of shape {x.shape} (like x) at t={t:.6g}, got {s.shape}"
        )
    if not np.all(np.isfinite(s)):
        bad = np.argwhere(~np.all(np.isfinite(s), axis=-1))
        first = tuple(np.round(x[tuple(bad[0])], 6).tolist())
        raise ValueError(
            f"score: returned NaN/inf at t={t:.6g} in {len(bad)} points, first at x={first}"
        )
    return s


def solve_reverse(
    q_T: np.ndarray,
    grid: Grid,
    process: ForwardProcess,
    score: Score,
    t_eval: Any,
    eps: float = 1.0,
    method: str = "auto",
    *,
    scheme: str = "auto",
    rtol: float = 1e-4,
    atol: float | None = None,
    dt: float | None = None,
    first_step: float | None = None,
    max_steps: int = 2_000_000,
    stiffness_ratio: float = 20.0,
    progress: bool = False,
) -> Solution:
    """Evolve the density of the reverse-time family from ``t_eval[0] = T`` down to
    ``t_eval[-1] = t0 >= 0``:

        -d_t q = -div(b_eps q) + (eps g^2 / 2) Lap q,
        b_eps  = -a(t) x + ((1 + eps)/2) g(t)^2 s(x, t),

    the density of ``dX = [a X - ((1+eps)/2) g^2 s(X, t)] dt + sqrt(eps) g dW_bar``
    (``eps = 0``: probability-flow ODE; ``eps = 1``: reverse SDE).  In reverse time
    ``tau = T - t`` this is the forward equation ``d_tau q = -div(b q) + eps D Lap q``,
    which is what the finite-volume solver integrates.  With ``s = grad log p_t`` and
    ``q(T) = p_T``, ``q(t) = p_t`` for every ``eps``.

    Parameters
    ----------
    q_T
        Cell averages of the density at ``t_eval[0]``, shape ``grid.shape``.
    grid, process
        As for :func:`~pdediff.fokker_planck.solve_forward`.
    score
        Callable ``score(x, t)`` with ``x`` of shape ``(..., ndim)`` returning an
        array of the same shape: the (exact or approximate) ``grad log p_t``.  It is
        evaluated at the face centres of the grid at every stage.
    t_eval
        Strictly decreasing forward times, ``t_eval[0] = T`` and ``t_eval[-1] = t0``.
    eps
        Noise level ``>= 0`` of the family.
    method
        As for ``solve_forward``; ``"auto"`` turns implicit where the score stiffens
        (``t -> 0``).
    scheme
        ``"auto"`` (MUSCL/van Leer for ``eps = 0``, Scharfetter–Gummel otherwise),
        ``"muscl"`` or ``"scharfetter_gummel"``.  Implicit steps use the
        Scharfetter–Gummel matrix, which is first-order upwind when ``eps = 0``.
    rtol, atol, dt, first_step, max_steps, stiffness_ratio, progress
        As for ``solve_forward``.

    Returns
    -------
    Solution
        ``.t`` = ``t_eval`` (decreasing), ``.p`` of shape ``(len(t_eval), *grid.shape)``,
        ``metadata["direction"] == "reverse"`` and ``metadata["eps"] == eps``.
    """
    if not isinstance(grid, Grid):
        raise TypeError(f"grid: expected a pdediff.Grid, got {type(grid).__name__}")
    check_process(process)
    if not callable(score):
        raise TypeError(f"score: expected a callable score(x, t), got {type(score).__name__}")
    try:
        eps = float(eps)
    except (TypeError, ValueError) as error:
        raise TypeError(f"eps: expected a number >= 0, got {eps!r}") from error
    if not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps: expected a finite number >= 0, got {eps!r}")
    u0 = grid.check_density(q_T, "q_T")
    times = check_times(t_eval, increasing=False)
    if scheme == "auto":
        scheme = "muscl" if eps == 0 else "scharfetter_gummel"
    if scheme not in SCHEMES:
        raise ValueError(f"scheme: expected 'auto' or one of {sorted(SCHEMES)}, got {scheme!r}")
    operator = FluxOperator(grid, scheme)
    T = float(times[0])
    face_points = [operator.face_points(axis) for axis in range(grid.ndim)]

    def set_coefficients(tau: float) -> float:
        t = max(T - tau, 0.0)
        for axis, points in enumerate(face_points):
            velocity = reverse_velocity(process, score, points, t, eps)
            operator.set_velocity(axis, velocity[..., axis])
        return 0.5 * eps * process.g2(t)

    problem = Problem(
        operator=operator,
        set_coefficients=set_coefficients,
        forward_time=lambda tau: T - tau,
        autonomous=False,
    )
    options = StepperOptions(
        method=method, rtol=rtol, atol=atol, dt=dt, first_step=first_step,
        max_steps=max_steps, stiffness_ratio=stiffness_ratio, progress=progress,
        progress_label=f"reverse eps={eps:g}",
    )
    tau_eval = T - times
    snapshots, info = integrate(problem, u0, tau_eval, options)
    metadata = {"direction": "reverse", "scheme": scheme, "eps": eps, **info}
    metadata["method_switch_times"] = [float(t) for t in info["method_switch_times"]]
    return Solution(t=times, p=snapshots, grid=grid, process=process, metadata=metadata)

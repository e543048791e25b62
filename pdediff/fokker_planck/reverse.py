"""Reverse-time score Fokker–Planck family on grids (equations: ``docs/theory``,
"Equations")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _validate
from ..grid import Grid
from ..processes import ForwardProcess
from ..results import Solution
from . import _score_faces
from .operator import SCHEMES, FluxOperator
from .stepping import Problem, StepperOptions, integrate
from .validation import check_grid, check_process, check_stepping, check_times, require_solve_memory

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


def _face_coefficients(
    operator: FluxOperator, process: ForwardProcess, score: Score, eps: float, T: float
) -> Callable[[float, int], float]:
    """``set_coefficients(tau, scheme_id)`` for the stepper: the face velocities
    ``b_eps`` at ``t = T - tau`` and their coefficients.  A compiled pdediff score
    (see :mod:`._score_faces`) evaluates score, velocity and coefficients in one pass;
    any other callable is evaluated on the face centres."""
    fused = _score_faces.compiled(operator, process, score, eps)
    if fused is not None:
        return lambda tau, scheme_id: fused(max(T - tau, 0.0), scheme_id)
    face_points = [operator.face_points(axis) for axis in range(operator.grid.ndim)]

    def set_coefficients(tau: float, scheme_id: int) -> float:
        t = max(T - tau, 0.0)
        for axis, points in enumerate(face_points):
            velocity = reverse_velocity(process, score, points, t, eps)
            operator.set_velocity(axis, velocity[..., axis])
        diffusion = 0.5 * eps * float(process.g2(t))
        operator.prepare(diffusion, scheme_id)
        return diffusion

    return set_coefficients


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
        Strictly decreasing forward times in ``[0, process.T]``, ``t_eval[0] = T``
        and ``t_eval[-1] = t0``.
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
    check_grid(grid)
    check_process(process)
    times = check_times(t_eval, increasing=False, process=process)
    implicit = method in ("auto", "backward_euler", "implicit")
    # Face velocities and coefficients are field-sized here (the score varies in x),
    # plus the face points and the score values at them.
    require_solve_memory(grid, times.size + 2 * grid.ndim * grid.ndim,
                         "solve_reverse work arrays", ndim_fields=1, implicit=implicit)
    if not callable(score):
        raise TypeError(f"score: expected a callable score(x, t), got {type(score).__name__}")
    eps = _validate.eps(eps, "eps")
    u0 = grid.check_density(q_T, "q_T", copy=False)
    if scheme == "auto":
        scheme = "muscl" if eps == 0 else "scharfetter_gummel"
    if scheme not in SCHEMES:
        raise ValueError(f"scheme: expected 'auto' or one of {sorted(SCHEMES)}, got {scheme!r}")
    check_stepping(rtol, atol, dt, first_step, max_steps, stiffness_ratio)
    operator = FluxOperator(grid, scheme)
    T = float(times[0])
    set_coefficients = _face_coefficients(operator, process, score, eps, T)

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

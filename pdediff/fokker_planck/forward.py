"""Forward Fokker–Planck solver (equations: ``docs/theory``, "Equations")."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..grid import Grid
from ..processes import ForwardProcess
from ..results import Solution
from .operator import SCHEMES, FluxOperator
from .stepping import Problem, StepperOptions, integrate
from .validation import check_grid, check_process, check_stepping, check_times, require_solve_memory


def solve_forward(
    p0: np.ndarray,
    grid: Grid,
    process: ForwardProcess,
    t_eval: Any,
    method: str = "auto",
    *,
    scheme: str = "scharfetter_gummel",
    rtol: float = 1e-4,
    atol: float | None = None,
    dt: float | None = None,
    first_step: float | None = None,
    max_steps: int = 2_000_000,
    stiffness_ratio: float = 20.0,
    progress: bool = False,
) -> Solution:
    """Evolve a density by the forward Fokker–Planck equation

        d_t p = -div(a(t) x p) + (g(t)^2 / 2) Lap p

    in finite-volume flux form on ``grid`` (no-flux or periodic walls), from
    ``t_eval[0]`` to ``t_eval[-1]``.

    Parameters
    ----------
    p0
        Cell averages of the initial density at ``t_eval[0]``, shape ``grid.shape``,
        nonnegative and finite (need not be normalised; mass is conserved).
    grid
        The :class:`~pdediff.grid.Grid`.
    process
        A :class:`~pdediff.processes.ForwardProcess` giving ``a(t)`` and ``g(t)^2``.
    t_eval
        Increasing forward times in ``[0, process.T]`` (at least two) at which to
        store ``p``.
    method
        ``"auto"`` (adaptive SSPRK3, switching to backward Euler in stiff phases),
        ``"ssprk3"``/``"explicit"``, ``"ssprk2"``, ``"euler"``,
        ``"backward_euler"``/``"implicit"``.  See :mod:`pdediff.fokker_planck.stepping`.
    scheme
        Face fluxes for the explicit stages: ``"scharfetter_gummel"`` (default;
        exact discrete equilibrium) or ``"muscl"`` (van Leer limited upwind advection
        plus central diffusion).  Implicit steps always use Scharfetter–Gummel.
    rtol, atol
        Local error tolerances (``atol=None``: ``1e-3 rtol max(p0)``).
    dt
        A fixed step instead of adaptive control (raises if it violates the
        positivity limit of an explicit method).  Explicit methods then run all the
        steps up to each output time in one compiled call (``docs/numerics``,
        "SSP Runge–Kutta time stepping"; same results as stepping from Python).
    first_step, max_steps, stiffness_ratio, progress
        Initial step, step budget, the ratio of accuracy step to positivity step
        above which ``"auto"`` goes implicit, and a tqdm progress bar.

    Returns
    -------
    Solution
        ``.t`` = ``t_eval``, ``.p`` of shape ``(len(t_eval), *grid.shape)``, and the
        solver statistics in ``.metadata``.
    """
    check_grid(grid)
    check_process(process)
    times = check_times(t_eval, increasing=True, process=process)
    implicit = method in ("auto", "backward_euler", "implicit")
    require_solve_memory(grid, times.size, "solve_forward work arrays", implicit=implicit)
    u0 = grid.check_density(p0, "p0", copy=False)
    if scheme not in SCHEMES:
        raise ValueError(f"scheme: expected one of {sorted(SCHEMES)}, got {scheme!r}")
    check_stepping(rtol, atol, dt, first_step, max_steps, stiffness_ratio)
    operator = FluxOperator(grid, scheme)

    def set_coefficients(tau: float, scheme_id: int) -> float:
        # A linear drift a(t) x: separable 1-D face coefficients, rebuilt per stage.
        a, g2 = process.coefficients(tau)
        diffusion = 0.5 * g2
        operator.set_linear_velocity(a)
        operator.prepare(diffusion, scheme_id)
        return diffusion

    def linear_coefficients(tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # The same elementwise arithmetic as process.coefficients, vectorised.
        return np.asarray(process.a(tau), dtype=float), 0.5 * np.asarray(process.g2(tau), dtype=float)

    problem = Problem(
        operator=operator,
        set_coefficients=set_coefficients,
        forward_time=lambda tau: tau,
        autonomous=process.autonomous,
        linear_coefficients=linear_coefficients,
    )
    options = StepperOptions(
        method=method, rtol=rtol, atol=atol, dt=dt, first_step=first_step,
        max_steps=max_steps, stiffness_ratio=stiffness_ratio, progress=progress,
        progress_label=f"forward {process.name}",
    )
    snapshots, info = integrate(problem, u0, times, options)
    metadata = {"direction": "forward", "scheme": scheme, "eps": None, **info}
    return Solution(t=times, p=snapshots, grid=grid, process=process, metadata=metadata)

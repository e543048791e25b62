"""Grid and particle solves of the ODE-SDE gap study, and the gap bound.

* :func:`solver_grid`: a box larger than the evaluation window whose faces contain the
  node-cell faces of the paper's binning (spacing ``dx/m``, padded by whole cells to at
  least ``pad_half_width``), so binning is exact (:mod:`._evaluation`);
* :func:`grid_pair`: ``q_ODE(t0)``, ``q_SDE(t0)`` by
  :func:`pdediff.fokker_planck.solve_reverse` from the prior's cell values, with the
  score tabulated on the solver's face points (:class:`pdediff.scores.TabulatedScore`,
  nodes uniform in ``log t``; its interpolation error is measured and stored);
* :func:`gap_bound`: the bound of docs/theory "Bounds" (ODE-SDE gap) from SDE snapshots;
* :func:`paper_sampler`: the paper's Euler / Euler-Maruyama sampler (790 steps of
  0.0125 then 100 of 0.00125, the SDE's last step noise-free).  Written here because
  :func:`pdediff.particles.reverse` cannot express a two-rate step schedule nor a
  noise-free last step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ...fokker_planck import solve_reverse
from ...grid import Grid
from ...processes import ForwardProcess
from ...scores import TabulatedScore
from ...theory import w2_gap_bound

#: Relative floor of ``q`` under the logarithm in ``grad log q_SDE``.
LOG_FLOOR = 1e-12
#: Cells with ``q > MASS_LEVEL max q`` form the "mass region" of ``L_mass``.
MASS_LEVEL = 1e-3
#: The paper's sampler: (steps, dt) stages from T = 10 down to 0.
PAPER_SCHEDULE = ((790, 0.0125), (100, 0.00125))


def solver_grid(nodes: int, half_width: float, factor: int, pad_half_width: float
                ) -> tuple[Grid, int]:
    """The solver grid of refinement ``factor`` (``m`` cells per node cell) and the index
    of its first cell inside node cell 0.

    Spacing ``h = dx/m`` with ``dx = 2 half_width/(nodes - 1)``; the node cells span
    ``[-E, E]``, ``E = half_width + dx/2``; ``pad = ceil((pad_half_width - E)/h)`` cells
    are added on every side.  Returns ``(grid, pad)``.
    """
    dx = 2.0 * half_width / (nodes - 1)
    h = dx / factor
    edge = half_width + 0.5 * dx
    pad = max(0, math.ceil((pad_half_width - edge) / h - 1e-9))
    outer = edge + pad * h
    return Grid([(-outer, outer)] * 2, factor * nodes + 2 * pad), pad


def prior_cells(grid: Grid, process: ForwardProcess) -> np.ndarray:
    """``q_T``: cell values of ``N(0, sigma_T^2 I)`` renormalised to mass 1 on the box
    (midpoint values; the prior is smooth on the cell scale)."""
    centres = np.stack(np.meshgrid(*grid.centers, indexing="ij"), axis=-1)
    q = np.exp(-0.5 * np.sum(centres**2, axis=-1) / process.prior_variance())
    return q / grid.integrate(q)


def score_gap_and_lipschitz(
    q: np.ndarray, grid: Grid, process: ForwardProcess, score_cells: np.ndarray, t: float,
) -> tuple[float, float, float]:
    """Integrand pieces of the ODE-SDE bound (docs/theory, "Bounds") at one time ``t``.

    * ``gap = ||v - w||_{L^2(q)} = (int q |(g^2/2)(grad log q - s)|^2 / int q)^(1/2)``
      with ``grad log q`` by second-order central differences of
      ``log max(q, LOG_FLOOR max q)`` (one-sided at the walls);
    * ``L = max_x lambda_max(sym(D b_0))``, ``b_0 = -a x + (g^2/2) s``: the one-sided
      Lipschitz constant of the reverse-time probability-flow velocity, with the
      Jacobian of ``s`` by central differences on the cell centres; returned as the max
      over the whole box and over the cells with ``q > MASS_LEVEL max q``.

    Parameters
    ----------
    q : (n0, n1) cell averages of ``q_SDE(t)`` (any positive normalisation)
    grid : the 2-D grid of ``q``
    process : the forward process (``a``, ``g^2``)
    score_cells : (n0, n1, 2) the model score ``s_theta(x, t)`` at the cell centres
    t : forward time > 0

    Returns
    -------
    (gap, L_box, L_mass): length/time, 1/time, 1/time.
    """
    if grid.ndim != 2:
        raise ValueError(f"grid: expected a 2-D grid, got {grid.ndim}-D")
    q = np.asarray(q, dtype=float)
    if q.shape != grid.shape or np.any(q < 0) or not np.all(np.isfinite(q)):
        raise ValueError(f"q: expected finite nonnegative cell averages of shape {grid.shape}")
    if np.shape(score_cells) != (*grid.shape, 2):
        raise ValueError(f"score_cells: expected shape {(*grid.shape, 2)}, "
                         f"got {np.shape(score_cells)}")
    h = grid.spacing
    a, g2 = float(process.a(t)), float(process.g2(t))
    log_q = np.log(np.maximum(q, LOG_FLOOR * q.max()))
    grad_log_q = np.stack(np.gradient(log_q, h[0], h[1], edge_order=2), axis=-1)
    diff = 0.5 * g2 * (grad_log_q - score_cells)
    gap = float(np.sqrt(np.sum(q * np.sum(diff**2, axis=-1)) / np.sum(q)))
    d0 = np.gradient(score_cells, h[0], axis=0, edge_order=2)  # d s_i / d x_0
    d1 = np.gradient(score_cells, h[1], axis=1, edge_order=2)
    jxx, jyy = d0[..., 0], d1[..., 1]
    jxy = 0.5 * (d1[..., 0] + d0[..., 1])
    lam = 0.5 * (jxx + jyy) + np.sqrt(0.25 * (jxx - jyy) ** 2 + jxy**2)
    lip = -a + 0.5 * g2 * lam
    mass = q > MASS_LEVEL * q.max()
    return gap, float(lip.max()), float(lip[mass].max())


def gap_bound(solution_times: np.ndarray, snapshots: np.ndarray, grid: Grid,
              process: ForwardProcess, score: Callable[[np.ndarray, float], np.ndarray]
              ) -> dict[str, np.ndarray | float]:
    """The ODE-SDE bound from SDE snapshots ``snapshots[k] = q_SDE(t_k)``::

        W2(q_ODE(t0), q_SDE(t0)) <= int_{t0}^{T} ||v - w||_{L^2(q_SDE(t))}
                                      exp(int_{t0}^{t} L(r) dr) dt

    by :func:`pdediff.theory.w2_gap_bound` (trapezoid rules on the ``t_k``).

    Parameters: ``solution_times`` (m,) forward times, ``snapshots`` (m, n0, n1),
    the 2-D ``grid``, the ``process`` and the ``score`` used by both solves.

    Returns a dict with ``t``, ``gap_norm``, ``lipschitz_box``, ``lipschitz_mass`` (each
    (m,)) and the bounds ``bound_box`` (L over the box) and ``bound_mass`` (length).
    """
    times = np.asarray(solution_times, dtype=float)
    centres = np.stack(np.meshgrid(*grid.centers, indexing="ij"), axis=-1)
    rows = np.array([
        score_gap_and_lipschitz(q, grid, process, np.asarray(score(centres, float(t))), float(t))
        for t, q in zip(times, snapshots, strict=True)
    ])
    gap, lip_box, lip_mass = rows.T
    return {
        "t": times, "gap_norm": gap, "lipschitz_box": lip_box, "lipschitz_mass": lip_mass,
        "bound_box": w2_gap_bound(times, gap, lip_box),
        "bound_mass": w2_gap_bound(times, gap, lip_mass),
    }


def tabulated(score: Callable, grid: Grid, t0: float, T: float, nodes: int) -> TabulatedScore:
    """``score`` tabulated on the face points and cell centres of ``grid`` at ``nodes``
    times uniform in ``log t`` on ``[t0, T]`` (one batched call per node)."""
    faces = [grid.face_points(axis) for axis in range(grid.ndim)]
    centres = np.stack(np.meshgrid(*grid.centers, indexing="ij"), axis=-1)
    return TabulatedScore(score, [*faces, centres], t0, T, nodes)


def grid_pair(score: Callable, grid: Grid, process: ForwardProcess, t0: float, rtol: float,
              table_nodes: int, bound_times: int, with_bound: bool) -> dict[str, Any]:
    """``q_ODE(t0)`` and ``q_SDE(t0)`` (cell masses, sum 1) on ``grid`` from the prior,
    with ``score`` tabulated (:func:`tabulated`); with ``with_bound`` the SDE is saved at
    ``bound_times`` times log-spaced from ``T`` to ``t0`` and :func:`gap_bound` is
    evaluated on them.  Returns ``ode``, ``sde`` (grid.shape masses), ``bound`` (or
    absent), ``interpolation_error``, ``steps_ode``, ``steps_sde``, ``mass_error``,
    ``min_density``."""
    T = process.T
    table = tabulated(score, grid, t0, T, table_nodes)
    q_T = prior_cells(grid, process)
    t_sde = np.geomspace(T, t0, bound_times) if with_bound else [T, t0]
    ode = solve_reverse(q_T, grid, process, table, [T, t0], eps=0.0, rtol=rtol)
    sde = solve_reverse(q_T, grid, process, table, t_sde, eps=1.0, rtol=rtol)
    cell = grid.volume / grid.size
    out: dict[str, Any] = {
        "ode": grid.normalize(ode.p[-1]) * cell, "sde": grid.normalize(sde.p[-1]) * cell,
        "interpolation_error": float(np.max(table.interpolation_error())),
        "steps_ode": int(ode.metadata["n_steps"]), "steps_sde": int(sde.metadata["n_steps"]),
        "mass_error": float(max(ode.metadata["max_mass_error"], sde.metadata["max_mass_error"])),
        "min_density": float(min(ode.p[-1].min(), sde.p[-1].min())),
    }
    if with_bound:
        out["bound"] = gap_bound(sde.t, sde.p, grid, process, table)
    return out


def paper_sampler(score: Callable, process: ForwardProcess, x_T: np.ndarray, eps: float,
                  rng: np.random.Generator, refine: int = 1) -> np.ndarray:
    """The paper's sampler from ``T`` down to ``T - sum(dt) = 0``.

    Euler (``eps = 0``) / Euler-Maruyama (``eps = 1``) in reverse time with the drift of
    the family at the step's start ``t_k``::

        x <- x + dt (-a(t_k) x + ((1 + eps)/2) g^2(t_k) s(x, t_k)) + sqrt(eps g^2 dt) z

    (forward drift ``a x``; for the paper's OU ``a = -1``, ``g = 1``: ODE drift
    ``-x - s/2``, SDE drift ``-x - s`` in forward time), on :data:`PAPER_SCHEDULE`
    with every step split into ``refine`` (time-step convergence); the SDE's last step adds no noise.

    Parameters
    ----------
    score : ``score(x, t)``, x (N, 2), scalar t
    process : the forward process (``T`` must equal the schedule's total, 10)
    x_T : (N, 2) starting particles (``N(0, I/2)`` for the paper)
    eps : 0 or 1
    rng : the generator of the noise
    refine : int >= 1

    Returns
    -------
    (N, 2) particles at ``t = 0`` (up to round-off of the summed steps).
    """
    steps = np.concatenate([np.full(k * refine, dt / refine) for k, dt in PAPER_SCHEDULE])
    total = float(steps.sum())
    if not math.isclose(total, process.T, rel_tol=1e-9):
        raise ValueError(f"process: the paper's schedule spans {total:g}, got T = {process.T:g}")
    starts = process.T - np.concatenate([[0.0], np.cumsum(steps)[:-1]])
    x = np.array(x_T, dtype=float, copy=True)
    coefficient = 0.5 * (1.0 + eps)
    for k, (t, dt) in enumerate(zip(starts, steps, strict=True)):
        a, g2 = float(process.a(t)), float(process.g2(t))
        drift = -a * x + coefficient * g2 * np.asarray(score(x, float(t)), dtype=float)
        x += dt * drift
        if eps > 0 and k < steps.size - 1:
            x += math.sqrt(eps * g2 * dt) * rng.standard_normal(x.shape)
    return x

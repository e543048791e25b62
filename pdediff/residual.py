"""The Fokker–Planck residual of a log-density, written once.

For a forward process ``dX = a(t) X dt + g(t) dW`` and a (possibly unnormalised)
log-density ``phi(x, t)``, the residual of the log-density form of the forward
Fokker–Planck equation is (docs/theory, "Equations")::

    R[phi](x, t) = d_t phi + n a + a x . grad phi - (g^2/2)(Lap phi + |grad phi|^2)

It vanishes exactly for ``phi = log p_t`` (up to an additive constant).  Its gradient
is the FP-Diffusion score residual.  Every model class goes through
:func:`_residual`: :func:`fokker_planck_residual` from given derivatives (spline and
neural models supply exact ones), :func:`fp_residual` and :func:`fp_residual_score`
on the centres of a grid from finite differences of a callable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from findiff import Diff

from . import _validate
from .grid import Grid
from .processes import ForwardProcess

__all__ = ["fokker_planck_residual", "fp_residual", "fp_residual_score"]


def _residual(x, a, D, dt, grad, lap):
    """The one formula of R[phi] from its derivatives (numpy or JAX arrays alike)."""
    n = x.shape[-1]
    return dt + n * a + a * np.sum(x * grad, axis=-1) - D * (lap + np.sum(grad**2, axis=-1))


def fokker_planck_residual(
    process: ForwardProcess,
    x: np.ndarray,
    t: float | np.ndarray,
    dt_phi: np.ndarray,
    grad_phi: np.ndarray,
    lap_phi: np.ndarray,
) -> np.ndarray:
    """Fokker–Planck residual of a log-density from its derivatives (docs/theory, Equations)::

        R[phi](x, t) = d_t phi + n a + a x . grad phi - (g^2/2)(Lap phi + |grad phi|^2)

    x : (..., n) points; t : times > 0 broadcastable to ``x.shape[:-1]``;
    dt_phi, lap_phi : (...,); grad_phi : (..., n). Returns (...,); zero for the exact
    ``log p_t`` of the process (and for ``log p_t + c(t)`` with ``c' = 0``)."""
    x = np.asarray(x, dtype=float)
    if x.ndim < 1:
        raise ValueError(f"x: expected shape (..., n), got {x.shape}")
    batch = x.shape[:-1]
    grad_phi = np.asarray(grad_phi, dtype=float)
    if grad_phi.shape != x.shape:
        raise ValueError(f"grad_phi: expected shape {x.shape}, got {grad_phi.shape}")
    for name, value in (("dt_phi", dt_phi), ("lap_phi", lap_phi)):
        if np.shape(value) != batch:
            raise ValueError(f"{name}: expected shape {batch}, got {np.shape(value)}")
    tt = np.broadcast_to(np.asarray(t, dtype=float), batch)
    a = np.asarray(process.a(tt), float)
    D = np.asarray(process.diffusion(tt), float)
    return _residual(x, a, D, np.asarray(dt_phi, float), grad_phi, np.asarray(lap_phi, float))


def _check_grid(grid: Any) -> Grid:
    if not isinstance(grid, Grid):
        raise TypeError(f"grid: expected a pdediff Grid, got {type(grid).__name__}")
    return grid


def _check_accuracy(accuracy: Any) -> int:
    accuracy = _validate.integer(accuracy, "accuracy", minimum=2)
    if accuracy % 2:
        raise ValueError(f"accuracy: expected a positive even int, got {accuracy!r}")
    return accuracy


def _diff(grid: Grid, axis: int, accuracy: int) -> Diff:
    return Diff(axis, float(grid.spacing[axis]), periodic=grid.periodic[axis], acc=accuracy)


def _evaluate_phi(log_density: Callable, x: np.ndarray, t: float, shape: tuple) -> np.ndarray:
    phi = np.asarray(log_density(x, t), dtype=float)
    if phi.shape != shape:
        raise ValueError(f"log_density: expected output shape {shape}, got {phi.shape}")
    if not np.all(np.isfinite(phi)):
        raise ValueError(f"log_density: returned NaN or inf at t={t!r}")
    return phi


def fp_residual(
    log_density: Callable[[np.ndarray, float], np.ndarray],
    process: ForwardProcess,
    grid: Grid,
    t: float,
    dt: float | None = None,
    accuracy: int = 2,
) -> np.ndarray:
    """Fokker–Planck residual of a log-density on the grid centres (docs/theory, Equations)::

        R[phi](x, t) = d_t phi + n a + a x . grad phi - (g^2/2)(Lap phi + |grad phi|^2)

    ``R = 0`` exactly when ``phi = log p_t`` solves the forward Fokker–Planck equation
    (``phi`` may be unnormalised by a constant).  Spatial derivatives are findiff
    stencils of order ``accuracy``, centred everywhere (``phi`` is sampled on ghost
    cells beyond no-flux walls, since it is a callable on R^n; periodic axes wrap), so
    for smooth ``phi`` the discretisation error is ``O(h^accuracy)``.  ``d_t phi`` is
    the fourth-order central difference
    ``[-phi(t+2dt) + 8 phi(t+dt) - 8 phi(t-dt) + phi(t-2dt)] / (12 dt)``, with
    ``dt = 1e-3 t`` by default (time error ~1e-12 relative, round-off ~1e-13 / 1e-3).

    Parameters
    ----------
    log_density : callable ``phi(x, t)``, x shape ``(*grid.shape, n)`` -> ``grid.shape``
    process : ForwardProcess (supplies ``a(t)`` and ``g(t)^2``)
    grid : Grid (n = grid.ndim)
    t : float > 0, forward time
    dt : float in (0, t/2], time step of the difference quotient (same units as t)
    accuracy : even int, order of the spatial stencils

    Returns
    -------
    ndarray of shape ``grid.shape``: ``R`` at the cell centres (units 1/time).
    """
    residual, _, pad, _ = _residual_field(log_density, process, grid, t, dt, accuracy)
    return _crop(residual, pad)


def _residual_field(log_density, process, grid, t, dt, accuracy):
    """``R`` on the centres of ``grid``.  ``phi`` is evaluated on the grid extended by
    ``accuracy`` ghost cells per non-periodic side, so every returned value (and its
    findiff gradient in :func:`fp_residual_score`) uses centred stencils only: the
    one-sided wall stencils would leave an error field that is not smooth in ``x``,
    whose gradient is only first order."""
    process = _validate.process(process)
    grid = _check_grid(grid)
    accuracy = _check_accuracy(accuracy)
    if not callable(log_density):
        raise TypeError("log_density: expected a callable phi(x, t)")
    t = _validate.forward_time(t, "t", positive_only=True)
    if dt is None:
        dt = 1e-3 * t
    dt = _validate.positive(dt, "dt")
    if 2.0 * dt > t:
        raise ValueError(f"dt: expected 0 < dt <= t/2 = {t / 2!r}, got {dt!r}")
    pad = [0 if periodic else accuracy for periodic in grid.periodic]
    widths = [k * h for k, h in zip(pad, grid.spacing, strict=True)]
    extended = Grid(
        [(lo - w, hi + w) for (lo, hi), w in zip(grid.bounds, widths, strict=True)],
        tuple(n + 2 * k for n, k in zip(grid.shape, pad, strict=True)),
        grid.bc,
    )
    x = extended.points()
    shape = extended.shape
    phis = {k: _evaluate_phi(log_density, x, t + k * dt, shape) for k in (-2, -1, 0, 1, 2)}
    dphi_dt = (-phis[2] + 8.0 * phis[1] - 8.0 * phis[-1] + phis[-2]) / (12.0 * dt)
    phi = phis[0]
    grad = [_diff(extended, d, accuracy)(phi) for d in range(grid.ndim)]
    lap = sum((_diff(extended, d, accuracy) ** 2)(phi) for d in range(grid.ndim))
    a = float(process.a(t))
    diffusion = float(process.diffusion(t))
    residual = _residual(x, a, diffusion, dphi_dt, np.stack(grad, axis=-1), lap)
    return residual, extended, pad, accuracy


def _crop(field: np.ndarray, pad: list[int]) -> np.ndarray:
    return field[tuple(slice(k, field.shape[d] - k) for d, k in enumerate(pad))]


def fp_residual_score(
    log_density: Callable[[np.ndarray, float], np.ndarray],
    process: ForwardProcess,
    grid: Grid,
    t: float,
    dt: float | None = None,
    accuracy: int = 2,
) -> np.ndarray:
    """Score form of the residual, ``grad R[phi]`` (the FP-Diffusion residual of the
    score ``s = grad phi``: ``d_t s - grad[(g^2/2)(div s + |s|^2) - a x . s - n a]``).

    Computed by applying centred findiff gradients of order ``accuracy`` to the field
    of :func:`fp_residual` (same arguments; ghost cells as there), so its error is
    ``O(h^accuracy)`` for smooth ``phi``.  Returns shape ``(*grid.shape, n)`` (units
    1/(time length)).
    """
    residual, extended, pad, accuracy = _residual_field(
        log_density, process, grid, t, dt, accuracy
    )
    gradient = [_crop(_diff(extended, d, accuracy)(residual), pad) for d in range(grid.ndim)]
    return np.stack(gradient, axis=-1)


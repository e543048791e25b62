"""Time integration of ``d_tau u = L(tau)[u]`` for the flux-form operator.

``tau`` is the solver's own increasing time (``tau = t`` for forward solves,
``tau = T - t`` for reverse solves).  Integrators:

* ``"ssprk3"`` (alias ``"explicit"``): the three-stage, third-order strong-stability-
  preserving Runge–Kutta scheme of Shu & Osher; every stage is a forward-Euler step,
  so the scheme is positive when ``dt max_i c_i <= 1`` at every stage (``c_i`` the
  outflow rate of cell ``i``, evaluated per stage).  Its Heun (SSPRK2) combination of
  the same stages gives an embedded second-order error estimate.
* ``"ssprk2"``: Heun's method (second order), embedded first-order estimate.
* ``"euler"``: forward Euler (first order; positivity-CFL-limited steps only).
* ``"backward_euler"`` (alias ``"implicit"``): backward Euler on the Scharfetter–
  Gummel M-matrix, ``(I - dt A(tau + dt)) u^{n+1} = u^n`` with a cached sparse LU;
  positive and mass-conserving for every ``dt``; adaptive steps by step doubling.
  The LU round-off below zero is projected away and the mass restored (a provable
  round-off correction, recorded as ``max_projection_mass``; see
  :meth:`Integrator._backward_euler`).
* ``"auto"``: SSPRK3 while it is accurate at the positivity-CFL step; backward Euler
  while the accuracy-controlled step exceeds ``stiffness_ratio`` times the CFL step
  (stiff phases, e.g. reverse solves as ``t -> 0``); it switches back when the CFL step
  recovers.

Every explicit stage is one fused pass (:meth:`FluxOperator.stage`) written so that
its result is nonnegative by construction, not to round-off, whenever the stage
satisfies ``dt max_i c_i <= 1`` (see :mod:`._kernels`).  All reductions (mass, min,
error norms) use fixed blocks, so a solve gives the same bits for any number of
numba threads.

Fixed-step explicit solves of a linear drift ``a(tau) x`` with scalar diffusion (every
forward solve with ``dt=``; the problem supplies ``linear_coefficients``) run their
steps in compiled chunks (:meth:`Integrator.fixed_linear_steps`, kernel
:mod:`._multistep`): same bits, statistics and errors as the per-step path, which
``StepperOptions(multistep=False)`` forces.

Adaptive control follows ``scipy.integrate``: the error of a step is the RMS over
cells of ``e_i / (atol + rtol max(|u_i|, |u_i^new|))``; a step is accepted when it is
<= 1 and the next step is scaled by ``0.9 err^{-1/(q+1)}`` (bounded to [0.2, 5]), with
``q`` the order of the embedded estimate.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from tqdm.auto import tqdm

from .. import _field_passes, _validate
from .._resources import aligned_empty
from . import _multistep
from ._kernels import SCHEME_SG
from .operator import FluxOperator

METHODS = ("auto", "ssprk3", "ssprk2", "euler", "backward_euler")
ALIASES = {"explicit": "ssprk3", "implicit": "backward_euler", "rk3": "ssprk3"}
EMBEDDED_ORDER = {"ssprk3": 2, "ssprk2": 1, "backward_euler": 1}
MULTISTEP_METHODS = {"euler": _multistep.EULER, "ssprk2": _multistep.SSPRK2,
                     "ssprk3": _multistep.SSPRK3}
# Steps per compiled call of a fixed-step run (bounds the per-stage scalar arrays;
# with a progress bar, how often it is updated).
_CHUNK = 4096
_CHUNK_PROGRESS = 64


class SolverError(RuntimeError):
    """A solve could not continue (NaN/inf, step size underflow, too many steps)."""


@dataclass(frozen=True)
class StepperOptions:
    """Settings of :func:`integrate` (see the module docstring)."""

    method: str = "auto"
    rtol: float = 1e-4
    atol: float | None = None
    dt: float | None = None
    first_step: float | None = None
    max_steps: int = 2_000_000
    cfl_safety: float = 0.9
    stiffness_ratio: float = 20.0
    progress: bool = False
    progress_label: str = "solve"
    multistep: bool = True

    def validated(self) -> StepperOptions:
        """A copy with the method alias resolved and every number checked (TypeError
        for a wrong type, ValueError for an illegal value, naming the argument)."""
        if not isinstance(self.method, str):
            raise TypeError(f"method: expected a string, got {type(self.method).__name__}")
        method = ALIASES.get(self.method, self.method)
        _validate.choice(method, "method", METHODS + tuple(ALIASES))
        optional = {"atol": self.atol, "dt": self.dt, "first_step": self.first_step}
        checked = {k: None if v is None else _validate.positive(v, k) for k, v in optional.items()}
        stiffness_ratio = _validate.positive(self.stiffness_ratio, "stiffness_ratio")
        if not stiffness_ratio > 1:
            raise ValueError(f"stiffness_ratio: expected > 1, got {self.stiffness_ratio!r}")
        for name in ("progress", "multistep"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")
        return replace(
            self,
            method=method,
            rtol=_validate.probability(self.rtol, "rtol", open_left=True, open_right=True),
            max_steps=_validate.positive_int(self.max_steps, "max_steps"),
            cfl_safety=_validate.probability(self.cfl_safety, "cfl_safety", open_left=True),
            stiffness_ratio=stiffness_ratio,
            **checked,
        )


@dataclass
class Problem:
    """What the integrator needs to know about one Fokker–Planck problem.

    ``set_coefficients(tau, scheme_id)`` leaves ``operator`` prepared (face
    coefficients of ``scheme_id``, see :meth:`FluxOperator.prepare`) for solver time
    ``tau`` and returns the scalar diffusion ``D(tau)``; ``forward_time(tau)``
    maps solver time to the process's forward time for messages; ``autonomous``
    says whether the coefficients are independent of ``tau`` (lets backward Euler
    reuse factorisations).  ``linear_coefficients``, for a drift ``v = a(tau) x``
    with scalar diffusion ``D(tau)`` only: maps an array of solver times to the
    arrays ``(a, D)``, bit for bit the values ``set_coefficients`` uses; it enables
    the compiled multi-step loop of fixed-step explicit solves.
    """

    operator: FluxOperator
    set_coefficients: Callable[[float, int], float]
    forward_time: Callable[[float], float]
    autonomous: bool = False
    linear_coefficients: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None


@dataclass
class Statistics:
    n_steps: int = 0
    n_explicit: int = 0
    n_implicit: int = 0
    n_rejected: int = 0
    n_rhs: int = 0
    n_factorizations: int = 0
    max_mass_error: float = 0.0
    min_density: float = math.inf
    max_projection_mass: float = 0.0
    switches: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_steps": self.n_steps,
            "n_explicit": self.n_explicit,
            "n_implicit": self.n_implicit,
            "n_rejected": self.n_rejected,
            "n_rhs": self.n_rhs,
            "n_factorizations": self.n_factorizations,
            "max_mass_error": self.max_mass_error,
            "min_density": self.min_density,
            "max_projection_mass": self.max_projection_mass,
            "method_switch_times": list(self.switches),
        }


class _Rejected(Exception):
    """A trial step violated the positivity CFL at some stage; ``dt_max`` is safe."""

    def __init__(self, dt_max: float) -> None:
        self.dt_max = dt_max


def _positivity_error(dt: float, dt_max: float, cfl_safety: float, t: float,
                      step: int) -> SolverError:
    """The error of a fixed step ``dt`` beyond the positivity limit
    (``dt_max = cfl_safety / rate``) at forward time ``t``."""
    return SolverError(
        f"dt={dt:.4g} exceeds the positivity limit {dt_max / cfl_safety:.4g} at "
        f"t={t:.6g} (step {step}); use a smaller dt or method='auto'"
    )


def _max_steps_error(max_steps: int, t: float) -> SolverError:
    """The error of a solve that reached ``max_steps`` at forward time ``t``."""
    return SolverError(f"max_steps={max_steps} reached at t={t:.6g}")


def _underflow_error(dt: float, t: float, step: int) -> SolverError:
    """The error of a step ``dt`` too small to advance the time at forward time ``t``."""
    return SolverError(f"step size underflow (dt={dt:.3g}) at t={t:.6g} (step {step})")


class _NoBar:
    """The part of tqdm's interface the solvers use, doing nothing."""

    def update(self, n: float = 1) -> None:
        pass

    def close(self) -> None:
        pass


_NO_BAR = _NoBar()


class _Workspace:
    """The work fields of the last finished solve, lent to the next solve of the same
    shape.  Why: fresh field-sized arrays are paged in 4 KiB at a time on their first
    write (about 1.5 µs a page on a virtual machine: 1-1.5 ms of a 200-step 512^2
    solve), and sweeps solve on one grid again and again.  Holds one set of fields at
    most; a solve takes the set (so concurrent solves never share one) and gives it
    back when it ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spare: tuple[tuple[int, ...], list[np.ndarray]] | None = None

    def take(self, shape3: tuple[int, ...], count: int) -> list[np.ndarray]:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None and spare[0] == shape3 and len(spare[1]) == count:
            return spare[1]
        return [aligned_empty(shape3) for _ in range(count)]

    def give(self, shape3: tuple[int, ...], fields: list[np.ndarray]) -> None:
        with self._lock:
            self._spare = (shape3, fields)


_WORKSPACE = _Workspace()


class Integrator:
    """Adaptive explicit/implicit stepping of one problem; work arrays are
    allocated once here (each aligned for the vectorised kernels,
    :func:`pdediff._resources.aligned_empty`, or lent by the previous solve of the
    same shape: :meth:`release`) and reused by every step.  ``u0`` (a
    validated density) is copied into the first of them, with ``-0.0`` turned into
    ``+0.0``; it is not modified."""

    def __init__(self, problem: Problem, u0: np.ndarray, options: StepperOptions) -> None:
        self.problem = problem
        self.op = problem.operator
        self.options = options
        shape3 = self.op.shape3
        self._fields = _WORKSPACE.take(shape3, 6)
        self.u, self.stage1, self.stage2, self.embedded, self.trial, self.half = self._fields
        # + 0.0 turns -0.0 into +0.0 (and changes nothing else): the kernels' sign
        # checks then see no negative zero that the input did not mean.  One pass
        # also gives the mass, minimum and maximum.
        mass0, self.min0, scale = _field_passes.copy_sum_min_max(
            np.ascontiguousarray(u0, dtype=np.float64).reshape(-1), self.u.reshape(-1))
        self.stats = Statistics()
        self.mass0 = float(mass0)
        self.atol = options.atol if options.atol is not None else 1e-3 * options.rtol * scale
        self._lu_cache: OrderedDict[tuple, Any] = OrderedDict()
        # Built by the first implicit step (1 ms at 512^2, a third of the fixed cost of
        # a short explicit solve).
        self._identity: sp.csc_matrix | None = None

    # ---------------------------------------------------------------- helpers
    def _stage(self, alpha, u0, beta, u_in, dt, out, tau, step, error=None) -> float:
        """One fused stage ``out = alpha u0 + beta (u_in + dt L(tau) u_in)``; raises
        ``_Rejected`` if it violates its positivity limit, ``SolverError`` on NaN/inf.
        Returns the embedded error sum (0 without ``error``)."""
        self.problem.set_coefficients(tau, self.op.scheme_id)
        self.stats.n_rhs += 1
        rate, smallest, total, errors = self.op.stage(u_in, u0, out, alpha, beta, dt, error)
        if not (math.isfinite(total) and math.isfinite(rate)):
            self._non_finite(out, tau, step)
        if dt * rate > 1.0:
            raise _Rejected(self.options.cfl_safety / rate)
        # Min and mass of the latest stage, reused by the step bookkeeping.
        self.last_min, self.last_mass = smallest, total
        self.last_rate = rate
        return errors

    def _non_finite(self, array: np.ndarray, tau: float, step: int) -> None:
        where = np.argwhere(~np.isfinite(array.reshape(self.op.grid.shape)))
        t = self.problem.forward_time(tau)
        first = f", first at cell index {tuple(int(i) for i in where[0])}" if len(where) else ""
        raise SolverError(
            f"non-finite density or coefficients at t={t:.6g} (step {step}) in {len(where)} "
            f"cells{first}"
        )

    # -------------------------------------------------------------- explicit
    def explicit_step(self, tau: float, dt: float, scheme: str, step: int) -> tuple[float, float]:
        """One SSP step into ``self.trial``; returns ``(error_norm, dt_cfl)`` where
        ``dt_cfl`` is the positivity limit at the first stage.  Raises ``_Rejected``
        if a stage violates its positivity limit.

        The embedded solutions are read from the stage data inside the last fused
        stage: SSPRK2's is its first stage ``u1``; SSPRK3's (Heun's
        ``u/2 + (u1 + dt L u1)/2``) equals ``2 u2 - u`` with ``u2 = 3u/4 + (u1 + dt L
        u1)/4`` its second stage."""
        u = self.u
        self._stage(0.0, u, 1.0, u, dt, self.trial if scheme == "euler" else self.stage1,
                    tau, step)
        dt_cfl = self.options.cfl_safety / self.last_rate if self.last_rate > 0 else math.inf
        if scheme == "euler":
            return 0.0, dt_cfl
        error = (1.0, 0.0, self.atol, self.options.rtol)
        if scheme == "ssprk2":
            total = self._stage(0.5, u, 0.5, self.stage1, dt, self.trial, tau + dt, step, error)
            return math.sqrt(total / u.size), dt_cfl
        self._stage(0.75, u, 0.25, self.stage1, dt, self.stage2, tau + dt, step)
        error = (2.0, -1.0, self.atol, self.options.rtol)
        total = self._stage(1.0 / 3.0, u, 2.0 / 3.0, self.stage2, dt, self.trial,
                            tau + 0.5 * dt, step, error)
        return math.sqrt(total / u.size), dt_cfl

    def fixed_linear_steps(self, tau: float, target: float, step: int, scheme: str,
                           bar) -> tuple[float, int]:
        """Every fixed step from ``tau`` to the output time ``target`` in compiled
        chunks (:meth:`FluxOperator.linear_steps`): the step sizes, the stage times
        and the checks before each step are those of the loop in :func:`integrate`,
        the stages and the bookkeeping those of :meth:`explicit_step`, so snapshots,
        statistics and error messages equal the per-step path's.  Returns the new
        ``(tau, step)``."""
        options, problem = self.options, self.problem
        method_id = MULTISTEP_METHODS[scheme]
        dt_fixed = float(options.dt)
        end = target - 1e-14 * max(1.0, abs(target))
        cap = _CHUNK_PROGRESS if options.progress else _CHUNK
        while tau < end:
            starts, dts, taus = [], [], []
            t, k, pending = tau, step, None
            while t < end and len(dts) < cap:
                if k >= options.max_steps:
                    pending = _max_steps_error(options.max_steps, problem.forward_time(t))
                    break
                remaining = target - t
                dt = min(dt_fixed, remaining)
                if remaining < dt * (1 + 1e-9):
                    dt = remaining
                if dt <= 1e-14 * max(1.0, abs(t)):
                    pending = _underflow_error(dt, problem.forward_time(t), k)
                    break
                starts.append(t)
                dts.append(dt)
                taus.append(t)
                if method_id == _multistep.SSPRK2:
                    taus.append(t + dt)
                elif method_id == _multistep.SSPRK3:
                    taus += [t + dt, t + 0.5 * dt]
                t += dt
                k += 1
            if dts:
                self._run_chunk(method_id, starts, dts, taus, step, bar)
                tau, step = t, k
            if pending is not None:
                raise pending
        return tau, step

    def _run_chunk(self, method_id, starts, dts, taus, step, bar) -> None:
        """One compiled call over the planned steps; raises the stepper's errors."""
        stats = self.stats
        scales, diffusions = self.problem.linear_coefficients(np.array(taus))
        state = np.array([stats.min_density, stats.max_mass_error, 0.0, 0.0, 0.0])
        fields = (self.u, self.trial, self.stage1, self.stage2)
        done, kind, stage, n_rhs = self.op.linear_steps(
            fields, method_id, np.array(dts), np.ascontiguousarray(scales, dtype=float),
            np.ascontiguousarray(diffusions, dtype=float), self.mass0, state)
        if done % 2:
            self.u, self.trial = self.trial, self.u
        stats.n_rhs += n_rhs
        stats.n_steps += done
        stats.n_explicit += done
        stats.min_density = float(state[_multistep.MIN_DENSITY])
        stats.max_mass_error = float(state[_multistep.MAX_MASS_ERROR])
        self.last_min = float(state[_multistep.LAST_MIN])
        self.last_mass = float(state[_multistep.LAST_MASS])
        self.last_rate = float(state[_multistep.LAST_RATE])
        bar.update(sum(dts[:done]))
        if kind == _multistep.NON_FINITE:
            stages = _multistep.STAGES[method_id]
            out = self.trial if stage == stages - 1 else (self.stage1, self.stage2)[stage]
            self._non_finite(out, taus[done * stages + stage], step + done)
        if kind == _multistep.POSITIVITY:
            raise _positivity_error(dts[done], self.options.cfl_safety / self.last_rate,
                                    self.options.cfl_safety,
                                    self.problem.forward_time(starts[done]), step + done)

    # -------------------------------------------------------------- implicit
    def _solver(self, tau_end: float, dt: float):
        key = (dt,) if self.problem.autonomous else (dt, tau_end)
        if key in self._lu_cache:
            self._lu_cache.move_to_end(key)
            return self._lu_cache[key]
        diffusion = self.problem.set_coefficients(tau_end, SCHEME_SG)
        matrix = self.op.matrix(self.u, diffusion, prepared=True)
        if self._identity is None:
            self._identity = sp.identity(self.u.size, format="csc")
        lu = spla.splu((self._identity - dt * matrix).tocsc())
        self.stats.n_factorizations += 1
        self._lu_cache[key] = lu
        while len(self._lu_cache) > 6:
            self._lu_cache.popitem(last=False)
        return lu

    def _backward_euler(self, u_from: np.ndarray, tau: float, dt: float, out: np.ndarray, step):
        """``out = (I - dt A)^{-1} u_from``, nonnegative and mass-conserving.

        ``M = I - dt A`` is an M-matrix with unit column sums, so the exact solution
        ``x`` is ``>= 0`` with ``sum x = sum u_from``.  The LU solution ``x_hat``
        differs from ``x`` by round-off and can dip below zero where ``x`` vanishes.
        Replacing ``x_hat_i < 0`` by 0 moves every such entry *towards* ``x_i >= 0``
        (``|0 - x_i| < |x_hat_i - x_i|``), so the projection never increases the
        error of any cell: it is a round-off correction.  The projected vector is then
        rescaled to the exact mass ``sum u_from`` (a factor ``1 + O(LU round-off)``,
        positive).  The removed mass is recorded in ``max_projection_mass``."""
        lu = self._solver(tau + dt, dt)
        flat = out.reshape(-1)
        flat[:] = lu.solve(u_from.reshape(-1))
        if not np.all(np.isfinite(flat)):
            self._non_finite(out, tau + dt, step)
        target = float(np.sum(u_from))
        negative = flat < 0.0
        if negative.any():
            removed = -float(np.sum(flat[negative]))
            flat[negative] = 0.0
            total = float(np.sum(flat))
            if total > 0.0:
                flat *= target / total
            self.stats.max_projection_mass = max(
                self.stats.max_projection_mass, removed / max(abs(target), 1e-300)
            )
        self.last_min, self.last_mass = float(flat.min()), float(np.sum(flat))

    def implicit_step(self, tau: float, dt: float, adaptive: bool, step: int) -> float:
        """Backward Euler into ``self.trial`` (two half steps when adaptive, with the
        full step as the error reference); returns the error norm."""
        if not adaptive:
            self._backward_euler(self.u, tau, dt, self.trial, step)
            return 0.0
        self._backward_euler(self.u, tau, dt, self.embedded, step)
        self._backward_euler(self.u, tau, 0.5 * dt, self.half, step)
        self._backward_euler(self.half, tau + 0.5 * dt, 0.5 * dt, self.trial, step)
        return self.op.error_norm(self.u, self.trial, self.embedded, self.atol, self.options.rtol)

    def release(self) -> None:
        """Give the work fields back for the next solve; the integrator is then
        unusable (its fields belong to whoever takes them next)."""
        fields, self._fields = self._fields, None
        self.u = self.stage1 = self.stage2 = self.embedded = self.trial = self.half = None
        if fields is not None:
            _WORKSPACE.give(self.op.shape3, fields)

    def cfl_limit(self, tau: float) -> float:
        self.problem.set_coefficients(tau, self.op.scheme_id)
        self.stats.n_rhs += 1
        rate = self.op.stage(self.u, self.u, self.op.du, 0.0, 1.0, 0.0, rhs_only=True)[0]
        return self.options.cfl_safety / rate if rate > 0 else math.inf


def integrate(
    problem: Problem, u0: np.ndarray, tau_eval: np.ndarray, options: StepperOptions
) -> tuple[np.ndarray, dict[str, Any]]:
    """Integrate from ``tau_eval[0]`` to ``tau_eval[-1]`` (increasing); returns the
    snapshots ``(len(tau_eval), *grid.shape)`` and the statistics dictionary.
    ``u0`` (a validated float64 density, :meth:`Grid.check_density`) is copied, not
    modified."""
    options = options.validated()
    start = time.perf_counter()
    integrator = Integrator(problem, u0, options)
    stats = integrator.stats
    grid_shape = problem.operator.grid.shape
    out = np.empty((len(tau_eval), *grid_shape))
    out[0] = integrator.u.reshape(grid_shape)
    stats.min_density = float(integrator.min0)

    method = options.method
    fixed = options.dt is not None
    mode = "implicit" if method == "backward_euler" else "explicit"
    explicit_scheme = method if method in ("ssprk3", "ssprk2", "euler") else "ssprk3"
    tau = float(tau_eval[0])
    span = float(tau_eval[-1] - tau_eval[0])
    if fixed:
        dt_next = float(options.dt)
    elif options.first_step is not None:
        dt_next = float(options.first_step)
    else:
        dt_next = min(integrator.cfl_limit(tau), span / 10.0)
        if mode == "implicit":
            dt_next = span / 100.0
    stiff_votes = 0
    # A disabled tqdm still costs ~0.1 ms to build: a solve without a bar gets a stub.
    bar = tqdm(
        total=span, desc=options.progress_label, unit="t",
        bar_format="{l_bar}{bar}| {n:.3g}/{total:.3g} [{elapsed}<{remaining}]",
    ) if options.progress else _NO_BAR
    step = 0
    compiled = (fixed and mode == "explicit" and options.multistep
                and problem.linear_coefficients is not None)
    try:
        for index in range(1, len(tau_eval)):
            target = float(tau_eval[index])
            if compiled:
                tau, step = integrator.fixed_linear_steps(tau, target, step, explicit_scheme,
                                                          bar)
            while tau < target - 1e-14 * max(1.0, abs(target)):
                if step >= options.max_steps:
                    raise _max_steps_error(options.max_steps, problem.forward_time(tau))
                remaining = target - tau
                dt = min(dt_next, remaining)
                # Avoid a sliver of a step just before an output time.
                if not fixed and remaining - dt < 0.05 * dt:
                    dt = remaining
                elif fixed and remaining < dt * (1 + 1e-9):
                    dt = remaining
                if dt <= 1e-14 * max(1.0, abs(tau)):
                    raise _underflow_error(dt, problem.forward_time(tau), step)
                try:
                    if mode == "explicit":
                        error, dt_cfl = integrator.explicit_step(tau, dt, explicit_scheme, step)
                    else:
                        error = integrator.implicit_step(tau, dt, not fixed, step)
                        dt_cfl = math.inf
                except _Rejected as rejected:
                    if fixed:
                        raise _positivity_error(dt, rejected.dt_max, options.cfl_safety,
                                                problem.forward_time(tau), step) from None
                    stats.n_rejected += 1
                    if method == "auto" and rejected.dt_max < dt / options.stiffness_ratio:
                        mode = "implicit"
                        stats.switches.append(problem.forward_time(tau))
                        continue
                    dt_next = rejected.dt_max
                    continue
                order = EMBEDDED_ORDER.get(
                    "backward_euler" if mode == "implicit" else explicit_scheme
                )
                if not fixed and order is not None and error > 1.0:
                    stats.n_rejected += 1
                    dt_next = dt * max(0.2, 0.9 * error ** (-1.0 / (order + 1)))
                    continue
                # Accept.
                integrator.u, integrator.trial = integrator.trial, integrator.u
                tau += dt
                step += 1
                stats.n_steps += 1
                if mode == "explicit":
                    stats.n_explicit += 1
                else:
                    stats.n_implicit += 1
                stats.min_density = min(stats.min_density, integrator.last_min)
                mass = integrator.last_mass
                stats.max_mass_error = max(
                    stats.max_mass_error, abs(mass - integrator.mass0) / abs(integrator.mass0)
                )
                bar.update(dt)
                if fixed:
                    dt_next = float(options.dt)
                    continue
                if order is None:  # forward Euler: run at the positivity limit
                    dt_next = dt_cfl
                    continue
                factor = 5.0 if error == 0 else min(5.0, max(0.2, 0.9 * error ** (-1.0 / (order + 1))))
                dt_accuracy = dt * factor if dt >= 0.999 * min(dt_next, remaining) else dt_next
                if method != "auto":
                    dt_next = dt_accuracy if mode == "implicit" else min(dt_accuracy, dt_cfl)
                    continue
                # "auto": compare the accuracy-controlled step with the positivity limit.
                if mode == "explicit":
                    # The uncapped accuracy step: how far the error estimate would let
                    # the step grow if positivity did not bind.
                    unconstrained = dt * 0.9 * error ** (-1.0 / (order + 1)) if error > 0 else math.inf
                    stiff = unconstrained > options.stiffness_ratio * dt_cfl
                    stiff_votes = stiff_votes + 1 if stiff else 0
                    if stiff_votes >= 3:
                        mode, stiff_votes = "implicit", 0
                        stats.switches.append(problem.forward_time(tau))
                        dt_next = dt_accuracy
                    else:
                        dt_next = min(dt_accuracy, dt_cfl)
                else:
                    dt_next = dt_accuracy
                    if integrator.cfl_limit(tau) * options.stiffness_ratio / 4 > dt_accuracy:
                        mode = "explicit"
                        stats.switches.append(problem.forward_time(tau))
            out[index] = integrator.u.reshape(grid_shape)
    finally:
        bar.close()
        integrator.release()
    info = stats.as_dict()
    info["wall_time"] = time.perf_counter() - start
    info["rtol"] = options.rtol
    info["atol"] = integrator.atol
    info["method"] = method
    info["fixed_dt"] = options.dt
    return out, info

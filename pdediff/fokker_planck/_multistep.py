"""Compiled multi-step loop of fixed-step explicit solves with a linear drift (pure
numba; imports only from :mod:`._kernels` and :mod:`._reductions`).

A fixed-step Euler/SSPRK2/SSPRK3 solve of ``d_tau u = L(tau) u`` with the separable
velocity ``v = a(tau) x`` and scalar diffusion ``D(tau)`` needs, per stage, only two
scalars.  :func:`linear_steps` advances such a solve over many steps in one call:
per stage it rebuilds the 1-D face coefficients with
:func:`._kernels.linear_face_coefficients` when ``(a, D)`` differ from the previous
stage's (autonomous processes: once per call) and runs the body of the fused stage
:func:`._kernels.stage` (its block split, its parallel loop over
:func:`._kernels._block`, its fixed-order combination) with the arguments the
per-step Python stepper passes (less the embedded error sum, which a fixed step discards), so every stage
gives the same bits as on that path.  It does the stepper's
bookkeeping (finiteness, the positivity limit ``dt max_i c_i <= 1`` per stage, the
running minimum and the mass error against ``mass0``) and stops at the first
failing stage, whose step, stage and kind it returns for the caller to raise the
stepper's error.  Why: one call per stage from Python costs a numba dispatch and a
wake-up of the thread pool per stage; under the passive OpenMP wait policy that
wake-up dominates a 512^2 stage.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._kernels import SCHEME_SG, _block, linear_face_coefficients
from ._reductions import stage_blocks, stage_result, thread_chunk

EULER = 0
SSPRK2 = 1
SSPRK3 = 2
# Stages per step of each method, indexed by the method id.
STAGES = (1, 2, 3)

OK = 0
NON_FINITE = 1
POSITIVITY = 2

# Layout of the ``state`` array of :func:`linear_steps` (read and written).
MIN_DENSITY = 0
MAX_MASS_ERROR = 1
LAST_MIN = 2
LAST_MASS = 3
LAST_RATE = 4


@njit(cache=True, error_model="numpy")
def _prepare(scale, diffusion, edges, spacing, periodic, active, scheme, a1, b1, dh):
    """The separable coefficients of ``v = scale x`` and ``D = diffusion``, as
    :meth:`FluxOperator.prepare` builds them."""
    for p in range(3):
        if active[p]:
            h = spacing[p]
            dh[p] = diffusion / (h * h)
            linear_face_coefficients(edges[p], scale, diffusion, h, periodic[p], scheme, a1[p],
                                     b1[p])


@njit(parallel=True, cache=True, error_model="numpy")
def linear_steps(u, trial, stage1, stage2, method, dts, scales, diffusions, edges, spacing,
                 periodic, active, scheme, a1, b1, an, bn, dh, mass0, partial,
                 partial_bits, rates, state, threads):
    """Advance ``u`` by ``dts.size`` fixed explicit steps.

    Step ``s`` of size ``dts[s]`` runs the stages of ``method`` (``EULER``:
    ``u1 = u + dt L u``; ``SSPRK2``: ``u1``, then ``u/2 + (u1 + dt L u1)/2``;
    ``SSPRK3``: ``u1``, ``u2 = 3u/4 + (u1 + dt L u1)/4``, then
    ``u/3 + 2(u2 + dt L u2)/3``) with stage ``q = s * stages + j`` using the velocity
    scale ``scales[q]`` and diffusion ``diffusions[q]``.  ``u``, ``trial``,
    ``stage1``, ``stage2``: 3-D work fields; accepted steps swap ``u`` and ``trial``
    as the Python stepper does, so after ``k`` accepted steps the solution is in
    ``u`` for even ``k`` and in ``trial`` for odd ``k``.  ``edges``, ``spacing``,
    ``periodic``, ``active`` (axis present in the grid), ``scheme``, ``a1``, ``b1``,
    ``an``, ``bn``, ``dh``, ``partial``, ``partial_bits``, ``rates``: the
    operator's arrays (``a1``, ``b1``, ``dh`` are overwritten).  ``state``: float
    array updated in place at the indices ``MIN_DENSITY``, ``MAX_MASS_ERROR``,
    ``LAST_MIN``, ``LAST_MASS``, ``LAST_RATE`` (the rate of the last stage run).

    Returns ``(accepted, kind, stage, n_rhs)``: accepted steps, ``OK`` or the
    failure (``NON_FINITE``: a non-finite sum or rate; ``POSITIVITY``:
    ``dt * rate > 1``) of stage ``stage`` of step ``accepted``, and the stages run.
    """
    stages = STAGES[method]
    blocks, size, chunks = stage_blocks(u.shape, threads)
    # Run-time bools, not the literals False/True: literal arguments would compile
    # second copies of _block and its row kernels (twice the compilation time).
    separable = dts.size >= 0
    rhs_only = not separable
    sg_separable = scheme == SCHEME_SG and separable
    n_rhs = 0
    min_density = state[MIN_DENSITY]
    max_mass_error = state[MAX_MASS_ERROR]
    last_scale = 0.0
    last_diffusion = 0.0
    for s in range(dts.size):
        dt = dts[s]
        smallest = 0.0
        total = 0.0
        for j in range(stages):
            q = s * stages + j
            scale = scales[q]
            diffusion = diffusions[q]
            if q == 0 or not (scale == last_scale and diffusion == last_diffusion):
                _prepare(scale, diffusion, edges, spacing, periodic, active, scheme, a1, b1, dh)
                last_scale = scale
                last_diffusion = diffusion
            # The stage arguments of Integrator.explicit_step, stage by stage, without
            # the embedded error sum (a fixed step discards it; the stage values do
            # not depend on it).
            alpha = 0.0
            beta = 1.0
            source = u
            target = stage1
            if j == stages - 1:
                target = trial
            if j == 1:
                source = stage1
                if method == SSPRK2:
                    alpha, beta = 0.5, 0.5
                else:
                    alpha, beta = 0.75, 0.25
            elif j == 2:
                source = stage2
                alpha, beta = 1.0 / 3.0, 2.0 / 3.0
            if method == SSPRK3 and j == 1:
                target = stage2
            n_rhs += 1
            # The body of _kernels.stage (not a call of it: a parallel function
            # called from compiled code gave crashes with cached code).
            for chunk in prange(chunks):
                first, last = thread_chunk(np.int64(chunk), chunks, blocks)
                _block(source, u, target, rates, chunk, first, last, size, alpha, beta, dt,
                       rhs_only, separable, a1, b1, an, bn, dh, periodic, scheme, 0.0, 0.0, 1.0,
                       0.0, rhs_only, partial, partial_bits)
            rate, smallest, total, _ = stage_result(partial, blocks, sg_separable, a1, b1,
                                                    u.shape)
            state[LAST_RATE] = rate
            if not (math.isfinite(total) and math.isfinite(rate)):
                return s, NON_FINITE, j, n_rhs
            if dt * rate > 1.0:
                return s, POSITIVITY, j, n_rhs
        u, trial = trial, u
        state[LAST_MIN] = smallest
        state[LAST_MASS] = total
        # Python's min(a, b) / max(a, b): the first argument unless the second is
        # strictly smaller / larger.
        if smallest < min_density:
            min_density = smallest
        mass_error = abs(total - mass0) / abs(mass0)
        if mass_error > max_mass_error:
            max_mass_error = mass_error
        state[MIN_DENSITY] = min_density
        state[MAX_MASS_ERROR] = max_mass_error
    return dts.size, OK, 0, n_rhs

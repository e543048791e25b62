"""Reverse-drift face coefficients straight from compiled pdediff scores.

For a score whose formula pdediff knows and has compiled, the face velocities

    b_eps(x, t) = -a(t) x + ((1 + eps) / 2) g(t)^2 s(x, t)

and their flux coefficients are computed in one pass over the faces, evaluating the
score at each face centre inside
:func:`._face_score_kernels.score_face_coefficients` (no face-point, score or
velocity arrays).  Dispatch reads the score's type and attributes only (exact types:
a subclass may change what ``__call__`` returns):

* :class:`pdediff.scores.ExactScore` of a
  :class:`pdediff.distributions.GaussianMixture` (isotropic, diagonal or full
  covariances), of ``Points`` (``t > 0`` or smoothed), and
  :class:`pdediff.scores.KernelScore` (its score is that of smoothed ``Points``):
  the mixture evaluator, bit for bit;
* :class:`pdediff.scores.ExactScore` of a
  :class:`pdediff.distributions.BoxMixture` (``Box``, ``Checkerboard``): the box
  evaluator, to a few ulps (libm special functions instead of scipy's);
* :class:`pdediff.scores.TabulatedScore` whose registered point sets include the
  face points of every axis: the table interpolation, bit for bit;
* :class:`pdediff.score_model.ScoreModel` (the spline model): bit for bit.

Every other callable returns ``None`` here and keeps the generic path (the score
evaluated on the face centres by the caller).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..processes import ForwardProcess
from . import _face_score_kernels as kernels
from .operator import FluxOperator

_NONE1 = np.zeros(1)
_NONE2 = np.zeros((1, 1))
_NONE3 = np.zeros((1, 1, 1))
_NO_INTS = np.zeros(1, dtype=np.int64)

# Per time t: (arr2a, arr2b, arr3, arr1, ints, reals), or per axis when the list form
# is returned (tabulated scores have one table per axis).
Parameters = Callable[[float], tuple]


def _distribution(score: Any) -> Any:
    """The distribution whose exact score ``score`` is, or None."""
    from ..scores import ExactScore, KernelScore

    if type(score) is ExactScore:
        return getattr(score, "dist", None)
    if type(score) is KernelScore:
        return score._points
    return None


def _mixture(score: Any, ndim: int) -> tuple[int, Parameters, tuple] | None:
    from ..distributions import BoxMixture, Checkerboard, GaussianMixture, Points
    from ..distributions.boxes import Box

    dist = _distribution(score)
    if dist is None or getattr(dist, "ndim", None) != ndim:
        return None
    process = score.process

    def check(alpha: float, v: float, t: float) -> None:
        if v == 0.0 and not dist.regular_at_zero:
            # The generic path raises the score's own error for this case.
            score(np.zeros((1, ndim)), t)

    kind_of = type(dist)
    if kind_of in (GaussianMixture, Points):
        K = dist.means.shape[0]

        def mixture(t: float) -> tuple:
            alpha, v = dist._coefficients(t, process)
            check(alpha, v, t)
            means, prec, _, logc, isotropic = dist._components(alpha, v)
            return (np.ascontiguousarray(means), _NONE2, np.ascontiguousarray(prec),
                    np.ascontiguousarray(logc, dtype=float),
                    np.array([int(bool(isotropic))], dtype=np.int64), _NONE1)

        return kernels.KIND_MIXTURE, mixture, (K, K, ndim, 1, 1)
    if kind_of in (BoxMixture, Box, Checkerboard):
        K = dist.lows.shape[0]
        lows = np.ascontiguousarray(dist.lows, dtype=float)
        highs = np.ascontiguousarray(dist.highs, dtype=float)

        def box(t: float) -> tuple:
            alpha, v = dist._coefficients(t, process)
            check(alpha, v, t)
            with np.errstate(divide="ignore"):
                log_w = np.log(dist.weights) - np.log(alpha**dist.ndim * dist.volumes)
            return (lows, highs, _NONE3, np.ascontiguousarray(log_w, dtype=float), _NO_INTS,
                    np.array([alpha, np.sqrt(v), v]))

        return kernels.KIND_BOX, box, (K, 1, 1, 1, 1)
    return None


def _tabulated(score: Any, operator: FluxOperator) -> tuple[int, list[Parameters], tuple] | None:
    from ..scores import TabulatedScore

    if type(score) is not TabulatedScore:
        return None
    per_axis = []
    for axis in range(operator.grid.ndim):
        k = score._match(np.asarray(operator.face_points(axis), dtype=float))
        if k < 0:
            return None
        per_axis.append(score.tables[k])

    def parameters_of(table: np.ndarray) -> Parameters:
        def tabulated(t: float) -> tuple:
            j, lam = score._bracket(t)
            return (table[j], table[j + 1], _NONE3, _NONE1, _NO_INTS,
                    np.array([1.0 - lam, lam]))

        return tabulated

    return kernels.KIND_TABULATED, [parameters_of(table) for table in per_axis], (1, 1, 1, 1, 1)


def _spline(score: Any, ndim: int) -> tuple[int, Parameters, tuple] | None:
    from ..score_model import ScoreModel

    if type(score) is not ScoreModel or score.ndim != ndim:
        return None
    cells = score.n_space + score.degree
    k1 = score.degree + 1
    ints = np.array([cells, score.degree, int(score.reference is not None)], dtype=np.int64)

    def spline(t: float) -> tuple:
        polynomials, low, spacing, shift, variance = score._score_parameters(t)
        if variance is None:
            shift = variance = np.ones(ndim)
        reference = np.ascontiguousarray(np.stack(
            [np.broadcast_to(shift, (ndim,)), np.broadcast_to(variance, (ndim,))]), dtype=float)
        return (np.ascontiguousarray(polynomials, dtype=float), reference, _NONE3,
                np.ascontiguousarray(np.broadcast_to(low, (ndim,)), dtype=float), ints,
                np.ascontiguousarray(np.broadcast_to(spacing, (ndim,)), dtype=float))

    return kernels.KIND_SPLINE, spline, (1, ndim, k1, ndim + 1, k1**ndim)


def compiled(
    operator: FluxOperator, process: ForwardProcess, score: Any, eps: float
) -> Callable[[float, int], float] | None:
    """``set_coefficients(t, scheme_id) -> D`` filling ``operator``'s face rates
    for forward time ``t`` with the fused kernel, or None when ``score`` has no
    compiled form."""
    grid = operator.grid
    if operator.layout[-1] != 2:
        # The kernels complete each sum over the axes with the last one, the one that
        # varies along their innermost loop (position 2).
        return None
    found = (_mixture(score, grid.ndim) or _tabulated(score, operator)
             or _spline(score, grid.ndim))
    if found is None:
        return None
    kind, parameters, work = found
    per_axis = parameters if isinstance(parameters, list) else [parameters] * grid.ndim
    shared = not isinstance(parameters, list)
    work_shape = np.array(work, dtype=np.int64)
    coords = []
    grid_axis = np.full(3, -1, dtype=np.int64)
    for d, position in enumerate(operator.layout):
        grid_axis[position] = d
    for face_axis in range(grid.ndim):
        per_position = [np.zeros(1) for _ in range(3)]
        for d, position in enumerate(operator.layout):
            source = grid.edges[d] if d == face_axis else grid.centers[d]
            # a writeable copy: grid coordinates are read-only arrays, a second numba
            # type (and compilation) next to the placeholders
            per_position[position] = np.array(source, dtype=float)
        coords.append(per_position)

    def set_coefficients(t: float, scheme_id: int) -> float:
        # The score's parameters first: a time without a score raises its own error
        # before any coefficient is touched.
        values = [per_axis[0](t)] * grid.ndim if shared else [p(t) for p in per_axis]
        a, g2 = process.coefficients(t)
        drift_a = -a
        score_c = 0.5 * (1.0 + eps) * g2
        diffusion = 0.5 * eps * g2
        targets = operator.set_field_coefficients(diffusion)
        for face_axis, (coef_a, coef_b) in enumerate(targets):
            position = operator.layout[face_axis]
            c0, c1, c2 = coords[face_axis]
            kernels.score_face_coefficients(
                kind, position, c0, c1, c2, grid_axis, *values[face_axis], work_shape,
                drift_a, score_c, diffusion, float(operator.spacing3[position]),
                bool(operator.periodic3[position]), int(scheme_id), coef_a, coef_b,
            )
        return diffusion

    return set_coefficients

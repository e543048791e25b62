"""Reverse-drift face coefficients straight from compiled pdediff scores.

For a score whose formula pdediff knows and has compiled, the face velocities

    b_eps(x, t) = -a(t) x + ((1 + eps) / 2) g(t)^2 s(x, t)

and their flux coefficients are computed in one pass over the faces, evaluating the
score at each face centre inside the kernel (no face-point, score or velocity
arrays).  Dispatch reads the score's attributes only:

* :class:`pdediff.scores.ExactScore` whose ``.dist`` is a
  :class:`pdediff.distributions.GaussianMixture` (isotropic, diagonal or full
  covariances; ``Points`` at ``t > 0``):
  :func:`._kernels.mixture_face_coefficients`.

Every other callable returns ``None`` here and keeps the generic path (the score
evaluated on the face centres by the caller).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..processes import ForwardProcess
from . import _kernels as kernels
from .operator import FluxOperator


def _mixture(score: Any) -> Any:
    """The Gaussian mixture behind an exact score, or None."""
    from ..distributions import GaussianMixture
    from ..scores import ExactScore

    if type(score) is not ExactScore:
        return None
    dist = getattr(score, "dist", None)
    if not isinstance(dist, GaussianMixture):
        return None
    if not (callable(getattr(dist, "_components", None))
            and callable(getattr(dist, "_coefficients", None))):
        return None
    return dist


def compiled(
    operator: FluxOperator, process: ForwardProcess, score: Any, eps: float
) -> Callable[[float, int], float] | None:
    """``set_coefficients(t, scheme_id) -> D`` filling ``operator``'s face rates
    for forward time ``t`` with the fused kernel, or None when ``score`` has no
    compiled form (or a time needs the generic path's error handling)."""
    dist = _mixture(score)
    if dist is None:
        return None
    grid = operator.grid
    score_process = score.process
    coords = []
    grid_axis = np.full(3, -1, dtype=np.int64)
    for d, position in enumerate(operator.layout):
        grid_axis[position] = d
    for face_axis in range(grid.ndim):
        per_position = [np.zeros(1) for _ in range(3)]
        for d, position in enumerate(operator.layout):
            source = grid.edges[d] if d == face_axis else grid.centers[d]
            per_position[position] = np.ascontiguousarray(source, dtype=float)
        coords.append(per_position)

    def set_coefficients(t: float, scheme_id: int) -> float:
        alpha, v = dist._coefficients(t, score_process)
        if v == 0.0 and not dist.regular_at_zero:
            # The generic path raises the distribution's own error for this case.
            score(grid.face_points(0)[:1], t)
        means, prec, _, logc, isotropic = dist._components(alpha, v)
        g2 = float(process.g2(t))
        drift_a = float(-process.a(t))
        score_c = 0.5 * (1.0 + eps) * g2
        diffusion = 0.5 * eps * g2
        targets = operator.set_field_coefficients(diffusion)
        for face_axis, (coef_a, coef_b) in enumerate(targets):
            position = operator.layout[face_axis]
            c0, c1, c2 = coords[face_axis]
            kernels.mixture_face_coefficients(
                position, c0, c1, c2, grid_axis, np.ascontiguousarray(means),
                np.ascontiguousarray(prec), np.ascontiguousarray(logc, dtype=float),
                bool(isotropic), drift_a, score_c, diffusion,
                float(operator.spacing3[position]), bool(operator.periodic3[position]),
                int(scheme_id), coef_a, coef_b,
            )
        return diffusion

    return set_coefficients

"""Tabulated scores: a costly score callable stored at time nodes on fixed point sets
and interpolated linearly in ``log t``."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from .. import _validate


class TabulatedScore:
    """A score callable that interpolates a tabulated ``score(x, t)`` in time.

    For each registered point set ``X`` (e.g. the face points of a grid along one axis,
    shape ``(..., n)``) the values ``score(X, t_j)`` are stored at nodes ``t_j``
    uniform in ``u = log t`` on ``[t_min, t_max]``; a call with the same ``X`` returns
    the linear interpolation in ``u`` (clamped at the ends), any other ``x`` is passed
    to ``score``.  Linear interpolation has error ``<= (du^2 / 8) max |d^2 s / du^2|``;
    :meth:`interpolation_error` measures it at the table midpoints.

    Why ``log t``: scores of smoothed laws vary on the scale ``sigma_t^2 ~ t`` near
    ``t = 0`` and smoothly in ``t`` (through ``alpha_t``, ``sigma_t``) at large ``t``.
    ``log sigma_t`` would be just as good near 0 but saturates for OU/VP as ``t``
    grows (``alpha_t = sqrt(1 - sigma_t^2 / sigma_inf^2)`` has a square-root
    singularity in it), which made the interpolation error first order there.

    Parameters
    ----------
    score : callable ``score(x, t) -> x.shape``
    point_sets : sequence of arrays ``(..., n)`` (length units)
    t_min, t_max : time range of the table, ``0 < t_min < t_max``
    nodes : number of time nodes (>= 2)
    """

    def __init__(self, score: Callable[[np.ndarray, float], np.ndarray],
                 point_sets: Sequence[np.ndarray], t_min: float, t_max: float,
                 nodes: int) -> None:
        if not callable(score):
            raise TypeError(f"score: expected a callable score(x, t), got {score!r}")
        t_min = _validate.forward_time(t_min, "t_min", positive_only=True)
        t_max = _validate.real(t_max, "t_max")
        if not t_min < t_max:
            raise ValueError(f"t_max: expected t_max > t_min = {t_min!r}, got {t_max!r}")
        nodes = _validate.integer(nodes, "nodes", minimum=2)
        self.score = score
        self.u = np.linspace(math.log(t_min), math.log(t_max), int(nodes))
        self.times = np.exp(self.u)
        self.times[0], self.times[-1] = t_min, t_max
        self.sets = [np.ascontiguousarray(p, dtype=float) for p in point_sets]
        self.tables = []
        for points in self.sets:
            flat = points.reshape(-1, points.shape[-1])
            table = np.empty((self.u.size, *flat.shape))
            for j, t in enumerate(self.times):
                table[j] = score(flat, float(t))
            self.tables.append(table)

    def _match(self, x: np.ndarray) -> int:
        for k, points in enumerate(self.sets):
            if x.shape == points.shape and (x is points or np.array_equal(x, points)):
                return k
        return -1

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """``score(x, t)``, interpolated in ``log sigma_t`` for a registered ``x``."""
        x = np.asarray(x, dtype=float)
        k = self._match(x)
        if k < 0:
            return np.asarray(self.score(x, t), dtype=float)
        j, lam = self._bracket(t)
        table = self.tables[k]
        return ((1.0 - lam) * table[j] + lam * table[j + 1]).reshape(x.shape)

    def _bracket(self, t: float) -> tuple[int, float]:
        """Table node ``j`` and weight ``lam`` of the interpolation at time ``t``
        (``u = log t`` clamped to the table): ``(1 - lam) S_j + lam S_{j+1}``."""
        u = float(np.clip(math.log(max(t, 1e-300)), self.u[0], self.u[-1]))
        j = int(min(np.searchsorted(self.u, u, side="right") - 1, self.u.size - 2))
        return j, (u - self.u[j]) / (self.u[j + 1] - self.u[j])

    def interpolation_error(self, samples: int = 8, times: Sequence[float] | None = None
                            ) -> float:
        """Max of ``|interpolated - exact| / max|exact|`` (dimensionless) over all
        registered points and ``times`` (default: ``samples`` table midpoints in ``u``,
        where the linear-interpolation error peaks)."""
        if times is None:
            mids = np.unique(np.linspace(0, self.u.size - 2, samples).round().astype(int))
            times = np.exp(0.5 * (self.u[mids] + self.u[mids + 1]))
        worst = 0.0
        for t in np.asarray(times, dtype=float):
            for points in self.sets:
                exact = np.asarray(self.score(points, float(t)), float)
                scale = max(float(np.max(np.abs(exact))), 1e-300)
                worst = max(worst, float(np.max(np.abs(self(points, float(t)) - exact))) / scale)
        return worst

"""The finite-volume Fokker–Planck operator ``L[u] = -div(v u) + D Lap u`` on a grid.

:class:`FluxOperator` owns the work arrays of one solve (allocated once, reused by
every stage) and evaluates, for a face-velocity field ``v`` and a scalar diffusion
``D``:

* the explicit right-hand side ``L[u]`` and the largest outflow rate ``max_i c_i``
  (a forward-Euler step of size ``dt`` is positive when ``dt max_i c_i <= 1``);
* the sparse matrix of the Scharfetter–Gummel operator (upwind when ``D = 0``),
  whose off-diagonal entries are nonnegative and whose columns sum to zero, so that
  ``I - dt A`` is an M-matrix: backward Euler is positive for every ``dt`` and
  conserves mass.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..grid import Grid
from . import kernels

SCHEMES = {"scharfetter_gummel": kernels.SCHEME_SG, "muscl": kernels.SCHEME_MUSCL}


# Grid axis d is stored at position AXIS_LAYOUT[ndim][d] of a 3-D array.  The last
# grid axis always goes innermost (position 2) so that the kernels' innermost loop
# runs along a long, contiguous axis (a 2-D field is (n0, 1, n1), not (n0, n1, 1)).
AXIS_LAYOUT = {1: (2,), 2: (0, 2), 3: (0, 1, 2)}


class FluxOperator:
    """Work space and evaluation of the flux-form operator on ``grid``.

    Parameters
    ----------
    grid
        The grid; fields are arrays of ``grid.shape``.
    scheme
        ``"scharfetter_gummel"`` or ``"muscl"`` for the explicit right-hand side.
    """

    def __init__(self, grid: Grid, scheme: str = "scharfetter_gummel") -> None:
        if scheme not in SCHEMES:
            raise ValueError(f"scheme: expected one of {sorted(SCHEMES)}, got {scheme!r}")
        self.grid = grid
        self.scheme = scheme
        self.scheme_id = SCHEMES[scheme]
        self.layout = AXIS_LAYOUT[grid.ndim]
        shape3 = [1, 1, 1]
        self.spacing3 = np.ones(3)
        self.periodic3 = [False, False, False]
        for d, position in enumerate(self.layout):
            shape3[position] = grid.shape[d]
            self.spacing3[position] = grid.spacing[d]
            self.periodic3[position] = grid.periodic[d]
        self.shape3 = tuple(shape3)
        face_shapes3 = []
        for position in range(3):
            shape = list(self.shape3)
            shape[position] += 1
            face_shapes3.append(tuple(shape))
        # Work arrays per 3-D position (the kernels' view); unused positions stay zero.
        self.flux3 = [np.zeros(shape) for shape in face_shapes3]
        self.out_left3 = [np.zeros(shape) for shape in face_shapes3]
        self.out_right3 = [np.zeros(shape) for shape in face_shapes3]
        velocity3 = [np.zeros(shape) for shape in face_shapes3]
        # The same arrays indexed by grid axis.
        self.face_shapes = [face_shapes3[p] for p in self.layout]
        self.velocity = [velocity3[p] for p in self.layout]
        self.flux = [self.flux3[p] for p in self.layout]
        self.out_left = [self.out_left3[p] for p in self.layout]
        self.out_right = [self.out_right3[p] for p in self.layout]
        self.du = np.zeros(self.shape3)
        self._diffusion3 = np.zeros(3)
        self._face_coordinates: list[np.ndarray] | None = None
        # Reuse of Scharfetter–Gummel coefficients for linear drifts a(t) x: the drift
        # set by ``set_linear_drift`` and, once computed, the coefficients for the
        # reference (a0, D0) with which every (a, D) of the same ratio a/D is a scaling.
        self._linear_drift: tuple[float, float] | None = None
        self._velocity_stale = False
        self._cached_reference: tuple[float, float] | None = None
        self._cached_left: list[np.ndarray] = []
        self._cached_right: list[np.ndarray] = []
        self._matrix_pattern: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------- velocities
    @property
    def face_coordinates(self) -> list[np.ndarray]:
        """Per axis ``d < ndim``: the coordinate ``x_d`` at the faces normal to ``d``
        (face-array shape), for linear drifts ``v_d = a(t) x_d``."""
        if self._face_coordinates is None:
            coords = []
            for axis in range(self.grid.ndim):
                edges = np.asarray(self.grid.edges[axis])
                shape = [1, 1, 1]
                shape[self.layout[axis]] = edges.size
                coords.append(np.ascontiguousarray(
                    np.broadcast_to(edges.reshape(shape), self.face_shapes[axis])
                ))
            self._face_coordinates = coords
        return self._face_coordinates

    def set_linear_velocity(self, scale: float) -> None:
        """``v_d = scale * x_d`` on every face (the forward drift ``a(t) x``)."""
        for axis in range(self.grid.ndim):
            kernels.scale_into(
                self.face_coordinates[axis].ravel(), float(scale), self.velocity[axis].ravel()
            )

    def set_linear_drift(self, a: float, diffusion: float) -> None:
        """Velocity ``v = a x`` with diffusion ``D``: like :meth:`set_linear_velocity`,
        and lets :meth:`rhs` reuse Scharfetter–Gummel coefficients while ``a/D`` is
        unchanged (they scale with ``D``)."""
        self._linear_drift = (float(a), float(diffusion))
        # The face velocities are only materialised when a full evaluation needs them.
        self._velocity_stale = self._cache_scale(diffusion) is not None
        if not self._velocity_stale:
            self.set_linear_velocity(a)

    def _materialise_velocity(self) -> None:
        if self._velocity_stale and self._linear_drift is not None:
            self.set_linear_velocity(self._linear_drift[0])
        self._velocity_stale = False

    def _cache_scale(self, diffusion: float) -> float | None:
        """The factor relating the current coefficients to the cached ones, or None."""
        if self.scheme_id != kernels.SCHEME_SG or self._linear_drift is None:
            return None
        a, d = self._linear_drift
        if d <= 0 or d != diffusion or self._cached_reference is None:
            return None
        a0, d0 = self._cached_reference
        # Written so that a NaN drift falls through to the full (checked) evaluation.
        if not abs(a / d - a0 / d0) <= 1e-13 * max(1.0, abs(a0 / d0)):
            return None
        return d / d0

    def face_points(self, axis: int) -> np.ndarray:
        """Face centres normal to ``axis`` as ``(*face_shape[:ndim], ndim)``."""
        return self.grid.face_points(axis)

    def set_velocity(self, axis: int, values: np.ndarray) -> None:
        """Set the normal velocity on the faces of ``axis`` (grid face shape)."""
        self.velocity[axis][...] = np.reshape(values, self.face_shapes[axis])
        self._linear_drift = None
        self._velocity_stale = False

    # --------------------------------------------------------------- explicit
    def _face_fluxes(self, axis: int, u3: np.ndarray, diffusion: float, scheme_id: int) -> None:
        position = self.layout[axis]
        kernels.face_fluxes(
            u3, self.velocity[axis], float(diffusion), float(self.spacing3[position]), position,
            self.periodic3[position], scheme_id, self.flux[axis], self.out_left[axis],
            self.out_right[axis],
        )

    def rhs(self, u3: np.ndarray, diffusion: float) -> float:
        """Write ``L[u]`` into ``self.du`` (3-D padded) and return ``max_i c_i``."""
        scale = self._cache_scale(diffusion)
        if scale is None:
            self._materialise_velocity()
            for axis in range(self.grid.ndim):
                self._face_fluxes(axis, u3, diffusion, self.scheme_id)
            if self.scheme_id == kernels.SCHEME_SG and self._linear_drift is not None:
                if diffusion > 0 and self._linear_drift[1] == diffusion:
                    self._cached_left = [array.copy() for array in self.out_left3]
                    self._cached_right = [array.copy() for array in self.out_right3]
                    self._cached_reference = self._linear_drift
        else:
            return float(kernels.cached_divergence(
                u3, *self._cached_left, *self._cached_right, self.spacing3, scale, self.du
            ))
        for position in self.layout:
            self._diffusion3[position] = diffusion
        rate = kernels.divergence(
            *self.flux3, *self.out_left3, *self.out_right3, self.spacing3, self._diffusion3,
            self.scheme_id, self.du,
        )
        return float(rate)

    # --------------------------------------------------------------- implicit
    def _pattern(self) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """For every axis, the flat indices of the left and right cell of each
        interior (or periodic) face, in face-array order."""
        if self._matrix_pattern is None:
            index = np.arange(self.grid.size).reshape(self.shape3)
            pairs = []
            for axis in range(self.grid.ndim):
                position = self.layout[axis]
                n = self.shape3[position]
                faces = np.arange(n + 1)
                left = faces - 1
                right = faces.copy()
                keep = (faces > 0) & (faces < n)
                if self.periodic3[position]:
                    left[0], right[0] = n - 1, 0
                    keep[0] = True
                pairs.append((
                    np.take(index, left[keep], axis=position).ravel(),
                    np.take(index, right[keep], axis=position).ravel(),
                    keep,
                ))
            self._matrix_pattern = pairs
        return self._matrix_pattern

    def matrix(self, u3: np.ndarray, diffusion: float) -> sp.csc_matrix:
        """Sparse ``A`` with ``(A u)_i = -sum_d (F_{f+1} - F_f)/h_d`` for the
        Scharfetter–Gummel fluxes of the current velocity (upwind if ``D = 0``).

        Off-diagonals are ``>= 0`` and each column sums to zero.  ``u3`` only fixes
        the array layout (the operator is linear).
        """
        self._materialise_velocity()
        rows, cols, values = [], [], []
        for axis, (left, right, keep) in enumerate(self._pattern()):
            self._face_fluxes(axis, u3, diffusion, kernels.SCHEME_SG)
            position = self.layout[axis]
            h = self.spacing3[position]
            a = np.compress(keep, self.out_left[axis], axis=position).ravel() / h
            b = np.compress(keep, self.out_right[axis], axis=position).ravel() / h
            # F = a u_L - b u_R leaves L and enters R.
            rows += [left, right, left, right]
            cols += [left, left, right, right]
            values += [-a, a, b, -b]
        n = self.grid.size
        return sp.csc_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        )

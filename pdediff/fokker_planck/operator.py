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


def _padded(shape: tuple[int, ...]) -> tuple[int, int, int]:
    return tuple(shape) + (1,) * (3 - len(shape))  # type: ignore[return-value]


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
        self.shape3 = _padded(grid.shape)
        self.spacing3 = np.ones(3)
        self.spacing3[: grid.ndim] = grid.spacing
        self.periodic3 = [False, False, False]
        self.periodic3[: grid.ndim] = list(grid.periodic)
        self.face_shapes = []
        for axis in range(3):
            shape = list(self.shape3)
            shape[axis] += 1
            self.face_shapes.append(tuple(shape))
        self.velocity = [np.zeros(s) for s in self.face_shapes]
        self.flux = [np.zeros(s) for s in self.face_shapes]
        self.out_left = [np.zeros(s) for s in self.face_shapes]
        self.out_right = [np.zeros(s) for s in self.face_shapes]
        self.du = np.zeros(self.shape3)
        self._diffusion3 = np.zeros(3)
        self._face_coordinates: list[np.ndarray] | None = None
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
                shape[axis] = edges.size
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

    def face_points(self, axis: int) -> np.ndarray:
        """Face centres normal to ``axis`` as ``(*face_shape[:ndim], ndim)``."""
        return self.grid.face_points(axis)

    def set_velocity(self, axis: int, values: np.ndarray) -> None:
        """Set the normal velocity on the faces of ``axis`` (grid face shape)."""
        self.velocity[axis][...] = np.reshape(values, self.face_shapes[axis])

    # --------------------------------------------------------------- explicit
    def _face_fluxes(self, axis: int, u3: np.ndarray, diffusion: float, scheme_id: int) -> None:
        kernels.face_fluxes(
            u3, self.velocity[axis], float(diffusion), float(self.spacing3[axis]), axis,
            self.periodic3[axis], scheme_id, self.flux[axis], self.out_left[axis],
            self.out_right[axis],
        )

    def rhs(self, u3: np.ndarray, diffusion: float) -> float:
        """Write ``L[u]`` into ``self.du`` (3-D padded) and return ``max_i c_i``."""
        for axis in range(self.grid.ndim):
            self._face_fluxes(axis, u3, diffusion, self.scheme_id)
        self._diffusion3[: self.grid.ndim] = diffusion
        return float(
            kernels.divergence(
                *self.flux,
                *self.out_left,
                *self.out_right,
                self.spacing3,
                self._diffusion3,
                self.scheme_id,
                self.du,
            )
        )

    # --------------------------------------------------------------- implicit
    def _pattern(self) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """For every axis, the flat indices of the left and right cell of each
        interior (or periodic) face, in face-array order."""
        if self._matrix_pattern is None:
            index = np.arange(self.grid.size).reshape(self.shape3)
            pairs = []
            for axis in range(self.grid.ndim):
                n = self.shape3[axis]
                faces = np.arange(n + 1)
                left = faces - 1
                right = faces.copy()
                keep = (faces > 0) & (faces < n)
                if self.periodic3[axis]:
                    left[0], right[0] = n - 1, 0
                    keep[0] = True
                pairs.append((
                    np.take(index, left[keep], axis=axis).ravel(),
                    np.take(index, right[keep], axis=axis).ravel(),
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
        rows, cols, values = [], [], []
        for axis, (left, right, keep) in enumerate(self._pattern()):
            self._face_fluxes(axis, u3, diffusion, kernels.SCHEME_SG)
            h = self.spacing3[axis]
            a = np.compress(keep, self.out_left[axis], axis=axis).ravel() / h
            b = np.compress(keep, self.out_right[axis], axis=axis).ravel() / h
            # F = a u_L - b u_R leaves L and enters R.
            rows += [left, right, left, right]
            cols += [left, left, right, right]
            values += [-a, a, b, -b]
        n = self.grid.size
        return sp.csc_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        )

"""The finite-volume Fokker–Planck operator ``L[u] = -div(v u) + D Lap u`` on a grid.

:class:`FluxOperator` owns the work arrays of one solve (allocated once, reused by
every stage) and evaluates, for a face-velocity field ``v`` and a scalar diffusion
``D``:

* one fused explicit stage ``out = alpha u0 + beta (u + dt L u)`` with the largest
  outflow rate ``max_i c_i`` (a forward-Euler step of size ``dt`` is positive when
  ``dt max_i c_i <= 1``), the minimum, the mass and optionally the embedded error sum,
  in one pass over the cells (:func:`._kernels.stage`);
* the explicit right-hand side ``L[u]`` alone (:meth:`FluxOperator.rhs`);
* the sparse matrix of the Scharfetter–Gummel operator (upwind when ``D = 0``),
  whose off-diagonal entries are nonnegative and whose columns sum to zero, so that
  ``I - dt A`` is an M-matrix: backward Euler is positive for every ``dt`` and
  conserves mass.

A linear drift ``v = a(t) x`` (:meth:`FluxOperator.set_linear_velocity`) is
*separable*: on the faces normal to axis ``d`` it depends on ``x_d`` only, so its
face coefficients are 1-D arrays of length ``n_d + 1`` and no field-sized
coefficient or velocity array is built.  A general velocity field
(:meth:`FluxOperator.set_velocity`) uses full face arrays.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from .. import _validate
from ..grid import Grid
from . import _kernels as kernels
from . import _multistep, _reductions

SCHEMES = {"scharfetter_gummel": kernels.SCHEME_SG, "muscl": kernels.SCHEME_MUSCL}


# Grid axis d is stored at position AXIS_LAYOUT[ndim][d] of a 3-D array.  The last
# grid axis always goes innermost (position 2) so that the kernels' innermost loop
# runs along a long, contiguous axis (a 2-D field is (n0, 1, n1), not (n0, n1, 1)).
AXIS_LAYOUT = {1: (2,), 2: (0, 2), 3: (0, 1, 2)}

_EMPTY1 = np.zeros(1)
_EMPTY3 = np.zeros((1, 1, 1))


class FluxOperator:
    """Work space and evaluation of the flux-form operator on ``grid``.

    Parameters
    ----------
    grid
        The grid; fields are arrays of ``grid.shape``.
    scheme
        ``"scharfetter_gummel"`` or ``"muscl"`` for the explicit stages.
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
        self.periodic3 = np.zeros(3, dtype=np.bool_)
        for d, position in enumerate(self.layout):
            shape3[position] = grid.shape[d]
            self.spacing3[position] = grid.spacing[d]
            self.periodic3[position] = grid.periodic[d]
        self.shape3 = tuple(shape3)
        self.face_shapes = []
        for position in self.layout:
            shape = list(self.shape3)
            shape[position] += 1
            self.face_shapes.append(tuple(shape))
        self.du = np.zeros(self.shape3)
        self._dh3 = np.zeros(3)
        self._partial = np.zeros((_reductions._BLOCKS, 4))
        self._partial_bits = self._partial.view(np.int64)
        self._rates = np.zeros((_reductions._BLOCKS, self.shape3[2]))
        # Separable (linear-drift) storage: per 3-D position the face coordinates
        # x_d and the coefficients, all of length n_d + 1.
        self._edges1 = [np.zeros(1) for _ in range(3)]
        self._a1 = [_EMPTY1] * 3
        self._b1 = [_EMPTY1] * 3
        for d, position in enumerate(self.layout):
            n_faces = grid.shape[d] + 1
            self._edges1[position] = np.ascontiguousarray(grid.edges[d], dtype=float)
            self._a1[position] = np.zeros(n_faces)
            self._b1[position] = np.zeros(n_faces)
        # Field storage (face arrays), allocated on first use.
        self._velocity: list[np.ndarray] | None = None
        self._an = [_EMPTY3] * 3
        self._bn = [_EMPTY3] * 3
        self._separable = False
        self._scale = 0.0
        self._prepared: tuple[float, float, int] | None = None
        # The kernel's tuple arguments, built once (rebuilt when field arrays appear).
        self._a1t, self._b1t = tuple(self._a1), tuple(self._b1)
        self._ant, self._bnt = tuple(self._an), tuple(self._bn)
        self._matrix_pattern = None
        # Read-only copies: one array type (the kernel indexes the tuple at run time),
        # the type prepare() passes (no second compilation of the coefficient kernel).
        self._edges1t = tuple(np.array(edges, dtype=float) for edges in self._edges1)
        for edges in self._edges1t:
            edges.flags.writeable = False
        self._active3 = np.zeros(3, dtype=np.bool_)
        self._active3[list(self.layout)] = True

    # ------------------------------------------------------------- velocities
    def _field_arrays(self) -> list[np.ndarray]:
        if self._velocity is None:
            self._velocity = [np.zeros(shape) for shape in self.face_shapes]
            for axis, position in enumerate(self.layout):
                self._an[position] = np.zeros(self.face_shapes[axis])
                self._bn[position] = np.zeros(self.face_shapes[axis])
            self._ant, self._bnt = tuple(self._an), tuple(self._bn)
        return self._velocity

    @property
    def velocity(self) -> list[np.ndarray]:
        """Per grid axis, the normal face velocity as a (writable) face array; using
        it switches the operator to a general velocity field (a linear drift set
        before is written into it)."""
        arrays = self._field_arrays()
        if self._separable:
            for axis, position in enumerate(self.layout):
                shape = [1, 1, 1]
                shape[position] = -1
                arrays[axis][...] = self._scale * self._edges1[position].reshape(shape)
            self._separable = False
        return arrays

    def set_linear_velocity(self, scale: float) -> None:
        """``v_d = scale * x_d`` on every face (the drift ``a(t) x``), stored
        separably: 1-D per axis, no field-sized arrays."""
        self._separable = True
        self._scale = float(scale)

    def set_linear_drift(self, a: float, diffusion: float) -> None:
        """Velocity ``v = a x`` (``diffusion`` is passed to :meth:`prepare` per stage)."""
        self.set_linear_velocity(a)

    def face_points(self, axis: int) -> np.ndarray:
        """Face centres normal to ``axis`` as ``(*face_shape[:ndim], ndim)``."""
        return self.grid.face_points(axis)

    def set_velocity(self, axis: int, values: np.ndarray) -> None:
        """Set the normal velocity on the faces of ``axis`` (grid face shape)."""
        self.velocity[axis][...] = np.reshape(values, self.face_shapes[axis])

    # ------------------------------------------------------------ coefficients
    def prepare(self, diffusion: float, scheme_id: int | None = None) -> None:
        """Face coefficients ``A, B`` of the current velocity and ``D = diffusion``
        for the explicit scheme (or ``scheme_id``).  A separable drift whose scale,
        diffusion and scheme are those of the previous call keeps its coefficients
        (autonomous processes build them once per solve)."""
        scheme_id = self.scheme_id if scheme_id is None else scheme_id
        diffusion = float(diffusion)
        key = (self._scale, diffusion, scheme_id)
        if self._separable and key == self._prepared:
            return
        for axis, position in enumerate(self.layout):
            h = float(self.spacing3[position])
            self._dh3[position] = diffusion / (h * h)
            if self._separable:
                kernels.linear_face_coefficients(
                    self._edges1[position], self._scale, diffusion, h,
                    bool(self.periodic3[position]), scheme_id, self._a1[position],
                    self._b1[position],
                )
            else:
                kernels.face_coefficients(
                    self._field_arrays()[axis], diffusion, h, position,
                    bool(self.periodic3[position]), scheme_id, self._an[position],
                    self._bn[position],
                )
        self._prepared = key if self._separable else None

    def set_field_coefficients(self, diffusion: float) -> list[tuple[np.ndarray, np.ndarray]]:
        """Switch to field coefficients written by the caller (e.g. a compiled score
        kernel that evaluates face velocities and coefficients in one pass): returns
        per grid axis the ``(A, B)`` face arrays to fill."""
        self._field_arrays()
        self._separable = False
        self._prepared = None
        for position in self.layout:
            self._dh3[position] = float(diffusion) / float(self.spacing3[position]) ** 2
        return [(self._an[p], self._bn[p]) for p in self.layout]

    # --------------------------------------------------------------- explicit
    def stage(
        self,
        u3: np.ndarray,
        u0: np.ndarray,
        out: np.ndarray,
        alpha: float,
        beta: float,
        dt: float,
        error: tuple[float, float, float, float] | None = None,
        rhs_only: bool = False,
    ) -> tuple[float, float, float, float]:
        """``out = alpha u0 + beta (u3 + dt L u3)`` for the prepared coefficients;
        ``error = (error_in, error_0, atol, rtol)`` adds the embedded error sum.
        Returns ``(max_i c_i, min out, sum out, error_sum)``.  ``out`` must not overlap
        ``u3`` or ``u0`` (the kernel reads them while it writes ``out``)."""
        _validate.disjoint(out, "out", {"u3": u3, "u0": u0})
        error_in, error_0, atol, rtol = error if error is not None else (0.0, 0.0, 1.0, 0.0)
        rate, smallest, total, errors = kernels.stage(
            u3, u0, out, float(alpha), float(beta), float(dt), rhs_only, self._separable,
            self._a1t, self._b1t, self._ant, self._bnt, self._dh3,
            self.periodic3, self.scheme_id, float(error_in), float(error_0), float(atol),
            float(rtol), error is not None, self._partial, self._partial_bits, self._rates,
            numba.get_num_threads(),
        )
        return float(rate), float(smallest), float(total), float(errors)

    def linear_steps(
        self,
        fields: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        method_id: int,
        dts: np.ndarray,
        scales: np.ndarray,
        diffusions: np.ndarray,
        mass0: float,
        state: np.ndarray,
    ) -> tuple[int, int, int, int]:
        """Fixed explicit steps of the linear drift ``v = scales[q] x`` with diffusion
        ``diffusions[q]`` at stage ``q``, in one compiled call
        (:func:`._multistep.linear_steps`, same bits as stage-by-stage calls of
        :meth:`stage` after :meth:`prepare`).

        ``fields = (u, trial, stage1, stage2)`` (3-D work fields; the solution moves
        between ``u`` and ``trial``), ``method_id`` one of ``_multistep.EULER``,
        ``SSPRK2``, ``SSPRK3``, ``dts`` the step sizes, ``mass0`` the reference mass
        and ``state`` the bookkeeping array.  Returns ``(accepted, kind, stage,
        n_rhs)``; the operator is left prepared for the last stage run."""
        u, trial, stage1, stage2 = fields
        names = ("u", "trial", "stage1", "stage2")
        for k in range(3):
            _validate.disjoint(fields[k], names[k], dict(zip(names[k + 1:], fields[k + 1:])))
        done, kind, stage_index, n_rhs = _multistep.linear_steps(
            u, trial, stage1, stage2, method_id, dts, scales, diffusions, self._edges1t,
            self.spacing3, self.periodic3, self._active3, self.scheme_id, self._a1t,
            self._b1t, self._ant, self._bnt, self._dh3, float(mass0), self._partial,
            self._partial_bits, self._rates, state, numba.get_num_threads(),
        )
        if n_rhs:
            last = done * _multistep.STAGES[method_id] + (stage_index if kind else -1)
            self._separable = True
            self._scale = float(scales[last])
            self._prepared = (self._scale, float(diffusions[last]), self.scheme_id)
        return int(done), int(kind), int(stage_index), int(n_rhs)

    def rhs(self, u3: np.ndarray, diffusion: float) -> float:
        """Write ``L[u]`` into ``self.du`` (3-D padded) and return ``max_i c_i``."""
        self.prepare(diffusion)
        return self.stage(u3, u3, self.du, 0.0, 1.0, 0.0, rhs_only=True)[0]

    def error_norm(self, u_old, u_new, u_embedded, atol: float, rtol: float) -> float:
        """The RMS error norm of ``u_new - u_embedded`` (deterministic reduction)."""
        return float(_reductions.error_norm(
            u_old.ravel(), u_new.ravel(), u_embedded.ravel(), float(atol), float(rtol),
            self._partial,
        ))

    # --------------------------------------------------------------- implicit
    def _pattern(self):
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

    def matrix(self, u3: np.ndarray, diffusion: float, prepared: bool = False) -> sp.csc_matrix:
        """Sparse ``A`` with ``(A u)_i = -sum_d (F_{f+1} - F_f)/h_d`` for the
        Scharfetter–Gummel fluxes of the current velocity (upwind if ``D = 0``).

        Off-diagonals are ``>= 0`` and each column sums to zero.  ``u3`` only fixes
        the array layout (the operator is linear).  ``prepared``: the caller has
        already set Scharfetter–Gummel coefficients (see :meth:`prepare`).
        """
        if not prepared:
            self.prepare(diffusion, kernels.SCHEME_SG)
        rows, cols, values = [], [], []
        for axis, (left, right, keep) in enumerate(self._pattern()):
            position = self.layout[axis]
            if self._separable:
                shape = [1, 1, 1]
                shape[position] = -1
                coef_a = np.broadcast_to(self._a1[position].reshape(shape), self.face_shapes[axis])
                coef_b = np.broadcast_to(self._b1[position].reshape(shape), self.face_shapes[axis])
            else:
                coef_a, coef_b = self._an[position], self._bn[position]
            # The coefficient arrays hold A/h and B/h already.
            a = np.compress(keep, coef_a, axis=position).ravel()
            b = np.compress(keep, coef_b, axis=position).ravel()
            # F = a u_L - b u_R leaves L and enters R.
            rows += [left, right, left, right]
            cols += [left, left, right, right]
            values += [-a, a, b, -b]
        n = self.grid.size
        return sp.csc_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
        )

"""Uniform cell-centred grids in 1, 2 and 3 dimensions.

A :class:`Grid` covers the box ``prod_d [low_d, high_d]`` with ``shape[d]`` cells of
width ``spacing[d] = (high_d - low_d) / shape[d]`` along axis ``d``.  Fields on the grid
are arrays of *cell averages* with shape ``grid.shape``; a probability density ``p``
on the grid has ``grid.integrate(p) == 1``.

Each axis has a boundary kind: ``"noflux"`` (zero normal flux through the two walls;
the domain is closed) or ``"periodic"`` (the two walls are identified).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from . import _field_passes, _validate
from ._resources import aligned_empty, array_bytes, require_memory

BOUNDARY_KINDS = ("noflux", "periodic")


class Grid:
    """A uniform cell-centred grid.

    Parameters
    ----------
    bounds
        ``[(low_0, high_0), ..., (low_{n-1}, high_{n-1})]`` with ``low_d < high_d``;
        a single pair ``(low, high)`` is a 1-D grid.  Units of length.
    shape
        Number of cells per axis, an int (1-D, or the same for every axis) or a
        sequence of ``ndim`` ints, each ``>= 3``.
    bc
        ``"noflux"``, ``"periodic"``, or a sequence with one of these per axis.

    Attributes
    ----------
    ndim : int
    shape : tuple[int, ...]
    bounds : tuple[tuple[float, float], ...]
    spacing : numpy.ndarray, shape (ndim,)
    centers : tuple of 1-D arrays, ``centers[d][i] = low_d + (i + 1/2) spacing[d]``
    edges : tuple of 1-D arrays of length ``shape[d] + 1``
    cell_volume : float, ``prod(spacing)``
    bc : tuple[str, ...]
    """

    def __init__(
        self,
        bounds: Sequence[Sequence[float]] | Sequence[float],
        shape: int | Sequence[int],
        bc: str | Sequence[str] = "noflux",
    ) -> None:
        bounds_array = _as_bounds(bounds)
        ndim = bounds_array.shape[0]
        if ndim not in (1, 2, 3):
            raise ValueError(f"bounds: expected 1, 2 or 3 (low, high) pairs, got {ndim}")
        self.bounds: tuple[tuple[float, float], ...] = tuple(
            (float(low), float(high)) for low, high in bounds_array
        )
        self.shape: tuple[int, ...] = _as_shape(shape, ndim)
        self.bc: tuple[str, ...] = _as_bc(bc, ndim)
        # A grid on which not even one field fits is refused here, before anyone
        # allocates on it (the grid itself only holds 1-D arrays).
        require_memory(array_bytes(self.shape), "Grid: one float64 field", self.shape)
        self.ndim = ndim
        self.low = bounds_array[:, 0].copy()
        self.high = bounds_array[:, 1].copy()
        self.length = self.high - self.low
        self.spacing = self.length / np.asarray(self.shape, dtype=float)
        self.cell_volume = float(np.prod(self.spacing))
        self.edges = tuple(
            np.linspace(lo, hi, n + 1) for (lo, hi), n in zip(self.bounds, self.shape)
        )
        self.centers = tuple(0.5 * (e[1:] + e[:-1]) for e in self.edges)
        for array in (self.low, self.high, self.length, self.spacing, *self.edges, *self.centers):
            array.flags.writeable = False

    # ------------------------------------------------------------------ geometry
    @property
    def periodic(self) -> tuple[bool, ...]:
        """Per axis, whether the axis is periodic."""
        return tuple(kind == "periodic" for kind in self.bc)

    @property
    def size(self) -> int:
        """Total number of cells."""
        return int(np.prod(self.shape))

    def field_bytes(self, count: float = 1.0, trailing: tuple[int, ...] = (), itemsize: int = 8) -> float:
        """Bytes of ``count`` arrays of shape ``(*shape, *trailing)`` (float64 by
        default), computed without allocating (a float, so absurd sizes do not
        overflow).  ``points()`` needs ``field_bytes(1, (ndim,))``."""
        return array_bytes((*self.shape, *trailing), count, itemsize)

    def check_memory(self, count: float, what: str, extra_bytes: float = 0.0) -> None:
        """Raise ``MemoryError`` (shape, bytes needed, bytes available) before ``what``
        allocates ``count`` float64 fields on this grid plus ``extra_bytes``
        (:func:`pdediff._resources.require_memory`)."""
        require_memory(self.field_bytes(count) + float(extra_bytes), what, self.shape)

    @property
    def volume(self) -> float:
        """Volume of the domain, ``prod(high - low)``."""
        return float(np.prod(self.length))

    def points(self) -> np.ndarray:
        """Cell centres as an array of shape ``(*shape, ndim)``."""
        # meshgrid's ndim temporaries plus the stacked result.
        self.check_memory(2 * self.ndim, "Grid.points")
        mesh = np.meshgrid(*self.centers, indexing="ij")
        return np.stack(mesh, axis=-1)

    def face_points(self, axis: int) -> np.ndarray:
        """Centres of the faces normal to ``axis``, shape ``shape`` with
        ``shape[axis] + 1`` along ``axis``, then ``(ndim,)``.  Includes the two
        boundary faces (for a periodic axis the last equals the first, shifted by the
        period)."""
        axis = self._check_axis(axis)
        self.check_memory(2 * self.ndim * (1 + 1 / self.shape[axis]), "Grid.face_points")
        coords = [self.edges[d] if d == axis else self.centers[d] for d in range(self.ndim)]
        mesh = np.meshgrid(*coords, indexing="ij")
        return np.stack(mesh, axis=-1)

    def cell_index(self, x: np.ndarray) -> np.ndarray:
        """Index of the cell containing each point, shape ``(..., ndim)`` of ints;
        points outside the box are clipped to the nearest boundary cell (periodic
        axes wrap)."""
        x = _validate.points(x, "x", self.ndim)
        index = np.floor((x - self.low) / self.spacing).astype(np.int64)
        for d in range(self.ndim):
            if self.periodic[d]:
                index[..., d] %= self.shape[d]
            else:
                np.clip(index[..., d], 0, self.shape[d] - 1, out=index[..., d])
        return index

    def contains(self, x: np.ndarray) -> np.ndarray:
        """Boolean mask of points inside the closed box, shape ``x.shape[:-1]``."""
        x = _validate.points(x, "x", self.ndim, finite=False)
        return np.all((x >= self.low) & (x <= self.high), axis=-1)

    # ---------------------------------------------------------------- integrals
    def deposit(
        self,
        x: np.ndarray,
        weights: np.ndarray | None = None,
        *,
        method: Literal["nearest", "cic"] = "nearest",
        outside: Literal["clip", "raise"] = "clip",
    ) -> np.ndarray:
        """Deposit a weighted particle cloud onto this grid as a density (the one
        particle-to-grid deposit of the package).

        With normalised weights ``w_k`` (sum 1) the returned density is
        ``p_i = (1/dV) sum_k w_k W_i(x_k)`` where ``sum_i W_i(x) = 1`` for every ``x``,
        so ``self.integrate(p) == 1`` to round-off (mass conservation).

        * ``method="nearest"``: ``W_i(x) = 1`` for the cell containing ``x`` (nearest
          cell centre): the usual histogram with the grid's cell edges.
        * ``method="cic"``: cloud-in-cell, the tensor product of the linear hat
          functions centred at the cell centres.  It conserves mass and the centre of
          mass exactly for particles between the first and last cell centres on every
          no-flux axis (modulo the period on periodic axes).  Between a no-flux wall
          and the first centre the hat that would fall outside is folded into the
          boundary cell: mass is still conserved, the first moment moves by < h/2.

        Particles outside the box: periodic axes wrap.  On no-flux axes
        ``outside="clip"`` moves them to the nearest point of the box (their mass
        lands in the boundary cell); ``outside="raise"`` raises ``ValueError``.

        Parameters
        ----------
        x : array, shape ``(N, ndim)`` (``(N,)`` in 1-D)
            Positions, length units.
        weights : array, shape ``(N,)``, optional
            Nonnegative weights, normalised to sum 1 (uniform if omitted).
        method, outside : see above.

        Returns
        -------
        ndarray of shape ``self.shape``: cell averages of the density, integral 1.
        """
        points = _validate.points(x, "x", flat=True)
        if points.shape[1] != self.ndim:
            raise ValueError(
                f"x: expected {self.ndim} coordinates per particle (the grid's ndim), "
                f"got shape {np.shape(x)}"
            )
        w = _validate.weights(weights, points.shape[0], "weights")
        _validate.choice(method, "method", ("nearest", "cic"))
        _validate.choice(outside, "outside", ("clip", "raise"))
        walled = ~np.asarray(self.periodic)
        out = np.any(((points < self.low) | (points > self.high)) & walled, axis=1)
        if outside == "raise" and np.any(out):
            raise ValueError(
                f"x: {int(out.sum())} of {points.shape[0]} particles lie outside the box "
                f"{list(self.bounds)} on a no-flux axis; use outside='clip' to put them "
                "in the boundary cells"
            )
        shape = np.asarray(self.shape)
        if method == "nearest":
            # cell_index clips no-flux axes and wraps periodic ones.
            index = self.cell_index(points)
            flat = np.ravel_multi_index(tuple(index.T), self.shape)
            mass = np.bincount(flat, weights=w, minlength=self.size)
        else:
            clipped = np.where(walled, np.clip(points, self.low, self.high), points)
            s = (clipped - self.low) / self.spacing - 0.5
            left = np.floor(s).astype(np.int64)
            frac = s - left
            mass = np.zeros(self.size)
            for corner in itertools.product((0, 1), repeat=self.ndim):
                offset = np.asarray(corner)
                idx = left + offset
                # Periodic: wrap; no-flux: fold the outer half-hat into the boundary cell.
                idx = np.where(walled, np.clip(idx, 0, shape - 1), np.mod(idx, shape))
                share = np.prod(np.where(offset == 1, frac, 1.0 - frac), axis=1)
                flat = np.ravel_multi_index(tuple(idx.T), self.shape)
                mass += np.bincount(flat, weights=w * share, minlength=self.size)
        return mass.reshape(self.shape) / self.cell_volume

    def integrate(self, field: np.ndarray) -> float | np.ndarray:
        """Integral ``sum_cells field * cell_volume`` over the domain.

        ``field`` has shape ``(..., *shape)``; leading axes are kept (a float for a
        single field).  Exact for cell averages.
        """
        field = _validate.real_array(field, "field", finite=False)
        if field.shape[field.ndim - self.ndim :] != self.shape:
            raise ValueError(
                f"field: expected trailing shape {self.shape}, got {field.shape}"
            )
        axes = tuple(range(field.ndim - self.ndim, field.ndim))
        total = np.sum(field, axis=axes) * self.cell_volume
        return float(total) if np.ndim(total) == 0 else total

    def normalize(self, field: np.ndarray) -> np.ndarray:
        """``field / integrate(field)``: a probability density on the grid."""
        field = _validate.real_array(field, "field", finite=False)
        mass = self.integrate(field)
        if not np.all(np.asarray(mass) > 0):
            raise ValueError("field: total mass must be positive to normalise")
        return field / np.reshape(mass, np.shape(mass) + (1,) * self.ndim)

    def check_field(self, p: np.ndarray, name: str = "p") -> np.ndarray:
        """Validate ``p`` as a real finite field of this grid's shape (any sign);
        returns it as float64 (a view when it already is)."""
        p = np.asarray(p)
        if p.dtype.kind not in "fiu":
            raise TypeError(f"{name}: expected a real array, got dtype {p.dtype}")
        if p.shape != self.shape:
            raise ValueError(f"{name}: expected shape {self.shape} (the grid), got {p.shape}")
        if not np.all(np.isfinite(p)):
            raise ValueError(f"{name}: contains NaN or inf")
        return p.astype(np.float64, copy=False)

    def check_density(self, p: np.ndarray, name: str = "p", copy: bool = True) -> np.ndarray:
        """Validate ``p`` as a nonnegative finite field on this grid; returns a
        C-contiguous float64 copy aligned for the vectorised kernels
        (:func:`pdediff._resources.aligned_empty`, ``-0.0`` turned into ``+0.0``), or
        with ``copy=False`` the validated float64 array itself (possibly ``p``: read
        it, do not modify it)."""
        p = np.asarray(p)
        if p.dtype.kind in "fiu" and p.shape == self.shape:
            p = np.ascontiguousarray(p, dtype=np.float64)
            # One pass (sum and the smallest bit pattern): a finite sum proves every
            # value finite (NaN and inf propagate into it, unless it overflows, which
            # the full check below sorts out); a nonnegative smallest pattern proves
            # every value nonnegative and is the minimum's.
            total, bits = _field_passes.sum_min_bits(p.reshape(-1))
            if not math.isfinite(total):
                p = self.check_field(p, name)
            smallest = float(np.min(p)) if bits < 0 else float(np.int64(bits).view(np.float64))
        else:
            p = self.check_field(p, name)
            total, smallest = float(np.sum(p)), float(np.min(p))
        if smallest < 0:
            raise ValueError(f"{name}: must be nonnegative, min is {smallest:.3g}")
        if not total * self.cell_volume > 0:
            raise ValueError(f"{name}: total mass must be positive")
        if not copy:
            return p.astype(np.float64, copy=False)
        out = aligned_empty(p.shape)
        # + 0.0 turns -0.0 into +0.0 (and changes nothing else): the kernels' sign
        # checks then see no negative zero that the input did not mean.
        np.add(p, 0.0, out=out)
        return out

    # ------------------------------------------------------------ conversions
    def refined(self, factor: int = 2) -> Grid:
        """The same box with ``factor`` times as many cells per axis."""
        factor = _validate.positive_int(factor, "factor")
        return Grid(self.bounds, tuple(n * int(factor) for n in self.shape), self.bc)

    def coarsen(self, field: np.ndarray, factor: int = 2) -> np.ndarray:
        """Cell averages on the grid with ``factor`` times fewer cells per axis
        (mass-conserving block averages); each ``shape[d]`` must be divisible."""
        factor = _validate.positive_int(factor, "factor")
        field = _validate.real_array(field, "field", finite=False)
        if field.shape != self.shape:
            raise ValueError(f"field: expected shape {self.shape}, got {field.shape}")
        if any(n % factor for n in self.shape):
            raise ValueError(f"factor: {factor} does not divide shape {self.shape}")
        new_shape: list[int] = []
        for n in self.shape:
            new_shape += [n // factor, factor]
        blocks = field.reshape(new_shape)
        return blocks.mean(axis=tuple(range(1, 2 * self.ndim, 2)))

    def to_dict(self) -> dict[str, Any]:
        """JSON/HDF5-friendly description; ``Grid.from_dict`` inverts it."""
        return {
            "bounds": [list(b) for b in self.bounds],
            "shape": list(self.shape),
            "bc": list(self.bc),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Grid:
        return cls(data["bounds"], data["shape"], data["bc"])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Grid):
            return NotImplemented
        return (self.bounds, self.shape, self.bc) == (other.bounds, other.shape, other.bc)

    def __hash__(self) -> int:
        return hash((self.bounds, self.shape, self.bc))

    def __repr__(self) -> str:
        bc = self.bc[0] if len(set(self.bc)) == 1 else list(self.bc)
        return f"Grid(bounds={list(self.bounds)}, shape={self.shape}, bc={bc!r})"

    def _check_axis(self, axis: int) -> int:
        return _validate.integer(axis, "axis", -self.ndim, self.ndim - 1) % self.ndim


def _as_bounds(bounds: Any) -> np.ndarray:
    array = _validate.real_array(bounds, "bounds", finite=False)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"bounds: expected (low, high) pairs, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("bounds: must be finite")
    if np.any(array[:, 1] <= array[:, 0]):
        raise ValueError(f"bounds: each pair needs low < high, got {array.tolist()}")
    return array


def _as_shape(shape: Any, ndim: int) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        values = [int(shape)] * ndim
    else:
        try:
            values = list(shape)
        except TypeError as error:
            raise TypeError(f"shape: expected an int or a sequence of ints, got {shape!r}") from error
        if len(values) != ndim:
            raise ValueError(f"shape: expected {ndim} entries (one per axis), got {len(values)}")
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
            raise TypeError(f"shape: entries must be ints, got {values!r}")
    if any(v < 3 for v in values):
        raise ValueError(f"shape: need at least 3 cells per axis, got {values}")
    return tuple(int(v) for v in values)


def _as_bc(bc: Any, ndim: int) -> tuple[str, ...]:
    if isinstance(bc, str):
        kinds = [bc] * ndim
    else:
        try:
            kinds = list(bc)
        except TypeError as error:
            raise TypeError(
                f"bc: expected one of {BOUNDARY_KINDS} or a sequence of them, got {bc!r}"
            ) from error
    if len(kinds) != ndim:
        raise ValueError(f"bc: expected one boundary kind per axis ({ndim}), got {len(kinds)}")
    for kind in kinds:
        if not isinstance(kind, str) or kind not in BOUNDARY_KINDS:
            raise ValueError(f"bc: expected one of {BOUNDARY_KINDS}, got {kind!r}")
    return tuple(kinds)

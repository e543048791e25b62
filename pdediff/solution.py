"""The result object of the grid solvers, and its HDF5 round trip."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ._version import __version__
from .grid import Grid
from .io import atomic_h5, read_attrs, write_attrs
from .processes import ForwardProcess, process_from_dict


@dataclass
class Solution:
    """Densities on a grid at the requested times, as ``solve_ivp`` returns them.

    Attributes
    ----------
    t : ndarray, shape (nt,)
        Forward times of the snapshots (increasing for forward solves, decreasing
        from ``T`` for reverse solves).
    p : ndarray, shape (nt, *grid.shape)
        Cell averages of the density at each time in ``t``.
    grid : Grid
    process : ForwardProcess
    metadata : dict
        Solver settings and statistics: ``direction`` (``"forward"``/``"reverse"``),
        ``method``, ``scheme``, ``eps``, ``n_steps``, ``n_explicit``, ``n_implicit``,
        ``n_rejected``, ``max_mass_error`` (relative), ``min_density``,
        ``wall_time`` in seconds, and the tolerances.
    """

    t: np.ndarray
    p: np.ndarray
    grid: Grid
    process: ForwardProcess
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def mass(self) -> np.ndarray:
        """Total mass of each snapshot, shape (nt,)."""
        return np.asarray(self.grid.integrate(self.p))

    def at(self, t: float) -> np.ndarray:
        """Snapshot at a stored time ``t`` (exact match up to 1e-12 relative)."""
        index = np.flatnonzero(np.isclose(self.t, t, rtol=1e-12, atol=0.0))
        if index.size == 0:
            raise ValueError(f"t: {t!r} is not one of the stored times {self.t.tolist()}")
        return self.p[index[0]]

    def save(self, path: str | os.PathLike) -> Path:
        """Write to HDF5 atomically (temporary file + rename); returns the path."""
        with atomic_h5(path) as file:
            file.attrs["pdediff_version"] = __version__
            file.attrs["kind"] = "Solution"
            file.create_dataset("t", data=self.t)
            file.create_dataset("p", data=self.p, compression="gzip", shuffle=True)
            write_attrs(file.create_group("grid"), self.grid.to_dict())
            write_attrs(file.create_group("process"), self.process.to_dict())
            write_attrs(file.create_group("metadata"), self.metadata)
        return Path(path)

    def __repr__(self) -> str:
        return (
            f"Solution(t=[{self.t[0]:.4g} .. {self.t[-1]:.4g}] ({self.t.size}), "
            f"grid={self.grid!r}, process={self.process!r}, "
            f"method={self.metadata.get('method')!r})"
        )


def load(path: str | os.PathLike) -> Solution:
    """Read a :class:`Solution` written by :meth:`Solution.save`."""
    with h5py.File(path, "r") as file:
        if file.attrs.get("kind") != "Solution":
            raise ValueError(f"path: {path} does not hold a pdediff Solution")
        grid = Grid.from_dict(read_attrs(file["grid"]))
        process = process_from_dict(read_attrs(file["process"]))
        return Solution(
            t=file["t"][()],
            p=file["p"][()],
            grid=grid,
            process=process,
            metadata=read_attrs(file["metadata"]),
        )

"""Result objects of the grid solvers (:class:`Solution`) and the particle samplers
(:class:`ParticleSolution`), and their HDF5 round trips."""

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


@dataclass
class ParticleSolution:
    """Particles of a reverse (or forward) sampler at the requested times.

    Attributes
    ----------
    t : ndarray, shape (nt,)
        Forward times of the snapshots; for :func:`reverse` strictly decreasing from
        ``T`` to ``t0``.
    x : ndarray, shape (nt, N, ndim)
        Particle positions at each time in ``t`` (units of the data).
    process : ForwardProcess
    log_q : ndarray, shape (nt, N), or None
        Tracked log-density ``log q(X_t, t)`` of each particle (ODE only).
    metadata : dict
        Sampler settings and statistics: ``method``, ``eps``, ``n_steps``,
        ``time_grid``, ``corrector``, ``snr``, ``corrector_steps``, ``chunk_size``,
        ``seed_entropy`` (string), ``divergence``, ``n_score_calls``, ``wall_time``
        in seconds, ``workers``, ``numba_threads``.
    """

    t: np.ndarray
    x: np.ndarray
    process: ForwardProcess
    log_q: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_particles(self) -> int:
        return int(self.x.shape[1])

    @property
    def ndim(self) -> int:
        return int(self.x.shape[2])

    def _index(self, t: float) -> int:
        index = np.flatnonzero(np.isclose(self.t, t, rtol=1e-12, atol=0.0))
        if index.size == 0:
            raise ValueError(f"t: {t!r} is not one of the stored times {self.t.tolist()}")
        return int(index[0])

    def at(self, t: float) -> np.ndarray:
        """Particles, shape (N, ndim), at a stored time ``t`` (match to 1e-12 relative)."""
        return self.x[self._index(t)]

    def log_q_at(self, t: float) -> np.ndarray:
        """Tracked log-density, shape (N,), at a stored time ``t``."""
        if self.log_q is None:
            raise ValueError("log_q: this solution was computed without track_log_density")
        return self.log_q[self._index(t)]

    def save(self, path: str | os.PathLike) -> Path:
        """Write to HDF5 atomically; :func:`load_particles` reads it back."""
        with atomic_h5(path) as file:
            file.attrs["pdediff_version"] = __version__
            file.attrs["kind"] = "ParticleSolution"
            file.create_dataset("t", data=self.t)
            file.create_dataset("x", data=self.x)
            if self.log_q is not None:
                file.create_dataset("log_q", data=self.log_q)
            write_attrs(file.create_group("process"), self.process.to_dict())
            write_attrs(file.create_group("metadata"), self.metadata)
        return Path(path)

    def __repr__(self) -> str:
        return (
            f"ParticleSolution(t=[{self.t[0]:.4g} .. {self.t[-1]:.4g}] ({self.t.size}), "
            f"N={self.n_particles}, ndim={self.ndim}, process={self.process!r}, "
            f"method={self.metadata.get('method')!r}, eps={self.metadata.get('eps')!r})"
        )


def load_particles(path: str | os.PathLike) -> ParticleSolution:
    """Read a :class:`ParticleSolution` written by :meth:`ParticleSolution.save`."""
    with h5py.File(path, "r") as file:
        if file.attrs.get("kind") != "ParticleSolution":
            raise ValueError(f"path: {path} does not hold a pdediff ParticleSolution")
        return ParticleSolution(
            t=file["t"][()],
            x=file["x"][()],
            process=process_from_dict(read_attrs(file["process"])),
            log_q=file["log_q"][()] if "log_q" in file else None,
            metadata=read_attrs(file["metadata"]),
        )

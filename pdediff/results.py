"""Result objects of the grid solvers (:class:`Solution`) and the particle samplers
(:class:`ParticleSolution`), their self-describing HDF5 files and xarray views.

File layout (``format_version`` 2)
----------------------------------
A :class:`Solution` file holds, at the root,

* dimension scales ``t`` (forward time) and ``x``, ``y``, ``z`` (``x0, x1, ...`` past
  three axes): the cell-centre coordinates, each with ``long_name``, ``units``, the
  axis' boundary kind ``bc`` and its cell ``edges``;
* the dataset ``p`` of dimensions ``(t, x, ...)``: cell averages of the density, with
  ``long_name``, ``units``, ``cell_method = "cell average"`` and the grid's ``bounds``
  (shape (ndim, 2)) and ``bc``;
* root attributes ``kind = "Solution"``, ``format_version``, ``pdediff_version``,
  ``title``, ``bounds``, ``bc``, ``process_name``, ``process_json`` and
  ``metadata_json`` (JSON copies of the groups below, for readers without h5py);
* groups ``grid``, ``process`` and ``metadata`` whose attributes
  (:func:`pdediff.io.write_attrs`) are what :func:`load` rebuilds the objects from.

A :class:`ParticleSolution` file has dimension scales ``t``, ``particle`` (0..N-1) and
``component`` (0..ndim-1), the dataset ``x`` of dimensions ``(t, particle,
component)``, optionally ``log_q`` of dimensions ``(t, particle)``, and the same root
attributes and ``process``/``metadata`` groups (``kind = "ParticleSolution"``).

Lengths are in the units of the data and time is the dimensionless time of the
process; both are written ``units = "1"``, and so is the density (per unit volume of
data units).  ``xarray.open_dataset(path, engine="h5netcdf")`` shows named dimensions
with these coordinates; :meth:`Solution.to_xarray` builds the same dataset in memory.
Files written by earlier versions (no dimension scales) are still read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from . import _validate
from ._version import __version__
from .grid import Grid
from .io import (
    FileFormatError,
    _jsonable,
    atomic_h5,
    axis_names,
    grid_coordinates,
    open_h5,
    read_attrs,
    write_attrs,
    write_coordinate,
    write_dataset,
)
from .processes import ForwardProcess, process_from_dict

__all__ = ["Solution", "ParticleSolution", "load", "load_particles", "axis_names", "FORMAT_VERSION"]

FORMAT_VERSION = 2
_TIME = {"long_name": "forward time t of the noising process", "units": "1"}


def _json(value: Any) -> str:
    return json.dumps(_jsonable(value), default=str)


def _process_attrs(process: ForwardProcess, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "process_name": process.name,
        "process_json": _json(process.to_dict()),
        "metadata_json": _json(metadata),
    }


# A layout is (root attributes, [(coordinate, values, attrs)], [(name, data, dims, attrs)]):
# the one description both the HDF5 writer and to_xarray use.
Layout = tuple[dict[str, Any], list[tuple[str, np.ndarray, dict]], list[tuple[str, np.ndarray, tuple, dict]]]


def _to_xarray(layout: Layout):
    import xarray as xr

    root, coords, variables = layout
    return xr.Dataset(
        {name: (dims, data, attrs) for name, data, dims, attrs in variables},
        coords={name: (name, values, attrs) for name, values, attrs in coords},
        attrs=root,
    )


def _write_layout(file: h5py.File, layout: Layout, compress: set[str]) -> None:
    root, coords, variables = layout
    write_attrs(file, root)
    for name, values, attrs in coords:
        write_coordinate(file, name, values, long_name=attrs["long_name"],
                         units=attrs["units"],
                         attrs={k: v for k, v in attrs.items() if k not in ("long_name", "units")})
    for name, data, dims, attrs in variables:
        write_dataset(file, name, data, dims, long_name=attrs["long_name"], units=attrs["units"],
                      attrs={k: v for k, v in attrs.items() if k not in ("long_name", "units")},
                      compress=name in compress)


@dataclass
class Solution:
    """Densities on a grid at the requested times, as ``solve_ivp`` returns them.

    Attributes
    ----------
    t : ndarray, shape (nt,)
        Forward times of the snapshots (increasing for forward solves, decreasing
        from ``T`` for reverse solves).
    p : ndarray, shape ``(nt, *grid.shape)``
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

    def __post_init__(self) -> None:
        if not isinstance(self.grid, Grid):
            raise TypeError(f"grid: expected a pdediff.Grid, got {type(self.grid).__name__}")
        self.process = _validate.process(self.process)
        self.t = _validate.times(self.t, "t")
        self.p = _validate.real_array(self.p, "p", finite=False)
        if self.p.shape != (self.t.size, *self.grid.shape):
            raise ValueError(
                f"p: expected shape {(self.t.size, *self.grid.shape)} (len(t) snapshots on the "
                f"grid), got {self.p.shape}"
            )
        if not isinstance(self.metadata, dict):
            raise TypeError(f"metadata: expected a dict, got {type(self.metadata).__name__}")

    @property
    def mass(self) -> np.ndarray:
        """Total mass of each snapshot, shape (nt,)."""
        return np.asarray(self.grid.integrate(self.p))

    def at(self, t: float) -> np.ndarray:
        """Snapshot at a stored time ``t`` (exact match up to 1e-12 relative)."""
        t = _validate.real(t, "t")
        index = np.flatnonzero(np.isclose(self.t, t, rtol=1e-12, atol=0.0))
        if index.size == 0:
            raise ValueError(f"t: {t!r} is not one of the stored times {self.t.tolist()}")
        return self.p[index[0]]

    def _layout(self) -> Layout:
        grid = self.grid
        names = axis_names(grid.ndim)
        direction = self.metadata.get("direction", "")
        root = {
            "kind": "Solution",
            "format_version": FORMAT_VERSION,
            "pdediff_version": __version__,
            "title": f"pdediff {direction} solve: density under {self.process!r}".replace("  ", " "),
            "bounds": np.asarray(grid.bounds, dtype=float),
            "bc": list(grid.bc),
            **_process_attrs(self.process, self.metadata),
        }
        coords = [("t", np.asarray(self.t, dtype=float), dict(_TIME)), *grid_coordinates(grid)]
        p_attrs = {
            "long_name": "probability density p(x, t), cell averages",
            "units": "1",
            "cell_method": "cell average",
            "bounds": np.asarray(grid.bounds, dtype=float),
            "bc": list(grid.bc),
        }
        return root, coords, [("p", np.asarray(self.p), ("t", *names), p_attrs)]

    def to_xarray(self):
        """The solution as an ``xarray.Dataset``: variable ``p`` of dimensions
        ``(t, x, ...)`` with the cell-centre coordinates, the same attributes as the
        HDF5 file (requires xarray)."""
        return _to_xarray(self._layout())

    def save(self, path: str | os.PathLike) -> Path:
        """Write the self-describing HDF5 file described in :mod:`pdediff.results`
        atomically (temporary file + rename, :func:`pdediff.io.atomic_h5`); returns
        the path."""
        with atomic_h5(path) as file:
            _write_layout(file, self._layout(), compress={"p"})
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

    def __post_init__(self) -> None:
        self.process = _validate.process(self.process)
        self.t = _validate.times(self.t, "t")
        self.x = _validate.real_array(self.x, "x", finite=False)
        if self.x.ndim != 3 or self.x.shape[0] != self.t.size:
            raise ValueError(
                f"x: expected shape ({self.t.size}, N, ndim) (len(t) snapshots of N particles), "
                f"got {self.x.shape}"
            )
        if self.log_q is not None:
            self.log_q = _validate.real_array(self.log_q, "log_q", finite=False)
            if self.log_q.shape != self.x.shape[:2]:
                raise ValueError(f"log_q: expected shape {self.x.shape[:2]}, got {self.log_q.shape}")
        if not isinstance(self.metadata, dict):
            raise TypeError(f"metadata: expected a dict, got {type(self.metadata).__name__}")

    @property
    def n_particles(self) -> int:
        return int(self.x.shape[1])

    @property
    def ndim(self) -> int:
        return int(self.x.shape[2])

    def _index(self, t: float) -> int:
        t = _validate.real(t, "t")
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

    def _layout(self) -> Layout:
        names = axis_names(self.ndim)
        root = {
            "kind": "ParticleSolution",
            "format_version": FORMAT_VERSION,
            "pdediff_version": __version__,
            "title": f"pdediff particles ({self.metadata.get('method', 'sampler')}) under "
            f"{self.process!r}",
            **_process_attrs(self.process, self.metadata),
        }
        coords = [
            ("t", np.asarray(self.t, dtype=float), dict(_TIME)),
            ("particle", np.arange(self.n_particles, dtype=np.int64),
             {"long_name": "particle index", "units": "1"}),
            ("component", np.arange(self.ndim, dtype=np.int64),
             {"long_name": "coordinate index ("
              + ", ".join(f"{i} = {n}" for i, n in enumerate(names)) + ")", "units": "1"}),
        ]
        variables = [("x", np.asarray(self.x), ("t", "particle", "component"),
                      {"long_name": "particle position X_t", "units": "1"})]
        if self.log_q is not None:
            variables.append(("log_q", np.asarray(self.log_q), ("t", "particle"),
                              {"long_name": "tracked log-density log q(X_t, t)", "units": "1"}))
        return root, coords, variables

    def to_xarray(self):
        """The particles as an ``xarray.Dataset``: ``x`` of dimensions ``(t, particle,
        component)`` and ``log_q`` of ``(t, particle)`` if tracked (requires xarray)."""
        return _to_xarray(self._layout())

    def save(self, path: str | os.PathLike) -> Path:
        """Write the self-describing HDF5 file described in :mod:`pdediff.results`
        atomically; :func:`load_particles` reads it back."""
        with atomic_h5(path) as file:
            _write_layout(file, self._layout(), compress=set())
            write_attrs(file.create_group("process"), self.process.to_dict())
            write_attrs(file.create_group("metadata"), self.metadata)
        return Path(path)

    def __repr__(self) -> str:
        return (
            f"ParticleSolution(t=[{self.t[0]:.4g} .. {self.t[-1]:.4g}] ({self.t.size}), "
            f"N={self.n_particles}, ndim={self.ndim}, process={self.process!r}, "
            f"method={self.metadata.get('method')!r}, eps={self.metadata.get('eps')!r})"
        )


# --------------------------------------------------------------------------- reading
def _kind(file: h5py.File, path: Any) -> str:
    kind = file.attrs.get("kind")
    if isinstance(kind, bytes):
        kind = kind.decode()
    if kind not in ("Solution", "ParticleSolution"):
        raise FileFormatError(
            f"{path}: not a pdediff Solution or ParticleSolution file (root attribute "
            f"kind = {kind!r})"
        )
    return kind


def _real(file: h5py.File, name: str, path: Any, ndim: int) -> np.ndarray:
    if name not in file or not isinstance(file[name], h5py.Dataset):
        raise FileFormatError(f"{path}: dataset {name!r} is missing")
    data = file[name][()]
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "fiu" or data.ndim != ndim:
        raise FileFormatError(
            f"{path}: dataset {name!r} must be a {ndim}-D real array, got "
            f"{getattr(data, 'dtype', type(data))} of shape {np.shape(data)}"
        )
    return data


def _expect_shape(data: np.ndarray, expected: tuple[int, ...], name: str, path: Any, why: str) -> None:
    if data.shape != expected:
        raise FileFormatError(
            f"{path}: dataset {name!r} has shape {data.shape}, expected {expected} ({why})"
        )


def _read_solution(file: h5py.File, path: Any) -> Solution:
    grid = Grid.from_dict(read_attrs(file["grid"]))
    t = _real(file, "t", path, 1)
    p = _real(file, "p", path, 1 + grid.ndim)
    _expect_shape(p, (t.size, *grid.shape), "p", path, f"{t.size} times on the grid {grid!r}")
    for d, name in enumerate(axis_names(grid.ndim)):
        if name in file and not np.allclose(file[name][()], grid.centers[d], rtol=1e-12, atol=0):
            raise FileFormatError(
                f"{path}: coordinate {name!r} differs from the cell centres of {grid!r}"
            )
    return Solution(t=t, p=p, grid=grid, process=process_from_dict(read_attrs(file["process"])),
                    metadata=read_attrs(file["metadata"]))


def _read_particles(file: h5py.File, path: Any) -> ParticleSolution:
    t = _real(file, "t", path, 1)
    x = _real(file, "x", path, 3)
    if x.shape[0] != t.size:
        raise FileFormatError(
            f"{path}: dataset 'x' has shape {x.shape}, expected ({t.size}, N, ndim) "
            f"({t.size} times)"
        )
    log_q = None
    if "log_q" in file:
        log_q = _real(file, "log_q", path, 2)
        _expect_shape(log_q, x.shape[:2], "log_q", path, "one value per time and particle")
    return ParticleSolution(t=t, x=x, process=process_from_dict(read_attrs(file["process"])),
                            log_q=log_q, metadata=read_attrs(file["metadata"]))


def _read(path: str | os.PathLike, want: str | None) -> Solution | ParticleSolution:
    with open_h5(path) as file:
        kind = _kind(file, path)
        if want is not None and kind != want:
            raise FileFormatError(f"{path}: holds a pdediff {kind}, not a {want}")
        try:
            reader = _read_solution if kind == "Solution" else _read_particles
            return reader(file, path)
        except FileFormatError:
            raise
        except (KeyError, OSError, RuntimeError, TypeError, ValueError) as error:
            raise FileFormatError(f"{path}: damaged or inconsistent pdediff {kind} file: {error}") from error


def load(path: str | os.PathLike) -> Solution | ParticleSolution:
    """Read a file written by :meth:`Solution.save` (or :meth:`ParticleSolution.save`).

    Every dataset's shape is checked against the stored grid (``p`` must have shape
    ``(len(t), *grid.shape)``).  Raises ``FileNotFoundError`` if ``path`` does not
    exist and :class:`pdediff.io.FileFormatError` (a ``ValueError``) naming the file
    for anything that is not a consistent pdediff file: garbage bytes, a truncated
    file, another program's HDF5 file, shapes that contradict the grid.
    """
    return _read(path, None)


def load_particles(path: str | os.PathLike) -> ParticleSolution:
    """Read a :class:`ParticleSolution` written by :meth:`ParticleSolution.save`
    (errors as :func:`load`)."""
    return _read(path, "ParticleSolution")  # type: ignore[return-value]

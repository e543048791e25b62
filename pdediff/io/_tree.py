"""Nested mappings as HDF5 groups, with named dimensions: :class:`Labelled`,
:func:`write_tree`, :func:`read_tree`, :func:`save_tree`, :func:`load_tree`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ._atomic import FileFormatError, atomic_h5, open_h5
from ._attrs import _is_numeric_array, read_attrs, write_attrs
from ._datasets import (
    grid_coordinates,
    is_dimension_only,
    write_coordinate,
    write_dataset,
    write_dimension,
)

#: Attribute marking a coordinate that :func:`write_tree` wrote for a
#: :class:`Labelled` array but that was not itself an entry of the tree.
ROLE_ATTR = "pdediff_role"
#: Dimension names of the axes of an unlabelled array ``KEY``: ``KEY_index0``, ...
INDEX_DIM = "{key}_index{axis}"


@dataclass(frozen=True, eq=False)
class Labelled:
    """An array with named dimensions, coordinates and a description, for
    :func:`write_tree`.

    Parameters
    ----------
    values : array, shape (n_0, ..., n_{k-1})
    dims : sequence of k str
        One dimension name per axis.
    coords : mapping of str to array (n_d,) or 1-D Labelled, optional
        Coordinate values of some of the dimensions.  A dimension without one takes
        the sibling tree entry of its name if there is one (that entry becomes the
        coordinate), else it is a named dimension without values.
    long_name : str
        Description (default: the entry's key).
    units : str or None
        Units (``"1"`` where dimensionless; ``None``: not known, no attribute).
    attrs : mapping, optional
        More attributes (:func:`pdediff.io.write_attrs` rules).

    :func:`read_tree` gives back ``values`` alone (a plain array), so code that reads
    a tree sees the same arrays whether or not they were labelled.
    """

    values: Any
    dims: tuple[str, ...]
    coords: Mapping[str, Any] = field(default_factory=dict)
    long_name: str = ""
    units: str | None = "1"
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        dims = (self.dims,) if isinstance(self.dims, str) else tuple(self.dims)
        if not all(isinstance(d, str) and d and "/" not in d for d in dims):
            raise ValueError(f"dims: expected non-empty names without '/', got {dims}")
        if len(dims) != values.ndim or len(set(dims)) != len(dims):
            raise ValueError(f"dims: expected {values.ndim} distinct names (one per axis of "
                             f"values of shape {values.shape}), got {dims}")
        coords = {}
        for name, coord in dict(self.coords).items():
            if name not in dims:
                raise ValueError(f"coords: {name!r} is not one of the dims {dims}")
            coord = _as_coordinate(name, coord)
            if coord.values.shape != (values.shape[dims.index(name)],):
                raise ValueError(f"coords: {name!r} has shape {coord.values.shape} but axis "
                                 f"{dims.index(name)} of values has length "
                                 f"{values.shape[dims.index(name)]}")
            coords[name] = coord
        if not isinstance(self.long_name, str):
            raise TypeError(f"long_name: expected a str, got {type(self.long_name).__name__}")
        if self.units is not None and not isinstance(self.units, str):
            raise TypeError(f"units: expected a str or None, got {type(self.units).__name__}")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "dims", dims)
        object.__setattr__(self, "coords", coords)
        object.__setattr__(self, "attrs", dict(self.attrs))

    @classmethod
    def on_grid(cls, values: Any, grid: Any, *, leading: Mapping[str, Any] | None = None,
                long_name: str = "", units: str | None = "1",
                attrs: Mapping[str, Any] | None = None) -> Labelled:
        """A field on a :class:`pdediff.Grid`: the last ``grid.ndim`` axes are the
        cell-centre coordinates ``x, y, z`` (:func:`pdediff.io.grid_coordinates`,
        with their ``bc`` and cell ``edges``).

        Parameters
        ----------
        values : array, shape leading_shape + grid.shape
        grid : pdediff.Grid
        leading : mapping of str to array or None, optional
            Name and coordinate (``None``: no values) of each leading axis, in order,
            e.g. ``{"t": times}``.
        long_name, units, attrs
            As for :class:`Labelled`.
        """
        leading = dict(leading or {})
        coords = {name: coord for name, coord in leading.items() if coord is not None}
        names = []
        for name, centres, info in grid_coordinates(grid):
            names.append(name)
            coords[name] = cls(centres, (name,), long_name=info.pop("long_name"),
                               units=info.pop("units"), attrs=info)
        return cls(values, (*leading, *names), coords, long_name, units, dict(attrs or {}))


def label_entries(tree: Mapping[str, Any], dims: Sequence[str], long_names: Mapping[str, str],
                  *, units: str | None = "1") -> dict[str, Any]:
    """A copy of ``tree`` with each entry named in ``long_names`` wrapped as
    ``Labelled(tree[key], dims, long_name=long_names[key], units=units)`` (entries
    sharing their dimensions, e.g. every time series of a result over ``("t",)``).
    ``KeyError`` names a key of ``long_names`` missing from ``tree``."""
    out = dict(tree)
    for key, long_name in long_names.items():
        if key not in out:
            raise KeyError(f"long_names: no entry {key!r} in the tree")
        out[key] = Labelled(out[key], tuple(dims), long_name=long_name, units=units)
    return out


def _as_coordinate(name: str, coord: Any) -> Labelled:
    if isinstance(coord, Labelled):
        if coord.dims != (name,):
            raise ValueError(f"coords: coordinate {name!r} must have dims ({name!r},), "
                             f"got {coord.dims}")
        return coord
    values = np.asarray(coord)
    if values.ndim != 1:
        raise ValueError(f"coords: coordinate {name!r} must be 1-D, got shape {values.shape}")
    return Labelled(values, (name,), long_name=name)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and bool(
        np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) or (
        isinstance(value, (list, tuple)) and _is_numeric_array(value))


def write_tree(group: h5py.Group, tree: Mapping[str, Any]) -> None:
    """Write a nested mapping: mappings become groups, arrays datasets with named
    dimensions, scalars and strings attributes of ``group`` (:func:`write_attrs`).

    A :class:`Labelled` entry is written with its dimension names, coordinates,
    ``long_name`` and ``units``; a sibling entry named after one of its dimensions
    becomes that dimension's coordinate (it must then be 1-D).  An unlabelled array
    ``KEY`` gets named dimensions without values, ``KEY_index0``, ``KEY_index1``, ...
    (:data:`INDEX_DIM`), and ``long_name = KEY``, so that netCDF readers (xarray with
    h5netcdf) never see anonymous dimensions.  Raises ``ValueError`` naming the entry
    if two entries disagree on a coordinate or a dimension's length, or a dimension
    name collides with an entry that cannot be its coordinate.
    """
    arrays: dict[str, Labelled | np.ndarray] = {}
    for key, value in tree.items():
        if isinstance(value, Labelled):
            arrays[key] = value
        elif isinstance(value, Mapping):
            write_tree(group.create_group(key), value)
        elif _is_array(value):
            arrays[key] = np.asarray(value)
        else:
            write_attrs(group, {key: value})
    if arrays:
        _write_arrays(group, arrays, set(tree))


def _write_arrays(group: h5py.Group, arrays: Mapping[str, Labelled | np.ndarray],
                  taken: set[str]) -> None:
    used = {d for value in arrays.values() if isinstance(value, Labelled) for d in value.dims}
    coords: dict[str, tuple[Labelled, str | None]] = {}
    for key in sorted(used & set(arrays)):
        value = arrays[key]
        coord = value if isinstance(value, Labelled) else (
            Labelled(value, (key,), long_name=key, units=None) if np.ndim(value) == 1 else None)
        if coord is None or coord.dims != (key,):
            raise ValueError(f"tree: {key!r} names a dimension of another entry, so it must "
                             f"be 1-D with dims ({key!r},)")
        coords[key] = (coord, None)
    for key, value in arrays.items():
        if not isinstance(value, Labelled):
            continue
        for name, coord in value.coords.items():
            if name in coords:
                if not _same(coords[name][0].values, coord.values):
                    raise ValueError(f"tree: coordinate {name!r} of {key!r} differs from the "
                                     f"{name!r} of another entry")
            elif name in taken:
                raise ValueError(f"tree: coordinate {name!r} of {key!r} collides with the "
                                 f"entry {name!r}")
            else:
                coords[name] = (coord, "coordinate")
    for name, (coord, role) in coords.items():
        attrs = {**coord.attrs, **({ROLE_ATTR: role} if role else {})}
        write_coordinate(group, name, coord.values, long_name=coord.long_name or name,
                         units=coord.units, attrs=attrs)
    lengths: dict[str, int] = {}
    dims_of: dict[str, tuple[str, ...]] = {}
    for key, value in arrays.items():
        if key in coords:
            continue
        shape = np.shape(value.values if isinstance(value, Labelled) else value)
        dims = value.dims if isinstance(value, Labelled) else tuple(
            INDEX_DIM.format(key=key, axis=axis) for axis in range(len(shape)))
        for axis, dim in enumerate(dims):
            if dim in coords:
                continue  # lengths checked by write_dataset
            if dim in lengths:
                if lengths[dim] != shape[axis]:
                    raise ValueError(f"tree: dimension {dim!r} has length {lengths[dim]} "
                                     f"elsewhere but {shape[axis]} in {key!r}")
            elif dim in taken:
                raise ValueError(f"tree: dimension {dim!r} of {key!r} collides with the "
                                 f"entry {dim!r}")
            else:
                lengths[dim] = shape[axis]
        dims_of[key] = dims
    for dim, length in lengths.items():
        write_dimension(group, dim, length)
    for key, dims in dims_of.items():
        value = arrays[key]
        if isinstance(value, Labelled):
            write_dataset(group, key, value.values, dims, long_name=value.long_name or key,
                          units=value.units, attrs=value.attrs)
        else:
            write_dataset(group, key, value, dims, long_name=key, units=None)


def _auxiliary(dataset: h5py.Dataset) -> bool:
    """A dimension or coordinate :func:`write_tree` added, not an entry of the tree."""
    if is_dimension_only(dataset):
        return True
    role = dataset.attrs.get(ROLE_ATTR)
    return (role.decode() if isinstance(role, bytes) else role) == "coordinate"


def read_tree(group: h5py.Group) -> dict[str, Any]:
    """Inverse of :func:`write_tree`: the entries as written, :class:`Labelled` ones as
    plain arrays; the dimensions and coordinates it added are left out."""
    tree: dict[str, Any] = read_attrs(group)
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            tree[key] = read_tree(item)
        elif not _auxiliary(item):
            tree[key] = item[()]
    return tree


def save_tree(path: str | os.PathLike, tree: Mapping[str, Any]) -> Path:
    """Atomically write a nested mapping to a new HDF5 file at ``path``."""
    with atomic_h5(path) as file:
        write_tree(file, tree)
    return Path(path)


def load_tree(path: str | os.PathLike) -> dict[str, Any]:
    """Read a file written by :func:`save_tree`; :class:`FileFormatError` if ``path``
    is not a readable HDF5 file."""
    with open_h5(path) as file:
        try:
            return read_tree(file)
        except (OSError, KeyError, RuntimeError) as error:
            raise FileFormatError(f"{path}: damaged HDF5 file ({error})") from error




"""Self-describing datasets: HDF5 dimension scales, named axes, ``long_name`` and
``units``, the cell-centre coordinates of a grid."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import h5py
import numpy as np

from ._attrs import write_attrs

#: The scale name netCDF-4 (and h5netcdf) give a dimension that has no coordinate
#: values, followed by its length in 10 characters.
NOT_A_VARIABLE = "This is a netCDF dimension but not a netCDF variable."


def _described(long_name: str, units: str | None) -> dict[str, str]:
    return {"long_name": long_name} if units is None else {"long_name": long_name,
                                                           "units": units}


def write_coordinate(
    group: h5py.Group,
    name: str,
    values: Any,
    *,
    long_name: str,
    units: str | None = "1",
    attrs: Mapping[str, Any] | None = None,
) -> h5py.Dataset:
    """Write the 1-D coordinate ``name`` as an HDF5 dimension scale of that name.

    Parameters
    ----------
    group : h5py.Group
    name : str
        Dimension name (``"t"``, ``"x"``, ``"particle"``, ...).
    values : array, shape (n,)
    long_name, units : str
        Description and units (``"1"`` for dimensionless quantities; ``units=None``
        writes no ``units`` attribute).
    attrs : mapping, optional
        More attributes (:func:`write_attrs` rules).
    """
    data = np.asarray(values)
    if data.ndim != 1:
        raise ValueError(f"values: a coordinate must be 1-D, got shape {data.shape}")
    dataset = group.create_dataset(name, data=data)
    dataset.make_scale(name)
    write_attrs(dataset, {**_described(long_name, units), **(attrs or {})})
    return dataset


def write_dimension(group: h5py.Group, name: str, length: int) -> h5py.Dataset:
    """Write the named dimension ``name`` of ``length`` without coordinate values.

    An HDF5 dimension scale in the netCDF-4 convention for a dimension that is not a
    variable (:data:`NOT_A_VARIABLE`): xarray with h5netcdf shows ``name`` as a
    dimension without a coordinate.  No storage is allocated for it.
    """
    length = int(length)
    dataset = group.create_dataset(name, shape=(length,), dtype=">f4")
    dataset.make_scale(f"{NOT_A_VARIABLE}{length:10d}")
    return dataset


def is_dimension_only(dataset: h5py.Dataset) -> bool:
    """Whether ``dataset`` is a dimension written by :func:`write_dimension` (or by
    netCDF-4 for a dimension without a coordinate variable)."""
    name = dataset.attrs.get("NAME")
    if isinstance(name, bytes):
        name = name.decode(errors="replace")
    return isinstance(name, str) and name.startswith(NOT_A_VARIABLE)


def write_dataset(
    group: h5py.Group,
    name: str,
    data: Any,
    dims: Sequence[str],
    *,
    long_name: str,
    units: str | None = "1",
    attrs: Mapping[str, Any] | None = None,
    compress: bool = False,
) -> h5py.Dataset:
    """Write ``data`` with each axis attached to the dimension scale named in ``dims``.

    The scales must exist in ``group`` (:func:`write_coordinate`) and have the length
    of the matching axis; otherwise ``ValueError`` names the dimension.

    Parameters
    ----------
    group : h5py.Group
    name : str
    data : array, shape (n_0, ..., n_{k-1})
    dims : sequence of k str
        Dimension names, one per axis of ``data``.
    long_name, units : str
        Description and units (``"1"`` where dimensionless; ``units=None`` writes no
        ``units`` attribute, for values whose units are not known).
    attrs : mapping, optional
        More attributes (:func:`write_attrs` rules).
    compress : bool
        gzip with byte shuffling (lossless).
    """
    array = np.asarray(data)
    dims = tuple(dims)
    if len(dims) != array.ndim:
        raise ValueError(
            f"dims: expected {array.ndim} names (one per axis of {name!r}), got {dims}"
        )
    for axis, dim in enumerate(dims):
        scale = group.get(dim)
        if not isinstance(scale, h5py.Dataset) or not scale.is_scale:
            raise ValueError(f"dims: no coordinate {dim!r} in the group; write it first")
        if scale.shape != (array.shape[axis],):
            raise ValueError(
                f"dims: coordinate {dim!r} has length {scale.shape[0]} but axis {axis} of "
                f"{name!r} has length {array.shape[axis]}"
            )
    options = {"compression": "gzip", "shuffle": True} if compress and array.size else {}
    dataset = group.create_dataset(name, data=array, **options)
    for axis, dim in enumerate(dims):
        dataset.dims[axis].attach_scale(group[dim])
    write_attrs(dataset, {**_described(long_name, units), **(attrs or {})})
    return dataset


def axis_names(ndim: int) -> tuple[str, ...]:
    """Dimension names of the space axes: ``x, y, z`` up to 3-D, ``x0, x1, ...`` past."""
    ndim = int(ndim)
    return ("x", "y", "z")[:ndim] if ndim <= 3 else tuple(f"x{d}" for d in range(ndim))


def grid_coordinates(grid: Any) -> list[tuple[str, np.ndarray, dict[str, Any]]]:
    """The cell-centre coordinates of a :class:`pdediff.Grid` as ``(name, centres,
    attributes)`` per axis: ``long_name``, ``units = "1"`` (lengths in data units), the
    axis' boundary kind ``bc`` and its cell ``edges`` (length ``shape[d] + 1``)."""
    return [
        (name, np.asarray(grid.centers[d]), {
            "long_name": f"cell-centre coordinate {name} (axis {d})",
            "units": "1",
            "bc": grid.bc[d],
            "edges": np.asarray(grid.edges[d]),
        })
        for d, name in enumerate(axis_names(grid.ndim))
    ]


def write_grid_coordinates(group: h5py.Group, grid: Any) -> tuple[str, ...]:
    """Write the dimension scales ``x``, ``y``, ``z`` (:func:`grid_coordinates`) of
    ``grid`` into ``group`` and return their names, for :func:`write_dataset` of
    fields on the grid: ``write_dataset(group, "p", field, names, ...)``."""
    names = []
    for name, values, attrs in grid_coordinates(grid):
        write_coordinate(group, name, values, long_name=attrs.pop("long_name"),
                         units=attrs.pop("units"), attrs=attrs)
        names.append(name)
    return tuple(names)



"""HDF5 storage: atomic writes, self-describing datasets, attributes, nested trees.

Writing
-------
Every file pdediff writes goes through :func:`atomic_h5`.  The data are written to a
temporary file in the target's folder, flushed, synced and renamed over the target
with ``os.replace`` (atomic on POSIX), so an interrupted run never leaves a
half-written file at the target path and the previous file stays intact.

* The temporary is named ``.NAME.HOST.PID.RANDOM.pdediff-tmp`` (:data:`TEMP_PATTERN`)
  next to the target ``NAME``.  It is removed on any exception, and on SIGTERM or
  SIGINT: a handler passes the signal to the previous Python handler (SIGINT's
  ``KeyboardInterrupt`` then unwinds through the write, which removes the file) or,
  where the default action would kill the process, removes the temporary, restores
  the previous handlers and re-delivers the signal (handlers are installed from the
  main thread only; Python delivers signals there).  A ``kill -9`` cannot be
  caught; the temporary it leaves behind is recognised by the next write to the
  same target (same host, writer process gone) and removed (as are the pid-less
  ``.NAME.XXXXXXXX.tmp`` of earlier pdediff versions once an hour old).
* New files are created with mode ``0o666`` masked by the umask (``0644`` under
  umask ``022``), like any other file the user creates.

Attributes
----------
:func:`write_attrs` stores numbers, booleans, strings and rectangular numeric arrays
as native HDF5 attributes, lists of strings as HDF5 string arrays, and anything else
(``None``, dictionaries, mixed lists) as a JSON string under the attribute name
``KEY_json`` (:data:`JSON_SUFFIX`).  :func:`read_attrs` inverts this and still reads
the ``"__json__..."`` / ``"__none__"`` strings of files written by earlier versions.

Self-describing datasets
------------------------
:func:`write_coordinate` writes a 1-D HDF5 dimension scale and :func:`write_dataset` a
dataset whose axes are attached to named scales, with ``long_name`` and ``units``
(``"1"`` where dimensionless), so that ``xarray.open_dataset(path,
engine="h5netcdf")`` shows named dimensions with their coordinates.

Reading
-------
:func:`open_h5` opens a file for reading and turns anything that is not a readable
HDF5 file into :class:`FileFormatError` (a ``ValueError``) naming the file.

Trees
-----
:func:`write_tree` writes a nested mapping (studies' results, trained models): mappings
become groups, arrays datasets, everything else attributes.  A :class:`Labelled` entry
carries its dimension names, coordinates, ``long_name`` and ``units``
(:meth:`Labelled.on_grid` for a field on a grid, with the cell centres ``x, y, z``;
:func:`label_entries` for several entries over the same dimensions); a
sibling entry named after one of its dimensions becomes that dimension's coordinate.
An unlabelled array ``KEY`` gets dimensions ``KEY_index0, KEY_index1, ...`` without
values (:func:`write_dimension`) and ``long_name = KEY``, so no netCDF reader sees an
anonymous ("phony") dimension.  :func:`read_tree` gives back the entries as plain
arrays, without the dimensions and coordinates :func:`write_tree` added.
"""

from ._atomic import (
    LEGACY_STALE_SECONDS,
    TEMP_PATTERN,
    TEMP_SUFFIX,
    FileFormatError,
    atomic_h5,
    atomic_path,
    open_h5,
    stale_temporaries,
)
from ._attrs import (
    JSON_SUFFIX,
    _jsonable,  # noqa: F401  (pdediff.results uses it)
    read_attrs,
    write_attrs,
)
from ._datasets import (
    NOT_A_VARIABLE,
    axis_names,
    grid_coordinates,
    is_dimension_only,
    write_coordinate,
    write_dataset,
    write_dimension,
    write_grid_coordinates,
)
from ._describe import describe
from ._tree import (
    INDEX_DIM,
    ROLE_ATTR,
    Labelled,
    label_entries,
    load_tree,
    read_tree,
    save_tree,
    write_tree,
)

__all__ = [
    "FileFormatError",
    "JSON_SUFFIX",
    "TEMP_SUFFIX",
    "TEMP_PATTERN",
    "LEGACY_STALE_SECONDS",
    "NOT_A_VARIABLE",
    "INDEX_DIM",
    "ROLE_ATTR",
    "atomic_path",
    "atomic_h5",
    "stale_temporaries",
    "open_h5",
    "write_attrs",
    "read_attrs",
    "write_coordinate",
    "write_dimension",
    "is_dimension_only",
    "write_dataset",
    "axis_names",
    "grid_coordinates",
    "write_grid_coordinates",
    "Labelled",
    "label_entries",
    "write_tree",
    "read_tree",
    "save_tree",
    "load_tree",
    "describe",
]

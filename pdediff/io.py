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
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

__all__ = [
    "FileFormatError",
    "JSON_SUFFIX",
    "TEMP_SUFFIX",
    "TEMP_PATTERN",
    "atomic_path",
    "atomic_h5",
    "stale_temporaries",
    "open_h5",
    "write_attrs",
    "read_attrs",
    "write_coordinate",
    "write_dataset",
    "axis_names",
    "grid_coordinates",
    "write_grid_coordinates",
    "write_tree",
    "read_tree",
    "save_tree",
    "load_tree",
    "describe",
]

JSON_SUFFIX = "_json"
TEMP_SUFFIX = ".pdediff-tmp"
#: ``.{target name (first 96 characters)}.{host}.{pid}.{random hex}.pdediff-tmp`` in
#: the target's folder.
TEMP_PATTERN = ".{name}.{host}.{pid}.{token}" + TEMP_SUFFIX
#: Age after which a temporary of earlier pdediff versions (``.NAME.XXXXXXXX.tmp``,
#: no pid) is stale.
LEGACY_STALE_SECONDS = 3600.0


class FileFormatError(ValueError):
    """A file is not a (readable, consistent) pdediff file; the message names it."""


# ---------------------------------------------------------------------------- writing
_lock = threading.Lock()
_active: set[str] = set()  # temporaries being written by this process
_previous: dict[int, Any] = {}  # signal number -> handler replaced by ours


def _host() -> str:
    return (re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host")[:32]


def _stem(name: str) -> str:
    # Keep the temporary's name under NAME_MAX (255 bytes) for long targets.
    return name[:96]


def _temp_regex(name: str) -> re.Pattern[str]:
    return re.compile(
        re.escape(f".{_stem(name)}.") + r"(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)\.[0-9a-f]+"
        + re.escape(TEMP_SUFFIX) + "$"
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporaries of earlier writes to ``path`` whose writer (on this host) is gone:
    what a ``kill -9`` during :func:`atomic_h5` leaves behind.

    Also the ``.NAME.XXXXXXXX.tmp`` temporaries of earlier versions, which carry no pid:
    those count as stale once unmodified for :data:`LEGACY_STALE_SECONDS`.
    """
    path = Path(path)
    pattern = _temp_regex(path.name)
    legacy = re.compile(re.escape(f".{path.name}.") + r"[A-Za-z0-9_]{8}\.tmp$")
    host = _host()
    stale = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return []
    now = time.time()
    for entry in entries:
        if legacy.match(entry.name):
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime > LEGACY_STALE_SECONDS:
                    stale.append(Path(entry.path))
            continue
        match = pattern.match(entry.name)
        if match is None or match["host"] != host:
            continue
        pid = int(match["pid"])
        if entry.path in _active:
            continue
        if pid == os.getpid() or not _pid_alive(pid):
            stale.append(Path(entry.path))
    return stale


def _remove_active() -> None:
    for name in list(_active):
        with contextlib.suppress(OSError):
            os.unlink(name)
        _active.discard(name)


def _on_signal(signum: int, frame: Any) -> None:
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        # A Python handler (SIGINT's raises KeyboardInterrupt): if it raises, the
        # exception unwinds through atomic_path, which removes the temporary; if it
        # returns, the write goes on as the handler's owner chose.
        previous(signum, frame)
        return
    # The default action kills the process without unwinding: remove our
    # temporaries, put every previous handler back and die of the same signal.
    _remove_active()
    for other, handler in list(_previous.items()):
        signal.signal(other, handler)
    _previous.clear()
    os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    if threading.current_thread() is not threading.main_thread() or _previous:
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        current = signal.getsignal(signum)
        if current in (signal.SIG_IGN, None):
            continue  # ignored (or set outside Python): leave it alone
        _previous[signum] = current
        signal.signal(signum, _on_signal)


def _restore_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, handler in list(_previous.items()):
        if signal.getsignal(signum) is _on_signal:
            signal.signal(signum, handler)
        _previous.pop(signum)


def _create_temporary(path: Path) -> str:
    while True:
        name = TEMP_PATTERN.format(
            name=_stem(path.name), host=_host(), pid=os.getpid(), token=secrets.token_hex(4)
        )
        tmp = os.path.join(path.parent, name)
        try:
            # 0o666 & ~umask, like any file the user creates (mkstemp would force 0600).
            handle = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        os.close(handle)
        return tmp


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield the name of a new temporary file (mode ``0o666 & ~umask``) in the folder
    of ``path``; when the ``with`` block completes without error it is synced and
    renamed over ``path``, otherwise (exception, SIGTERM, SIGINT) it is removed.

    The previous file at ``path`` (if any) is untouched until the final rename.
    Stale temporaries of earlier, killed writes to ``path`` are removed first.
    Raises ``ValueError`` naming ``path`` if it is a directory and ``OSError`` if the
    folder cannot be created or written.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path: {path} is a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temporaries(path):
        with contextlib.suppress(OSError):
            stale.unlink()
    with _lock:
        tmp = _create_temporary(path)
        _active.add(tmp)
        _install_handlers()
    try:
        yield tmp
        with open(tmp, "rb") as raw:
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        with _lock:
            _active.discard(tmp)
            if not _active:
                _restore_handlers()


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike) -> Iterator[h5py.File]:
    """Open a new HDF5 file for writing that appears at ``path`` only when the
    ``with`` block completes without error (:func:`atomic_path`)."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as file:
        yield file
        file.flush()


# ------------------------------------------------------------------------- attributes
def _is_numeric_array(value: Any) -> bool:
    if isinstance(value, (dict, str, bytes)):
        return False
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        return False
    return array.dtype.kind in "biuf" and array.ndim >= 1


def _is_string_list(value: Any) -> bool:
    # HDF5 strings cannot hold NUL characters: such lists go to JSON.
    return (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(isinstance(v, str) and "\x00" not in v for v in value)
    )


def write_attrs(node: h5py.Group | h5py.Dataset, attrs: Mapping[str, Any]) -> None:
    """Store ``attrs`` on an HDF5 group or dataset.

    Numbers, booleans, strings and rectangular numeric arrays become native HDF5
    attributes; a non-empty list of strings an HDF5 string array; anything else
    (``None``, mappings, mixed or empty lists, strings with NUL characters) a JSON
    string under ``KEY_json``.
    """
    for key, value in attrs.items():
        key = str(key)
        for stale in (key, key + JSON_SUFFIX):
            if stale in node.attrs:
                del node.attrs[stale]
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (bool, int, float, str)) and not (
            isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63
        ) and not (isinstance(value, str) and "\x00" in value):
            node.attrs[key] = value
        elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf" or (
            isinstance(value, (list, tuple)) and _is_numeric_array(value)
        ):
            node.attrs[key] = np.asarray(value)
        elif _is_string_list(value):
            node.attrs[key] = np.asarray(value, dtype=h5py.string_dtype())
        else:
            # default=str: an exotic object is kept as its text rather than failing
            # the save at the end of a long computation.
            node.attrs[key + JSON_SUFFIX] = json.dumps(_jsonable(value), default=str)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _from_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        # Earlier versions encoded None and JSON in the string itself.
        if value == "__none__":
            return None
        if value.startswith("__json__"):
            return json.loads(value[len("__json__") :])
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        return [v.decode() if isinstance(v, bytes) else str(v) for v in value.ravel()]
    if isinstance(value, np.generic):
        return value.item()
    return value


# HDF5 dimension-scale bookkeeping, not pdediff attributes.
_SCALE_ATTRS = ("DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME", "_Netcdf4Dimid")


def read_attrs(node: h5py.Group | h5py.Dataset) -> dict[str, Any]:
    """Inverse of :func:`write_attrs`: ``KEY_json`` attributes come back as ``KEY``."""
    out: dict[str, Any] = {}
    for key, value in node.attrs.items():
        if key.endswith(JSON_SUFFIX) and isinstance(value, (str, bytes)):
            text = value.decode() if isinstance(value, bytes) else value
            try:
                out[key[: -len(JSON_SUFFIX)]] = json.loads(text)
                continue
            except json.JSONDecodeError:
                pass
        if key in _SCALE_ATTRS:
            continue
        out[key] = _from_attr(value)
    return out


# ----------------------------------------------------------- self-describing datasets
def write_coordinate(
    group: h5py.Group,
    name: str,
    values: Any,
    *,
    long_name: str,
    units: str = "1",
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
        Description and units (``"1"`` for dimensionless quantities).
    attrs : mapping, optional
        More attributes (:func:`write_attrs` rules).
    """
    data = np.asarray(values)
    if data.ndim != 1:
        raise ValueError(f"values: a coordinate must be 1-D, got shape {data.shape}")
    dataset = group.create_dataset(name, data=data)
    dataset.make_scale(name)
    write_attrs(dataset, {"long_name": long_name, "units": units, **(attrs or {})})
    return dataset


def write_dataset(
    group: h5py.Group,
    name: str,
    data: Any,
    dims: Sequence[str],
    *,
    long_name: str,
    units: str = "1",
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
        Description and units (``"1"`` where dimensionless).
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
    write_attrs(dataset, {"long_name": long_name, "units": units, **(attrs or {})})
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


# ------------------------------------------------------------------------------ trees
def write_tree(group: h5py.Group, tree: Mapping[str, Any]) -> None:
    """Write a nested mapping: arrays become datasets, mappings become groups,
    scalars and strings become attributes of ``group`` (:func:`write_attrs`)."""
    for key, value in tree.items():
        if isinstance(value, Mapping):
            write_tree(group.create_group(key), value)
        elif isinstance(value, np.ndarray) or (
            isinstance(value, (list, tuple)) and _is_numeric_array(value)
        ):
            group.create_dataset(key, data=np.asarray(value))
        else:
            write_attrs(group, {key: value})


def read_tree(group: h5py.Group) -> dict[str, Any]:
    """Inverse of :func:`write_tree`."""
    tree: dict[str, Any] = read_attrs(group)
    for key, item in group.items():
        tree[key] = read_tree(item) if isinstance(item, h5py.Group) else item[()]
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


# ---------------------------------------------------------------------------- reading
@contextlib.contextmanager
def open_h5(path: str | os.PathLike) -> Iterator[h5py.File]:
    """Open ``path`` read-only.

    Raises ``FileNotFoundError`` if it does not exist, :class:`FileFormatError` naming
    the file if it is a folder or not a readable HDF5 file (garbage, truncated).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise FileFormatError(f"{path}: is a directory, not a pdediff file")
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise FileFormatError(
            f"{path}: not a pdediff file (not a readable HDF5 file: {error})"
        ) from error
    try:
        yield file
    finally:
        file.close()


def describe(path: str | os.PathLike) -> str:
    """A human-readable listing of an HDF5 file: root attributes, then every group
    and dataset with its shape, dimensions, ``long_name`` and ``units``."""
    lines = [str(path)]

    def attrs_text(node: h5py.HLObject, indent: str, skip: tuple[str, ...] = ()) -> None:
        # The stored names (KEY_json included), so the listing matches the file.
        for key, raw in node.attrs.items():
            if key in skip or key in _SCALE_ATTRS:
                continue
            value = _from_attr(raw)
            text = json.dumps(_jsonable(value)) if not isinstance(value, str) else value
            if len(text) > 100:
                text = text[:97] + "..."
            lines.append(f"{indent}{key}: {text}")

    with open_h5(path) as file:
        try:
            attrs_text(file, "  ")

            def visit(group: h5py.Group, indent: str) -> None:
                for key, item in group.items():
                    if isinstance(item, h5py.Group):
                        lines.append(f"{indent}{key}/")
                        attrs_text(item, indent + "    ")
                        visit(item, indent + "  ")
                        continue
                    dims = [d.label or (d[0].name.rsplit("/", 1)[-1] if len(d) else "?")
                            for d in item.dims]
                    info = read_attrs(item)
                    name = info.get("long_name", "")
                    units = info.get("units")
                    desc = f"{name} [{units}]" if units is not None else name
                    dim_text = f"({', '.join(dims)})" if item.ndim and all(
                        len(d) for d in item.dims) else ""
                    lines.append(
                        f"{indent}{key}{dim_text}: {item.dtype} {item.shape}  {desc}".rstrip()
                    )
                    attrs_text(item, indent + "    ", ("long_name", "units"))

            visit(file, "  ")
        except (OSError, KeyError, RuntimeError) as error:
            raise FileFormatError(f"{path}: damaged HDF5 file ({error})") from error
    return "\n".join(lines)

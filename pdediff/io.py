"""HDF5 storage: atomic writes and nested dictionaries of arrays.

Every file pdediff writes goes through :func:`atomic_h5`: the data are written to a
temporary file in the target's folder, flushed, and renamed over the target with
``os.replace`` (atomic on POSIX), so an interrupted run never leaves a half-written
file at the target path.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike) -> Iterator[h5py.File]:
    """Open a new HDF5 file for writing that appears at ``path`` only when the
    ``with`` block completes without error."""
    path = Path(path)
    if path.exists() and path.is_dir():
        raise ValueError(f"path: {path} is a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        with h5py.File(tmp_name, "w") as file:
            yield file
            file.flush()
        with open(tmp_name, "rb") as raw:
            os.fsync(raw.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def _attr_value(value: Any) -> Any:
    if value is None:
        return "__none__"
    if isinstance(value, (dict, list, tuple)) and not _is_numeric_sequence(value):
        return "__json__" + json.dumps(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return value


def _is_numeric_sequence(value: Any) -> bool:
    if isinstance(value, dict):
        return False
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        return False
    return array.dtype.kind in "biuf" and array.ndim >= 1


def _from_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        if value == "__none__":
            return None
        if value.startswith("__json__"):
            return json.loads(value[len("__json__") :])
        return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_attrs(node: h5py.Group | h5py.Dataset, attrs: Mapping[str, Any]) -> None:
    """Store scalars, strings, numeric arrays, and (as JSON) nested lists/dicts."""
    for key, value in attrs.items():
        node.attrs[key] = _attr_value(value)


def read_attrs(node: h5py.Group | h5py.Dataset) -> dict[str, Any]:
    return {key: _from_attr(value) for key, value in node.attrs.items()}


def write_tree(group: h5py.Group, tree: Mapping[str, Any]) -> None:
    """Write a nested mapping: arrays become datasets, mappings become groups,
    scalars and strings become attributes of ``group``."""
    for key, value in tree.items():
        if isinstance(value, Mapping):
            write_tree(group.create_group(key), value)
        elif isinstance(value, np.ndarray) or (
            isinstance(value, (list, tuple)) and _is_numeric_sequence(value)
        ):
            group.create_dataset(key, data=np.asarray(value))
        else:
            group.attrs[key] = _attr_value(value)


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
    with h5py.File(path, "r") as file:
        return read_tree(file)

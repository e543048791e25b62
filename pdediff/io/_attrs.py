"""HDF5 attributes: native types where HDF5 has them, ``KEY_json`` strings otherwise
(the rules are in :mod:`pdediff.io`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

JSON_SUFFIX = "_json"


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



"""``pdediff info``: a human-readable listing of an HDF5 file."""

from __future__ import annotations

import json
import os

import h5py

from ._atomic import FileFormatError, open_h5
from ._attrs import _SCALE_ATTRS, _from_attr, _jsonable, read_attrs
from ._datasets import is_dimension_only


def describe(path: str | os.PathLike) -> str:
    """A human-readable listing of an HDF5 file: root attributes, then every group
    and dataset with its shape, dimensions, ``long_name`` and ``units`` (a dimension
    without coordinate values as one line with its length)."""
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
                    if is_dimension_only(item):
                        lines.append(f"{indent}{key}: dimension of length {item.shape[0]}")
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

"""What every pdediff file must look like to a netCDF reader (xarray with h5netcdf)."""

from __future__ import annotations

from pathlib import Path

import h5py
import xarray as xr


def groups(path: Path) -> list[str]:
    """Every group of the HDF5 file, ``""`` for the root."""
    found = [""]
    with h5py.File(path, "r") as file:
        file.visititems(lambda name, item: found.append(name)
                        if isinstance(item, h5py.Group) else None)
    return found


def open_every_group(path: Path) -> dict[str, xr.Dataset]:
    """Each group opened by ``xarray.open_dataset(path, group=..., engine="h5netcdf")``
    (loaded, file closed), asserting that no group has an anonymous ``phony_dim`` and
    that every variable has a ``long_name``."""
    out = {}
    for group in groups(path):
        with xr.open_dataset(path, group=group or None, engine="h5netcdf") as ds:
            phony = [d for d in ds.dims if str(d).startswith("phony_dim")]
            assert not phony, f"{path}:{group or '/'} has anonymous dimensions {phony}"
            for name, var in ds.variables.items():
                assert var.attrs.get("long_name"), f"{path}:{group}/{name} has no long_name"
            out[group] = ds.load()
    return out


def tree_views(tree: dict, path: Path) -> dict[str, xr.Dataset]:
    """Write ``tree`` with :func:`pdediff.io.save_tree` to ``path`` and open every group
    (:func:`open_every_group`)."""
    from pdediff.io import save_tree

    return open_every_group(save_tree(path, tree))

"""Study settings from the command line: ``--set key=value``, ``--config file.toml``,
parsed by the type of each ``Settings`` field."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _coerce(value: Any, kind: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    if origin is tuple:
        inner = typing.get_args(kind)
        item = inner[0] if inner else str
        if isinstance(value, str):
            value = [v for v in value.replace("(", "").replace(")", "").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{key}: expected a sequence of {getattr(item, '__name__', item)}")
        if len(inner) == 2 and inner[1] is Ellipsis or len(inner) == 1:
            return tuple(_coerce(v, item, key) for v in value)
        if len(inner) != len(value):
            raise ValueError(f"{key}: expected {len(inner)} values, got {len(value)}")
        return tuple(_coerce(v, k, key) for v, k in zip(value, inner))
    if origin in (typing.Union, getattr(types, "UnionType", None)):
        for option in typing.get_args(kind):
            try:
                return _coerce(value, option, key)
            except (TypeError, ValueError):
                continue
        raise ValueError(f"{key}: {value!r} fits none of {kind}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false",
                                                                "0", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        raise ValueError(f"{key}: expected a bool (true/false), got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise TypeError(f"{key}: expected an int, got a bool")
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError as error:
                raise ValueError(f"{key}: expected an int, got {value!r}") from error
        if isinstance(value, (int, np.integer)):
            return int(value)
        raise TypeError(f"{key}: expected an int, got {value!r}")
    if kind is float:
        if isinstance(value, bool):
            raise TypeError(f"{key}: expected a float, got a bool")
        try:
            return float(value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{key}: expected a float, got {value!r}") from error
    if kind is str:
        return str(value)
    return value


def parse_overrides(pairs: Sequence[str]) -> dict[str, str]:
    """``["key=value", ...]`` -> ``{key: "value"}`` (values are coerced later)."""
    out: dict[str, str] = {}
    for pair in pairs or ():
        if "=" not in pair:
            raise ValueError(f"--set: expected key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def make_settings(module, settings: Any = None, *, quick: bool = False,
                  overrides: Mapping[str, Any] | None = None):
    """The study's ``Settings``: ``settings`` if given, else ``quick()`` or ``full()``,
    with ``overrides`` (field name -> value; strings are parsed by the field's type)
    applied.  Unknown fields raise ``ValueError`` listing the known ones."""
    cls = module.Settings
    if settings is None:
        settings = cls.quick() if quick else cls.full()
    elif not isinstance(settings, cls):
        raise TypeError(f"settings: expected {cls.__module__}.Settings, got {type(settings)}")
    if overrides:
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        changes = {}
        for key, value in overrides.items():
            if key not in names:
                raise ValueError(f"overrides: unknown setting {key!r}; known: {', '.join(names)}")
            changes[key] = _coerce(value, hints[key], key)
        settings = dataclasses.replace(settings, **changes)
    return settings


def _mode(module, settings) -> str:
    if settings == module.Settings.quick():
        return "quick"
    if settings == module.Settings.full():
        return "full"
    return "custom"


# ------------------------------------------------------------------------ command line
def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``pdediff run`` (and of the ``studies/NAME.py`` scripts)."""
    parser.add_argument("--quick", action="store_true",
                        help="start from Settings.quick() instead of Settings.full() "
                        "(default: full)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override one Settings field (repeatable; tuples as a,b,c); "
                        "applied after --config (default: none)")
    parser.add_argument("--config", default=None, metavar="FILE.toml",
                        help="TOML file of Settings fields (top-level keys; default: none)")
    parser.add_argument("--out", default="data", help="output folder (default: data)")
    parser.add_argument("--quiet", action="store_true",
                        help="no per-case progress lines (default: print them)")


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if getattr(args, "config", None):
        try:
            import tomllib  # Python >= 3.11
        except ImportError:  # pragma: no cover - Python 3.10
            try:
                import tomli as tomllib
            except ImportError as error:
                raise ValueError("--config: reading TOML needs Python >= 3.11 or the "
                                 "tomli package") from error

        with open(args.config, "rb") as stream:
            values.update(tomllib.load(stream))
    values.update(parse_overrides(getattr(args, "overrides", [])))
    return values

"""The study harness: settings, cases, checks with earned verdicts, files, figures.

The contract
------------
A study module ``pdediff.studies.NAME`` defines only::

    DESCRIPTION: str                                   # one line for ``pdediff list``
    @dataclass(frozen=True)
    class Settings:                                    # every parameter, plain types only
        ...                                            # int, float, str, bool, tuples of those
        @classmethod
        def quick(cls) -> "Settings": ...
        @classmethod
        def full(cls) -> "Settings": ...
    def cases(settings) -> list[Case]                  # independent units of work
    def compute(case, settings) -> dict                # deterministic, picklable
    def checks(results, settings) -> list[Check]       # no heavy computation
    def figures(results, folder) -> list[Path]         # no heavy computation

* A ``Case`` is a frozen, picklable dataclass with a ``key: str`` (field or property)
  unique within the study.  Keys may contain ``/`` (they become nested HDF5 groups); no
  key may be a prefix path of another (``"a"`` and ``"a/b"``).
* ``compute`` returns a nested dict of numpy arrays, numbers, strings, bools and dicts
  (lists/tuples of numbers become arrays, other lists are stored as JSON) and
  :class:`pdediff.io.Labelled` arrays (dimension names, coordinates, ``long_name``,
  ``units``: what the file shows to xarray; they read back as plain arrays).  It must not
  depend on global state: the same ``(case, settings)`` gives the same bits in any
  process, so serial, ``--jobs N`` and Dask runs write identical results.
* ``results`` maps case key -> the dict ``compute`` returned, *as read back from HDF5*
  (``checks`` and ``figures`` see exactly what ``pdediff plot NAME`` sees later; arrays
  come back as numpy arrays, tuples as arrays).  Everything a figure needs goes into a
  case's result.

The harness owns the rest: :func:`run` (settings and overrides, the executor, the
clock, progress, the atomic file ``out/NAME.h5``, figures, the :class:`Summary` with
``.table``, ``.counts``, ``.checks``, ``.settings``, ``.path``), :func:`plot`
(figures redrawn from the file, no recomputation), :func:`main` (the four-line
``studies/NAME.py`` scripts; same options as ``pdediff run NAME``).  :func:`run` is
:func:`submit` (cases to the executor, nothing waited for), :func:`collect` (results in
case order) and :func:`finish` (checks, file, figures); ``pdediff reproduce`` submits
every study before collecting any, so the studies share one pool.  A study's
``elapsed`` is its wall span from its first case's start to its file write.

Executors: anything with ``submit(fn, *args)`` returning a future -- default serial in
this process; :func:`process_executor` (``--jobs N``: N spawned processes, each capped at
``cores // N`` numba, BLAS and XLA threads); :func:`dask_executor` (``--scheduler ADDRESS``: a
``dask.distributed`` client, each worker capped at its host's cores over the worker
threads there).  Cases are computed independently and collected in case order, so the
file is bitwise the same for every executor.

Overrides: ``--set key=value`` (repeatable) and ``--config file.toml`` (top-level
keys) set any ``Settings`` field; strings are parsed by the field's annotation
(``int``, ``float``, ``bool`` as true/false, ``str``, tuples as ``a,b,c``); unknown
fields raise ``ValueError`` listing the known ones.  The values used are stored.

Studies not yet migrated define ``run(quick, out, progress) -> dict`` instead;
:func:`pdediff.studies.run_study` and the commands dispatch on
:func:`is_harness_study`, and the report reads their files (``passed`` -> PASS/FAIL).

File layout of ``out/NAME.h5``: root attributes ``study``, ``pdediff_version``,
``parameters`` (JSON of ``asdict(settings)``, the values actually used), ``mode``
(``"quick"``, ``"full"`` or ``"custom"``), ``quick`` (bool), ``elapsed_s``, ``case_keys``;
group ``results/<case key>`` (the case's dict, :func:`pdediff.io.write_tree`: every
array with named dimensions, so ``xarray.open_dataset(path, group="results/<case key>",
engine="h5netcdf")`` opens it); group ``checks/<name>`` with the :class:`Check` fields
as attributes (``refinement`` as JSON).

Verdict rules (docs/verification), enforced by the :class:`Check` constructors
-----------------------------------------------------------------------------
* :meth:`Check.bound` -- a proven bound ``measured <= bound``: FAIL if it is violated
  anywhere, VACUOUS if it holds but ``max measured/bound < 1e-2`` (no evidence), else PASS.
* :meth:`Check.vanishing` -- a property that holds exactly in the continuum but whose
  discrete version may be violated by discretisation error.  Given the raw violation
  (the negative part of the margin, ``>= 0``) at ``>= 3`` resolutions ``h`` of one fixed
  physical setting, with ``h`` and the time-integration tolerance refined together:
  PASS if every violation is zero, or if the nonzero violations (``>= 3`` of them) fit
  ``violation ~ C h^q`` with a 95 % interval for ``q`` whose lower end is above 0.5, or
  if the violation decreases strictly and is then exactly zero at the two (or more)
  finest resolutions; FAIL otherwise.  The fitted order and interval are kept in
  :class:`Refinement` and go into the report.  With ``ratio`` (measured/bound at the
  finest resolution) a PASS with ``ratio < 1e-2`` becomes VACUOUS.
* :meth:`Check.interval` -- a plain 95 % interval against a target (``side="above"``:
  PASS iff ``low > target``; ``"below"``: iff ``high < target``; ``"contains"``: iff
  ``low <= target <= high``).  Never widened.
* :meth:`Check.observation` -- a measured property no theorem states: OBSERVATION,
  counted separately, never as a pass or fail.
* A FAIL's ``detail`` may explain; nothing turns it into anything else.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import io
import json
import math
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h5py

from .._version import __version__
from ..io import atomic_h5, read_attrs, read_tree, write_attrs, write_tree
from ._checks import CONFIDENCE, ORDER_FLOOR, VACUOUS_RATIO, Check, Refinement, Verdict, count_verdicts
from ._executors import SerialExecutor, dask_executor, process_executor
from ._settings import _mode, add_run_arguments, make_settings, overrides_from, parse_overrides

__all__ = [
    "Verdict",
    "Refinement",
    "Check",
    "Summary",
    "VACUOUS_RATIO",
    "ORDER_FLOOR",
    "CONFIDENCE",
    "count_verdicts",
    "load_study",
    "is_harness_study",
    "study_description",
    "make_settings",
    "parse_overrides",
    "add_run_arguments",
    "overrides_from",
    "run",
    "submit",
    "collect",
    "finish",
    "Pending",
    "plot",
    "read_study",
    "write_results",
    "SerialExecutor",
    "process_executor",
    "dask_executor",
    "main",
]


@dataclass(frozen=True)
class Summary:
    """What :func:`run` returns: the study, the settings used, its checks, the file."""

    name: str
    settings: Any
    checks: tuple[Check, ...]
    elapsed: float
    path: Path
    figures: tuple[Path, ...] = ()
    results: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: Seconds spent inside the study's cases, summed over cases (on any worker).
    case_seconds: float = math.nan

    @property
    def counts(self) -> dict[str, int]:
        return count_verdicts(self.checks)

    @property
    def table(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        lines = [check.row() for check in self.checks]
        lines.append(f"{self.name}: {len(self.checks)} checks ({counts}) in {self.elapsed:.1f} s")
        return "\n".join(lines)


# ---------------------------------------------------------------------- study modules
def load_study(name: str):
    """Import ``pdediff.studies.NAME`` (``ValueError`` naming the known studies); a
    dotted name (``package.module``) imports that module instead (tests, extensions)."""
    from . import STUDIES

    if isinstance(name, str) and "." in name:
        return importlib.import_module(name)
    if not isinstance(name, str) or name not in STUDIES:
        raise ValueError(f"name: expected one of {sorted(STUDIES)}, got {name!r}")
    return importlib.import_module(f"pdediff.studies.{name}")


def is_harness_study(module) -> bool:
    return all(hasattr(module, attr) for attr in ("Settings", "cases", "compute", "checks",
                                                  "figures"))


def study_description(name: str) -> str:
    """``DESCRIPTION`` of study ``name`` read from its source, without importing it."""
    spec = importlib.util.find_spec(f"pdediff.studies.{name}")
    if spec is None or spec.origin is None:
        return ""
    tree = ast.parse(Path(spec.origin).read_text())
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "DESCRIPTION" for t in targets):
            try:
                return str(ast.literal_eval(node.value))
            except ValueError:
                return ""
    return ""


# ------------------------------------------------------------------------------ files
def _roundtrip(tree: Mapping[str, Any]) -> dict[str, Any]:
    """``tree`` as it reads back from HDF5 (what ``plot`` will see)."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as file:
        write_tree(file, tree)
    with h5py.File(buffer, "r") as file:
        return read_tree(file)


def _check_keys(keys: Sequence[str]) -> None:
    seen = set()
    for key in keys:
        if not isinstance(key, str) or not key or key.startswith("/") or key in seen:
            raise ValueError(f"cases: case keys must be unique non-empty strings, got {key!r}")
        seen.add(key)
    for key in keys:
        parts = key.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in seen:
                raise ValueError(f"cases: key {key!r} lies inside key {'/'.join(parts[:i])!r}")


def write_results(path: Path, name: str, settings, mode: str, results: Mapping[str, dict],
           checks: Sequence[Check], elapsed: float) -> None:
    """Atomically write ``path`` in the layout of this module's docstring."""
    with atomic_h5(path) as file:
        write_attrs(file, {
            "study": name, "pdediff_version": __version__, "mode": mode,
            "quick": mode == "quick", "elapsed_s": float(elapsed),
            "parameters": json.dumps(asdict(settings)),
            "case_keys": json.dumps(list(results)),
            "check_names": json.dumps([c.name for c in checks]),
        })
        group = file.create_group("results")
        for key, value in results.items():
            write_tree(group.create_group(key), value)
        group = file.create_group("checks")
        for check in checks:
            attrs = check.to_attrs()
            attrs["refinement"] = json.dumps(attrs["refinement"])
            write_attrs(group.create_group(check.name), attrs)


def read_study(path: Path) -> tuple[dict[str, Any], dict[str, dict], list[Check]]:
    """Root attributes (``parameters`` decoded), case results and checks of a study file."""
    with h5py.File(path, "r") as file:
        attrs = read_attrs(file)
        if "parameters" in attrs and isinstance(attrs["parameters"], str):
            attrs["parameters"] = json.loads(attrs["parameters"])
        keys = json.loads(attrs["case_keys"]) if "case_keys" in attrs else []
        results = {key: read_tree(file["results"][key]) for key in keys}
        checks = []
        for cname in json.loads(attrs.get("check_names", "[]")):
            cattrs = read_attrs(file["checks"][cname])
            if isinstance(cattrs.get("refinement"), str):
                cattrs["refinement"] = json.loads(cattrs["refinement"])
            if "verdict" in cattrs:
                checks.append(Check.from_attrs(cattrs))
    return attrs, results, checks


# ---------------------------------------------------------------------------- running
def _timed(fn, case, settings) -> tuple[float, float, Any]:
    """``fn(case, settings)`` with its wall-clock start and end (``time.time()``: one
    clock for the driver and the workers of one machine)."""
    begin = time.time()
    result = fn(case, settings)
    return begin, time.time(), result


class _Deferred:
    """A call made when its result is asked for (the serial path of :func:`run`)."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def result(self):
        return self.fn(*self.args)


@dataclass
class Pending:
    """A study whose cases are submitted (:func:`submit`) and not yet collected
    (:func:`collect`, then :func:`finish`)."""

    name: str
    module: Any
    settings: Any
    keys: list[str]
    futures: list[Any]
    start: float  # time.time() at submission
    raw: dict[str, Any] = field(default_factory=dict)
    first_start: float = math.inf  # earliest case start (worker clock)
    case_seconds: float = 0.0  # summed over the collected cases


def submit(name: str, settings: Any = None, *, quick: bool = False,
           overrides: Mapping[str, Any] | None = None,
           executor: Executor | None = None) -> Pending:
    """Build the settings and cases of study ``name`` and submit every case to
    ``executor``; nothing is waited for.

    Parameters
    ----------
    name, settings, quick, overrides
        As for :func:`run`.
    executor
        Anything with ``submit(fn, *args) -> future``; None: each case runs in this
        process when :func:`collect` asks for it.

    Returns
    -------
    Pending
        The study with one future per case (in case order).
    """
    module = load_study(name)
    if not is_harness_study(module):
        raise ValueError(f"name: study {name!r} does not define the harness contract "
                         f"(Settings, cases, compute, checks, figures)")
    settings = make_settings(module, settings, quick=quick, overrides=overrides)
    start = time.time()
    case_list = list(module.cases(settings))
    keys = [case.key for case in case_list]
    _check_keys(keys)
    if executor is None:  # serial, lazily: progress lines then time each case
        futures = [_Deferred(_timed, module.compute, case, settings) for case in case_list]
    else:
        futures = [executor.submit(_timed, module.compute, case, settings)
                   for case in case_list]
    return Pending(name, module, settings, keys, futures, start)


def collect(pending: Pending, progress: bool = True) -> Pending:
    """Wait for every case of ``pending`` in case order.

    Parameters
    ----------
    pending
        From :func:`submit`; cases already collected are skipped.
    progress
        Print one line per case: seconds since submission and inside the case.

    Returns
    -------
    Pending
        ``pending`` itself, with ``raw`` (case key -> result dict), ``first_start``
        (earliest case start, ``time.time()``) and ``case_seconds`` filled in.
    """
    for i, (key, future) in enumerate(zip(pending.keys, pending.futures)):
        if key in pending.raw:
            continue
        begin, end, value = future.result()
        if not isinstance(value, Mapping):
            raise TypeError(f"compute: expected a dict for case {key!r}, got {type(value)}")
        pending.raw[key] = value
        pending.first_start = min(pending.first_start, begin)
        pending.case_seconds += end - begin
        if progress:
            print(f"  [{pending.name} {i + 1}/{len(pending.keys)}] {key}  "
                  f"{end - pending.start:.1f} s (case {end - begin:.1f} s)", flush=True)
    return pending


def finish(pending: Pending, out: Path = Path("data")) -> Summary:
    """Evaluate the checks of a collected study, write ``out/NAME.h5`` atomically and
    draw its figures (collecting first whatever :func:`collect` has not).

    Parameters
    ----------
    pending
        From :func:`submit` (and :func:`collect`).
    out
        Output folder: ``out/NAME.h5`` and ``out/figures/``.

    Returns
    -------
    Summary
        ``elapsed`` is the study's wall span in seconds, from its first case's start
        to its file write (with studies overlapping on one pool it includes time the
        workers gave to other studies); ``case_seconds`` is the time inside its cases.
    """
    if len(pending.raw) != len(pending.keys):
        collect(pending, progress=False)
    module, settings, raw = pending.module, pending.settings, pending.raw
    results = {key: _roundtrip(value) for key, value in raw.items()}
    check_list = list(module.checks(results, settings))
    names = [c.name for c in check_list]
    if len(set(names)) != len(names):
        raise ValueError(f"checks: names must be unique, got {names}")
    first = pending.first_start if math.isfinite(pending.first_start) else pending.start
    elapsed = time.time() - first
    short = pending.name.rsplit(".", 1)[-1]
    path = Path(out) / f"{short}.h5"
    # The file gets the results as computed (labelled arrays keep their dimensions);
    # they read back as ``results``.
    write_results(path, short, settings, _mode(module, settings), raw, check_list, elapsed)
    folder = Path(out) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    paths = tuple(Path(p) for p in module.figures(results, folder))
    return Summary(short, settings, tuple(check_list), elapsed, path, paths, results,
                   pending.case_seconds)


def run(name: str, settings: Any = None, *, quick: bool = False,
        overrides: Mapping[str, Any] | None = None, out: Path = Path("data"),
        progress: bool = True, executor: Executor | None = None) -> Summary:
    """Run study ``name``: every case through ``executor`` (default: serial, in this
    process), then its checks and figures; write ``out/NAME.h5`` atomically.

    :func:`submit`, :func:`collect` and :func:`finish` in one call; the three steps
    apart let several studies share one executor (``pdediff reproduce``).

    Parameters
    ----------
    name
        A study of :data:`pdediff.studies.STUDIES` defining the harness contract.
    settings
        The study's ``Settings``; default ``Settings.quick()`` if ``quick`` else
        ``Settings.full()``.
    overrides
        Field name -> value applied on top (strings parsed by the field's type).
    out
        Output folder: ``out/NAME.h5`` and ``out/figures/``.
    progress
        Print one line per finished case.
    executor
        Anything with ``submit(fn, *args) -> future`` with ``.result()``: a
        :class:`SerialExecutor`, :func:`process_executor`, :func:`dask_executor`.

    Returns
    -------
    Summary
        ``elapsed`` is the wall time from the first case's start to the file write.
    """
    pending = submit(name, settings, quick=quick, overrides=overrides, executor=executor)
    return finish(collect(pending, progress=progress), Path(out))


def plot(name: str, out: Path = Path("data")) -> list[Path]:
    """Redraw every figure of study ``name`` from ``out/NAME.h5`` (no recomputation)."""
    module = load_study(name)
    if not is_harness_study(module):
        raise ValueError(f"name: study {name!r} has no figures(results, folder) to redraw")
    path = Path(out) / f"{name.rsplit('.', 1)[-1]}.h5"
    if not path.exists():
        raise ValueError(f"out: {path} not found; run `pdediff run {name}` first")
    _, results, _ = read_study(path)
    folder = Path(out) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(p) for p in module.figures(results, folder)]


def main(name: str, argv: Sequence[str] | None = None) -> int:
    """The command line of the ``studies/NAME.py`` scripts (same as ``pdediff run NAME``)."""
    parser = argparse.ArgumentParser(prog=f"studies/{name}.py",
                                     description=study_description(name))
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    summary = run(name, quick=args.quick, overrides=overrides_from(args), out=Path(args.out),
                  progress=not args.quiet)
    print(summary.table)
    return 0

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
  (lists/tuples of numbers become arrays, other lists are stored as JSON).  It must not
  depend on global state: the same ``(case, settings)`` gives the same bits in any
  process, so serial, ``--jobs N`` and Dask runs write identical results.
* ``results`` maps case key -> the dict ``compute`` returned, *as read back from HDF5*
  (``checks`` and ``figures`` see exactly what ``pdediff plot NAME`` sees later; arrays
  come back as numpy arrays, tuples as arrays).  Everything a figure needs goes into a
  case's result.

The harness owns the rest: :func:`run` (settings and overrides, the executor, the
clock, progress, the atomic file ``out/NAME.h5``, figures, the :class:`Summary`),
:func:`plot` (figures redrawn from the file), :func:`main` (the four-line
``studies/NAME.py`` scripts).

File layout of ``out/NAME.h5``: root attributes ``study``, ``pdediff_version``,
``parameters`` (JSON of ``asdict(settings)``, the values actually used), ``mode``
(``"quick"``, ``"full"`` or ``"custom"``), ``quick`` (bool), ``elapsed_s``, ``case_keys``;
group ``results/<case key>`` (the case's dict); group ``checks/<name>`` with the
:class:`Check` fields as attributes (``refinement`` as JSON).

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
  if the violation is exactly zero at the finest resolutions after having been positive
  only at coarser ones; FAIL otherwise.  The fitted order and interval are kept in
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
import dataclasses
import importlib
import importlib.util
import io
import json
import math
import os
import sys
import time
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .._version import __version__
from ..io import atomic_h5, read_attrs, read_tree, write_attrs, write_tree

__all__ = [
    "Verdict",
    "Refinement",
    "Check",
    "Summary",
    "VACUOUS_RATIO",
    "ORDER_FLOOR",
    "load_study",
    "is_harness_study",
    "study_description",
    "make_settings",
    "parse_overrides",
    "run",
    "plot",
    "read_study",
    "write_results",
    "SerialExecutor",
    "process_executor",
    "dask_executor",
    "main",
]

#: A bound that holds with measured/bound below this carries no evidence (VACUOUS).
VACUOUS_RATIO = 1e-2
#: A vanishing tolerance passes only if the lower end of the 95 % interval of its
#: fitted order lies above this.
ORDER_FLOOR = 0.5
CONFIDENCE = 0.95


class Verdict(str, Enum):
    """The four verdicts; the report counts each separately."""

    PASS = "PASS"
    FAIL = "FAIL"
    VACUOUS = "VACUOUS"
    OBSERVATION = "OBSERVATION"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Refinement:
    """Evidence that a raw violation vanishes under refinement.

    ``h``: resolution parameter (e.g. spacing), ``>= 3`` values; ``violation``: raw
    violation (``>= 0``) at each; ``order``, ``low``, ``high``: the fitted order of
    ``violation ~ C h^order`` and its 95 % interval over the nonzero violations
    (``nan`` when fewer than 3 are nonzero).
    """

    h: tuple[float, ...]
    violation: tuple[float, ...]
    order: float = math.nan
    low: float = math.nan
    high: float = math.nan

    def text(self) -> str:
        pairs = ", ".join(f"{h:.3g}:{v:.2g}" for h, v in zip(self.h, self.violation))
        if math.isnan(self.order):
            return f"violation by h {{{pairs}}}"
        return (f"order {self.order:.3g} [{self.low:.3g}, {self.high:.3g}] "
                f"(violation by h {{{pairs}}})")


def _floats(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError(f"{name}: expected at least one value")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or inf")
    return arr


@dataclass(frozen=True)
class Check:
    """One verified (or observed) statement, with its pre-stated criterion.

    ``statement``: the claim; ``criterion``: how the verdict is decided, written before
    the numbers; ``worst``: the worst measured value; ``margin``: signed slack of the
    criterion (``>= 0`` where the criterion is met; units in ``criterion``);
    ``figure``: path relative to the output folder; ``detail``: free text (which case
    was worst, an explanation of a FAIL); ``refinement``: vanishing-tolerance evidence.

    Build checks with the constructors, which encode the verdict rules.
    """

    name: str
    statement: str
    criterion: str
    verdict: Verdict
    worst: float
    margin: float
    figure: str = ""
    detail: str = ""
    refinement: Refinement | None = None

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS

    # ------------------------------------------------------------------ constructors
    @classmethod
    def bound(cls, name: str, statement: str, measured: Any, bound: Any, *,
              criterion: str = "", figure: str = "", detail: str = "") -> Check:
        """A proven upper bound ``measured <= bound`` (elementwise over cases).

        FAIL if ``measured > bound`` anywhere; VACUOUS if it holds everywhere with
        ``max(measured / bound) < 1e-2``; else PASS.  ``worst`` is the largest ratio
        ``measured / bound`` (the tightest case), ``margin = 1 - worst``.  ``bound``
        must be positive.
        """
        m = _floats(measured, "measured")
        b = np.broadcast_to(_floats(bound, "bound"), m.shape) if np.size(bound) == 1 else \
            _floats(bound, "bound")
        if b.shape != m.shape:
            raise ValueError(f"bound: expected one value or shape {m.shape}, got {b.shape}")
        if np.any(b <= 0):
            raise ValueError("bound: expected positive bounds (measured/bound is the evidence)")
        ratio = m / b
        worst = float(ratio.max())
        if worst > 1.0:
            verdict = Verdict.FAIL
        elif worst < VACUOUS_RATIO:
            verdict = Verdict.VACUOUS
        else:
            verdict = Verdict.PASS
        text = criterion or (f"measured/bound <= 1 in every case; PASS if the largest ratio is "
                             f">= {VACUOUS_RATIO:g}, VACUOUS below")
        return cls(name, statement, text, verdict, worst, 1.0 - worst, figure, detail)

    @classmethod
    def vanishing(cls, name: str, statement: str, h: Any, violation: Any, *,
                  criterion: str = "", ratio: float | None = None, figure: str = "",
                  detail: str = "") -> Check:
        """A continuum property whose discrete violation must vanish under refinement.

        ``h``: ``>= 3`` distinct positive resolutions of one physical setting (refine
        the time tolerance with them); ``violation``: raw violation ``>= 0`` at each
        (the worst over cases at that resolution).  PASS if all are zero; if the
        nonzero ones are followed by exact zeros at every finer resolution; or if
        ``>= 3`` are nonzero and the 95 % interval of the fitted order ``q`` of
        ``violation ~ C h^q`` lies above 0.5.  Otherwise FAIL.  ``worst``: the
        violation at the finest ``h``; ``margin``: ``low - 0.5`` (``+inf`` when no
        fit was needed, ``-inf`` when no fit was possible).  ``ratio``: optional
        measured/bound at the finest ``h``; a PASS with ``ratio < 1e-2`` is VACUOUS.
        """
        from ..metrics import observed_order

        hh = _floats(h, "h")
        vv = _floats(violation, "violation")
        if hh.shape != vv.shape:
            raise ValueError(f"violation: expected one value per h ({hh.size}), got {vv.size}")
        if hh.size < 3:
            raise ValueError(f"h: a vanishing tolerance needs >= 3 resolutions, got {hh.size}")
        if np.any(hh <= 0) or np.unique(hh).size != hh.size:
            raise ValueError("h: expected distinct positive resolutions")
        if np.any(vv < 0):
            raise ValueError("violation: expected the raw violation (negative part), >= 0")
        order = np.argsort(hh)[::-1]  # coarse to fine
        hh, vv = hh[order], vv[order]
        nonzero = vv > 0
        fit = (math.nan, math.nan, math.nan)
        if nonzero.sum() >= 3:
            rate = observed_order(hh[nonzero], vv[nonzero], CONFIDENCE)
            fit = (rate.slope, rate.ci[0], rate.ci[1])
        last = np.flatnonzero(nonzero)
        if not nonzero.any():
            verdict, margin = Verdict.PASS, math.inf
        elif last[-1] < vv.size - 1:
            # Exactly zero at every resolution finer than the last violation.
            verdict, margin = Verdict.PASS, math.inf
        elif math.isnan(fit[0]):
            verdict, margin = Verdict.FAIL, -math.inf
        else:
            margin = fit[1] - ORDER_FLOOR
            verdict = Verdict.PASS if margin > 0 else Verdict.FAIL
        if verdict is Verdict.PASS and ratio is not None and ratio < VACUOUS_RATIO:
            verdict = Verdict.VACUOUS
        text = criterion or (
            f"raw violation at >= 3 resolutions (h and rtol refined together): PASS iff zero, "
            f"or zero at the finest after positive at coarser, or its fitted order's 95% "
            f"interval lies above {ORDER_FLOOR}")
        refinement = Refinement(tuple(hh.tolist()), tuple(vv.tolist()), *fit)
        return cls(name, statement, text, verdict, float(vv[-1]), float(margin), figure,
                   detail, refinement)

    @classmethod
    def interval(cls, name: str, statement: str, estimate: float, low: float, high: float,
                 target: float, side: str = "contains", *, criterion: str = "",
                 figure: str = "", detail: str = "") -> Check:
        """A plain 95 % interval ``[low, high]`` of ``estimate`` against ``target``.

        ``side="above"``: PASS iff ``low > target`` (margin ``low - target``);
        ``"below"``: PASS iff ``high < target`` (margin ``target - high``);
        ``"contains"``: PASS iff ``low <= target <= high`` (margin the distance of
        ``target`` inside the nearer end).  Anything else FAILs.
        """
        est, lo, hi, tgt = (float(v) for v in (estimate, low, high, target))
        if not all(math.isfinite(v) for v in (est, lo, hi, tgt)):
            verdict, margin = Verdict.FAIL, -math.inf
        elif lo > hi:
            raise ValueError(f"low: expected low <= high, got [{lo}, {hi}]")
        else:
            if side == "above":
                margin = lo - tgt
            elif side == "below":
                margin = tgt - hi
            elif side == "contains":
                margin = min(tgt - lo, hi - tgt)
            else:
                raise ValueError(f"side: expected 'above', 'below' or 'contains', got {side!r}")
            strict = side != "contains"
            verdict = Verdict.PASS if (margin > 0 if strict else margin >= 0) else Verdict.FAIL
        text = criterion or {
            "above": f"plain 95% interval lies above {tgt:g}",
            "below": f"plain 95% interval lies below {tgt:g}",
            "contains": f"plain 95% interval contains {tgt:g}",
        }.get(side, side)
        detail = (f"estimate {est:.4g}, 95% interval [{lo:.4g}, {hi:.4g}]"
                  + (f"; {detail}" if detail else ""))
        return cls(name, statement, text, verdict, est, margin, figure, detail)

    @classmethod
    def observation(cls, name: str, statement: str, value: float, detail: str = "", *,
                    figure: str = "") -> Check:
        """A measured property that no theorem states: OBSERVATION, never a pass or fail."""
        return cls(name, statement, "none: no theorem states this; recorded, not judged",
                   Verdict.OBSERVATION, float(value), math.nan, figure, detail)

    # ------------------------------------------------------------------------ output
    def row(self) -> str:
        evidence = f"  {self.refinement.text()}" if self.refinement is not None else ""
        tail = f"  {self.detail}" if self.detail else ""
        return (f"{self.verdict.value:<11} {self.name}: worst {self.worst:.4g}, margin "
                f"{self.margin:.3g}{evidence}{tail}")

    def to_attrs(self) -> dict[str, Any]:
        values = asdict(self)
        values["verdict"] = self.verdict.value
        values["passed"] = self.passed
        values["refinement"] = None if self.refinement is None else asdict(self.refinement)
        return values

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Check:
        ref = attrs.get("refinement")
        refinement = None if not ref else Refinement(
            tuple(ref["h"]), tuple(ref["violation"]),
            *(math.nan if ref[k] is None else float(ref[k]) for k in ("order", "low", "high")))
        return cls(str(attrs["name"]), str(attrs.get("statement", "")),
                   str(attrs.get("criterion", "")), Verdict(attrs["verdict"]),
                   float(attrs.get("worst", math.nan)), float(attrs.get("margin", math.nan)),
                   str(attrs.get("figure", "")), str(attrs.get("detail", "")), refinement)


def count_verdicts(checks: Iterable[Check]) -> dict[str, int]:
    counts = {v.value: 0 for v in Verdict}
    for check in checks:
        counts[check.verdict.value] += 1
    return counts


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
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
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


# -------------------------------------------------------------------------- executors
class SerialExecutor(Executor):
    """Runs each submitted call at once, in this process."""

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # delivered through the future, as a pool would
            future.set_exception(error)
        return future


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _limit_threads(threads: int) -> None:
    """Worker initializer: cap numba/BLAS/OpenMP threads at ``threads``."""
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def process_executor(jobs: int) -> Executor:
    """A process pool of ``jobs`` fresh (spawned) workers, each with
    ``max(1, cores // jobs)`` numba threads so the cores are not oversubscribed."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from .._validate import positive_int

    jobs = positive_int(jobs, "jobs")
    threads = max(1, _cores() // jobs)
    return ProcessPoolExecutor(jobs, mp_context=get_context("spawn"),
                               initializer=_limit_threads, initargs=(threads,))


def _worker_threads(nthreads: int) -> int:
    import numba

    threads = max(1, min(numba.config.NUMBA_NUM_THREADS, _cores() // max(1, nthreads)))
    numba.set_num_threads(threads)
    return threads


def dask_executor(address: Any):
    """A ``dask.distributed.Client`` for a scheduler ``address`` (or a ``LocalCluster``),
    usable as an executor; each worker's numba threads are set to its host's cores
    divided by the threads of the workers on that host."""
    try:
        from distributed import Client
    except ImportError as error:  # pragma: no cover - optional extra
        raise ImportError("--scheduler needs dask.distributed: pip install pdediff[dask]") \
            from error
    client = Client(address)
    workers = client.scheduler_info()["workers"]
    per_host: dict[str, int] = {}
    for info in workers.values():
        per_host[info["host"]] = per_host.get(info["host"], 0) + int(info["nthreads"])
    for address_, info in workers.items():
        client.run(_worker_threads, per_host[info["host"]], workers=[address_])
    return client


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
            "parameters": json.dumps(asdict(settings)), "case_keys": json.dumps(list(results)),
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
        for cname in file.get("checks", {}):
            cattrs = read_attrs(file["checks"][cname])
            if isinstance(cattrs.get("refinement"), str):
                cattrs["refinement"] = json.loads(cattrs["refinement"])
            if "verdict" in cattrs:
                checks.append(Check.from_attrs(cattrs))
    return attrs, results, checks


# ---------------------------------------------------------------------------- running
def run(name: str, settings: Any = None, *, quick: bool = False,
        overrides: Mapping[str, Any] | None = None, out: Path = Path("data"),
        progress: bool = True, executor: Executor | None = None) -> Summary:
    """Run study ``name``: every case through ``executor`` (default: serial, in this
    process), then its checks and figures; write ``out/NAME.h5`` atomically.

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
    """
    module = load_study(name)
    if not is_harness_study(module):
        raise ValueError(f"name: study {name!r} does not define the harness contract "
                         f"(Settings, cases, compute, checks, figures)")
    settings = make_settings(module, settings, quick=quick, overrides=overrides)
    out = Path(out)
    start = time.perf_counter()
    case_list = list(module.cases(settings))
    keys = [case.key for case in case_list]
    _check_keys(keys)
    pool = executor if executor is not None else SerialExecutor()
    futures = [pool.submit(module.compute, case, settings) for case in case_list]
    raw = {}
    for i, (key, future) in enumerate(zip(keys, futures)):
        raw[key] = future.result()
        if not isinstance(raw[key], Mapping):
            raise TypeError(f"compute: expected a dict for case {key!r}, got {type(raw[key])}")
        if progress:
            print(f"  [{name} {i + 1}/{len(keys)}] {key}  {time.perf_counter() - start:.1f} s",
                  flush=True)
    results = {key: _roundtrip(value) for key, value in raw.items()}
    check_list = list(module.checks(results, settings))
    names = [c.name for c in check_list]
    if len(set(names)) != len(names):
        raise ValueError(f"checks: names must be unique, got {names}")
    elapsed = time.perf_counter() - start
    short = name.rsplit(".", 1)[-1]
    path = out / f"{short}.h5"
    write_results(path, short, settings, _mode(module, settings), results, check_list, elapsed)
    folder = out / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    paths = tuple(Path(p) for p in module.figures(results, folder))
    return Summary(short, settings, tuple(check_list), elapsed, path, paths, results)


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
        import tomllib  # Python >= 3.11

        with open(args.config, "rb") as stream:
            values.update(tomllib.load(stream))
    values.update(parse_overrides(getattr(args, "overrides", [])))
    return values


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

"""The one set of argument checks used across pdediff.

Every checker takes ``(value, name, ...)`` in that order, returns the value in its
canonical type, and raises

* ``TypeError`` when the value has the wrong type (``dt="0.1"``), or
* ``ValueError`` when it has the right type but an illegal value,

with a message that starts with the argument's name and says what was expected.
Modules import from here rather than writing their own near-copies.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "real",
    "positive",
    "nonnegative",
    "integer",
    "positive_int",
    "probability",
    "real_in",
    "positive_array",
    "grid_field",
    "density",
    "eps",
    "choice",
    "forward_time",
    "times",
    "points",
    "real_array",
    "rng",
    "seed_sequence",
    "weights",
    "process",
    "disjoint",
]


def _is_bool(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_))


def real(value: Any, name: str, *, finite: bool = True) -> float:
    """``value`` as a Python float; strings, booleans and arrays of size != 1 are refused."""
    if _is_bool(value) or isinstance(value, (str, bytes)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} {value!r}") from error
    if finite and not math.isfinite(out):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return out


def positive(value: Any, name: str) -> float:
    """A finite float > 0."""
    out = real(value, name)
    if out <= 0:
        raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
    return out


def nonnegative(value: Any, name: str) -> float:
    """A finite float >= 0."""
    out = real(value, name)
    if out < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return out


def probability(value: Any, name: str, *, open_left: bool = False, open_right: bool = False) -> float:
    """A float in [0, 1] (ends excluded on request)."""
    out = real(value, name)
    low_ok = out > 0 if open_left else out >= 0
    high_ok = out < 1 if open_right else out <= 1
    if not (low_ok and high_ok):
        left = "(" if open_left else "["
        right = ")" if open_right else "]"
        raise ValueError(f"{name}: expected a number in {left}0, 1{right}, got {value!r}")
    return out


def real_in(value: Any, name: str, low: float, high: float) -> float:
    """A float in the closed interval ``[low, high]`` (``high = inf`` admits inf; NaN
    is refused)."""
    out = real(value, name, finite=False)
    if not low <= out <= high:
        raise ValueError(f"{name}: expected a number in [{low:g}, {high:g}], got {value!r}")
    return out


def integer(value: Any, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """A Python int (numpy integers accepted, booleans and floats refused) in [minimum, maximum]."""
    if _is_bool(value) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__} {value!r}")
    out = int(value)
    if minimum is not None and out < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    if maximum is not None and out > maximum:
        raise ValueError(f"{name}: expected an int <= {maximum}, got {value!r}")
    return out


def positive_int(value: Any, name: str) -> int:
    """An int >= 1."""
    return integer(value, name, minimum=1)


def eps(value: Any, name: str = "eps") -> float:
    """The reverse-family parameter: a finite float >= 0 (0 = ODE, 1 = SDE)."""
    return nonnegative(value, name)


def choice(value: Any, name: str, options: Any) -> Any:
    """``value`` if it is one of ``options``."""
    options = tuple(options)
    if value not in options:
        raise ValueError(f"{name}: expected one of {sorted(map(str, options))}, got {value!r}")
    return value


def forward_time(
    value: Any, name: str = "t", *, positive_only: bool = False, T: float | None = None
) -> float:
    """A forward time: finite, >= 0 (> 0 with ``positive_only``) and <= ``T`` if given."""
    out = real(value, name)
    if out < 0 or (positive_only and out == 0):
        bound = "> 0" if positive_only else ">= 0"
        raise ValueError(f"{name}: expected a finite forward time {bound}, got {value!r}")
    if T is not None and out > T * (1 + 1e-12):
        raise ValueError(f"{name}: time {out:.6g} is past the process horizon T = {T:.6g}")
    return out


def real_array(value: Any, name: str, *, finite: bool = True, dtype: Any = np.float64) -> np.ndarray:
    """A real array (ints promoted); ragged, complex, string or object input refused."""
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested sequences (numpy >= 1.24 raises)
        raise ValueError(f"{name}: expected a rectangular array, got a ragged sequence") from error
    if array.dtype == object:
        raise ValueError(f"{name}: expected a rectangular real array, got a ragged or object sequence")
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a real array, got dtype {array.dtype}")
    array = array.astype(dtype, copy=False)
    if finite and not np.all(np.isfinite(array)):
        raise ValueError(f"{name}: contains NaN or inf")
    return array


def positive_array(value: Any, name: str, *, ndim: int | None = None) -> np.ndarray:
    """A finite float array (:func:`real_array`) whose entries are all > 0, with
    ``ndim`` axes if given (e.g. the data of a log-log fit)."""
    array = real_array(value, name)
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-D array, got shape {array.shape}")
    if array.size and array.min() <= 0:
        raise ValueError(f"{name}: expected positive values, min is {array.min():.3g}")
    return array


def grid_field(value: Any, grid: Any, name: str) -> np.ndarray:
    """A finite real field of shape ``grid.shape`` on a :class:`pdediff.Grid` (any
    sign): ``grid.check_field``, after checking that ``grid`` is a Grid."""
    from .grid import Grid  # the grid module imports this one

    if not isinstance(grid, Grid):
        raise TypeError(f"grid: expected a pdediff.Grid, got {type(grid).__name__}")
    return grid.check_field(value, name)


def density(value: Any, grid: Any, name: str, *, mass_rtol: float | None = None) -> np.ndarray:
    """A density of cell averages on a :class:`pdediff.Grid`: ``grid.check_density``
    (finite, shape ``grid.shape``, >= 0) and, with ``mass_rtol``, integral 1 within it."""
    from .grid import Grid

    if not isinstance(grid, Grid):
        raise TypeError(f"grid: expected a pdediff.Grid, got {type(grid).__name__}")
    array = grid.check_density(value, name)
    if mass_rtol is not None:
        mass = grid.integrate(array)
        if abs(mass - 1.0) > mass_rtol:
            raise ValueError(
                f"{name}: expected a probability density (integral 1 within {mass_rtol:g}), "
                f"got integral {mass:.12g}; normalise it with grid.normalize({name})")
    return array


def times(
    value: Any,
    name: str = "t_eval",
    *,
    increasing: bool | None = None,
    minimum_count: int = 1,
    T: float | None = None,
) -> np.ndarray:
    """A 1-D float array of finite forward times >= 0.

    ``increasing=True`` asks for strictly increasing times (forward solves),
    ``False`` for strictly decreasing ones (reverse solves, T down to t0), ``None``
    for any order.  With ``T`` every time must be <= T (no silent extrapolation of
    the noise schedule past its horizon).
    """
    array = real_array(value, name).ravel()
    if array.size < minimum_count:
        raise ValueError(f"{name}: expected at least {minimum_count} times, got {array.size}")
    if np.any(array < 0):
        raise ValueError(f"{name}: forward times must be >= 0, got min {array.min():.6g}")
    if T is not None and np.any(array > T * (1 + 1e-12)):
        raise ValueError(
            f"{name}: times must be <= the process horizon T = {T:.6g}, got max {array.max():.6g}"
        )
    steps = np.diff(array)
    if increasing is True and np.any(steps <= 0):
        raise ValueError(f"{name}: expected strictly increasing times for a forward solve")
    if increasing is False and np.any(steps >= 0):
        raise ValueError(
            f"{name}: expected strictly decreasing times (from T down to t0) for a reverse solve"
        )
    return array


def points(
    value: Any, name: str = "x", ndim: int | None = None, *, flat: bool = False, finite: bool = True
) -> np.ndarray:
    """Points of shape ``(..., ndim)`` (or ``(N, ndim)`` with ``flat``), floats (finite
    unless ``finite=False``).

    With ``flat`` a 1-D array is read as N points in 1-D and ``ndim`` must be 1-3.
    """
    array = real_array(value, name, finite=finite)
    if array.ndim == 0:
        raise ValueError(f"{name}: expected points of shape (..., n), got a scalar")
    if flat:
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[1] not in (1, 2, 3) or array.shape[0] < 1:
            raise ValueError(
                f"{name}: expected positions of shape (N, ndim) with N >= 1 and ndim in 1..3 "
                f"(or (N,) in 1-D), got shape {np.shape(value)}"
            )
    if ndim is not None and array.shape[-1] != ndim:
        raise ValueError(f"{name}: expected last dimension {ndim}, got shape {array.shape}")
    return array


def weights(value: Any, n: int, name: str = "weights") -> np.ndarray:
    """Nonnegative finite weights of shape ``(n,)`` with a positive sum, normalised to
    sum 1; ``None`` gives uniform weights."""
    if value is None:
        return np.full(n, 1.0 / n)
    w = real_array(value, name)
    if w.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},) (one weight per point), got {w.shape}")
    if np.any(w < 0):
        raise ValueError(f"{name}: weights must be nonnegative, min is {w.min():.3g}")
    total = float(np.sum(w, dtype=np.float64))
    if not total > 0:
        raise ValueError(f"{name}: weights must have a positive sum")
    return w / total


def disjoint(value: np.ndarray, name: str, others: dict[str, np.ndarray]) -> np.ndarray:
    """``value`` (an array a kernel writes) unchanged, after checking that its memory
    overlaps none of ``others`` (name -> array the kernel reads or also writes).
    ``np.may_share_memory`` compares memory bounds only (no element scan), so
    interleaved views of one buffer count as overlapping."""
    for other_name, other in others.items():
        if np.may_share_memory(value, other):
            raise ValueError(f"{name}: must not overlap {other_name} (the kernel reads "
                             f"{other_name} while it writes {name}); pass a separate array")
    return value


def rng(seed: Any, name: str = "seed") -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int seed (or the generator itself)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if _is_bool(seed) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{name}: expected an int or numpy.random.Generator, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{name}: expected an int >= 0, got {seed!r}")
    return np.random.default_rng(int(seed))


def process(value: Any, name: str = "process"):
    """A :class:`pdediff.processes.ForwardProcess`."""
    from .processes import ForwardProcess

    if not isinstance(value, ForwardProcess):
        raise TypeError(
            f"{name}: expected a pdediff ForwardProcess (HeatFlow, OU, VP, SubVP, VE), "
            f"got {type(value).__name__}"
        )
    return value


def seed_sequence(value: Any, name: str = "seed") -> np.random.SeedSequence:
    """A fresh ``numpy.random.SeedSequence`` from an int >= 0, a SeedSequence (copied,
    so spawning from the result never advances the caller's) or ``None`` (fresh
    entropy)."""
    if isinstance(value, np.random.SeedSequence):
        return np.random.SeedSequence(
            value.entropy, spawn_key=value.spawn_key, pool_size=value.pool_size
        )
    if value is None:
        return np.random.SeedSequence()
    if _is_bool(value) or not isinstance(value, (int, np.integer)):
        raise TypeError(
            f"{name}: expected an int >= 0, a numpy SeedSequence or None, got {value!r}"
        )
    if value < 0:
        raise ValueError(f"{name}: expected an int >= 0, got {value!r}")
    return np.random.SeedSequence(int(value))

"""Argument checks shared by the forward and reverse solvers."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..processes import ForwardProcess


def check_process(process: Any) -> ForwardProcess:
    if not isinstance(process, ForwardProcess):
        raise TypeError(
            f"process: expected a pdediff ForwardProcess (HeatFlow, OU, VP, SubVP, VE), "
            f"got {type(process).__name__}"
        )
    return process


def check_times(t_eval: Any, increasing: bool) -> np.ndarray:
    """``t_eval`` as a float array of at least two finite times ``>= 0``, strictly
    increasing (forward solves) or strictly decreasing (reverse solves)."""
    try:
        times = np.array(t_eval, dtype=float).ravel()
    except (TypeError, ValueError) as error:
        raise TypeError(f"t_eval: expected a sequence of times, got {t_eval!r}") from error
    if times.size < 2:
        raise ValueError(f"t_eval: expected at least two times, got {times.size}")
    if not np.all(np.isfinite(times)):
        raise ValueError("t_eval: times must be finite")
    if np.any(times < 0):
        raise ValueError(f"t_eval: forward times must be >= 0, got min {times.min():.6g}")
    steps = np.diff(times)
    if increasing and np.any(steps <= 0):
        raise ValueError("t_eval: expected strictly increasing times for a forward solve")
    if not increasing and np.any(steps >= 0):
        raise ValueError(
            "t_eval: expected strictly decreasing times (from T down to t0) for a reverse solve"
        )
    return times

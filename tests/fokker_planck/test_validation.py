"""Argument checks of the solvers: every number type-checked by name, the process
horizon, and the memory guard."""

import numpy as np
import pytest

import pdediff
from pdediff import _resources
from pdediff.fokker_planck import solve_forward, solve_reverse

GRID = pdediff.Grid([(-2.0, 2.0)], 8)
GOOD = np.ones(8) / 4.0


def _forward(**kwargs):
    arguments = {"p0": GOOD, "grid": GRID, "process": pdediff.OU(), "t_eval": [0.0, 0.1]}
    arguments.update(kwargs)
    return solve_forward(**arguments)


def _reverse(**kwargs):
    arguments = {"q_T": GOOD, "grid": GRID, "process": pdediff.OU(), "score": lambda x, t: -x,
                 "t_eval": [1.0, 0.5]}
    arguments.update(kwargs)
    return solve_reverse(**arguments)


@pytest.mark.parametrize("solve", [_forward, _reverse], ids=["forward", "reverse"])
@pytest.mark.parametrize("name", ["dt", "rtol", "atol", "first_step", "max_steps",
                                  "stiffness_ratio"])
@pytest.mark.parametrize("bad", ["0.1", [0.1], True])
def test_numeric_arguments_are_type_checked_by_name(solve, name, bad):
    with pytest.raises(TypeError, match=name):
        solve(**{name: bad})


@pytest.mark.parametrize("bad", ["1.0", None, [1.0]])
def test_eps_is_type_checked(bad):
    with pytest.raises(TypeError, match="eps"):
        _reverse(eps=bad)


@pytest.mark.parametrize("name, value", [("dt", 0.0), ("rtol", 1.0), ("atol", -1.0),
                                         ("first_step", np.inf), ("max_steps", 0),
                                         ("stiffness_ratio", 0.5)])
def test_numeric_arguments_are_range_checked_by_name(name, value):
    with pytest.raises(ValueError, match=name):
        _forward(**{name: value})


def test_t_eval_past_the_horizon_names_t_eval():
    process = pdediff.VP(T=1.0)
    with pytest.raises(ValueError, match="t_eval.*horizon"):
        _forward(process=process, t_eval=[0.0, 1.5])
    with pytest.raises(ValueError, match="t_eval.*horizon"):
        _reverse(process=process, t_eval=[1.2, 0.5])


def test_huge_grid_is_refused_at_once(monkeypatch):
    """With 1 GB available a 400^3 grid holds one field (0.5 GB) but not a solve's work
    arrays: both solvers refuse before allocating, naming themselves and the shape.
    (A grid of which not even one field fits is refused by Grid itself.)"""
    monkeypatch.setattr(_resources, "available_memory", lambda: 1e9)
    grid = pdediff.Grid([(-1.0, 1.0)] * 3, 400)
    with pytest.raises(MemoryError, match="solve_forward.*400, 400, 400"):
        solve_forward(np.ones(3), grid, pdediff.OU(), [0.0, 1.0])
    with pytest.raises(MemoryError, match="solve_reverse"):
        solve_reverse(np.ones(3), grid, pdediff.OU(), lambda x, t: -x, [1.0, 0.0])
    with pytest.raises(MemoryError, match="Grid"):
        pdediff.Grid([(-1.0, 1.0)] * 3, 10000)


def test_memory_guard_counts_the_snapshots(monkeypatch):
    """64^2 cells, 8 bytes each: 100 snapshots need > 3 MB; with 2 MB available the
    solve is refused before allocating, with 1 GB it runs."""
    grid = pdediff.Grid([(-2.0, 2.0)] * 2, 64)
    p0 = np.ones(grid.shape)
    times = np.linspace(0.0, 0.01, 100)
    monkeypatch.setattr(_resources, "SMALL_REQUEST", 0)
    monkeypatch.setattr(_resources, "available_memory", lambda: 2e6)
    with pytest.raises(MemoryError, match="solve_forward"):
        solve_forward(p0, grid, pdediff.OU(), times, method="ssprk3")
    monkeypatch.setattr(_resources, "available_memory", lambda: 1e9)
    assert solve_forward(p0, grid, pdediff.OU(), times, method="ssprk3").p.shape[0] == 100

"""The work fields lent from one solve to the next (``stepping._Workspace``): a solve
on lent fields gives the same bits as on fresh ones, never shares them with another
solve, and never hands out memory that a result holds."""

import threading

import numpy as np

import pdediff
from pdediff.distributions import GaussianMixture
from pdediff.fokker_planck import stepping


def _problem(cells=24):
    grid = pdediff.Grid([(-4.0, 4.0)] * 2, cells)
    p0 = grid.normalize(GaussianMixture([[-1.0, 0.0], [1.0, 0.5]], [0.4, 0.6]).cell_average(grid))
    return grid, p0


def _solve(grid, p0, **kwargs):
    return pdediff.solve_forward(p0, grid, pdediff.OU(), [0.0, 0.05, 0.1], **kwargs)


def test_lent_fields_give_the_same_bits_as_fresh_ones(monkeypatch):
    grid, p0 = _problem()
    for kwargs in ({"method": "euler", "dt": 1e-3}, {"method": "ssprk3"},
                   {"method": "auto"}):
        monkeypatch.setattr(stepping, "_WORKSPACE", stepping._Workspace())
        fresh = _solve(grid, p0, **kwargs)
        # The spare fields now hold the last solve's numbers: a second solve on them
        # must not see any of it.
        lent = _solve(grid, p0, **kwargs)
        assert np.array_equal(fresh.p, lent.p), kwargs
        assert fresh.metadata["n_steps"] == lent.metadata["n_steps"]


def test_a_solve_takes_the_spare_set_and_results_never_alias_it(monkeypatch):
    workspace = stepping._Workspace()
    monkeypatch.setattr(stepping, "_WORKSPACE", workspace)
    grid, p0 = _problem()
    first = _solve(grid, p0, method="euler", dt=1e-3)
    spare = workspace._spare
    assert spare is not None and len(spare[1]) == 6
    second = _solve(grid, p0, method="euler", dt=1e-3)
    assert workspace._spare is not None and workspace._spare[1] is spare[1]  # reused
    for field in spare[1]:
        assert not np.shares_memory(field, first.p) and not np.shares_memory(field, second.p)
        assert not np.shares_memory(field, p0)
    # Another shape gets fresh fields; the spare set becomes the new shape's.
    other_grid, other_p0 = _problem(16)
    _solve(other_grid, other_p0, method="euler", dt=1e-3)
    assert workspace._spare[0] == (16, 1, 16)


def test_concurrent_takes_never_share_fields():
    workspace = stepping._Workspace()
    workspace.give((4, 1, 4), [np.empty((4, 1, 4)) for _ in range(6)])
    taken = []
    barrier = threading.Barrier(4)

    def take():
        barrier.wait()
        taken.append(workspace.take((4, 1, 4), 6))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [id(field) for fields in taken for field in fields]
    assert len(ids) == 24 and len(set(ids)) == 24

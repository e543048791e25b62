import h5py
import numpy as np
import pytest

import pdediff
from pdediff.fokker_planck import solve_forward


def test_save_load_round_trip_is_bit_for_bit(tmp_path):
    grid = pdediff.Grid([(-3, 3), (-3, 3)], (12, 10), bc=["noflux", "periodic"])
    rng = np.random.default_rng(1)
    p0 = grid.normalize(rng.random(grid.shape))
    solution = solve_forward(p0, grid, pdediff.HeatFlow(0.3), [0.0, 0.01, 0.02])
    path = solution.save(tmp_path / "s.h5")
    back = pdediff.load(path)
    assert back.grid == grid
    assert back.process == solution.process
    assert back.t.tobytes() == solution.t.tobytes()
    assert back.p.tobytes() == solution.p.tobytes()
    assert back.metadata["n_steps"] == solution.metadata["n_steps"]
    assert back.metadata["direction"] == "forward"
    np.testing.assert_array_equal(back.at(0.01), solution.p[1])


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as file:
        file["x"] = 1
    with pytest.raises(ValueError, match="path"):
        pdediff.load(path)

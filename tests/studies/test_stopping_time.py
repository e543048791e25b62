import h5py
import numpy as np
import pytest

from pdediff.distributions import Points
from pdediff.studies import run_study, stopping_time


def test_nearest_training_distance():
    training = Points([[0.0, 0.0], [1.0, 0.0]])
    x = np.array([[[0.1, 0.0], [0.8, 0.3]]])
    d = stopping_time.nearest_training_distance(x, training)
    assert d.shape == (1, 2)
    assert d[0] == pytest.approx([0.1, np.hypot(0.2, 0.3)])
    with pytest.raises(TypeError, match="training"):
        stopping_time.nearest_training_distance(x, np.zeros((2, 2)))


def test_quick_stopping_time_study(tmp_path):
    summary = run_study("stopping_time", quick=True, out=tmp_path, progress=False)
    checks = {c.name: c for c in summary["checks"]}
    assert set(checks) == {"memorisation_sqrt_t0", "interior_optimum", "best_t0_decreasing"}
    for check in checks.values():
        assert check.passed, summary["table"]
    rows = summary["rows"]
    # memorisation: at t0_min the samples sit on training points (distance << spacing)
    for row in rows:
        assert row["nn_small"] < 0.05 * row["nn_large"], row
    # more data: W2 of the training set itself to the population decreases
    w2_train_pop = [r["w2_train_pop"] for r in rows]
    assert all(a > b for a, b in zip(w2_train_pop, w2_train_pop[1:]))
    with h5py.File(tmp_path / "stopping_time.h5") as file:
        assert file.attrs["study"] == "stopping_time"
        t0 = file["results/t0"][()]
        for row in rows:
            node = file[f"results/N{row['N']}"]
            for key in ("w2_train", "w2_population", "mean_nearest_distance"):
                assert node[key].shape == t0.shape
                assert np.all(np.isfinite(node[key][()]))
            assert node["training_set"].shape == (row["N"], 2)
        assert file["results/noise_floor_w2"].shape[0] >= 2
        assert file["checks/interior_optimum"].attrs["passed"]
    for ext in ("png", "pdf"):
        assert (tmp_path / "figures" / f"stopping_time.{ext}").exists()

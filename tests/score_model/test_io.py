"""Tests of pdediff.score_model.io: HDF5 save/load of neural models bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")

from pdediff.processes import OU  # noqa: E402
from pdediff.score_model import LossOptions, MLPLogDensity, TrainOptions, load_mlp, save_mlp  # noqa: E402


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_is_bit_for_bit(tmp_path, dtype):
    model = MLPLogDensity(widths=(6, 5), activation="tanh", beta=3.0, dtype=dtype, seed=7)
    rng = np.random.default_rng(0)
    # weights with all their bits in use (not the initial uniform draws) and a history
    model.set_weights([{k: rng.normal(size=v.shape).astype(dtype) for k, v in layer.items()}
                       for layer in model.get_weights()])
    model.history = {"iteration": np.arange(0, 10, 2), "dsm": rng.random(5), "residual": rng.random(5),
                     "total": rng.random(5)}
    model.training = {"loss": LossOptions(residual_weight=0.2).to_dict(),
                      "train": TrainOptions(iterations=(4, 2, 1)).to_dict(), "process": OU().to_dict()}
    path = save_mlp(model, tmp_path / "m.h5")
    loaded = load_mlp(path)
    assert loaded.config() == model.config()
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        for key in ("W", "b"):
            assert a[key].dtype == b[key].dtype == np.dtype(dtype)
            np.testing.assert_array_equal(a[key], b[key])
    for key in ("iteration", "dsm", "residual", "total"):
        np.testing.assert_array_equal(model.history[key], loaded.history[key])
    x = np.random.default_rng(1).normal(size=(100, 2))
    np.testing.assert_array_equal(model.score(x, 0.3), loaded.score(x, 0.3))
    assert loaded.training["loss"]["residual_weight"] == 0.2
    assert list(loaded.training["train"]["iterations"]) == [4, 2, 1]


def test_load_refuses_other_files(tmp_path):
    from pdediff.io import save_tree

    save_tree(tmp_path / "x.h5", {"kind": "ScoreModel"})
    with pytest.raises(ValueError, match="MLPLogDensity"):
        load_mlp(tmp_path / "x.h5")
    with pytest.raises(TypeError, match="model"):
        save_mlp("not a model", tmp_path / "y.h5")

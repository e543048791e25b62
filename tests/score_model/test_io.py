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


def test_model_files_open_in_xarray_with_named_dimensions(tmp_path):
    from tests._netcdf import open_every_group

    model = MLPLogDensity(widths=(6, 5), dtype="float64", seed=3)
    model.history = {"iteration": np.arange(0, 8, 2), "dsm": np.array([4.0, 3.0, 2.5, 2.0]),
                     "residual": np.zeros(4), "total": np.array([4.0, 3.0, 2.5, 2.0])}
    model.training = {"loss": LossOptions(residual_weight=0.2).to_dict(),
                      "train": TrainOptions(iterations=(4, 2, 1)).to_dict(),
                      "process": OU().to_dict()}
    path = save_mlp(model, tmp_path / "m.h5")
    views = open_every_group(path)
    weights = model.get_weights()
    for k, layer in enumerate(weights):
        view = views[f"weights/layer_{k}"]
        assert view.W.dims == ("in", "out") and view.b.dims == ("out",)
        assert dict(view.sizes) == {"in": layer["W"].shape[0], "out": layer["W"].shape[1]}
        assert view.W.attrs["units"] == "1"
        np.testing.assert_array_equal(view.W.values, layer["W"])
    history = views["history"]
    assert history.dsm.dims == ("iteration",)
    np.testing.assert_array_equal(history.iteration.values, [0, 2, 4, 6])
    np.testing.assert_array_equal(history.total.values, [4.0, 3.0, 2.5, 2.0])
    # options as native attributes of their groups
    assert views["training/loss"].attrs["residual_weight"] == 0.2
    assert views["config"].attrs["activation"] == model.activation
    assert views[""].attrs["kind"] == "MLPLogDensity"


def test_spline_files_open_in_xarray_with_named_dimensions(tmp_path):
    from pdediff.score_model import ScoreModel
    from tests._netcdf import open_every_group

    model = ScoreModel(OU(rate=1.0, g=1.0, T=10.0), n_space=5, n_time=4)
    model.theta = np.random.default_rng(0).normal(size=model.theta.shape)
    path = model.save(tmp_path / "s.h5")
    root = open_every_group(path)[""]
    assert root.theta.dims == ("spatial_basis", "time_basis")
    assert root.gamma.dims == ("time_basis",)
    np.testing.assert_array_equal(root.theta.values, model.theta)
    np.testing.assert_array_equal(ScoreModel.load(path).theta, model.theta)

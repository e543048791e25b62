"""HDF5 storage of trained score models: the spline model (:func:`save_spline`,
:func:`load_spline`), the neural log-density models and their training checkpoints
(:func:`save_mlp`, :func:`load_mlp`); atomic writes through
:func:`pdediff.io.save_tree`; arrays round-trip bit for bit.  Only the neural
functions need JAX (imported on use).

Every array has named dimensions, ``long_name`` and ``units`` (``"1"``: the
parameters are dimensionless), so ``xarray.open_dataset(path, group=...,
engine="h5netcdf")`` shows no anonymous dimension.  Options and descriptions are
groups of native HDF5 attributes (lists of numbers as small datasets, ``None`` and
mixed lists as ``KEY_json`` JSON strings, :func:`pdediff.io.write_attrs`).

Layout of a spline file: root attribute ``kind = "ScoreModel"``; groups ``config``
(the constructor arguments, ``process`` as a subgroup) and ``info``; datasets ``theta``
(``spatial_basis``, ``time_basis``) and ``gamma`` (``time_basis``).

Layout of a model file: root attribute ``kind = "MLPLogDensity"``; groups ``config``
(the constructor arguments), ``weights/layer_<k>`` with ``W`` (``in``, ``out``: the
layer's fan-in and fan-out) and ``b`` (``out``), ``history`` with the coordinate
``iteration`` and ``dsm``, ``residual``, ``total`` over it, and ``training`` (loss and
training options, process, data description, wall time).  A checkpoint adds the
attribute ``iteration`` and ``opt_state/leaf_<k>`` (the optimiser state's leaves in
``jax.tree_util`` order, dimensions ``leaf_<k>_index0, ...``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..io import Labelled, load_tree, save_tree
from ..processes import process_from_dict

__all__ = ["save_spline", "load_spline", "save_mlp", "load_mlp", "weights_tree", "weights_from_tree"]


def save_spline(model: Any, path: str | os.PathLike) -> Path:
    """Write a :class:`ScoreModel`'s configuration, ``theta``, ``gamma`` and ``info``."""
    return save_tree(path, {
        "kind": "ScoreModel", "config": model.config(),
        "theta": Labelled(model.theta, ("spatial_basis", "time_basis"),
                          long_name="coefficients theta_jk of the space-time spline"),
        "gamma": Labelled(model.gamma, ("time_basis",),
                          long_name="coefficients gamma_k of the gauge c_gamma(t)"),
        "info": dict(model.info)})


def load_spline(path: str | os.PathLike) -> Any:
    """Inverse of :func:`save_spline`."""
    from .spline import ScoreModel

    tree = load_tree(path)
    if tree.get("kind") != "ScoreModel":
        raise ValueError(f"path: {path} does not hold a ScoreModel")
    cfg = dict(tree["config"])
    process = process_from_dict(cfg.pop("process"))
    model = ScoreModel(process, **cfg)
    theta = np.array(tree["theta"], dtype=float)
    gamma = np.array(tree["gamma"], dtype=float)
    if theta.shape != model.theta.shape or gamma.shape != model.gamma.shape:
        raise ValueError(
            f"path: theta/gamma shapes {theta.shape}/{gamma.shape} do not match the "
            f"stored configuration {model.theta.shape}/{model.gamma.shape}"
        )
    model.theta, model.gamma = theta, gamma
    model.info = dict(tree.get("info", {}))
    return model


def weights_tree(model: Any) -> dict[str, dict[str, np.ndarray]]:
    """``{"layer_<k>": {"W": ..., "b": ...}}`` (numpy copies)."""
    return {f"layer_{k}": layer for k, layer in enumerate(model.get_weights())}


def weights_from_tree(tree: dict[str, Any]) -> list[dict[str, np.ndarray]]:
    """Inverse of :func:`weights_tree`."""
    return [{"W": np.asarray(tree[f"layer_{k}"]["W"]), "b": np.asarray(tree[f"layer_{k}"]["b"])}
            for k in range(len(tree))]


_HISTORY = {"dsm": "denoising score-matching loss", "residual": "mean squared FP residual",
            "total": "total loss (DSM + w residual)"}


def _history_tree(history: dict[str, Any] | None) -> dict[str, Any]:
    history = history or {}
    out: dict[str, Any] = {"iteration": np.asarray(history.get("iteration", []), dtype=np.int64)}
    for key in _HISTORY:
        out[key] = np.asarray(history.get(key, []), dtype=np.float64)
    if all(out[key].shape == out["iteration"].shape for key in _HISTORY):
        out = {"iteration": Labelled(out["iteration"], ("iteration",),
                                     long_name="training iteration"),
               **{key: Labelled(out[key], ("iteration",), long_name=_HISTORY[key])
                  for key in _HISTORY}}
    return out


def _labelled_weights(model: Any) -> dict[str, dict[str, Labelled]]:
    return {name: {"W": Labelled(layer["W"], ("in", "out"),
                                 long_name=f"weight matrix of layer {k} (fan-in x fan-out)"),
                   "b": Labelled(layer["b"], ("out",), long_name=f"bias of layer {k}")}
            for k, (name, layer) in enumerate(weights_tree(model).items())}


def save_mlp(model: Any, path: str | os.PathLike, *, extra: dict[str, Any] | None = None) -> Path:
    """Write the model's configuration, weights, ``model.history`` and
    ``model.training`` to ``path`` atomically; :func:`load_mlp` restores them bit for
    bit. ``extra`` (a mapping of arrays, scalars, strings) is stored as is (used by
    checkpoints). Returns the path."""
    from .mlp import MLPLogDensity

    if not isinstance(model, MLPLogDensity):
        raise TypeError(f"model: expected an MLPLogDensity, got {type(model).__name__}")
    tree: dict[str, Any] = {
        "kind": "MLPLogDensity",
        "config": model.config(),
        "weights": _labelled_weights(model),
        "history": _history_tree(getattr(model, "history", None)),
        "training": dict(getattr(model, "training", {}) or {}),
    }
    tree.update(extra or {})
    return save_tree(path, tree)


def load_mlp(path: str | os.PathLike, *, with_tree: bool = False) -> Any:
    """Inverse of :func:`save_mlp`: an ``MLPLogDensity`` with ``history`` (dict of
    arrays) and ``training`` (dict); with ``with_tree=True`` also the raw stored tree
    (checkpoints read their extra entries from it)."""
    from .mlp import MLPLogDensity

    tree = load_tree(path)
    if tree.get("kind") != "MLPLogDensity":
        raise ValueError(f"path: {path} does not hold an MLPLogDensity")
    config = dict(tree["config"])
    config["widths"] = tuple(int(w) for w in np.atleast_1d(config["widths"]))
    model = MLPLogDensity(**config)
    model.set_weights(weights_from_tree(tree["weights"]))
    history = tree.get("history", {})
    model.history = {k: np.asarray(history.get(k, [])) for k in ("iteration", "dsm", "residual", "total")}
    model.training = dict(tree.get("training", {}))
    return (model, tree) if with_tree else model

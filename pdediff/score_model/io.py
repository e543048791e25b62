"""HDF5 storage of trained score models: the spline model (:func:`save_spline`,
:func:`load_spline`), the neural log-density models and their training checkpoints
(:func:`save_mlp`, :func:`load_mlp`); atomic writes through
:func:`pdediff.io.save_tree`; arrays round-trip bit for bit.  Only the neural
functions need JAX (imported on use).

Layout of a spline file: ``kind = "ScoreModel"``, ``config``, ``theta``, ``gamma``,
``info``.

Layout of a model file: attributes ``kind = "MLPLogDensity"``, groups ``config``
(the constructor arguments), ``weights/layer_<k>/{W, b}``, ``history/{iteration, dsm,
residual, total}`` and ``training`` (loss and training options, process, data
description, wall time).  A checkpoint adds ``iteration`` and ``opt_state/leaf_<k>``
(the optimiser state's leaves in ``jax.tree_util`` order).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..io import load_tree, save_tree
from ..processes import process_from_dict

__all__ = ["save_spline", "load_spline", "save_mlp", "load_mlp", "weights_tree", "weights_from_tree"]


def save_spline(model: Any, path: str | os.PathLike) -> Path:
    """Write a :class:`ScoreModel`'s configuration, ``theta``, ``gamma`` and ``info``."""
    return save_tree(path, {"kind": "ScoreModel", "config": model.config(), "theta": model.theta,
                            "gamma": model.gamma, "info": dict(model.info)})


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


def _history_tree(history: dict[str, Any] | None) -> dict[str, np.ndarray]:
    history = history or {}
    out = {"iteration": np.asarray(history.get("iteration", []), dtype=np.int64)}
    for key in ("dsm", "residual", "total"):
        out[key] = np.asarray(history.get(key, []), dtype=np.float64)
    return out


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
        "weights": weights_tree(model),
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

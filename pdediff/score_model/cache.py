"""A cache of trained neural log-density models under ``data/models``.

The key of a model is the SHA-256 of (the network configuration, the loss and training
options, the data law's description, the process, the training seeds and
:data:`TRAINING_CODE_VERSION`); the model lives in ``<root>/<key>.h5`` and an
unfinished run in ``<root>/<key>.ckpt.h5``, from which it resumes.  Both are
self-describing model files (:mod:`pdediff.score_model.io`: weights over ``(in, out)``,
the loss history over ``iteration``, the options as attributes; the key's inputs are in
the ``training`` group: ``data``, ``key``, ``code_version``).  Bump
:data:`TRAINING_CODE_VERSION` whenever a change to the training code changes the
weights it produces.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validate
from ..processes import ForwardProcess
from .io import load_mlp, save_mlp
from .losses import LossOptions
from .mlp import MLPLogDensity
from .train import TrainOptions, train_mlp

__all__ = ["TRAINING_CODE_VERSION", "DEFAULT_ROOT", "describe_data", "model_key", "get_or_train"]

#: Version of the training code, part of every cache key.
TRAINING_CODE_VERSION = 2  # 2: w is an argument of the compiled step (round-off changes for w not in {0, 1})
#: Default cache folder (relative to the working directory, like the studies' ``data``).
DEFAULT_ROOT = Path("data") / "models"


def describe_data(data: Any) -> dict[str, Any]:
    """A JSON-able description of the training data: ``data.to_dict()`` for a law,
    else the SHA-256 of the sample array's bytes, shape and dtype."""
    if hasattr(data, "to_dict"):
        return {"law": data.to_dict()}
    array = np.ascontiguousarray(_validate.real_array(data, "data"))
    return {"samples_sha256": hashlib.sha256(array.tobytes()).hexdigest(), "shape": list(array.shape)}


def model_key(
    config: dict[str, Any],
    loss: LossOptions,
    options: TrainOptions,
    data: Any,
    process: ForwardProcess,
) -> str:
    """The cache key (hex SHA-256) of a configuration (module docstring); the network
    seed is in ``config``, the batch seed in ``options``."""
    training = dataclasses.asdict(options)
    training.pop("checkpoint_every")  # does not change the result
    record = {
        "model": config,
        "loss": loss.to_dict(),
        "train": {**training, "iterations": list(options.iterations),
                  "learning_rates": list(options.learning_rates)},
        "data": describe_data(data),
        "process": process.to_dict(),
        "code_version": TRAINING_CODE_VERSION,
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


def get_or_train(
    data: Any,
    process: ForwardProcess,
    config: dict[str, Any] | None = None,
    loss: LossOptions | None = None,
    options: TrainOptions | None = None,
    *,
    root: str | os.PathLike = DEFAULT_ROOT,
    retrain: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
) -> tuple[MLPLogDensity, dict[str, Any]]:
    """The trained model of a configuration: loaded from the cache if present
    (``retrain=False``), else trained (resuming from its checkpoint if one exists and
    ``retrain`` is false) and stored.

    Parameters
    ----------
    data, process, loss, options
        As :func:`pdediff.score_model.train_mlp` (defaults: the paper's loss, w = 0,
        and schedule).
    config
        :class:`MLPLogDensity` constructor arguments (default: the paper's network).
    root
        The cache folder.
    retrain
        Ignore the cached model and any checkpoint; train from scratch and overwrite.
    stop_after
        Train at most this many iterations now (the run continues on the next call);
        the returned model is then the unfinished one, marked ``complete=False``.

    Returns
    -------
    ``(model, info)``: ``info`` has ``key``, ``path``, ``status`` (``"hit"``,
    ``"trained"``, ``"resumed"`` or ``"partial"``) and ``complete`` (bool).
    """
    process = _validate.process(process)
    loss = LossOptions() if loss is None else loss
    options = TrainOptions() if options is None else options
    model = MLPLogDensity(**(config or {}))
    key = model_key(model.config(), loss, options, data, process)
    root = Path(root)
    path = root / f"{key}.h5"
    checkpoint = root / f"{key}.ckpt.h5"
    info: dict[str, Any] = {"key": key, "path": str(path)}
    if path.exists() and not retrain:
        return load_mlp(path), {**info, "status": "hit", "complete": True}
    if retrain:
        with contextlib.suppress(FileNotFoundError):
            checkpoint.unlink()
    resumed = checkpoint.exists()
    root.mkdir(parents=True, exist_ok=True)
    train_mlp(model, data, process, loss, options, checkpoint=checkpoint, stop_after=stop_after,
              progress=progress)
    if model.training["iterations_done"] < options.total:
        return model, {**info, "status": "partial", "complete": False}
    model.training["data"] = describe_data(data)
    model.training["key"] = key
    model.training["code_version"] = TRAINING_CODE_VERSION
    save_mlp(model, path)
    with contextlib.suppress(FileNotFoundError):
        checkpoint.unlink()
    return model, {**info, "status": "resumed" if resumed else "trained", "complete": True}

"""Score models trained by denoising score matching plus a Fokker–Planck residual
penalty (Deveney et al., arXiv 2311.15996), in two model classes:

* :class:`ScoreModel` (``spline``): a log-density linear in its parameters (tensor
  B-splines over a reference log-density), fitted by least squares and
  Levenberg–Marquardt; numpy/numba only;
* :class:`MLPLogDensity` (``mlp``): the paper's log-density network in JAX, trained
  with optax Adam (:func:`train_mlp`, :class:`LossOptions`, :class:`TrainOptions`),
  saved to HDF5 (:func:`save_mlp`, :func:`load_mlp`) and cached under ``data/models``
  (:func:`get_or_train`).  These need the optional extra ``pdediff[nn]`` (JAX, optax);
  the package imports without it and the spline parts work, while touching a neural
  name raises an ImportError naming the extra.

Held-out diagnostics (:func:`dsm_loss`, :func:`mean_squared_residual`,
:func:`score_l2_error`) work on the spline model.
"""

from __future__ import annotations

from typing import Any

from ..residual import fokker_planck_residual
from ._spline_fit import DEFAULT, QUICK, train_score_model
from .basis import _SplineAxis
from .evaluation import dsm_loss, mean_squared_residual, sample_training_set, score_l2_error
from .spline import ANCHORS, REFERENCES, ScoreModel

# neural names -> the submodule that defines them (imported on first use: needs JAX)
_NEURAL = {
    "JaxLogDensity": "mlp",
    "MLPLogDensity": "mlp",
    "ACTIVATIONS": "mlp",
    "LossOptions": "losses",
    "TrainOptions": "train",
    "train_mlp": "train",
    "QUICK_TRAIN": "train",
    "evaluate_losses": "train",
    "save_mlp": "io",
    "load_mlp": "io",
    "get_or_train": "cache",
    "model_key": "cache",
    "TRAINING_CODE_VERSION": "cache",
}

__all__ = [
    "ScoreModel",
    "REFERENCES",
    "ANCHORS",
    "QUICK",
    "DEFAULT",
    "train_score_model",
    "sample_training_set",
    "dsm_loss",
    "mean_squared_residual",
    "score_l2_error",
    "fokker_planck_residual",
    "_SplineAxis",
]  # the neural names (``_NEURAL``) are left out so that ``import *`` works without JAX


def __getattr__(name: str) -> Any:
    if name in _NEURAL:
        import importlib

        module = importlib.import_module(f"{__name__}.{_NEURAL[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_NEURAL})

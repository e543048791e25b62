"""Exact scores: ``grad log p_t`` of a distribution pushed through a forward process."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validate
from ..processes import ForwardProcess


class ExactScore:
    """The exact score ``s(x, t) = grad log p_t(x)`` of ``dist`` pushed through
    ``process``, where ``p_t`` is the law of ``X_t = alpha_t X_0 + sigma_t Z``.

    Delegates to ``dist.score``, ``dist.score_divergence``, ``dist.log_density`` and
    ``dist.hessian`` (the ``pdediff.distributions`` protocol), adding argument checks.
    """

    def __init__(self, dist: Any, process: ForwardProcess) -> None:
        for method in ("score", "log_density"):
            if not callable(getattr(dist, method, None)):
                raise TypeError(f"dist: expected an object with a .{method}(x, t, process) method")
        self.dist = dist
        self.process = _validate.process(process)
        self.ndim: int | None = getattr(dist, "ndim", None)

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """``grad log p_t(x)``; ``x`` shape ``(..., n)``, returns shape ``(..., n)``."""
        x = _validate.points(x, "x", self.ndim)
        return np.asarray(self.dist.score(x, _validate.forward_time(t, "t"), self.process))

    def divergence(self, x: np.ndarray, t: float) -> np.ndarray:
        """``div s = Lap log p_t(x)``, shape ``x.shape[:-1]``."""
        x = _validate.points(x, "x", self.ndim)
        return np.asarray(self.dist.score_divergence(x, _validate.forward_time(t, "t"), self.process))

    def log_density(self, x: np.ndarray, t: float) -> np.ndarray:
        """``log p_t(x)``, shape ``x.shape[:-1]``."""
        x = _validate.points(x, "x", self.ndim)
        return np.asarray(self.dist.log_density(x, _validate.forward_time(t, "t"), self.process))

    def hessian(self, x: np.ndarray, t: float) -> np.ndarray:
        """``Hess log p_t(x)``, shape ``(..., n, n)``."""
        x = _validate.points(x, "x", self.ndim)
        return np.asarray(self.dist.hessian(x, _validate.forward_time(t, "t"), self.process))

    def __repr__(self) -> str:
        return f"ExactScore({self.dist!r}, {self.process!r})"


def exact(dist: Any, process: ForwardProcess) -> ExactScore:
    """The exact score ``grad log p_t`` of ``dist`` under ``process`` (see
    :class:`ExactScore`)."""
    return ExactScore(dist, process)


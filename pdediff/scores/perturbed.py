"""Perturbed scores: an exact score plus a smooth perturbation of known amplitude."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import _validate


class PerturbedScore:
    """An exact score plus a smooth perturbation of known form and amplitude.

    With the Gaussian bump ``b(x) = exp(-|x - c|^2 / (2 l^2))``:

    * ``kind="gradient"``:   ``s(x, t) = base(x, t) + A grad b(x)``, i.e. the score of
      the (unnormalised) log-density ``phi = log p_t + A b``;
      ``div s = div base + A Lap b``, ``Lap b = (|x - c|^2 / l^4 - n / l^2) b``.
    * ``kind="rotational"``: ``s = base + A curl(b u)`` with ``curl(b u) = grad b x u``
      (3-D, ``u`` = ``axis``, default ``e_z``) or ``(d_y b, -d_x b)`` (2-D); it is
      divergence free, so ``div s = div base``, and is not the gradient of anything.

    ``grad b = -(x - c) b / l^2`` has maximum norm ``e^{-1/2} / l``, so the pointwise
    score error is at most ``A e^{-1/2} / l``.  The perturbation is time independent.

    Parameters
    ----------
    base : score callable (with ``.divergence`` for :meth:`divergence`)
    amplitude : float ``A`` (units of log-density, i.e. dimensionless)
    kind : ``"gradient"`` or ``"rotational"`` (rotational needs n = 2 or 3)
    length_scale : float ``l > 0`` (units of length)
    center : array (n,) ``c``
    axis : array (3,), rotation axis ``u`` for n = 3 only
    """

    def __init__(
        self,
        base: Callable[[np.ndarray, float], np.ndarray],
        amplitude: float,
        kind: str = "gradient",
        length_scale: float = 1.0,
        center: np.ndarray | None = None,
        axis: np.ndarray | None = None,
    ) -> None:
        if not callable(base):
            raise TypeError(f"base: expected a score callable, got {type(base).__name__}")
        if kind not in ("gradient", "rotational"):
            raise ValueError(f"kind: expected 'gradient' or 'rotational', got {kind!r}")
        self.amplitude = _validate.real(amplitude, "amplitude")
        self.length_scale = _validate.positive(length_scale, "length_scale")
        ndim = getattr(base, "ndim", None)
        if center is None:
            if ndim is None:
                raise ValueError("center: required when base has no .ndim attribute")
            center = np.zeros(ndim)
        center = _validate.points(np.atleast_1d(center), "center", None)
        if center.ndim != 1 or (ndim is not None and center.size != ndim):
            raise ValueError(f"center: expected shape ({ndim},), got {center.shape}")
        self.ndim = center.size
        if kind == "rotational" and self.ndim not in (2, 3):
            raise ValueError(f"kind: 'rotational' needs n = 2 or 3, got n = {self.ndim}")
        if axis is not None and self.ndim != 3:
            raise ValueError("axis: only used for n = 3")
        if self.ndim == 3:
            axis = np.array([0.0, 0.0, 1.0]) if axis is None else _validate.points(axis, "axis", 3)
            if axis.shape != (3,):
                raise ValueError(f"axis: expected shape (3,), got {axis.shape}")
        self.axis = axis
        self.base = base
        self.kind = kind
        self.center = center

    def _bump(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = x - self.center
        return r, np.exp(-0.5 * np.sum(r * r, axis=-1) / self.length_scale**2)

    def perturbation(self, x: np.ndarray) -> np.ndarray:
        """The added field ``A grad b`` or ``A curl(b u)``, shape ``x.shape``."""
        x = _validate.points(x, "x", self.ndim)
        r, b = self._bump(x)
        grad_b = -r * (b / self.length_scale**2)[..., None]
        if self.kind == "gradient":
            field = grad_b
        elif self.ndim == 2:
            field = np.stack([grad_b[..., 1], -grad_b[..., 0]], axis=-1)
        else:
            field = np.cross(grad_b, self.axis)
        return self.amplitude * field

    def bump_log_density(self, x: np.ndarray) -> np.ndarray:
        """``A b(x)``: the added log-density of ``kind="gradient"``."""
        if self.kind != "gradient":
            raise ValueError("kind: the rotational perturbation is not a gradient")
        return self.amplitude * self._bump(_validate.points(x, "x", self.ndim))[1]

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """``base(x, t) + perturbation(x)``, shape ``x.shape``."""
        x = _validate.points(x, "x", self.ndim)
        return np.asarray(self.base(x, t)) + self.perturbation(x)

    def divergence(self, x: np.ndarray, t: float) -> np.ndarray:
        """``div base + A Lap b`` (gradient) or ``div base`` (rotational)."""
        if not callable(getattr(self.base, "divergence", None)):
            raise TypeError("base: has no .divergence(x, t) method")
        x = _validate.points(x, "x", self.ndim)
        out = np.asarray(self.base.divergence(x, t), dtype=float)
        if self.kind == "gradient":
            r, b = self._bump(x)
            l2 = self.length_scale**2
            out = out + self.amplitude * (np.sum(r * r, axis=-1) / l2**2 - self.ndim / l2) * b
        return out

    def log_density(self, x: np.ndarray, t: float) -> np.ndarray:
        """``phi = log p_t + A b`` (unnormalised), for ``kind="gradient"`` with a base
        that has ``.log_density``."""
        if not callable(getattr(self.base, "log_density", None)):
            raise TypeError("base: has no .log_density(x, t) method")
        return np.asarray(self.base.log_density(x, t)) + self.bump_log_density(x)

    def __repr__(self) -> str:
        return (
            f"PerturbedScore({self.base!r}, amplitude={self.amplitude!r}, kind={self.kind!r}, "
            f"length_scale={self.length_scale!r}, center={self.center.tolist()})"
        )



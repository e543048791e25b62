"""Training losses of the neural log-density models: denoising score matching plus a
weighted mean squared Fokker–Planck residual, with the paper's choices as defaults.

With ``x_t = alpha_t x_0 + sigma_t z`` (``z ~ N(0, I)``), the transition-kernel score
target ``-(x_t - alpha_t x_0)/sigma_t^2 = -z/sigma_t`` and ``R`` the residual of
:mod:`pdediff.residual` (docs/theory, "Equations")::

    L_DSM = mean_{p, d} lambda(t_p) (d_{x_d} phi(t_p, x_p) + z_{p,d}/sigma_{t_p})^2
    L_R   = mean_q  rho(s_q) R[phi](y_q, s_q)^2
    L     = L_DSM + w L_R

Defaults (Deveney et al., arXiv 2311.15996, as their released code runs it):
``lambda = 1``, ``t = T Beta(1, 2) + t_min``; ``s ~ U[t_min, T]``, ``y ~ U(box)``,
``rho = 1``; no boundary or initial-condition terms.  ``mean_{p, d}`` averages over the
batch and the ``n`` coordinates (as ``torch.mean`` over an (P, n) array does there).
Options: ``lambda = sigma_t^2``, times uniform in ``log sigma_t``, residual points
``y ~ p_s`` (noised data), ``rho = sigma_s^4``.

Batches are drawn on the host from ``numpy.random.default_rng([seed, iteration])``, so
the batch of an iteration depends only on the seed and the iteration (a resumed run
sees the same batches), and the process coefficients are the process's own (float64,
then cast).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .. import _validate
from ..processes import ForwardProcess
from ..residual import _residual
from ._times import times_uniform_in_log_sigma

__all__ = ["LossOptions", "sample_batch", "loss_terms"]

_TIME_LAWS = ("beta12", "uniform", "log_sigma")


@dataclasses.dataclass(frozen=True)
class LossOptions:
    """Options of the training loss (module docstring gives the formulas).

    Attributes
    ----------
    residual_weight
        ``w >= 0`` (0: pure DSM).
    dsm_weighting
        ``"none"`` (``lambda = 1``, paper) or ``"sigma2"`` (``lambda = sigma_t^2``).
    dsm_times
        ``"beta12"`` (``t = T Beta(1, 2) + t_min``, paper), ``"uniform"``
        (``U[t_min, T]``) or ``"log_sigma"`` (uniform in ``log sigma_t``).
    residual_times
        ``"uniform"`` (paper), ``"beta12"`` or ``"log_sigma"``.
    residual_points
        ``"box"`` (``y ~ U(bounds)``, paper) or ``"data"`` (``y ~ p_s``).
    residual_weighting
        ``"none"`` (paper) or ``"sigma4"`` (``rho = sigma_s^4``).
    t_min
        Smallest time (paper's training script: 1e-5).
    bounds
        The box ``((low, high), ...)`` of the uniform collocation points.
    """

    residual_weight: float = 0.0
    dsm_weighting: str = "none"
    dsm_times: str = "beta12"
    residual_times: str = "uniform"
    residual_points: str = "box"
    residual_weighting: str = "none"
    t_min: float = 1e-5
    bounds: tuple[tuple[float, float], ...] = ((-3.5, 3.5), (-3.5, 3.5))

    def __post_init__(self) -> None:
        _validate.nonnegative(self.residual_weight, "residual_weight")
        _validate.choice(self.dsm_weighting, "dsm_weighting", ("none", "sigma2"))
        _validate.choice(self.dsm_times, "dsm_times", _TIME_LAWS)
        _validate.choice(self.residual_times, "residual_times", _TIME_LAWS)
        _validate.choice(self.residual_points, "residual_points", ("box", "data"))
        _validate.choice(self.residual_weighting, "residual_weighting", ("none", "sigma4"))
        _validate.positive(self.t_min, "t_min")
        b = np.asarray(self.bounds, dtype=float)
        if b.ndim != 2 or b.shape[1] != 2 or not np.all(np.isfinite(b)) or np.any(b[:, 1] <= b[:, 0]):
            raise ValueError(f"bounds: expected pairs (low, high) with low < high, got {self.bounds!r}")
        object.__setattr__(self, "bounds", tuple((float(lo), float(hi)) for lo, hi in b))
        object.__setattr__(self, "residual_weight", float(self.residual_weight))
        object.__setattr__(self, "t_min", float(self.t_min))

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "bounds": [list(b) for b in self.bounds]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LossOptions:
        data = dict(data)
        data["bounds"] = tuple(tuple(b) for b in data["bounds"])
        return cls(**data)


def _times(law: str, n: int, process: ForwardProcess, t_min: float, rng: np.random.Generator) -> np.ndarray:
    T = process.T
    if law == "beta12":
        # the paper's law: may exceed T by t_min, as there
        return T * rng.beta(1.0, 2.0, n) + t_min
    if law == "uniform":
        return rng.uniform(t_min, T, n)
    return times_uniform_in_log_sigma(process, t_min, rng.uniform(0.0, 1.0, n))


def _draw_data(data: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    if hasattr(data, "sample"):
        return np.asarray(data.sample(n, rng), dtype=float)
    return data[rng.integers(0, data.shape[0], n)]


def sample_batch(
    data: Any,
    process: ForwardProcess,
    loss: LossOptions,
    n_dsm: int,
    n_residual: int,
    rng: np.random.Generator,
    dtype: str = "float32",
) -> dict[str, np.ndarray]:
    """One training batch (host arrays of ``dtype``).

    data : a law with ``sample(n, rng)`` (fresh samples each batch, as the paper) or
    an array (N, n) of samples (drawn with replacement).  Returns ``t`` (P,), ``x``
    (P, n), ``target`` = ``-z/sigma_t`` (P, n), ``lam`` (P,), and when
    ``n_residual > 0`` also ``s`` (Q,), ``y`` (Q, n), ``a``, ``D`` = ``g^2/2``,
    ``rho`` (Q,)."""
    t = _times(loss.dsm_times, n_dsm, process, loss.t_min, rng)
    x0 = _draw_data(data, n_dsm, rng)
    z = rng.standard_normal(x0.shape)
    alpha = np.exp(np.asarray(process.log_alpha(t), float))[:, None]
    sigma2 = np.asarray(process.sigma2(t), float)
    sigma = np.sqrt(sigma2)[:, None]
    batch = {
        "t": t,
        "x": alpha * x0 + sigma * z,
        "target": -z / sigma,
        "lam": sigma2 if loss.dsm_weighting == "sigma2" else np.ones_like(t),
    }
    if n_residual > 0:
        s = _times(loss.residual_times, n_residual, process, loss.t_min, rng)
        if loss.residual_points == "box":
            b = np.asarray(loss.bounds)
            y = rng.uniform(b[:, 0], b[:, 1], (n_residual, b.shape[0]))
        else:
            y0 = _draw_data(data, n_residual, rng)
            ya = np.exp(np.asarray(process.log_alpha(s), float))[:, None]
            ys = np.sqrt(np.asarray(process.sigma2(s), float))[:, None]
            y = ya * y0 + ys * rng.standard_normal(y0.shape)
        batch.update({
            "s": s,
            "y": y,
            "a": np.asarray(process.a(s), float),
            "D": np.asarray(process.diffusion(s), float),
            "rho": np.asarray(process.sigma2(s), float) ** 2
            if loss.residual_weighting == "sigma4" else np.ones_like(s),
        })
    return {k: np.ascontiguousarray(v, dtype=dtype) for k, v in batch.items()}


def loss_terms(score_fn: Any, derivatives_fn: Any, params: Any, batch: dict, jnp: Any,
               with_residual: bool) -> tuple[Any, Any]:
    """``(L_DSM, L_R)`` of one batch as JAX scalars (``L_R = 0`` when
    ``with_residual`` is false).  ``score_fn(params, t, x)`` and
    ``derivatives_fn(params, t, x) -> (phi, d_t phi, grad phi, Lap phi)`` are the
    vmapped point functions of the model."""
    s = score_fn(params, batch["t"], batch["x"])
    dsm = jnp.mean(batch["lam"][:, None] * (s - batch["target"]) ** 2)
    if not with_residual:
        return dsm, jnp.zeros((), dsm.dtype)
    _, dt, grad, lap = derivatives_fn(params, batch["s"], batch["y"])
    R = _residual(batch["y"], batch["a"], batch["D"], dt, grad, lap)
    return dsm, jnp.mean(batch["rho"] * R**2)

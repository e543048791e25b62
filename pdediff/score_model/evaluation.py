"""Held-out diagnostics of a score model: DSM loss, mean squared Fokker–Planck residual
and the score's L2 error against a known score (any model with ``score``,
``residual``, ``process``, ``ndim`` and ``times_from_unit``/``sample_times``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _validate
from ..processes import ForwardProcess

__all__ = ["sample_training_set", "dsm_loss", "mean_squared_residual", "score_l2_error"]



def sample_training_set(
    process: ForwardProcess, x0: np.ndarray, t: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Noised samples ``x = alpha_t x0 + sigma_t z`` for rows of ``x0`` (P, n) and
    times ``t`` (P,); returns ``(x, z)``, both (P, n)."""
    z = rng.standard_normal(x0.shape)
    alpha = np.exp(np.asarray(process.log_alpha(t), float))[:, None]
    sigma = np.sqrt(np.asarray(process.sigma2(t), float))[:, None]
    return alpha * x0 + sigma * z, z


def _eval_set(model: Any, x0: np.ndarray, n: int, seed, time_sampling: str):
    rng = _validate.rng(seed)
    x0 = np.asarray(x0, dtype=float)
    if x0.ndim != 2 or x0.shape[1] != model.ndim:
        raise ValueError(f"x0: expected shape (N, {model.ndim}), got {x0.shape}")
    n = _validate.positive_int(n, "n")
    t = model.sample_times(n, rng, time_sampling)
    x, z = sample_training_set(model.process, x0[rng.integers(0, x0.shape[0], n)], t, rng)
    return x, z, t


def dsm_loss(
    model: Any,
    x0: np.ndarray,
    n: int = 50_000,
    seed: int = 12345,
    time_sampling: str = "tau",
) -> float:
    """Held-out ``L_DSM = mean || sigma_t s_theta(x, t) + z ||^2`` over ``n`` fresh
    triples ``(t, x0, z)`` (t sampled as in training)."""
    x, z, t = _eval_set(model, x0, n, seed, time_sampling)
    sigma = np.sqrt(np.asarray(model.process.sigma2(t), float))[:, None]
    return float(np.mean(np.sum((sigma * model.score(x, t) + z) ** 2, axis=1)))


def mean_squared_residual(
    model: Any,
    x0: np.ndarray,
    n: int = 20_000,
    seed: int = 54321,
    time_sampling: str = "tau",
) -> float:
    """Held-out ``mean R[phi_theta](x, t)^2`` with ``x ~ p_t`` (noised data) and ``t``
    sampled as in training (units 1/time^2)."""
    x, _, t = _eval_set(model, x0, n, seed, time_sampling)
    return float(np.mean(model.residual(x, t) ** 2))


def score_l2_error(
    model: Any,
    exact_score: Callable[[np.ndarray, float], np.ndarray],
    x0: np.ndarray,
    n: int = 20_000,
    n_times: int = 40,
    seed: int = 777,
    time_sampling: str = "tau",
) -> float:
    """``E_t E_{x ~ p_t} || s_theta(x, t) - grad log p_t(x) ||^2`` (units 1/length^2):
    midpoint rule over ``n_times`` times equispaced in ``tau`` (or ``t``) on
    ``[t_min, T]`` (the training time law), and at each time Monte Carlo over
    ``n // n_times`` points ``x = alpha_t x0 + sigma_t z`` (x0 drawn from the rows of
    ``x0``). ``exact_score(x, t)`` maps points (m, n) and a float time to (m, n), e.g.
    ``lambda x, t: dist.score(x, t, process)``."""
    rng = _validate.rng(seed)
    x0 = np.asarray(x0, dtype=float)
    if x0.ndim != 2 or x0.shape[1] != model.ndim:
        raise ValueError(f"x0: expected shape (N, {model.ndim}), got {x0.shape}")
    n_times = _validate.positive_int(n_times, "n_times")
    per = max(1, _validate.positive_int(n, "n") // n_times)
    times = model.times_from_unit((np.arange(n_times) + 0.5) / n_times, time_sampling)
    total = 0.0
    for t in times:
        start = x0[rng.integers(0, x0.shape[0], per)]
        x, _ = sample_training_set(model.process, start, np.full(per, t), rng)
        exact = np.asarray(exact_score(x, float(t)), dtype=float)
        if exact.shape != x.shape:
            raise ValueError(f"exact_score: expected output shape {x.shape}, got {exact.shape}")
        total += float(np.mean(np.sum((model.score(x, t) - exact) ** 2, axis=1)))
    return total / n_times



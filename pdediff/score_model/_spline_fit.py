"""Fitting of the spline score model (:class:`ScoreModel.fit`) and the
:func:`train_score_model` front end with its configurations."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg
from tqdm.auto import tqdm

from .. import _validate
from ..processes import ForwardProcess
from .basis import _add_gram
from .spline import _CHUNK, ANCHORS, ScoreModel

__all__ = ["DEFAULT", "QUICK", "fit_spline", "train_score_model"]

#: Default configuration: 20 x 20 spatial splines x 8 time functions (3200 + 8
#: parameters), 2e5 DSM samples, 2e4 collocation points.
DEFAULT: dict[str, Any] = {
    "n_space": 20,
    "n_time": 8,
    "n_dsm": 200_000,
    "n_collocation": 20_000,
    "max_iter": 30,
}
#: Quick configuration (a few seconds): 10 x 10 x 5 parameters, 2e4 DSM samples.
QUICK: dict[str, Any] = {
    "n_space": 10,
    "n_time": 5,
    "n_dsm": 20_000,
    "n_collocation": 4_000,
    "max_iter": 15,
}


def fit_spline(
    model: ScoreModel,
    x0: np.ndarray,
    *,
    w_residual: float,
    n_dsm: int,
    n_collocation: int,
    uniform_fraction: float,
    time_sampling: str,
    ridge: float,
    anchor: str,
    max_iter: int,
    tol: float,
    seed: int | np.random.Generator,
    progress: bool,
    target_score: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
) -> dict[str, Any]:
    """The body of :meth:`ScoreModel.fit` (its docstring documents the arguments)."""
    start_time = time.perf_counter()
    x0 = np.asarray(x0, dtype=float)
    if x0.ndim != 2 or x0.shape[1] != model.ndim or x0.shape[0] < 1:
        raise ValueError(f"x0: expected shape (N, {model.ndim}), got {x0.shape}")
    if not np.all(np.isfinite(x0)):
        raise ValueError("x0: must be finite")
    w_residual = _validate.nonnegative(w_residual, "w_residual")
    n_dsm = _validate.positive_int(n_dsm, "n_dsm")
    n_collocation = _validate.positive_int(n_collocation, "n_collocation")
    uniform_fraction = _validate.nonnegative(uniform_fraction, "uniform_fraction")
    if uniform_fraction > 1:
        raise ValueError(f"uniform_fraction: expected a number in [0, 1], got {uniform_fraction}")
    ridge = _validate.nonnegative(ridge, "ridge")
    if ridge == 0:
        # splines whose support holds no sample are otherwise undetermined
        raise ValueError("ridge: expected > 0 (unsampled splines are undetermined)")
    max_iter = _validate.integer(max_iter, "max_iter", minimum=0)
    anchor = _validate.choice(anchor, "anchor", ANCHORS)
    rng = _validate.rng(seed)

    # DSM normal equations, accumulated in chunks (H = A^T A / P, r = A^T b / P).
    t = model.sample_times(n_dsm, rng, time_sampling)
    x_start = x0[rng.integers(0, x0.shape[0], n_dsm)]
    z = rng.standard_normal((n_dsm, model.ndim))
    alpha = np.exp(np.asarray(model.process.log_alpha(t), float))[:, None]
    sigma = np.sqrt(np.asarray(model.process.sigma2(t), float))[:, None]
    x = alpha * x_start + sigma * z
    N = model.n_params
    H = np.zeros((N + 1, N + 1))  # last row/column: the ghost, dropped below
    r = np.zeros(N + 1)
    c = 0.0
    n_chunks = -(-n_dsm // _CHUNK)
    bar = tqdm(
        total=n_chunks + (max_iter if w_residual > 0 else 0),
        disable=not progress,
        desc="score model fit",
    )
    for lo in range(0, n_dsm, _CHUNK):
        sl = slice(lo, min(n_dsm, lo + _CHUNK))
        if target_score is None:
            zz = z[sl]
        else:
            # explicit score matching: sigma grad phi + z -> sigma (grad phi - s*)
            zz = -sigma[sl] * np.asarray(target_score(x[sl], t[sl]), dtype=float)
            if zz.shape != x[sl].shape or not np.all(np.isfinite(zz)):
                raise ValueError("target_score: expected finite output of shape (P, n)")
        cols, vals, b, key = model._dsm_rows(x[sl], t[sl], zz)
        _add_gram(H, cols, vals, key)
        r += np.bincount(cols.ravel(), weights=(vals * b[:, None]).ravel(), minlength=N + 1)
        c += float(b @ b)
        bar.update(1)
    H = H[:N, :N] / n_dsm
    r = r[:N] / n_dsm
    c /= n_dsm
    n_theta = model.theta.size
    diag = np.diag(H)[:n_theta]
    lam = ridge * float(np.mean(diag)) if np.mean(diag) > 0 else ridge
    reg = np.full(N, lam)
    reg[n_theta:] = 1e-6 * lam  # gauge: nearly free, kept only for invertibility

    def dsm_value(p: np.ndarray) -> float:
        return float(p @ H @ p - 2.0 * r @ p + c)

    # DSM solution: (H + Lam) p = r. The gauge is unseen by DSM: gamma = 0 there.
    M = H + np.diag(reg)
    if model.gauge:
        M[n_theta:, :] = 0.0
        M[:, n_theta:] = 0.0
        M[n_theta:, n_theta:] = np.eye(N - n_theta)
        rhs = r.copy()
        rhs[n_theta:] = 0.0
    else:
        rhs = r
    # SPD thanks to the ridge (unsampled splines have eigenvalue >= lam)
    p = scipy.linalg.cho_solve(scipy.linalg.cho_factor(M, check_finite=False), rhs)
    model.params = p
    # the ridge pulls toward its anchor: zero, or the DSM solution itself (then the
    # residual term alone moves theta away from the DSM fit)
    p_anchor = p.copy() if anchor == "dsm" else np.zeros_like(p)
    iterations = 0
    residual_loss = float("nan")
    if w_residual > 0:
        yt = model.sample_times(n_collocation, rng, time_sampling)
        n_uniform = int(round(uniform_fraction * n_collocation))
        y_uni = rng.uniform(model.bounds[:, 0], model.bounds[:, 1], (n_uniform, model.ndim))
        idx = rng.integers(0, x0.shape[0], n_collocation - n_uniform)
        ya = np.exp(np.asarray(model.process.log_alpha(yt[n_uniform:]), float))[:, None]
        ys = np.sqrt(np.asarray(model.process.sigma2(yt[n_uniform:]), float))[:, None]
        y_data = ya * x0[idx] + ys * rng.standard_normal((idx.size, model.ndim))
        y = np.concatenate([y_uni, y_data])
        wc = w_residual / n_collocation

        def objective(q: np.ndarray) -> tuple[float, np.ndarray]:
            model.params = q
            Rq = model._residual_terms(y, yt)[0]
            return dsm_value(q) + wc * float(Rq @ Rq) + float((q - p_anchor) @ (reg * (q - p_anchor))), Rq

        F, _ = objective(p)
        mu = 1e-3 * float(np.mean(np.diag(H)[:n_theta]))
        for iteration in range(1, max_iter + 1):
            iterations = iteration
            model.params = p
            R, cols, rows, key = model._jacobian_rows(y, yt)
            JtJ = _add_gram(np.zeros((N + 1, N + 1)), cols, rows, key)[:N, :N]
            JtR = np.bincount(cols.ravel(), weights=(rows * R[:, None]).ravel(), minlength=N + 1)[:N]
            grad = H @ p - r + wc * JtR + reg * (p - p_anchor)
            G = H + wc * JtJ + np.diag(reg)
            accepted = False
            for _ in range(12):
                try:
                    factor = scipy.linalg.cho_factor(G + mu * np.eye(N), check_finite=False)
                except np.linalg.LinAlgError:
                    mu *= 10.0
                    continue
                step = scipy.linalg.cho_solve(factor, -grad, check_finite=False)
                F_new, R_new = objective(p + step)
                if F_new < F:
                    accepted = True
                    break
                mu *= 10.0
            bar.update(1)
            if not accepted:
                break
            decrease = F - F_new
            p, F = p + step, F_new
            mu = max(mu / 3.0, 1e-15)
            bar.set_postfix(objective=f"{F:.4g}")
            if decrease <= tol * abs(F):
                break
        model.params = p
        Rf = model._residual_terms(y, yt)[0]
        residual_loss = float(np.mean(Rf**2))
    bar.close()
    p = model.params
    model.info = {
        "w_residual": w_residual,
        "dsm_loss": dsm_value(p),
        "residual_loss": residual_loss,
        "objective": dsm_value(p)
        + (w_residual * residual_loss if w_residual > 0 else 0.0)
        + float((p - p_anchor) @ (reg * (p - p_anchor))),
        "iterations": iterations,
        "lam": lam,
        "n_dsm": n_dsm,
        "n_collocation": n_collocation if w_residual > 0 else 0,
        "time_sampling": time_sampling,
        "uniform_fraction": uniform_fraction,
        "ridge": ridge,
        "anchor": anchor,
        "wall_time": time.perf_counter() - start_time,
    }
    return model.info
def train_score_model(
    data: Any,
    process: ForwardProcess,
    w_residual: float = 0.0,
    *,
    config: str | dict[str, Any] = "default",
    n_data: int = 100_000,
    seed: int = 0,
    progress: bool = True,
    **overrides: Any,
) -> ScoreModel:
    """Build and fit a :class:`ScoreModel` (DSM + ``w_residual`` * mean R^2).

    data
        An array of samples (N, n), or an object with ``.sample(n, rng)`` (e.g.
        ``pdediff.distributions.GaussianMixture``), from which ``n_data`` samples are
        drawn with ``numpy.random.default_rng(seed)``.
    config
        ``"default"`` (:data:`DEFAULT`), ``"quick"`` (:data:`QUICK`) or a dict of the
        same keys. ``overrides`` are passed to the constructor (``bounds``,
        ``degree``, ``t_min``, ``reference``, ``reference_mean``, ``reference_std``,
        ``gauge``) or to :meth:`ScoreModel.fit` (``uniform_fraction``,
        ``time_sampling``, ``ridge``, ``anchor``, ``tol``). With
        ``reference="data_gaussian"`` (default) the reference Gaussian defaults to the
        data's mean and per-axis standard deviation.
    """
    if isinstance(config, str):
        if config not in ("default", "quick"):
            raise ValueError(f"config: expected 'default', 'quick' or a dict, got {config!r}")
        cfg = dict(DEFAULT if config == "default" else QUICK)
    elif isinstance(config, dict):
        unknown = set(config) - set(DEFAULT)
        if unknown:
            raise ValueError(f"config: unknown keys {sorted(unknown)}; expected {sorted(DEFAULT)}")
        cfg = {**DEFAULT, **config}
    else:
        raise TypeError(f"config: expected a str or dict, got {type(config).__name__}")
    rng = _validate.rng(seed)
    if hasattr(data, "sample"):
        x0 = np.asarray(data.sample(_validate.positive_int(n_data, "n_data"), rng), dtype=float)
    else:
        x0 = np.asarray(data, dtype=float)
    if x0.ndim != 2:
        raise ValueError(f"data: expected samples of shape (N, n), got {x0.shape}")
    ctor_keys = {"bounds", "degree", "t_min", "reference", "reference_mean", "reference_std", "gauge"}
    fit_keys = {"uniform_fraction", "time_sampling", "ridge", "anchor", "tol"}
    unknown = set(overrides) - ctor_keys - fit_keys
    if unknown:
        raise TypeError(f"train_score_model: unexpected keyword(s) {sorted(unknown)}")
    ctor = {k: v for k, v in overrides.items() if k in ctor_keys}
    if ctor.get("reference", "data_gaussian") == "data_gaussian":
        ctor.setdefault("reference_mean", x0.mean(axis=0))
        ctor.setdefault("reference_std", x0.std(axis=0))
    if "bounds" not in ctor and x0.shape[1] != 2:
        raise ValueError("bounds: required when the data are not 2-D")
    model = ScoreModel(process, n_space=cfg["n_space"], n_time=cfg["n_time"], **ctor)
    model.fit(
        x0,
        w_residual=w_residual,
        n_dsm=cfg["n_dsm"],
        n_collocation=cfg["n_collocation"],
        max_iter=cfg["max_iter"],
        seed=rng,
        progress=progress,
        **{k: v for k, v in overrides.items() if k in fit_keys},
    )
    return model

"""Statistics of measured numbers: distance summaries, power-law rate fits with
confidence intervals, observed convergence orders, the bootstrap."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from .. import _validate


# ======================================================================= statistics
def distance_statistics(d: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    """Summary statistics of distances, e.g. ``d_K = dist(., K)`` to a support ``K``.

    With weights ``w`` (normalised to sum 1; uniform ``1/N`` for particles, ``p dV``
    for a grid density ``p`` evaluated at cell centres) the statistics of the law
    ``sum_k w_k delta_{d_k}``:

    * ``mean = sum w d``, ``rms = (sum w d^2)^(1/2)`` (the quantity bounded in
      docs/theory, Concentration: ``E[d_K^2] <= 4 sigma_t^2 (KL0 + (n/2) ln 2)``);
    * ``median``, ``q90``, ``q99``: inverse-CDF quantiles ``inf{d : W(d) >= q}``
      (``numpy.quantile(method="inverted_cdf")``, the same definition with and
      without weights);
    * ``max``: the largest ``d`` carrying positive weight.

    Parameters
    ----------
    d
        Nonnegative finite distances, any shape (e.g. ``(N,)`` or ``grid.shape``).
    weights
        Optional nonnegative weights of the same shape as ``d``.

    Returns
    -------
    dict
        Keys ``mean, rms, median, q90, q99, max`` (length units).
    """
    dist = np.asarray(d)
    if dist.dtype.kind not in "fiu":
        raise TypeError(f"d: expected a real array, got dtype {dist.dtype}")
    if dist.size == 0:
        raise ValueError("d: expected at least one distance")
    if not np.all(np.isfinite(dist)):
        raise ValueError("d: contains NaN or inf")
    if np.any(dist < 0):
        raise ValueError(f"d: distances must be nonnegative, min is {dist.min():.3g}")
    dist = dist.astype(np.float64).ravel()
    levels = [0.5, 0.9, 0.99]
    if weights is None:
        w = np.full(dist.size, 1.0 / dist.size)
        # Unweighted numpy compares ranks exactly; a cumsum of 1/N would not.
        qs = np.quantile(dist, levels, method="inverted_cdf")
    else:
        warr = np.asarray(weights)
        if warr.shape != np.shape(d):
            raise ValueError(f"weights: expected shape {np.shape(d)} (that of d), got {warr.shape}")
        w = _validate.weights(warr.ravel(), dist.size, "weights")
        # Raw weights: integer weights then give exactly the replicated-sample quantiles.
        qs = np.quantile(dist, levels, weights=warr.ravel(), method="inverted_cdf")
    return {
        "mean": float(np.sum(w * dist)),
        "rms": math.sqrt(float(np.sum(w * dist * dist))),
        "median": float(qs[0]),
        "q90": float(qs[1]),
        "q99": float(qs[2]),
        "max": float(np.max(dist[w > 0])),
    }


@dataclass(frozen=True)
class RateFit:
    """Least-squares power law ``y ~ exp(intercept) t^slope`` fitted in log-log space.

    Attributes: ``slope``, ``intercept`` (natural log), ``stderr`` (of the slope),
    ``ci = (low, high)`` (Student-t interval for the slope at ``confidence``),
    ``r2`` (coefficient of determination in log space), ``n`` (points),
    ``confidence``.
    """

    slope: float
    intercept: float
    stderr: float
    ci: tuple[float, float]
    r2: float
    n: int
    confidence: float

    def __str__(self) -> str:
        low, high = self.ci
        return (
            f"slope {self.slope:.4g} (stderr {self.stderr:.2g}, {100 * self.confidence:g}% CI "
            f"[{low:.4g}, {high:.4g}], r2 {self.r2:.4f}, n {self.n})"
        )


def fit_rate(t: np.ndarray, y: np.ndarray, confidence: float = 0.95) -> RateFit:
    """Fit ``log y = intercept + slope log t`` by ordinary least squares.

    With ``n`` points, residual variance ``s^2 = SSR / (n - 2)`` and
    ``S_tt = sum (log t - mean log t)^2``: ``stderr = s / sqrt(S_tt)`` and the
    interval is ``slope +- t_{(1+confidence)/2, n-2} stderr`` (scipy.stats.t), exact
    when the log-errors are i.i.d. Gaussian.

    Parameters
    ----------
    t, y
        Positive finite 1-D arrays of equal length ``n >= 3``; ``t`` not all equal.
    confidence
        Level of the slope interval, in (0, 1).

    Returns
    -------
    RateFit
    """
    tt = _validate.positive_array(t, "t", ndim=1)
    yy = _validate.positive_array(y, "y", ndim=1)
    if tt.shape != yy.shape:
        raise ValueError(f"y: expected the shape of t {tt.shape}, got {yy.shape}")
    if tt.size < 3:
        raise ValueError(f"t: need at least 3 points for a slope and its error, got {tt.size}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float, np.floating)):
        raise TypeError(f"confidence: expected a float in (0, 1), got {confidence!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: expected a float in (0, 1), got {confidence!r}")
    lt, ly = np.log(tt), np.log(yy)
    lt_mean, ly_mean = lt.mean(), ly.mean()
    s_tt = float(np.sum((lt - lt_mean) ** 2))
    if not s_tt > 0:
        raise ValueError("t: all values are equal; a slope needs at least two distinct t")
    slope = float(np.sum((lt - lt_mean) * (ly - ly_mean)) / s_tt)
    intercept = float(ly_mean - slope * lt_mean)
    residual = ly - (intercept + slope * lt)
    ss_res = float(np.sum(residual**2))
    ss_tot = float(np.sum((ly - ly_mean) ** 2))
    dof = tt.size - 2
    stderr = math.sqrt(ss_res / dof / s_tt)
    half = float(stats.t.ppf(0.5 * (1.0 + confidence), dof)) * stderr
    # A constant y is fitted exactly (slope 0): report r2 = 1 rather than 0/0.
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return RateFit(
        slope, intercept, stderr, (slope - half, slope + half), r2, int(tt.size), float(confidence)
    )


def observed_order(h: np.ndarray, err: np.ndarray, confidence: float = 0.95) -> RateFit:
    """Observed convergence order: the slope ``q`` of ``err ~ C h^q`` fitted by
    :func:`fit_rate` on ``(log h, log err)``; read ``.slope`` and ``.ci``.

    ``h``: positive spacings (or any resolution parameter that goes to 0), ``err``:
    positive errors, 1-D arrays of equal length ``>= 3``.  An exactly zero error
    raises ``ValueError`` (it has no logarithm; drop that level or report it).
    """
    try:
        return fit_rate(h, err, confidence)
    except (TypeError, ValueError) as error:
        message = str(error).replace("t:", "h:", 1).replace("y:", "err:", 1)
        raise type(error)(message) from error


@dataclass(frozen=True)
class Bootstrap:
    """Percentile bootstrap of a statistic: ``estimate`` (on the data), ``low``,
    ``high`` (the ``confidence`` percentile interval), ``sd`` (standard deviation of the
    replicates), ``replicates`` (shape ``(repeats,)``)."""

    estimate: float
    low: float
    high: float
    sd: float
    replicates: np.ndarray
    confidence: float


def bootstrap(statistic: Callable[[np.ndarray], float], data: Any, rng: np.random.Generator,
              repeats: int = 200, confidence: float = 0.95, axis: int = -1) -> Bootstrap:
    """Nonparametric bootstrap of ``statistic(data)`` over the ``N`` samples along
    ``axis``: ``repeats`` resamplings with replacement (the same resampling for every
    other index, e.g. the same particles at every time), percentile interval
    ``[q_{(1-c)/2}, q_{(1+c)/2}]`` of the replicates.

    Parameters
    ----------
    statistic
        Function of an array shaped like ``data`` (with ``N`` resampled entries along
        ``axis``) returning a float.
    data
        Real array; samples along ``axis``.
    rng
        Seeded ``numpy.random.Generator`` (the replicates are reproducible).
    repeats
        Number of resamplings, ``>= 2``.
    confidence
        Level of the interval, in (0, 1).

    Returns
    -------
    Bootstrap
    """
    from .. import _validate

    values = np.asarray(data, dtype=np.float64)
    if values.ndim == 0 or values.shape[axis] < 2:
        raise ValueError("data: expected at least 2 samples along axis")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    repeats = _validate.integer(repeats, "repeats", minimum=2)
    confidence = _validate.probability(confidence, "confidence", open_left=True, open_right=True)
    n = values.shape[axis]
    replicates = np.array([float(statistic(np.take(values, rng.integers(0, n, n), axis=axis)))
                           for _ in range(repeats)])
    low, high = np.quantile(replicates, [0.5 * (1 - confidence), 0.5 * (1 + confidence)])
    return Bootstrap(float(statistic(values)), float(low), float(high),
                     float(np.std(replicates, ddof=1)), replicates, float(confidence))

"""Linear forward noising processes (docs/theory, Conventions).

Each process is the SDE ``dX = a(t) X dt + g(t) dW`` with scalar coefficients, whose
transition law is ``X_t = alpha_t X_0 + sigma_t Z`` with ``Z ~ N(0, I)``:

    alpha_t   = exp(int_0^t a)
    sigma_t^2 = alpha_t^2 int_0^t g(s)^2 / alpha_s^2 ds

so that ``d sigma_t^2 / dt = 2 a sigma_t^2 + g^2`` with ``sigma_0 = 0`` and
``d alpha_t / dt = a alpha_t``.  All methods are vectorised over ``t`` (a float gives
a float, an array an array of the same shape); time is dimensionless and lengths are
in the units of the data.  Coefficients::

    | process   | a(t)        | g(t)^2                    | alpha_t      | sigma_t^2                     |
    |-----------|-------------|---------------------------|--------------|-------------------------------|
    | HeatFlow  | 0           | 2 kappa                   | 1            | 2 kappa t                     |
    | OU        | -rate       | g^2                       | e^{-rate t}  | g^2 (1 - e^{-2 rate t})/(2 rate) |
    | VP        | -beta(t)/2  | beta(t)                   | e^{-B(t)/2}  | 1 - e^{-B(t)}                 |
    | SubVP     | -beta(t)/2  | beta(t) (1 - e^{-2B(t)})  | e^{-B(t)/2}  | (1 - e^{-B(t)})^2             |
    | VE        | 0           | d sigma(t)^2 / dt         | 1            | sigma(t)^2 - sigma(0)^2       |

with ``beta(t) = beta_min + t (beta_max - beta_min)``, ``B(t) = int_0^t beta`` and
``sigma(t) = sigma_min (sigma_max / sigma_min)^t``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from . import _validate

ArrayLike = float | np.ndarray


def _time(t: Any, name: str = "t") -> np.ndarray:
    array = _validate.real_array(t, name)
    if np.any(array < 0):
        raise ValueError(f"{name}: forward time must be >= 0, got min {array.min()!r}")
    return array


def _out(value: np.ndarray, like: np.ndarray) -> ArrayLike:
    value = np.broadcast_to(value, like.shape)
    return float(value) if value.ndim == 0 else np.array(value)


class ForwardProcess:
    """Base class of the linear forward processes.

    Subclasses implement ``_a``, ``_g2``, ``_log_alpha`` and ``_sigma2`` on float
    arrays of nonnegative times; the public methods validate and vectorise.

    Attributes
    ----------
    T : float
        The default horizon (time of the prior) of this process family.
    autonomous : bool
        Whether ``a`` and ``g^2`` are independent of ``t`` (lets solvers cache
        their operators).
    """

    name: ClassVar[str] = "process"
    autonomous: ClassVar[bool] = False
    T: float = 1.0

    # -- to be provided by subclasses --------------------------------------
    def _a(self, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _g2(self, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _log_alpha(self, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _sigma2(self, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def parameters(self) -> dict[str, float]:
        raise NotImplementedError

    # -- public, vectorised --------------------------------------------------
    def a(self, t: ArrayLike) -> ArrayLike:
        """Drift coefficient ``a(t)`` of ``dX = a X dt + g dW``."""
        tt = _time(t)
        return _out(self._a(tt), tt)

    def g2(self, t: ArrayLike) -> ArrayLike:
        """Squared diffusion coefficient ``g(t)^2``."""
        tt = _time(t)
        return _out(self._g2(tt), tt)

    def diffusion(self, t: ArrayLike) -> ArrayLike:
        """Fokker–Planck diffusion coefficient ``D(t) = g(t)^2 / 2``."""
        tt = _time(t)
        return _out(0.5 * self._g2(tt), tt)

    def coefficients(self, t: float) -> tuple[float, float]:
        """``(a(t), g(t)^2)`` at one time ``t >= 0`` as floats, without validation: the
        per-stage call of the solvers, whose times are checked once per solve."""
        tt = np.float64(t)
        return float(self._a(tt)), float(self._g2(tt))

    def log_alpha(self, t: ArrayLike) -> ArrayLike:
        """``log alpha_t = int_0^t a``."""
        tt = _time(t)
        return _out(self._log_alpha(tt), tt)

    def alpha(self, t: ArrayLike) -> ArrayLike:
        """Mean scaling ``alpha_t = exp(int_0^t a)``."""
        tt = _time(t)
        return _out(np.exp(self._log_alpha(tt)), tt)

    def sigma2(self, t: ArrayLike) -> ArrayLike:
        """Transition variance ``sigma_t^2`` (per coordinate); 0 at ``t = 0``."""
        tt = _time(t)
        return _out(self._sigma2(tt), tt)

    def sigma(self, t: ArrayLike) -> ArrayLike:
        """Transition standard deviation ``sigma_t``."""
        tt = _time(t)
        return _out(np.sqrt(self._sigma2(tt)), tt)

    def time_where_sigma(self, sigma: float) -> float:
        """The forward time ``t`` in ``(0, T]`` with ``sigma_t = sigma``: the one inverse
        of the noise level, used wherever a setting is stated as a noise level (a
        stopping time where ``sigma_t`` equals a length, say).  ``sigma_t`` increases
        strictly for every process here, so the root of ``sigma_t^2 - sigma^2`` is
        unique; found by Brent's method to 1e-12 relative in ``t``."""
        from scipy.optimize import brentq

        sigma = _validate.positive(sigma, "sigma")
        target = sigma * sigma
        top = float(self._sigma2(np.asarray(self.T, dtype=float)))
        if target > top:
            raise ValueError(
                f"sigma: expected at most sigma_T = {math.sqrt(top):.6g} (T = {self.T:g}), got {sigma!r}"
            )
        if target == top:
            return float(self.T)
        return float(
            brentq(lambda t: float(self._sigma2(np.asarray(t))) - target, 0.0, self.T,
                   xtol=1e-300, rtol=1e-12, maxiter=500)
        )

    def prior_variance(self, T: float | None = None) -> float:
        """Variance per coordinate of the Gaussian prior used to start reverse
        solves at time ``T``: ``sigma_T^2`` (the law of ``X_T`` from a point mass at
        the origin; for OU at large T this is the stationary ``g^2 / (2 rate)``)."""
        T = self.T if T is None else _validate.positive(T, "T")
        return float(self._sigma2(np.asarray(T, dtype=float)))

    # -- description ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., **parameters, "T": ...}``; ``process_from_dict`` inverts it."""
        return {"name": self.name, **self.parameters(), "T": self.T}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ForwardProcess):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.to_dict().items())))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.parameters().items())
        return f"{type(self).__name__}({args}, T={self.T!r})"


class HeatFlow(ForwardProcess):
    """Heat flow ``u_t = kappa Lap u``: ``a = 0``, ``g^2 = 2 kappa``,
    ``sigma_t^2 = 2 kappa t``.  Default horizon ``T = 1``."""

    name = "heat"
    autonomous = True

    def __init__(self, kappa: float = 1.0, T: float = 1.0) -> None:
        self.kappa = _validate.positive(kappa, "kappa")
        self.T = _validate.positive(T, "T")

    def parameters(self) -> dict[str, float]:
        return {"kappa": self.kappa}

    def _a(self, t):
        return np.zeros_like(t)

    def _g2(self, t):
        return np.full_like(t, 2.0 * self.kappa)

    def _log_alpha(self, t):
        return np.zeros_like(t)

    def _sigma2(self, t):
        return 2.0 * self.kappa * t


class OU(ForwardProcess):
    """Ornstein–Uhlenbeck ``dX = -rate X dt + g dW``; stationary law
    ``N(0, g^2/(2 rate) I)``.  Default horizon ``T = 10`` (Deveney et al.)."""

    name = "ou"
    autonomous = True

    def __init__(self, rate: float = 1.0, g: float = 1.0, T: float = 10.0) -> None:
        self.rate = _validate.positive(rate, "rate")
        self.g = _validate.positive(g, "g")
        self.T = _validate.positive(T, "T")

    def parameters(self) -> dict[str, float]:
        return {"rate": self.rate, "g": self.g}

    def _a(self, t):
        return np.full_like(t, -self.rate)

    def _g2(self, t):
        return np.full_like(t, self.g**2)

    def _log_alpha(self, t):
        return -self.rate * t

    def _sigma2(self, t):
        return self.g**2 * (-np.expm1(-2.0 * self.rate * t)) / (2.0 * self.rate)


class _BetaSchedule(ForwardProcess):
    """Shared linear schedule ``beta(t) = beta_min + t (beta_max - beta_min)``."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, T: float = 1.0) -> None:
        self.beta_min = _validate.positive(beta_min, "beta_min")
        self.beta_max = _validate.positive(beta_max, "beta_max")
        if self.beta_max < self.beta_min:
            raise ValueError(
                f"beta_max: expected >= beta_min = {self.beta_min}, got {self.beta_max}"
            )
        self.T = _validate.positive(T, "T")

    def parameters(self) -> dict[str, float]:
        return {"beta_min": self.beta_min, "beta_max": self.beta_max}

    def beta(self, t: ArrayLike) -> ArrayLike:
        """``beta(t) = beta_min + t (beta_max - beta_min)``."""
        tt = _time(t)
        return _out(self._beta(tt), tt)

    def _beta(self, t):
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def _B(self, t):
        return self.beta_min * t + 0.5 * t**2 * (self.beta_max - self.beta_min)

    def _a(self, t):
        return -0.5 * self._beta(t)

    def _log_alpha(self, t):
        return -0.5 * self._B(t)


class VP(_BetaSchedule):
    """Variance-preserving SDE (DDPM limit): ``a = -beta/2``, ``g^2 = beta``,
    ``sigma_t^2 = 1 - e^{-B(t)}``.  Default horizon ``T = 1``."""

    name = "vp"

    def _g2(self, t):
        return self._beta(t)

    def _sigma2(self, t):
        return -np.expm1(-self._B(t))


class SubVP(_BetaSchedule):
    """Sub-VP SDE: ``a = -beta/2``, ``g^2 = beta (1 - e^{-2B})``,
    ``sigma_t^2 = (1 - e^{-B})^2``.  Default horizon ``T = 1``."""

    name = "subvp"

    def _g2(self, t):
        return self._beta(t) * (-np.expm1(-2.0 * self._B(t)))

    def _sigma2(self, t):
        return np.expm1(-self._B(t)) ** 2


class VE(ForwardProcess):
    """Variance-exploding SDE: ``a = 0``, ``sigma(t) = sigma_min (sigma_max /
    sigma_min)^t``, ``g^2 = d sigma(t)^2/dt = 2 sigma(t)^2 log(sigma_max/sigma_min)``,
    ``sigma_t^2 = sigma(t)^2 - sigma_min^2``.  Default horizon ``T = 1``."""

    name = "ve"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, T: float = 1.0) -> None:
        self.sigma_min = _validate.positive(sigma_min, "sigma_min")
        self.sigma_max = _validate.positive(sigma_max, "sigma_max")
        if self.sigma_max <= self.sigma_min:
            raise ValueError(
                f"sigma_max: expected > sigma_min = {self.sigma_min}, got {self.sigma_max}"
            )
        self.T = _validate.positive(T, "T")
        self._log_ratio = math.log(self.sigma_max / self.sigma_min)

    def parameters(self) -> dict[str, float]:
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max}

    def _a(self, t):
        return np.zeros_like(t)

    def _g2(self, t):
        return 2.0 * self._log_ratio * self.sigma_min**2 * np.exp(2.0 * self._log_ratio * t)

    def _log_alpha(self, t):
        return np.zeros_like(t)

    def _sigma2(self, t):
        return self.sigma_min**2 * np.expm1(2.0 * self._log_ratio * t)


PROCESSES: dict[str, type[ForwardProcess]] = {
    cls.name: cls for cls in (HeatFlow, OU, VP, SubVP, VE)
}


def process_from_dict(data: dict[str, Any]) -> ForwardProcess:
    """Rebuild a process from ``ForwardProcess.to_dict()`` output."""
    if not isinstance(data, dict):
        raise TypeError(f"data: expected a dict from ForwardProcess.to_dict(), got {type(data).__name__}")
    data = dict(data)
    name = data.pop("name", None)
    if name not in PROCESSES:
        raise ValueError(f"name: expected one of {sorted(PROCESSES)}, got {name!r}")
    return PROCESSES[name](**data)


def make_process(name: str, **parameters: float) -> ForwardProcess:
    """Process by name (``heat``, ``ou``, ``vp``, ``subvp``, ``ve``) with keyword
    parameters."""
    if name not in PROCESSES:
        raise ValueError(f"process: expected one of {sorted(PROCESSES)}, got {name!r}")
    return PROCESSES[name](**parameters)

"""The reference log-density ``phi_ref`` of the spline score model: the exact
log-density of a Gaussian ``N(m0, diag(s0^2))`` pushed through a linear forward
process, with its exact derivatives (or zero)."""

from __future__ import annotations

import numpy as np

from ..processes import ForwardProcess

__all__ = ["reference_terms"]


def reference_terms(reference: str | None, mean: np.ndarray, std: np.ndarray, process: ForwardProcess,
                    x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
    """``phi_ref`` of ``N(alpha m0, diag(v))``, ``v = alpha^2 s0^2 + sigma^2``, and its
    exact derivatives; ``dv/dt = 2 a v + g^2``, ``d(alpha m0)/dt = a alpha m0``.

    reference : ``"data_gaussian"`` / ``"prior"`` (both Gaussian, parameters ``mean``
    ``m0`` (n,) and ``std`` ``s0`` (n,)) or ``None`` (``phi_ref = 0``); x : (P, n);
    t : (P,). Returns ``phi``, ``dt``, ``lap`` (P,) and ``grad`` (P, n)."""
    if reference is None:
        zero = np.zeros(x.shape[0])
        return {"phi": zero, "grad": np.zeros_like(x), "lap": zero, "dt": zero}
    alpha = np.exp(np.asarray(process.log_alpha(t), float))[:, None]
    a = np.asarray(process.a(t), float)[:, None]
    g2 = np.asarray(process.g2(t), float)[:, None]
    v = alpha**2 * std**2 + np.asarray(process.sigma2(t), float)[:, None]
    centre = alpha * mean
    r = x - centre
    dv = 2.0 * a * v + g2
    return {
        "phi": np.sum(-0.5 * r**2 / v - 0.5 * np.log(2.0 * np.pi * v), axis=1),
        "grad": -r / v,
        "lap": np.sum(-1.0 / v, axis=1),
        "dt": np.sum(r * a * centre / v + 0.5 * r**2 * dv / v**2 - 0.5 * dv / v, axis=1),
    }

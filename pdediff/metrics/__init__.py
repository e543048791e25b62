"""Distances and functionals between grid densities and particle clouds.

A *grid density* is an array ``p`` of cell averages on a :class:`pdediff.Grid`
(shape ``grid.shape``, ``grid.integrate(p) == 1``); pass it as a :class:`GridDensity`
or as a tuple ``(p, grid)``.  A *particle cloud* is an array ``x`` of shape
``(N, ndim)`` (``(N,)`` is accepted in 1-D) or a tuple ``(x, weights)`` with
nonnegative ``weights`` of shape ``(N,)``; weights are normalised to sum 1.

Contents, by concept (every name is importable as ``pdediff.metrics.NAME``):

* :mod:`~pdediff.metrics.densities` -- functionals of grid fields: :func:`lp_norm`,
  :func:`tv`, :func:`kl`, :func:`entropy`; particle -> grid deposition
  :func:`histogram` (an alias of :meth:`pdediff.Grid.deposit`);
* :mod:`~pdediff.metrics.transport` -- optimal transport: :func:`w1`, :func:`w2`
  (exact quantile formula in 1-D, exact network-simplex OT with POT in 2-D/3-D),
  :func:`sliced_w2`, :func:`quantile`, :func:`noise_floor`;
* :mod:`~pdediff.metrics.statistics` -- :func:`distance_statistics`,
  :func:`fit_rate`, :func:`observed_order`, :func:`bootstrap`.

Every Wasserstein distance treats the domain as a subset of R^n: periodic axes are
*not* identified (the distance is the one of the unrolled box).
"""

from ._inputs import DEFAULT_MAX_POINTS, MASS_RTOL, GridDensity
from .densities import entropy, histogram, kl, lp_norm, tv
from .statistics import Bootstrap, RateFit, bootstrap, distance_statistics, fit_rate, observed_order
from .transport import NoiseFloor, noise_floor, quantile, sliced_w2, w1, w2

__all__ = [
    "GridDensity",
    "RateFit",
    "NoiseFloor",
    "Bootstrap",
    "lp_norm",
    "tv",
    "kl",
    "entropy",
    "histogram",
    "quantile",
    "w1",
    "w2",
    "sliced_w2",
    "noise_floor",
    "distance_statistics",
    "fit_rate",
    "observed_order",
    "bootstrap",
    "MASS_RTOL",
    "DEFAULT_MAX_POINTS",
]

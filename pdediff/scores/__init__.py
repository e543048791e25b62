"""Score fields ``s(x, t) ~ grad log p_t(x)`` and the Fokker–Planck residual.

A *score* is a callable ``score(x, t)`` mapping points ``x`` of shape ``(..., n)`` at
forward time ``t`` to an array of the same shape; it may also offer
``score.divergence(x, t) -> x.shape[:-1]`` (and, for log-density models,
``log_density(x, t)`` and ``dt_log_density(x, t)``).  This package provides

* :func:`exact` / :class:`ExactScore` (``exact``): the exact score of a distribution
  pushed through a forward process (docs/theory, "Conventions");
* :func:`grid_score` / :class:`GridScore` (``grid``): the score of a forward grid
  solution (face differences of ``log p``, interpolated in ``x`` and ``t``);
* :class:`PerturbedScore` (``perturbed``): an exact score plus a smooth gradient or
  divergence-free perturbation of known amplitude (an "approximate score" with
  closed-form error);
* :class:`KernelScore` (``kernel``): the score of Gaussian-kernel-smoothed samples
  pushed through the process (a closed-form isotropic Gaussian mixture);
* :class:`TabulatedScore` (``tabulated``): a costly score stored on fixed point sets at
  time nodes and interpolated in ``log t``;
* :func:`from_jax` / :func:`from_torch` (``adapters``): a user's JAX function or torch
  module as a pdediff score, with exact autodiff divergence;
* :func:`fp_residual` / :func:`fp_residual_score`: the Fokker–Planck residual
  ``R[phi]`` on the centres of a grid, and its gradient (from :mod:`pdediff.residual`).
"""

from ..residual import fp_residual, fp_residual_score
from .adapters import AdaptedScore, from_jax, from_torch
from .exact import ExactScore, exact
from .grid import GridScore, grid_score
from .kernel import KernelScore
from .perturbed import PerturbedScore
from .tabulated import TabulatedScore

__all__ = [
    "AdaptedScore",
    "ExactScore",
    "GridScore",
    "KernelScore",
    "PerturbedScore",
    "TabulatedScore",
    "exact",
    "fp_residual",
    "fp_residual_score",
    "from_jax",
    "from_torch",
    "grid_score",
]

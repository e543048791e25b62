"""Data distributions with exact log-densities, scores, divergences and Hessians under
every linear forward process (docs/theory, Conventions-3).

For ``X_0 ~ mu`` and ``X_t = alpha_t X_0 + sigma_t Z`` each class gives ``log p_t``,
``grad log p_t``, ``Lap log p_t`` and ``Hess log p_t`` in closed form (or by accurate
radial quadrature), in the log domain so that nothing underflows as ``t -> 0``, plus
exact cell averages on a :class:`pdediff.Grid`, sampling, moments and the distance to
the support.
"""

from .base import ArgumentTypeError, Distribution, deposit_cic, distribution_from_dict
from .boxes import Box, BoxMixture, Checkerboard
from .gaussian import GaussianMixture, Points, point_mass
from .paper import PAPER_LAWS, blob, checker, circles2, paper_law
from .radial import Annulus, Ball, Circle, Rings, Sphere
from .radial_normal import RadialNormal

__all__ = [
    "Distribution",
    "GaussianMixture",
    "Points",
    "point_mass",
    "Box",
    "BoxMixture",
    "Checkerboard",
    "Ball",
    "Annulus",
    "Circle",
    "Sphere",
    "Rings",
    "RadialNormal",
    "paper_law",
    "PAPER_LAWS",
    "blob",
    "circles2",
    "checker",
    "distribution_from_dict",
    "deposit_cic",
    "ArgumentTypeError",
]

"""pdediff: finite-volume and particle checks of the PDE theory of score-based
diffusion models."""

import os as _os

__version__ = "0.1.0"

# With the default (active) OpenMP wait policy, two processes running parallel numba
# kernels on a 2-core machine spin against each other and slow down up to 200x
# (DESIGN section 6); passive waiting costs little for our kernel sizes.  Set before
# numba loads its threading layer; an explicit user setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "passive")

from .grid import Grid  # noqa: E402
from .processes import OU, VE, VP, ForwardProcess, HeatFlow, SubVP  # noqa: E402
from .solution import Solution, load  # noqa: E402

__all__ = [
    "Grid",
    "ForwardProcess",
    "HeatFlow",
    "OU",
    "VP",
    "SubVP",
    "VE",
    "Solution",
    "load",
    "__version__",
]

"""pdediff: finite-volume and particle checks of the PDE theory of score-based
diffusion models."""

__version__ = "0.1.0"

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

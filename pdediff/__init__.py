"""pdediff: finite-volume and particle checks of the PDE theory of score-based
diffusion models.

Top level: grids, forward processes, the grid solvers and their result object.  The
rest lives in submodules (imported on first access):

* :mod:`pdediff.distributions`: data laws with exact log p_t, scores, cell averages
  (the paper's laws: ``paper_law("blob" | "circles2" | "checker")``);
* :mod:`pdediff.scores`: exact, grid, perturbed, kernel and tabulated scores, adapters
  of JAX and torch networks (``from_jax``, ``from_torch``); the FP residual;
* :mod:`pdediff.fokker_planck`: the finite-volume operator, stepping, solvers;
* :mod:`pdediff.particles`: reverse ODE/SDE samplers and exact forward sampling;
* :mod:`pdediff.metrics`: L^p, TV, KL, entropy, W1/W2, noise floors, rate fits;
* :mod:`pdediff.theory`: the bounds of docs/theory, Bounds;
* :mod:`pdediff.score_model`: the spline log-density model (DSM + FP residual);
* :mod:`pdediff.studies`, :mod:`pdediff.report`, :mod:`pdediff.plotting`, :mod:`pdediff.io`.
"""

import importlib as _importlib

# Parallel numba kernels wait passively after a short spin (pdediff/_openmp.py,
# docs/performance): set before numba starts its threads; a user's setting wins.
from ._openmp import set_wait_defaults as _set_wait_defaults  # noqa: E402
from ._version import __version__  # noqa: E402,F401

_set_wait_defaults()

from .fokker_planck import SolverError, solve_forward, solve_reverse  # noqa: E402
from .grid import Grid  # noqa: E402
from .io import FileFormatError  # noqa: E402
from .processes import OU, VE, VP, ForwardProcess, HeatFlow, SubVP  # noqa: E402
from .results import ParticleSolution, Solution, load, load_particles  # noqa: E402

_SUBMODULES = {
    "distributions", "scores", "fokker_planck", "particles", "metrics", "theory",
    "score_model", "studies", "report", "plotting", "io", "processes", "grid", "cli",
}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'pdediff' has no attribute {name!r}")


__all__ = [
    "Grid",
    "ForwardProcess",
    "HeatFlow",
    "OU",
    "VP",
    "SubVP",
    "VE",
    "solve_forward",
    "solve_reverse",
    "SolverError",
    "Solution",
    "ParticleSolution",
    "load",
    "load_particles",
    "FileFormatError",
    "__version__",
]

"""Finite-volume Fokker–Planck solvers: flux kernels, the operator, time stepping,
and the forward and reverse-family solvers."""

from .forward import solve_forward
from .operator import FluxOperator
from .reverse import reverse_velocity, solve_reverse
from .stepping import SolverError

__all__ = ["solve_forward", "solve_reverse", "reverse_velocity", "FluxOperator", "SolverError"]

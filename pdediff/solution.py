"""Backward-compatible name: the result objects live in :mod:`pdediff.results`."""

from .results import ParticleSolution, Solution, load, load_particles

__all__ = ["Solution", "ParticleSolution", "load", "load_particles"]

"""Particle samplers: the reverse-time ODE/SDE family and exact forward sampling.

* :func:`reverse` / :func:`sample_reverse` (with :class:`ReverseOptions`): particles
  of ``dX = [a X - ((1 + eps)/2) g^2 s(X, t)] dt + sqrt(eps) g dW_bar`` from ``T``
  down to ``t0`` (Euler–Maruyama, Heun, RK4; log-density tracking; Langevin
  corrector), with fused score + update kernels for pdediff's Gaussian-mixture
  scores;
* :func:`forward`: exact samples and Markov paths of the forward process;
* :mod:`pdediff.particles.noise`: the seeded chunked normal streams that make every
  result bit-identical whatever the number of threads.

:class:`ParticleSolution` and :func:`load_particles` live in :mod:`pdediff.results`.
"""

from ..results import ParticleSolution, load_particles
from .forward import forward
from .reverse import ParticleRangeError, ReverseOptions, reverse, sample_reverse

__all__ = [
    "ParticleRangeError",
    "ParticleSolution",
    "ReverseOptions",
    "forward",
    "load_particles",
    "reverse",
    "sample_reverse",
]

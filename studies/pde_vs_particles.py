"""Grid densities of the reverse ODE/SDE against particles.

Usage: ``python studies/pde_vs_particles.py [--quick] [--out DIR]``.
"""

from pdediff.studies.common import study_main
from pdediff.studies.pde_vs_particles import run

if __name__ == "__main__":
    raise SystemExit(study_main(run))

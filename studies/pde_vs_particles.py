"""The pde_vs_particles study: ``python studies/pde_vs_particles.py [--quick] [--set key=value]``."""
from pdediff.studies.harness import main

if __name__ == "__main__":
    raise SystemExit(main("pde_vs_particles"))

"""ODE-SDE gap: ``python studies/ode_sde_gap.py [--quick] [--set key=value]``."""
from pdediff.studies.harness import main

if __name__ == "__main__":
    raise SystemExit(main("ode_sde_gap"))

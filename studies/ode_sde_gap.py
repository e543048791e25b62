"""The ODE-SDE gap and Fokker-Planck-residual regularisation (Deveney et al.) on grids.

Usage: ``python studies/ode_sde_gap.py [--quick] [--out DIR]``.
"""

from pdediff.studies.common import study_main
from pdediff.studies.ode_sde_gap import run

if __name__ == "__main__":
    raise SystemExit(study_main(run))

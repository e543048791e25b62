"""Concentration of reverse dynamics onto supp p_0 (DESIGN 3.4); see
:mod:`pdediff.studies.concentration`.  Usage: ``python studies/concentration.py --quick``."""

from pdediff.studies.common import study_main
from pdediff.studies.concentration import run

raise SystemExit(study_main(run))

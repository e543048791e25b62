"""Imitation vs generation against the stopping time t0 (DESIGN 3.6); see
:mod:`pdediff.studies.stopping_time`.  Usage: ``python studies/stopping_time.py --quick``."""

from pdediff.studies.common import study_main
from pdediff.studies.stopping_time import run

raise SystemExit(study_main(run))

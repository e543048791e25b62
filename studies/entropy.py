"""Entropy (KL) study (DESIGN 3.3): ``python studies/entropy.py [--quick] [--out data]``."""

from pdediff.studies.common import study_main
from pdediff.studies.entropy import run

raise SystemExit(study_main(run))

"""L^p stability study (DESIGN 3.2): ``python studies/lp_stability.py [--quick] [--out data]``."""

from pdediff.studies.common import study_main
from pdediff.studies.lp_stability import run

raise SystemExit(study_main(run))

"""Li–Yau / Hamilton margins over time (DESIGN 3.1).

Usage: ``python studies/li_yau.py [--quick] [--out DIR]``.
"""

from pdediff.studies.common import study_main
from pdediff.studies.li_yau import run

if __name__ == "__main__":
    raise SystemExit(study_main(run))

"""L^p stability of the reverse family: ``python studies/lp_stability.py [--quick] [--set k=v]``."""
from pdediff.studies.harness import main

if __name__ == "__main__":
    raise SystemExit(main("lp_stability"))

"""KL along the reverse family: ``python studies/entropy.py [--quick] [--set key=value]``."""
from pdediff.studies.harness import main

if __name__ == "__main__":
    raise SystemExit(main("entropy"))

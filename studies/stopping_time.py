"""The stopping_time study: ``python studies/stopping_time.py [--quick] [--set key=value]``."""
from pdediff.studies.harness import main

if __name__ == "__main__":
    raise SystemExit(main("stopping_time"))

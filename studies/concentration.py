"""The concentration study: ``python studies/concentration.py [--quick] [--set key=value]``."""
from pdediff.studies.harness import main

if __name__ == "__main__":
    raise SystemExit(main("concentration"))

"""Li-Yau / Hamilton bounds: ``python studies/li_yau.py [--quick] [--set key=value]``."""
from pdediff.studies.harness import main

if __name__ == "__main__":
    raise SystemExit(main("li_yau"))

# Importing pdediff first sets its OpenMP wait defaults (pdediff/_openmp.py) before any
# test starts numba's threads, as for every user of the package.
import pdediff  # noqa: F401

"""OpenMP wait defaults of pdediff's parallel numba kernels.

Numba's OpenMP layer (GNU libgomp) parks the worker threads between parallel regions.
With the active policy they spin without bound: two processes running parallel
kernels on few cores then spin against each other and slow down up to 200x.  With
the passive policy they sleep at once, and waking them costs about 50 µs per
parallel region on the project's 2-core machine, a third of a 512² forward-Euler
step.  The default set here is in between: wait passively, but spin first for
``GOMP_SPINCOUNT`` pause instructions, long enough to catch the next region of a
loop of stages and short enough that two such processes do not starve each other
(docs/performance).  libgomp reads these variables when numba first starts its
threads, so they are set at ``import pdediff``.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

# Pause instructions a parked thread spins before it sleeps.  Measured on the 2-core
# machine (benchmarks, docs/performance): 300 is too short to catch the next stage of
# a 128² solve, 3000 already slows two concurrent processes 1.3-2.9x.
SPIN_COUNT = "1000"


def set_wait_defaults(environ: MutableMapping[str, str] | None = None) -> None:
    """Set ``OMP_WAIT_POLICY=passive`` and ``GOMP_SPINCOUNT`` in ``environ``
    (default ``os.environ``) unless the user chose them.

    A user's ``OMP_WAIT_POLICY`` is left alone and then no spin count is added (their
    policy applies as libgomp defines it); a user's ``GOMP_SPINCOUNT`` is kept."""
    environ = os.environ if environ is None else environ
    if "OMP_WAIT_POLICY" in environ:
        return
    environ["OMP_WAIT_POLICY"] = "passive"
    environ.setdefault("GOMP_SPINCOUNT", SPIN_COUNT)

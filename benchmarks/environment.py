"""What every benchmark result records about the machine it ran on."""

from __future__ import annotations

import os
import platform
import time

import numba
import numpy as np
import scipy


def describe(load_before: tuple[float, ...], load_after: tuple[float, ...]) -> dict:
    """Threads, threading layer, CPUs, load averages around the timed runs (other jobs
    on 2 cores change the ratios several-fold), platform, versions and the UTC date."""
    return {
        "numba_threads": numba.get_num_threads(),
        "threading_layer": numba.threading_layer(),
        "cpu_count": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": load_after,
        "machine": platform.platform(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }

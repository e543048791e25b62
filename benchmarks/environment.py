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


def copy_bandwidth(nbytes: int = 1 << 28, repeats: int = 5) -> float:
    """The machine's measured memory bandwidth in bytes/s for a streaming copy
    (one read + one write of ``nbytes`` each, best of ``repeats``): the roofline
    against which a kernel's bytes-moved-per-update is compared in the same run."""
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # first touch outside the timing
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2.0 * src.nbytes / best


def roofline(bytes_per_update: float, updates_per_second: float, bandwidth: float) -> dict:
    """Bytes moved per update, the bandwidth-bound ceiling ``bandwidth / bytes`` and the
    measured fraction of it."""
    ceiling = bandwidth / bytes_per_update
    return {
        "bytes_per_update": bytes_per_update,
        "copy_bandwidth_bytes_per_s": bandwidth,
        "bandwidth_bound_updates_per_s": ceiling,
        "fraction_of_bound": updates_per_second / ceiling,
    }

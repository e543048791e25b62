"""The resource guard: refuse a computation up front when it cannot fit in memory.

Every allocation-heavy entry point (``Grid``, the solvers, ``cell_average``) states
how many bytes it is about to need and calls :func:`require_memory` before it
allocates, so that an oversized request fails within a second with a
``MemoryError`` naming the shape, the bytes needed and the bytes available, instead
of a numpy ``MemoryError`` half-way through or the kernel's OOM killer.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

__all__ = ["available_memory", "require_memory", "array_bytes", "aligned_empty"]

# Leave room for the interpreter, numba's caches and the caller's own arrays.
_USABLE_FRACTION = 0.8
# Reading /proc costs ~0.2 ms, more than building a small Grid and 1% of a 512^2
# fixed-step solve; requests below this size are not checked (they cannot be what
# exhausts the memory).
SMALL_REQUEST = 32 * 2**20


def _cgroup_limit() -> float:
    """The memory limit of this process's cgroup (v2 or v1), or inf."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as handle:
                text = handle.read().strip()
        except OSError:
            continue
        if text and text != "max":
            try:
                value = float(text)
            except ValueError:
                continue
            if value < 1 << 60:  # v1 reports "no limit" as a huge number
                usage = 0.0
                for used in ("/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory/memory.usage_in_bytes"):
                    try:
                        with open(used) as handle:
                            usage = float(handle.read().strip())
                        break
                    except (OSError, ValueError):
                        continue
                return max(value - usage, 0.0)
    return math.inf


def available_memory() -> float:
    """Bytes this process can still allocate: the smaller of the kernel's
    ``MemAvailable`` and what the cgroup limit leaves (Linux); elsewhere the free
    physical pages, or inf when nothing can be read."""
    available = math.inf
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    available = float(line.split()[1]) * 1024.0
                    break
    except OSError:
        try:
            available = float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            pass
    return min(available, _cgroup_limit())


# Bytes: one cache line, the width of an AVX-512 vector.
ALIGNMENT = 64


def aligned_empty(shape: Sequence[int], alignment: int = ALIGNMENT) -> np.ndarray:
    """An uninitialised C-contiguous float64 array of ``shape`` whose data start on an
    ``alignment``-byte boundary (a view into a slightly larger buffer).

    Why: the vectorised stage loops load and store whole 64-byte vectors; numpy's
    large allocations start 16 bytes past a page boundary, so every aligned-offset
    load would straddle two cache lines (measured: 5-13% of a 512^2 stage)."""
    size = 1
    for n in shape:
        size *= int(n)
    pad = alignment // 8
    buffer = np.empty(size + pad)
    start = (-buffer.ctypes.data % alignment) // 8
    return buffer[start:start + size].reshape(tuple(int(n) for n in shape))


def array_bytes(shape: Sequence[int], count: float = 1.0, itemsize: int = 8) -> float:
    """Bytes of ``count`` arrays of ``shape`` (float64 by default), as a float so that
    absurd shapes do not overflow."""
    size = 1.0
    for n in shape:
        size *= float(n)
    return size * float(count) * float(itemsize)


def require_memory(nbytes: float, what: str, shape: Sequence[int] | None = None) -> None:
    """Raise ``MemoryError`` if ``nbytes`` exceed the usable share of available memory.

    ``what`` names the request (``"solve_forward work arrays"``), ``shape`` the grid
    or array shape behind it; both go into the message, with the bytes needed and
    the bytes available.  Allocates nothing.  Requests below :data:`SMALL_REQUEST`
    bytes (32 MiB) are accepted without reading the available memory.
    """
    if nbytes < SMALL_REQUEST:
        return
    available = available_memory()
    if nbytes > _USABLE_FRACTION * available:
        where = f" for shape {tuple(int(n) for n in shape)}" if shape is not None else ""
        raise MemoryError(
            f"{what}{where}: needs {nbytes / 2**30:.3g} GiB ({nbytes:.4g} bytes), but only "
            f"{available / 2**30:.3g} GiB ({available:.4g} bytes) are available "
            f"(at most {_USABLE_FRACTION:.0%} of it is used); use a coarser grid"
        )

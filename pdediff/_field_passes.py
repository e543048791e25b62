"""One-pass statistics of a field (pure numba, no pdediff imports).

A solve validates its initial density (sum and minimum), copies it into a work field
(turning ``-0.0`` into ``+0.0``) and needs its mass, maximum and minimum.  With numpy
these are five passes over the field (0.45 ms at 512^2 here); here they are two
single vectorised loops (0.17 ms).  The loops are serial on purpose: a parallel
region entered after Python has run for more than a few microseconds waits for the
thread pool to wake up (about 0.1 ms on a 2-core VM, as long as a pass at 512^2).

Sums run in an order fixed by the compiled code (``reassoc`` lets LLVM vectorise
them), never by the number of threads; a NaN or inf anywhere makes the sum
non-finite.  Minimum and maximum are taken over IEEE bit patterns read as int64
(:func:`_tally`), which order nonnegative doubles exactly as their values and
vectorise (a floating-point minimum without fast-math flags does not): a negative
bit pattern flags a negative value (or ``-0.0``), whose exact minimum the caller
then computes.  The stage kernels of :mod:`pdediff.fokker_planck` tally their rows
with the same :func:`_tally`.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic


@intrinsic
def _bits(typingctx, x):
    """The IEEE bit pattern of a float64 as an int64 (a register move, no memory)."""
    if not isinstance(x, types.Float):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _double(typingctx, bits):
    """The float64 whose IEEE bit pattern is the int64 ``bits`` (inverse of
    :func:`_bits`)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@njit(cache=True, fastmath={"reassoc"}, error_model="numpy")
def _tally(total, smallest, value):
    """A row's running ``(sum, minimum bit pattern)`` with one more ``value``.  Inlined
    into the row loops, its addition alone carries ``reassoc``, so LLVM vectorises the
    sum (the order is fixed by the compiled code, never by the thread count; a NaN or
    inf value keeps it non-finite).  The minimum is taken over the IEEE bit patterns,
    which order nonnegative doubles exactly as their values and vectorise; a negative
    result flags a row holding a negative value (or -0.0)."""
    return total + value, min(smallest, _bits(value))


@njit(cache=True, error_model="numpy")
def sum_min_bits(flat: np.ndarray) -> tuple[float, int]:
    """``(sum, smallest bit pattern)`` of a 1-D float64 array in one pass (the
    pattern is the minimum's when every value is nonnegative; negative otherwise)."""
    total = 0.0
    smallest = np.iinfo(np.int64).max
    for m in range(flat.size):
        total, smallest = _tally(total, smallest, flat[m])
    return total, smallest


@njit(cache=True, error_model="numpy")
def copy_sum_min_max(src: np.ndarray, dst: np.ndarray) -> tuple[float, float, float]:
    """``dst = src + 0.0`` (``-0.0`` becomes ``+0.0``, nothing else changes) for 1-D
    float64 arrays of one size holding no negative value and no NaN, and
    ``(sum, min, max)`` of ``dst`` in one pass."""
    total = 0.0
    smallest = np.iinfo(np.int64).max
    largest = np.int64(0)
    for m in range(src.size):
        value = src[m] + 0.0
        dst[m] = value
        total, smallest = _tally(total, smallest, value)
        largest = max(largest, _bits(value))
    if src.size == 0:
        return total, np.inf, -np.inf
    return total, _double(smallest), _double(largest)
